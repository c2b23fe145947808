"""Promote ct-seg's challenger to champion if it passes the gate, or roll back.

Usage: ``python projects/ct-seg/scripts/deploy.py [--rollback] [--set K=V]``,
with ``--env staging`` (default) or ``--env production`` for a deployment. The gate and the
rollback are the shared library's (``medai.deployment``).
"""

import sys

from ct_seg.mlops.deployment import deploy_main, rollback_main

if __name__ == "__main__":
    command = rollback_main if "--rollback" in sys.argv else deploy_main
    raise SystemExit(command([arg for arg in sys.argv[1:] if arg != "--rollback"]))
