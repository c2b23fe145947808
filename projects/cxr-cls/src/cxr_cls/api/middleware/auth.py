"""cxr-cls API keys: shared, constant-time, from ``MEDAI_API_KEYS`` / ``_FILE``."""

from medai.serving.auth import require_api_key
from medai.serving.settings import load_api_keys

__all__ = ["load_api_keys", "require_api_key"]
