"""Run brain-mri's model on one input: `python scripts/predict.py --help`."""

from brain_mri.cli import predict_main

if __name__ == "__main__":
    raise SystemExit(predict_main())
