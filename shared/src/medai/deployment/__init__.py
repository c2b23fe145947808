"""Promotion with a gate, and rollback: how a challenger becomes the served champion.

``invoke deploy`` evaluates the challenger and the champion on the project's frozen
evaluation set and moves the ``champion`` alias only if the gate passes
(``medai.deployment.gate``); the decision, both versions' metrics, the git commit and
who deployed are written as tags on the promoted version. ``invoke rollback`` moves the
alias back to the previous champion. Nothing here copies model files: the registry's
aliases are the deployment state.
"""

from medai.deployment.cli import deployment_commands
from medai.deployment.gate import Decision, GateMetric, GateScores, decide

__all__ = ["Decision", "GateMetric", "GateScores", "decide", "deployment_commands"]
