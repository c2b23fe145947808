"""cxr-cls's ``POST /v1/predict``: one chest radiograph image in, label probabilities out."""

from cxr_cls.settings import PROJECT
from medai.classification.serving.predict import predict_router

router = predict_router(PROJECT)
