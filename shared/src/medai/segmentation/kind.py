"""The segmentation kind's declaration for the registry of kinds (``medai.kinds``).

Dense label maps (softmax, one channel per label) or nested regions (sigmoid, one
channel per region) of 2D/3D images with any number of input channels.
"""

from medai.kinds import Kind

KIND = Kind(
    name="segmentation",
    summary="dense label or region maps of volumes (CT, MRI, ...)",
    package="medai.segmentation",
    members={
        "settings": "settings:SegmentationSettings",
        "project": "project:SegmentationProject",
        "data": "data:SegmentationData",
        "network": "networks:SegmentationNetwork",
        "task": "task:SegmentationTask",
        "train": "training:train",
        "register_model": "registry:register_model",
        "loaded_model": "registry:LoadedModel",
        "load_registered_model": "registry:load_registered_model",
        "evaluation_report": "evaluation:EvaluationReport",
        "evaluate": "evaluation:evaluate",
        "gate_scores": "evaluation:gate_scores",
        "app_factory": "serving.app:app_factory",
        "predict_router": "serving.predict:predict_router",
        "commands": "cli:project_commands",
        "extensions": "extensions:EXTENSION_POINTS",
    },
    template_defaults={"modality": "CT", "target": "the labelled structures"},
)
