"""``POST /v1/predict`` of ct-seg: a CT volume in, its label mask out."""

from ct_seg.settings import PROJECT
from medai.segmentation.serving.predict import predict_router

router = predict_router(PROJECT)
