"""Liveness and readiness come from the shared app factory (``/health``, ``/ready``).

Kept as a module so the project follows the standard layout; a project-specific health
check would be added to this router.
"""

from medai.serving.app import operations_router as router

__all__ = ["router"]
