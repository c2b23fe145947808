"""Thin entry point: `python scripts/serve.py --help` (the logic lives in cxr_cls.cli)."""

from cxr_cls.cli import serve_main

if __name__ == "__main__":
    raise SystemExit(serve_main())
