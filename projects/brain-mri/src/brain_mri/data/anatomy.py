"""The tissue map of one synthetic head: scalp, skull, CSF, grey and white matter, a tumour.

The head is drawn outside-in from the depth below its surface, so every layer has a
constant thickness whatever the (deformed) outline: scalp fat, cortical bone, the
subarachnoid CSF, the cortical grey-matter ribbon (with CSF-filled sulci) and white
matter. Two lateral ventricles sit beside the midline. The tumour is nested as in a
glioblastoma: a necrotic core inside an enhancing rim, surrounded by oedema that spreads
through white matter; it compresses (replaces) any ventricle it reaches.

Sizes scale with the volume's shape in voxels, so the anatomy keeps its proportions at
any shape of at least ``MIN_CASE_EDGE`` voxels per axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from medai.data.phantoms import (
    BoolArray,
    Grid,
    bounding_box,
    ellipsoid_level,
    largest_component,
    rotation,
    smooth_field,
    texture,
)

__all__ = ["MIN_CASE_EDGE", "Anatomy", "Tissue", "draw_anatomy"]

MIN_CASE_EDGE: Final = 48
"""Smallest edge (voxels) at which every tumour region stays large enough to learn."""

REFERENCE_EDGE: Final = 64.0
"""The edge at which the thicknesses and radii below are given in voxels."""

MIN_RIM_VOXELS: Final = 2.0
"""Thinnest enhancing rim (voxels): above sqrt(3), so no necrotic voxel touches oedema."""
CORE_MARGIN: Final = 3.0
"""Voxels of brain kept between the tumour core and the brain surface, so oedema wraps it."""

_CUBE: Final = np.ones((3, 3, 3), dtype=bool)
_TUMOUR_ATTEMPTS: Final = 8
_MIN_REGION_FRACTION: Final = {"necrosis": 1.5e-4, "enhancing": 1.2e-3, "oedema": 4e-3}
"""Smallest share of the volume each tumour region may take (necrosis: ~40 voxels at 64^3)."""


class Tissue(IntEnum):
    """Tissue classes painted with their own intensities per MRI contrast."""

    AIR = 0
    SCALP = 1
    SKULL = 2
    CSF = 3
    GREY = 4
    WHITE = 5
    OEDEMA = 6
    NECROSIS = 7
    ENHANCING = 8


@dataclass(frozen=True, eq=False)
class Anatomy:
    """One case's tissue map.

    Attributes:
        tissue: ``Tissue`` code per voxel, uint8, shape (i, j, k).
    """

    tissue: npt.NDArray[np.uint8]

    def mask(self, *tissues: Tissue) -> BoolArray:
        """Voxels of any of ``tissues``."""
        return np.isin(self.tissue, [int(t) for t in tissues])


@dataclass(frozen=True)
class _Head:
    """The head's outline, the depth (voxels) below its surface and where the brain starts."""

    inside: BoolArray
    depth: npt.NDArray[np.float64]
    brain_starts: float
    centre: npt.NDArray[np.float64]


@dataclass(frozen=True)
class _Tumour:
    """The three nested tumour tissues."""

    necrosis: BoolArray
    enhancing: BoolArray
    oedema: BoolArray


def _head(grid: Grid, scale: float, rng: np.random.Generator) -> tuple[_Head, dict[Tissue, float]]:
    """Draw a slightly deformed ellipsoidal head filling most of the field of view.

    Returns the head and the depth (voxels) at which each layer below the skin ends.
    """
    shape = np.asarray(grid.shape, dtype=np.float64)
    centre = (shape - 1.0) / 2.0 + rng.uniform(-1.0, 1.0, size=3)
    semi_axes = shape * rng.uniform([0.40, 0.44, 0.41], [0.43, 0.47, 0.44])
    level = ellipsoid_level(grid, centre, semi_axes, rotation(rng, (4.0, 4.0, 6.0)))
    level += np.float32(0.05) * smooth_field(grid, rng, cycles_per_fov=1.5)
    inside = ndimage.binary_fill_holes(largest_component(level < 1.0))
    depth = ndimage.distance_transform_edt(inside)
    scalp = rng.uniform(2.3, 2.9) * scale
    skull = scalp + rng.uniform(2.0, 2.6) * scale
    csf = skull + max(rng.uniform(1.0, 1.5) * scale, 1.0)
    layers = {Tissue.SCALP: scalp, Tissue.SKULL: skull, Tissue.CSF: csf}
    return _Head(inside=inside, depth=depth, brain_starts=csf, centre=centre), layers


