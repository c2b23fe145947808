"""Shared library of the medical-AI monorepo.

Split by domain, one reason to change per module: ``config`` (layered, validated
settings), ``io`` (NIfTI and DICOM), ``data`` (dataset layouts and splits),
``tracking`` (MLflow lineage, runs and registry), ``metrics`` (statistics shared by
every project). Heavy third-party packages (MLflow, torch) are imported only where
they are used, so reading a config or an image stays fast.
"""

__version__ = "0.1.0"
