"""Middleware of the ct-seg server; all of it is shared (``medai.serving``)."""
