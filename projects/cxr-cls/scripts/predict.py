"""Thin entry point: `python scripts/predict.py --help` (the logic lives in cxr_cls.cli)."""

from cxr_cls.cli import predict_main

if __name__ == "__main__":
    raise SystemExit(predict_main())
