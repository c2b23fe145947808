"""cxr-cls's ``/health`` and ``/ready``: the shared app factory's routes.

Kept as a module so the project follows the standard layout; a check specific to
cxr-cls would be added to this router.
"""

from medai.serving.app import operations_router as router

__all__ = ["router"]
