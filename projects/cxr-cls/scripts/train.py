"""Thin entry point: `python scripts/train.py --help` (the logic lives in cxr_cls.cli)."""

from cxr_cls.cli import train_main

if __name__ == "__main__":
    raise SystemExit(train_main())
