"""Serve brain-mri's registered model over HTTP: `python scripts/serve.py --help`."""

from brain_mri.cli import serve_main

if __name__ == "__main__":
    raise SystemExit(serve_main())
