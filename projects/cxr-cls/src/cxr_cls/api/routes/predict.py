"""``POST /v1/predict``: a chest radiograph in, finding probabilities (and Grad-CAMs) out."""

from cxr_cls.settings import PROJECT
from medai.classification.serving.predict import predict_router

router = predict_router(PROJECT)
