"""cxr-cls routes need an API key (``X-API-Key`` or Bearer) except the open probes.

Keys come from ``MEDAI_API_KEYS`` or ``MEDAI_API_KEYS_FILE`` and are compared in
constant time; the shared implementation is re-exported here.
"""

from medai.serving.auth import require_api_key
from medai.serving.settings import load_api_keys

__all__ = ["load_api_keys", "require_api_key"]
