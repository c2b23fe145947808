"""Thin entry point: `python scripts/train.py --help` (the logic lives in ct_seg.cli)."""

from ct_seg.cli import train_main

if __name__ == "__main__":
    raise SystemExit(train_main())
