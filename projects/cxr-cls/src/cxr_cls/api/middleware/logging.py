"""Access log of cxr-cls: a JSON line per request with route, status, latency and model.

Never the file name, the body or a DICOM header value (PatientName, PatientID, ...).
"""

from medai.serving.request_log import RequestLogMiddleware

__all__ = ["RequestLogMiddleware"]
