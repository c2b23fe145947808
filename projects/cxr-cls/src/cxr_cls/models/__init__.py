"""Networks of cxr-cls (code only; trained weights live in MLflow, not git)."""
