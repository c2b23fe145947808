"""Thin entry point: `python scripts/evaluate.py --help` (the logic lives in ct_seg.cli)."""

from ct_seg.cli import evaluate_main

if __name__ == "__main__":
    raise SystemExit(evaluate_main())
