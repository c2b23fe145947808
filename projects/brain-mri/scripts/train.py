"""Train and register brain-mri's model: `python scripts/train.py --help`."""

from brain_mri.cli import train_main

if __name__ == "__main__":
    raise SystemExit(train_main())
