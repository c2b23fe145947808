"""The cxr-cls network (code only; trained weights live in MLflow, never in the repo)."""
