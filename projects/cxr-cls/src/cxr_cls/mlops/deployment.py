"""cxr-cls's promotion gate and rollback (``scripts/deploy.py``): medai's."""

from cxr_cls.settings import PROJECT
from medai.deployment import deployment_commands

deploy_main, rollback_main = deployment_commands(PROJECT)
