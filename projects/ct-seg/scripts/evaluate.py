"""Evaluate ct-seg's registered model: `python scripts/evaluate.py --help`."""

from ct_seg.cli import evaluate_main

if __name__ == "__main__":
    raise SystemExit(evaluate_main())
