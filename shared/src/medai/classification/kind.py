"""The classification kind's declaration for the registry of kinds (``medai.kinds``).

Multi-label image classification (one sigmoid per finding) with class activation maps.
"""

from medai.kinds import Kind

KIND = Kind(
    name="classification",
    summary="multi-label findings of 2D images (radiographs), with heatmaps",
    package="medai.classification",
    members={
        "settings": "settings:ClassificationSettings",
        "project": "project:ClassificationProject",
        "data": "data:ClassificationData",
        "network": "networks:CamClassifier",
        "task": "training:ClassificationTask",
        "train": "training_run:train",
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
    template_defaults={"modality": "radiograph"},
)
