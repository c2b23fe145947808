"""Middleware of the cxr-cls server (API keys, access log, body limit): all shared."""
