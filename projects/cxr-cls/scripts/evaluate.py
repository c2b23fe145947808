"""Thin entry point: `python scripts/evaluate.py --help` (the logic lives in cxr_cls.cli)."""

from cxr_cls.cli import evaluate_main

if __name__ == "__main__":
    raise SystemExit(evaluate_main())
