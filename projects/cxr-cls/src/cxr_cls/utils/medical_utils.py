"""Chest radiograph findings of cxr-cls: their names (the model's labels) and what they mean."""

from cxr_cls.data.synthetic import FINDINGS

FINDING_DESCRIPTIONS = {
    "cardiomegaly": "enlarged heart: cardiothoracic ratio above 0.5 on a PA view",
    "effusion": "pleural effusion: fluid blunting a costophrenic angle, with a meniscus",
    "nodule": "a round opacity up to 3 cm within a lung",
    "pneumothorax": "air in the pleural space: a pleural line with no lung markings beyond",
}
"""Label -> description, shown in the API docs (the served model's card lists its labels)."""

LABELS = FINDINGS
"""The model's labels in output order (the name every kind's template tests read)."""

__all__ = ["FINDINGS", "FINDING_DESCRIPTIONS", "LABELS"]
