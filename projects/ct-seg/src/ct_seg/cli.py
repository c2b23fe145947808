"""The commands of ct-seg (``scripts/*.py`` and console scripts): the kit's.

Each resolves the configuration first and fails on a bad config or input with one line
and exit status 2, before paying for torch, MONAI or MLflow imports.
"""

from ct_seg.settings import PROJECT
from medai.segmentation.cli import project_commands

train_main, evaluate_main, predict_main, serve_main = project_commands(
    PROJECT, "ct_seg.api.main:create_app"
)