def _paint_head(tissue: npt.NDArray[np.uint8], head: _Head, layers: dict[Tissue, float]) -> None:
    """Paint the scalp, skull and CSF shells, deepest last, then the brain as white matter."""
    tissue[head.inside] = Tissue.SCALP
    tissue[head.depth > layers[Tissue.SCALP]] = Tissue.SKULL
    tissue[head.depth > layers[Tissue.SKULL]] = Tissue.CSF
    tissue[head.depth > layers[Tissue.CSF]] = Tissue.WHITE


def _cortex(
    tissue: npt.NDArray[np.uint8], grid: Grid, head: _Head, scale: float, rng: np.random.Generator
) -> None:
    """Paint the grey-matter ribbon of varying thickness and the CSF of its sulci."""
    thickness = rng.uniform(2.2, 3.0) * scale * (1.0 + 0.3 * smooth_field(grid, rng, 2.0))
    below_csf = head.depth - head.brain_starts
    ribbon = (below_csf > 0) & (below_csf <= np.maximum(thickness, 1.0))
    tissue[ribbon] = Tissue.GREY
    sulci = ribbon & (texture(grid.shape, rng, sigma=1.2) > rng.uniform(1.2, 1.5))
    tissue[sulci] = Tissue.CSF


def _ventricles(grid: Grid, head: _Head, rng: np.random.Generator) -> BoolArray:
    """Draw the two lateral ventricles, elongated front to back beside the midline."""
    ni, nj, nk = grid.shape
    ventricles = np.zeros(grid.shape, dtype=bool)
    forward, up = rng.uniform(-0.02, 0.04) * nj, rng.uniform(0.0, 0.06) * nk
    for side in (-1.0, 1.0):
        centre = head.centre + [side * rng.uniform(0.045, 0.065) * ni, forward, up]
        semi_axes = [
            rng.uniform(0.03, 0.045) * ni,
            rng.uniform(0.13, 0.17) * nj,
            rng.uniform(0.06, 0.09) * nk,
        ]
        turn = rotation(rng, (6.0, 6.0, 10.0))
        ventricles |= ellipsoid_level(grid, centre, semi_axes, turn) < 1.0
    return ventricles & (head.depth > head.brain_starts + 4.0)


def _place_core(grid: Grid, head: _Head, scale: float, rng: np.random.Generator) -> BoolArray:
    """Draw an irregular tumour core deep enough in one hemisphere for oedema to wrap it.

    Its centre lies where the brain is deeper than its radius plus ``CORE_MARGIN``, on the
    drawn side of the midline when there is room there; the core is then clipped to
    the brain deeper than ``CORE_MARGIN``.
    """
    # Depth is 1-Lipschitz, so this is a lower bound of the distance to the brain surface:
    # the margins below hold without a second distance transform.
    brain_depth = head.depth - head.brain_starts
    radius = rng.uniform(6.0, 8.5) * scale
    semi_axes = radius * rng.uniform(0.85, 1.15, size=3)
    allowed = brain_depth >= min(radius + CORE_MARGIN, float(brain_depth.max()))
    side = rng.choice([-1.0, 1.0])
    lateral = allowed & (side * (grid.i - np.float32(head.centre[0])) > 2.0 * scale)
    candidates = np.flatnonzero(lateral if lateral.any() else allowed)
    index = np.unravel_index(candidates[rng.integers(candidates.size)], grid.shape)
    centre = np.asarray(index, dtype=np.float64)
    box = _box_around(centre, 2.0 * float(semi_axes.max()) + 2.0, grid.shape)
    local = Grid.over(box)
    turn = rotation(rng, (90.0, 90.0, 90.0))
    # A satellite lobe off the main mass makes the outline irregular, as gliomas are.
    lobe_offset = turn @ (semi_axes * rng.uniform(0.8, 1.0) * _unit_vector(rng))
    level = np.minimum(
        ellipsoid_level(local, centre, semi_axes, turn),
        ellipsoid_level(local, centre + lobe_offset, semi_axes * rng.uniform(0.5, 0.7), turn),
    )
    # Frequencies per box, not per field of view, so bulges are on the tumour's own scale.
    level += np.float32(rng.uniform(0.4, 0.6)) * smooth_field(local, rng, cycles_per_fov=2.5)
    core = np.zeros(grid.shape, dtype=bool)
    core[box] = (level < 1.0) & (brain_depth[box] > CORE_MARGIN)
    filled: BoolArray = ndimage.binary_fill_holes(largest_component(core))
    return filled


