"""ct-seg's deployment: the CT model becomes champion only if it wins on the evaluation set.

    uv run python projects/ct-seg/scripts/deploy.py --env staging     # gate, then promote
    uv run python projects/ct-seg/scripts/deploy.py --rollback        # the previous champion

Both commands are the shared library's (``medai.deployment``), wired to ct-seg.
"""

import sys

from ct_seg.mlops.deployment import deploy_main, rollback_main

if __name__ == "__main__":
    command = rollback_main if "--rollback" in sys.argv else deploy_main
    raise SystemExit(command([arg for arg in sys.argv[1:] if arg != "--rollback"]))
