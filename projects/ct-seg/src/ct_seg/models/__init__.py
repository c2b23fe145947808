"""Networks of ct-seg (code only; trained weights live in MLflow, not git)."""