def _unit_vector(rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Draw a direction uniformly on the sphere."""
    vector = rng.standard_normal(3)
    unit: npt.NDArray[np.float64] = vector / max(float(np.linalg.norm(vector)), 1e-9)
    return unit


def _box_around(
    centre: npt.NDArray[np.float64], half: float, shape: tuple[int, int, int]
) -> tuple[slice, slice, slice]:
    """The box of half-edge ``half`` voxels around ``centre``, clipped to the volume."""
    i, j, k = (
        slice(max(int(c - half), 0), min(int(c + half) + 1, size))
        for c, size in zip(centre.tolist(), shape, strict=True)
    )
    return i, j, k


def _tumour(
    grid: Grid, tissue: npt.NDArray[np.uint8], head: _Head, scale: float, rng: np.random.Generator
) -> _Tumour:
    """Draw the core, split it into necrosis and an enhancing rim, and grow oedema around it.

    The rim is the core within a varying thickness (>= ``MIN_RIM_VOXELS``) of its
    surface; the oedema is an irregular blob through white matter plus a two-voxel
    shell around the core, kept connected to it.
    """
    brain = head.depth > head.brain_starts
    core = _place_core(grid, head, scale, rng)
    if not core.any():  # the deforming field can swallow a small core: draw again
        return _Tumour(necrosis=core, enhancing=core, oedema=core)
    box = bounding_box(core, pad=1)
    local_depth = ndimage.distance_transform_edt(core[box])
    rim = rng.uniform(2.0, 3.0) * scale + 0.5 * smooth_field(Grid.over(box), rng, 1.0)
    necrosis = np.zeros(grid.shape, dtype=bool)
    necrosis[box] = local_depth > np.maximum(rim, MIN_RIM_VOXELS)
    centre = np.mean(np.nonzero(core), axis=1) + rng.uniform(-2.0, 2.0, size=3) * scale
    reach = np.asarray([np.ptp(axis) for axis in np.nonzero(core)], dtype=np.float64) / 2.0 + 1.0
    semi_axes = reach * rng.uniform(1.4, 1.9, size=3)
    around = _box_around(centre, 1.5 * float(semi_axes.max()) + 2.0, grid.shape)
    local = Grid.over(around)
    level = ellipsoid_level(local, centre, semi_axes, rotation(rng, (90.0, 90.0, 90.0)))
    level += np.float32(rng.uniform(0.4, 0.6)) * smooth_field(local, rng, cycles_per_fov=1.5)
    spread = np.zeros(grid.shape, dtype=bool)
    spread[around] = (level < 1.0) & (tissue[around] == Tissue.WHITE)
    # A full 3x3x3 structure, so even the core's diagonal neighbours become oedema.
    shell = ndimage.binary_dilation(core, structure=_CUBE, iterations=2) & brain
    whole = ndimage.binary_fill_holes(_touching(spread | shell, core)) & brain
    return _Tumour(necrosis=necrosis, enhancing=core & ~necrosis, oedema=whole & ~core)


def _touching(mask: BoolArray, seed: BoolArray) -> BoolArray:
    """The connected components of ``mask`` that overlap ``seed``."""
    components, _ = ndimage.label(mask)
    kept = np.unique(components[seed & mask])
    touching: BoolArray = np.isin(components, kept[kept > 0])
    return touching


def _tumour_is_learnable(tumour: _Tumour, size: int) -> bool:
    """Whether every tumour region holds its minimum share of the volume."""
    counts = {
        "necrosis": int(tumour.necrosis.sum()),
        "enhancing": int(tumour.enhancing.sum()),
        "oedema": int(tumour.oedema.sum()),
    }
    return all(counts[name] >= share * size for name, share in _MIN_REGION_FRACTION.items())


def draw_anatomy(shape: tuple[int, int, int], rng: np.random.Generator) -> Anatomy:
    """Draw one head with a tumour, from ``rng`` alone.

    Args:
        shape: Volume shape in voxels; every entry at least ``MIN_CASE_EDGE``.
        rng: The case's random generator.

    Returns:
        The tissue map.

    Raises:
        RuntimeError: If no drawn tumour leaves every region its minimum size (only
            possible below ``MIN_CASE_EDGE``).
    """
    grid = Grid.of(shape)
    scale = min(shape) / REFERENCE_EDGE
    head, layers = _head(grid, scale, rng)
    tissue = np.zeros(shape, dtype=np.uint8)
    _paint_head(tissue, head, layers)
    _cortex(tissue, grid, head, scale, rng)
    tissue[_ventricles(grid, head, rng)] = Tissue.CSF
    for _ in range(_TUMOUR_ATTEMPTS):
        tumour = _tumour(grid, tissue, head, scale, rng)
        if _tumour_is_learnable(tumour, tissue.size):
            break
    else:
        raise RuntimeError(
            f"no tumour with every region large enough fits shape {list(shape)}; "
            f"use at least {MIN_CASE_EDGE} voxels per axis"
        )
    tissue[tumour.oedema] = Tissue.OEDEMA
    tissue[tumour.enhancing] = Tissue.ENHANCING
    tissue[tumour.necrosis] = Tissue.NECROSIS
    return Anatomy(tissue=tissue)
