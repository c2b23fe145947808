"""The light inference server every project builds on: ``create_app`` and its parts.

No torch, MONAI or MLflow here: a server runs an ONNX graph from a materialized model
folder, so its image stays small and starts fast.
"""

from medai.serving.app import HealthResponse, ReadyResponse, create_app
from medai.serving.auth import ApiKeyMiddleware, key_matches, require_api_key
from medai.serving.body_timeout import BodyTimeoutMiddleware
from medai.serving.bundle import (
    BundleError,
    ModelBundle,
    ModelCard,
    ModelInfoResponse,
    ServedModel,
    write_bundle,
)
from medai.serving.deps import AuthDep, ModelDep, SettingsDep, get_model
from medai.serving.errors import ApiError, ErrorBody, ErrorResponse, install_error_handlers
from medai.serving.limits import BodyLimitMiddleware
from medai.serving.request_log import RequestLogMiddleware
from medai.serving.settings import (
    ServingConfigError,
    ServingSettings,
    check_startup,
    get_settings,
    load_api_keys,
)

__all__ = [
    "ApiError",
    "ApiKeyMiddleware",
    "AuthDep",
    "BodyLimitMiddleware",
    "BodyTimeoutMiddleware",
    "BundleError",
    "ErrorBody",
    "ErrorResponse",
    "HealthResponse",
    "ModelBundle",
    "ModelCard",
    "ModelDep",
    "ModelInfoResponse",
    "ReadyResponse",
    "RequestLogMiddleware",
    "ServedModel",
    "ServingConfigError",
    "ServingSettings",
    "SettingsDep",
    "check_startup",
    "create_app",
    "get_model",
    "get_settings",
    "install_error_handlers",
    "key_matches",
    "load_api_keys",
    "require_api_key",
    "write_bundle",
]
