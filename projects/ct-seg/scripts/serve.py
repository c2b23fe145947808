"""Serve ct-seg's registered model over HTTP: `python scripts/serve.py --help`."""

from ct_seg.cli import serve_main

if __name__ == "__main__":
    raise SystemExit(serve_main())
