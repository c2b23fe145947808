"""The exception types medical image readers raise for unusable inputs: one base, named kinds."""

from __future__ import annotations

import os
from pathlib import Path


class MedicalImageError(ValueError):
    """An input image that cannot be used; str() is one line naming the file and the problem.

    A subclass of ValueError so callers that only care about "bad input" can catch that, while
    the CLI can catch this type to print a clean one-line message instead of a library traceback.

    Attributes:
        path: The file or folder the user passed in (or the file inside it that is at fault).
        reason: What is wrong, phrased to follow the path ("does not exist").
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        """Store the path and reason and build the one-line message.

        Args:
            path: The offending file or folder.
            reason: What is wrong with it. Whitespace runs (including newlines from wrapped
                library messages) are collapsed so the message stays on one line for logs.
        """
        self.path = Path(path)
        self.reason = " ".join(reason.split())
        super().__init__(f"{self.path}: {self.reason}")

    def __reduce__(self) -> tuple[type[MedicalImageError], tuple[Path, str]]:
        """Rebuild from (path, reason) so the error survives pickling to worker processes."""
        return type(self), (self.path, self.reason)


class InvalidHeaderValueError(MedicalImageError):
    """A header value a reader would compute with that is not a usable number.

    NaN, Inf, an empty or non-numeric string, too many or too few values, or a magnitude no
    scanner writes (a RescaleSlope of 1e308): any of these would flow into arithmetic and
    come out as NaN pixels or an empty answer, so the reader refuses the file instead. The
    reason names the attribute and the bad value; both are technical, never patient data.
    """


class InvalidGeometryError(InvalidHeaderValueError):
    """Geometry that does not describe a real voxel grid: spacing, orientation or affine.

    A zero or negative spacing, direction cosines that are not orthogonal unit vectors, or
    an affine that is singular or whose voxel axes are (nearly) collinear: resampling and
    physical measurements (mL, mm) would divide by zero, overflow or be silently wrong.
    """
