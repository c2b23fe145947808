"""``/health`` (process alive) and ``/ready`` (classifier loaded), open for probes.

Both come from the shared app factory; a cxr-cls-specific check would join this router.
"""

from medai.serving.app import operations_router as router

__all__ = ["router"]
