"""The commands of brain-mri (``scripts/*.py`` and console scripts): the kit's.

Each resolves the configuration first and fails on a bad config or input with one line
and exit status 2, before paying for torch, MONAI or MLflow imports.
"""

from brain_mri.settings import PROJECT
from medai.segmentation.cli import project_commands

train_main, evaluate_main, predict_main, serve_main = project_commands(
    PROJECT, "brain_mri.api.main:create_app"
)
