"""Routes of the cxr-cls server: shared operations routes, its prediction."""
