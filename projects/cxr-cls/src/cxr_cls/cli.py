"""cxr-cls's commands: train, evaluate, predict and serve, the classification kit's.

Each resolves the configuration first; a bad config or image stops it with one line and
exit status 2 before torch or MLflow is imported. ``predict`` writes the label
probabilities of one image as JSON.
"""

from cxr_cls.settings import PROJECT
from medai.classification.cli import project_commands

train_main, evaluate_main, predict_main, serve_main = project_commands(
    PROJECT, "cxr_cls.api.main:create_app"
)
