"""cxr-cls's access log: one JSON line a request, never bodies or file names."""

from medai.serving.request_log import RequestLogMiddleware

__all__ = ["RequestLogMiddleware"]
