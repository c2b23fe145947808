"""brain-mri's promotion gate: a first deploy promotes, a rollback is refused.

The checks are the ones every project shares (``medai.testing.PromotionGateChecks``),
run on this project's commands and its session's trained model (tests/conftest.py).
"""

from __future__ import annotations

import pytest

pytest.importorskip("medai.deployment", reason="the promotion gate is not in medai yet")
from brain_mri.mlops.deployment import deploy_main, rollback_main
from medai.testing import PromotionGateChecks

pytestmark = pytest.mark.integration


class TestPromotionGate(PromotionGateChecks):
    model_name = "brain-mri"
    deploy = staticmethod(deploy_main)
    rollback = staticmethod(rollback_main)
