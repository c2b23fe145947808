"""Middleware of the brain-mri server; all of it is shared (``medai.serving``)."""
