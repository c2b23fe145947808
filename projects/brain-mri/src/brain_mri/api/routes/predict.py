"""``POST /v1/predict`` of brain-mri: a MRI volume in, its label mask out."""

from brain_mri.settings import PROJECT
from medai.segmentation.serving.predict import predict_router

router = predict_router(PROJECT)
