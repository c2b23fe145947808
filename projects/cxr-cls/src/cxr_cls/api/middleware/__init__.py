"""Middleware of the cxr-cls server; all of it is shared (``medai.serving``)."""
