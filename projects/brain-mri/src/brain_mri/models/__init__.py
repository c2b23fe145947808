"""Networks of brain-mri (code only; trained weights live in MLflow, not git)."""
