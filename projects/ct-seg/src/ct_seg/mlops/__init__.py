"""MLflow tracking, registry and deployment of ct-seg (the shared library's)."""
