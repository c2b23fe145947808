"""Run ct-seg's model on one input: `python scripts/predict.py --help`."""

from ct_seg.cli import predict_main

if __name__ == "__main__":
    raise SystemExit(predict_main())
