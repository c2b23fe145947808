"""Multi-channel volumes (multi-parametric MRI) from one 4D NIfTI or one 3D file per channel.

A network reads voxel (i, j, k) of every channel as the same place in the patient, so the
channels are only usable together when they sample one grid: same shape, same affine.
Registration mistakes and mixed-up series show up as exactly that difference, and
resampling would silently hide it, so channels that disagree are refused, never aligned.

Two layouts carry the same data: the Medical Segmentation Decathlon stores a case as one
4D NIfTI with the channel axis last (X, Y, Z, C); nnU-Net v2 as one 3D file per channel.
Both read to a (C, X, Y, Z) float32 ``ChannelVolume``, through the same header checks as
``read_nifti`` (``medai.io.nifti_header``, ``medai.io.header_checks``). Everything that
can be decided from the headers (shapes, affines, channel count, voxel budget) is decided
before a single voxel is decoded: ``open_channels`` reads headers, ``decode`` pixels.

Naming, as the other readers do: an error's path is the file at fault, the one the caller
passed (for an upload, the label the caller gives its part: "part 2"); its reason names the
other channel by index and channel name ("channel 0 (FLAIR)"), never by a second file
name, which in the nnU-Net layout is a case id and may be a patient's.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import nibabel as nib
import numpy as np
from numpy.typing import NDArray

from medai.io import header_checks, nifti_header
from medai.io.dicom import TooManyVoxelsError
from medai.io.errors import MedicalImageError
from medai.io.nifti import nifti_errors, open_nifti
from medai.io.volume import Volume

AFFINE_TOLERANCE_MM: Final = 1e-3
"""Largest difference between two channels' affine entries still read as one grid.

