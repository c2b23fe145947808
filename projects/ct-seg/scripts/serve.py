"""Thin entry point: `python scripts/serve.py --help` (the logic lives in ct_seg.cli)."""

from ct_seg.cli import serve_main

if __name__ == "__main__":
    raise SystemExit(serve_main())
