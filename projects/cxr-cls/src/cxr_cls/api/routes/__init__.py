"""Routes of the cxr-cls server: the shared probes and metrics, and radiograph prediction."""
