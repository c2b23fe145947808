"""Thin entry point: `python scripts/predict.py --help` (the logic lives in ct_seg.cli)."""

from ct_seg.cli import predict_main

if __name__ == "__main__":
    raise SystemExit(predict_main())
