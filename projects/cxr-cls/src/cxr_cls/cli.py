"""Command-line entry points of cxr-cls (``scripts/*.py`` and the ``cxr-cls-*`` commands).

Train, evaluate (AUROC with CIs), predict (one radiograph to JSON) and serve come from the
classification kit; a bad config or image stops with one line and exit status 2.
"""

from cxr_cls.settings import PROJECT
from medai.classification.cli import project_commands

train_main, evaluate_main, predict_main, serve_main = project_commands(
    PROJECT, "cxr_cls.api.main:create_app"
)
