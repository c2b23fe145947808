"""MLflow tracking, registry and deployment of cxr-cls (the shared library's)."""
