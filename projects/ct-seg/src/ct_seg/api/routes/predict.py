"""``POST /v1/predict``: a CT volume in, the organ/lesion mask (or its JSON summary) out."""

from ct_seg.settings import PROJECT
from medai.segmentation.serving.predict import predict_router

router = predict_router(PROJECT)
