"""One JSON access-log line per request, without bodies, file names or header values."""

from medai.serving.request_log import RequestLogMiddleware

__all__ = ["RequestLogMiddleware"]
