"""MLflow tracking and registry of cxr-cls, thin over ``medai.tracking`` and the kit."""
