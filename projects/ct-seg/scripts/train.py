"""Train and register ct-seg's model: `python scripts/train.py --help`."""

from ct_seg.cli import train_main

if __name__ == "__main__":
    raise SystemExit(train_main())
