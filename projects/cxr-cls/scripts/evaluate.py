"""Evaluate cxr-cls's registered model: `python scripts/evaluate.py --help`."""

from cxr_cls.cli import evaluate_main

if __name__ == "__main__":
    raise SystemExit(evaluate_main())
