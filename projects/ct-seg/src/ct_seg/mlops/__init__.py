"""MLflow tracking and registry for ct-seg, thin over ``medai.tracking`` and the kit."""
