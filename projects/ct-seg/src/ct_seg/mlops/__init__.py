"""MLflow tracking and registry for ct-seg, thin over ``medai.tracking``."""
