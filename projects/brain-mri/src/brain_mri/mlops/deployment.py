"""brain-mri's promotion gate and rollback (``scripts/deploy.py``): medai's."""

from brain_mri.settings import PROJECT
from medai.deployment import deployment_commands

deploy_main, rollback_main = deployment_commands(PROJECT)
