"""Train and register cxr-cls's model: `python scripts/train.py --help`."""

from cxr_cls.cli import train_main

if __name__ == "__main__":
    raise SystemExit(train_main())
