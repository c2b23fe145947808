"""Run cxr-cls's model on one input: `python scripts/predict.py --help`."""

from cxr_cls.cli import predict_main

if __name__ == "__main__":
    raise SystemExit(predict_main())
