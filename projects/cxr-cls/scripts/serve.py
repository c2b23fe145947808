"""Serve cxr-cls's registered model over HTTP: `python scripts/serve.py --help`."""

from cxr_cls.cli import serve_main

if __name__ == "__main__":
    raise SystemExit(serve_main())
