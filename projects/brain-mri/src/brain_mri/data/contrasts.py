"""The four MRI contrasts of a tissue map: T1, T1c (post-gadolinium), T2 and FLAIR.

Each tissue has its own signal per contrast, chosen from how these tissues appear on a
clinical glioma protocol, so that no single channel separates the tumour regions:

- enhancing tumour is bright only in T1c, but scalp fat is bright in T1c too (and in T1);
- oedema is bright in T2 and FLAIR, but fat is bright in FLAIR and CSF brighter in T2;
- necrosis is dark in T1c and bright in T2 like CSF, but CSF is suppressed in FLAIR.

A model therefore has to combine channels (and context) as a radiologist does. Signals
are jittered per case and scaled by a per-channel scanner gain, so absolute values carry
no information; a smooth multiplicative bias field per channel mimics coil sensitivity,
and Rician noise (the magnitude of complex Gaussian noise) is added last.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from brain_mri.data.anatomy import Anatomy, Tissue
from medai.data.phantoms import FloatArray, Grid, smooth_field, texture

__all__ = ["CHANNELS", "SIGNAL", "render_contrasts"]

CHANNELS: Final = ("T1", "T1c", "T2", "FLAIR")
"""Channel order of every image, as in dataset.json's ``modality`` / ``channel_names``."""

SIGNAL: Final[dict[Tissue, tuple[float, float, float, float]]] = {
    Tissue.AIR: (0.0, 0.0, 0.0, 0.0),
    Tissue.SCALP: (900.0, 900.0, 620.0, 820.0),  # fat: bright in T1 and FLAIR
    Tissue.SKULL: (60.0, 60.0, 50.0, 50.0),  # cortical bone: no signal
    Tissue.CSF: (180.0, 190.0, 1000.0, 120.0),  # fluid: bright in T2, nulled in FLAIR
    Tissue.GREY: (470.0, 490.0, 560.0, 540.0),
    Tissue.WHITE: (650.0, 660.0, 420.0, 430.0),
    Tissue.OEDEMA: (400.0, 420.0, 820.0, 860.0),  # vasogenic oedema: long T1, long T2
    Tissue.NECROSIS: (260.0, 270.0, 900.0, 520.0),  # no enhancement, fluid-like in T2
    Tissue.ENHANCING: (450.0, 1000.0, 620.0, 650.0),  # broken blood-brain barrier
}
"""Mean signal (arbitrary units) per tissue, in ``CHANNELS`` order, before gain and bias."""

MAX_SIGNAL: Final = 32767
"""int16's ceiling; images are stored as int16 like most scanner-derived NIfTI."""

PARTIAL_VOLUME_SIGMA: Final = 0.5
"""Gaussian sigma (voxels) blurring tissue boundaries like an MR point-spread function."""

_SIGNAL_JITTER: Final = 0.06
_GAIN_RANGE: Final = (0.8, 1.25)
_BIAS_RANGE: Final = (0.08, 0.15)
_TEXTURE: Final = {Tissue.GREY: 0.04, Tissue.WHITE: 0.03, Tissue.OEDEMA: 0.06, Tissue.NECROSIS: 0.1}
"""Relative amplitude of the fine texture per tissue; other tissues are uniform."""


def _signal_table(rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """Per-case signal per (tissue, channel): nominal values jittered, times a channel gain."""
    table = np.zeros((len(Tissue), len(CHANNELS)), dtype=np.float32)
    for tissue, signal in SIGNAL.items():
        table[tissue] = signal
    table *= rng.uniform(1 - _SIGNAL_JITTER, 1 + _SIGNAL_JITTER, size=table.shape)
    table *= rng.uniform(*_GAIN_RANGE, size=len(CHANNELS))
    return table


def _texture_gain(anatomy: Anatomy, rng: np.random.Generator) -> FloatArray:
    """Return 1 + fine texture in tissues that have one, so parenchyma is not flat."""
    amplitude = np.zeros(len(Tissue), dtype=np.float32)
    for tissue, value in _TEXTURE.items():
        amplitude[tissue] = value
    fine = texture(anatomy.tissue.shape, rng, sigma=0.8)
    gain: FloatArray = 1.0 + amplitude[anatomy.tissue] * fine
    return gain


def render_contrasts(
    anatomy: Anatomy, noise: float, rng: np.random.Generator
) -> npt.NDArray[np.int16]:
    """Paint the four contrasts of ``anatomy`` and quantise them to int16.

    Args:
        anatomy: The case's tissue map.
        noise: Rician noise level: the standard deviation of each Gaussian component, as
            a fraction of the channel's white-matter signal.
        rng: The case's random generator.

    Returns:
        Signal of shape (i, j, k, 4), channels in ``CHANNELS`` order, non-negative.
    """
    table = _signal_table(rng)
    gain = _texture_gain(anatomy, rng)
    grid = Grid.of(anatomy.tissue.shape)
    image = np.empty((*anatomy.tissue.shape, len(CHANNELS)), dtype=np.int16)
    for channel in range(len(CHANNELS)):
        clean = table[anatomy.tissue, channel] * gain
        blurred: FloatArray = ndimage.gaussian_filter(clean, sigma=PARTIAL_VOLUME_SIGMA)
        bias = np.exp(np.float32(rng.uniform(*_BIAS_RANGE)) * smooth_field(grid, rng, 1.0))
        signal = blurred * bias
        sigma = np.float32(noise * table[Tissue.WHITE, channel])
        real = signal + sigma * rng.standard_normal(signal.shape, dtype=np.float32)
        imaginary = sigma * rng.standard_normal(signal.shape, dtype=np.float32)
        magnitude = np.sqrt(real * real + imaginary * imaginary)
        image[..., channel] = np.rint(np.minimum(magnitude, MAX_SIGNAL)).astype(np.int16)
    return image