The same tolerance the segmentation loader allows between an image and its label map:
float32 storage of the same matrix differs by far less, a real misregistration by more.
"""

_NDIM: Final = 3
_CHANNELS_NDIM: Final = 4
_AFFINE_SHAPE: Final = (4, 4)


class ChannelMismatchError(MedicalImageError):
    """Channels of one image that do not sample the same grid (shape or affine differ)."""


class ChannelCountError(MedicalImageError):
    """An image with another number of channels than the dataset or the model declares."""


@dataclass(frozen=True, eq=False)
class ChannelVolume:
    """A channel-first (C, X, Y, Z) voxel array, its channel names and its shared affine.

    The multi-channel counterpart of ``Volume``: every channel lies on the one grid that
    ``affine`` places in patient space (NIfTI RAS+ convention, as ``Volume``'s).
    Equality is identity, as for ``Volume``.

    Attributes:
        array: Voxel data indexed (channel, i, j, k).
        affine: 4x4 float64 matrix mapping voxel indices to RAS+ millimetres.
        channels: One name per channel, in channel order ("FLAIR", "T1w", ...).
    """

    array: NDArray[Any]
    affine: NDArray[np.float64]
    channels: tuple[str, ...]

    def __post_init__(self) -> None:
        """Reject arrays and affines that would silently corrupt every later step.

        Raises:
            ValueError: If the array is not 4D, its first axis does not match the channel
                names, or the affine is not a finite 4x4 matrix.
        """
        if self.array.ndim != _CHANNELS_NDIM:
            raise ValueError(
                f"ChannelVolume array must be (C, X, Y, Z), got shape {self.array.shape}"
            )
        if self.array.shape[0] != len(self.channels):
            raise ValueError(
                f"ChannelVolume has {self.array.shape[0]} channels but "
                f"{len(self.channels)} channel names"
            )
        affine = np.asarray(self.affine, dtype=np.float64)
        if affine.shape != _AFFINE_SHAPE or not np.isfinite(affine).all():
            raise ValueError("ChannelVolume affine must be a finite 4x4 matrix")
        object.__setattr__(self, "affine", affine)
        object.__setattr__(self, "channels", tuple(self.channels))

    @property
    def shape(self) -> tuple[int, int, int]:
        """Number of voxels along i, j, k (the grid every channel shares)."""
        _, i, j, k = self.array.shape
        return int(i), int(j), int(k)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in millimetres along i, j, k; valid for oblique affines too."""
        i, j, k = np.linalg.norm(self.affine[:3, :3], axis=0)
        return float(i), float(j), float(k)

    def channel(self, index: int) -> Volume:
        """One channel as a 3D ``Volume`` (a view: no copy)."""
        return Volume(self.array[index], self.affine)


@dataclass(frozen=True)
class _Channel:
    """One channel's image as opened, with its checked header geometry."""

    source: header_checks.Source
    image: nib.Nifti1Image
    affine: NDArray[np.float64]


@dataclass(frozen=True)
class OpenedChannels:
    """Channels whose headers are checked and agree; their voxels are not decoded yet.

    Attributes:
        shape: The grid every channel shares (X, Y, Z).
        affine: Its checked affine.
        channels: One name per channel.
        voxels: Voxels of all channels together: what decoding allocates, in float32.
    """

    shape: tuple[int, int, int]
    affine: NDArray[np.float64]
    channels: tuple[str, ...]
    voxels: int
    _parts: tuple[_Channel, ...]
    _channels_last: bool

    def check_voxels(self, max_voxels: int) -> None:
        """Refuse the image when all its channels together hold more than ``max_voxels``.

        Raises:
            TooManyVoxelsError: (a MedicalImageError) naming the counts and the limit.
        """
        if self.voxels > max_voxels:
            x, y, z = self.shape
            raise TooManyVoxelsError(
                self._parts[0].source,
                f"has {len(self.channels)} channel(s) of {x} x {y} x {z} voxels, "
                f"{self.voxels} in all; the limit is {max_voxels}",
            )

    def decode(self, *, dtype: type[np.floating[Any]] = np.float32) -> ChannelVolume:
        """Decode every channel into one (C, X, Y, Z) array.

        Raises:
            MedicalImageError: If a file is truncated or holds NaN or infinite voxels.
        """
        out = np.empty((len(self.channels), *self.shape), dtype=dtype)
        if self._channels_last:
            part = self._parts[0]
            data = _decoded(part, dtype)
            out[...] = np.moveaxis(data, -1, 0)
        else:
            for index, part in enumerate(self._parts):
                data = _decoded(part, dtype)
                out[index] = data[..., 0] if data.ndim == _CHANNELS_NDIM else data
        return ChannelVolume(out, self.affine, self.channels)


def read_channels(
    files: Sequence[str | os.PathLike[str]],
    names: Sequence[str] | None = None,
    *,
    max_voxels: int | None = None,
    dtype: type[np.floating[Any]] = np.float32,
) -> ChannelVolume:
    """Read one multi-channel image from one 4D NIfTI or one 3D NIfTI per channel.

    Args:
        files: One file (3D: one channel; 4D: channels on the last axis) or one 3D file
            per channel, in channel order.
        names: The channel names the image must have, in order; their number is the
            channel count expected. None: any count, named by index ("0", "1", ...).
        max_voxels: If given, the most voxels of all channels together, checked from the
            headers before any voxel is decoded.
        dtype: Floating type of the returned array.

    Returns:
        The (C, X, Y, Z) volume.

    Raises:
        ChannelCountError: A 4D (or 3D) file, or a number of files, with another channel
            count than ``names``.
        ChannelMismatchError: Channel files whose shapes or affines differ.
        TooManyVoxelsError: More voxels than ``max_voxels``.
        MedicalImageError: A file is missing, not NIfTI, truncated, of another dimension,
            or holds NaN or infinite voxels; InvalidHeaderValueError and
            InvalidGeometryError (both MedicalImageErrors) for unusable header values.
        ValueError: No files.
    """
    images = [(Path(path), open_nifti(path)) for path in files]
    opened = open_channels(images, names)
    if max_voxels is not None:
        opened.check_voxels(max_voxels)
    return opened.decode(dtype=dtype)


def open_channels(
    images: Sequence[tuple[header_checks.Source, object]],
    names: Sequence[str] | None = None,
) -> OpenedChannels:
    """Check opened images' headers as one multi-channel image; decode nothing.

    Split from read_channels so that images opened from bytes (an upload's parts) pass the
    same checks as files on disk; the caller has checked their raw header bytes first, as
    open_nifti does.

    Args:
        images: ``(source, image)`` per file, in channel order: ``source`` names the file
            (or the upload part) in errors, ``image`` is what nibabel opened.
        names: As for read_channels.

    Returns:
        The checked channels, ready to ``decode``.

    Raises:
        ChannelCountError, ChannelMismatchError, MedicalImageError, ValueError: As for
            read_channels.
    """
    if not images:
        raise ValueError("a multi-channel image needs at least one file")
    if names is not None and len(images) > 1 and len(names) != len(images):
        raise ChannelCountError(
            images[0][0],
            f"is the first of {len(images)} channel files; expected {len(names)} "
            f"({', '.join(names)})",
        )
    parts = tuple(_checked(source, image) for source, image in images)
    if len(parts) == 1:
        return _one_file(parts[0], names)
    channels = tuple(names) if names is not None else _index_names(len(parts))
    first = parts[0]
    shape = _spatial_shape(first, channels, 0)
    for index, part in enumerate(parts[1:], start=1):
        other = _spatial_shape(part, channels, index)
        if other != shape:
            raise ChannelMismatchError(
                part.source,
                f"{_channel(channels, index)} has shape {other}, but "
                f"{_channel(channels, 0)} has shape {shape}; the channels must share one grid",
            )
        difference = float(np.max(np.abs(part.affine - first.affine)))
        if difference > AFFINE_TOLERANCE_MM:
            raise ChannelMismatchError(
                part.source,
                f"{_channel(channels, index)} affine differs from {_channel(channels, 0)}'s "
                f"by up to {difference:.6g} (tolerance {AFFINE_TOLERANCE_MM:g}); "
                "the channels must share one grid",
            )
    return OpenedChannels(
        shape, first.affine, channels, len(parts) * math.prod(shape), parts, _channels_last=False
    )


def _one_file(part: _Channel, names: Sequence[str] | None) -> OpenedChannels:
    """A 3D file is one channel; a 4D file holds its channels on the last axis."""
    shape = tuple(int(size) for size in part.image.shape)
    if len(shape) not in {_NDIM, _CHANNELS_NDIM}:
        raise MedicalImageError(
            part.source,
            f"has {len(shape)} dimensions; expected a 3D volume or a 4D image with its "
            "channels on the last axis",
        )
    count = shape[3] if len(shape) == _CHANNELS_NDIM else 1
    if names is not None and count != len(names):
        where = "on its 4th axis" if len(shape) == _CHANNELS_NDIM else "(a 3D image)"
        raise ChannelCountError(
            part.source,
            f"has {count} channel(s) {where}; expected {len(names)} ({', '.join(names)})",
        )
    channels = tuple(names) if names is not None else _index_names(count)
    x, y, z = shape[:3]
    return OpenedChannels(
        (x, y, z),
        part.affine,
        channels,
        count * x * y * z,
        (part,),
        _channels_last=len(shape) == _CHANNELS_NDIM,
    )


def _checked(source: header_checks.Source, image: object) -> _Channel:
    """The header checks read_nifti applies, on an image nibabel opened."""
    if not isinstance(image, nib.Nifti1Image):  # Nifti2Image is a subclass
        raise MedicalImageError(
            source, f"is not a NIfTI file (nibabel reads it as {type(image).__name__})"
        )
    with nifti_errors(source):
        nifti_header.check_header(source, image.header)
        affine = header_checks.affine(source, nifti_header.affine_name(image.header), image.affine)
    return _Channel(source, image, affine)


def _spatial_shape(part: _Channel, channels: Sequence[str], index: int) -> tuple[int, int, int]:
    """A channel file's 3D shape; a 4D file with a last axis of 1 counts as 3D."""
    shape = tuple(int(size) for size in part.image.shape)
    if len(shape) == _CHANNELS_NDIM and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != _NDIM:
        raise MedicalImageError(
            part.source,
            f"{_channel(channels, index)} has shape {shape}; expected a 3D volume per channel file",
        )
    x, y, z = shape
    return x, y, z


def _decoded(part: _Channel, dtype: type[np.floating[Any]]) -> NDArray[np.floating[Any]]:
    with nifti_errors(part.source), np.errstate(over="ignore", invalid="ignore"):
        # A huge scl_slope overflows to Inf, refused just below: no need for numpy's warning.
        data: NDArray[np.floating[Any]] = part.image.get_fdata(dtype=dtype)
    if not np.isfinite(data).all():
        raise MedicalImageError(part.source, "contains NaN or infinite voxels")
    return data


def _index_names(count: int) -> tuple[str, ...]:
    return tuple(str(index) for index in range(count))


def _channel(channels: Sequence[str], index: int) -> str:
    """``channel 1 (T1w)``, or ``channel 1`` when the channels are only numbered."""
    name = channels[index]
    return f"channel {index}" if name == str(index) else f"channel {index} ({name})"
