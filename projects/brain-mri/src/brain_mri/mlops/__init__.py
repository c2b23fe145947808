"""MLflow tracking, registry and deployment of brain-mri (the shared library's)."""
