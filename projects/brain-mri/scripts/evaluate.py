"""Evaluate brain-mri's registered model: `python scripts/evaluate.py --help`."""

from brain_mri.cli import evaluate_main

if __name__ == "__main__":
    raise SystemExit(evaluate_main())
