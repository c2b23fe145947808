"""cxr-cls's inference server: ``uvicorn --factory cxr_cls.api.main:create_app``.

``uv run invoke serve --project=cxr-cls`` materializes the registered classifier (ONNX
graph and card: labels, image size, thresholds) and starts this factory on that folder;
``docs/API.md`` has the routes and curl examples. The app is the classification kit's.
"""

from cxr_cls.api.routes.predict import router
from cxr_cls.settings import PROJECT
from medai.classification.serving.app import app_factory

create_app = app_factory(PROJECT, router)
