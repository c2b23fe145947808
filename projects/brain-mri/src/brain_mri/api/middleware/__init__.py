"""Middleware of brain-mri's server: its own classes here, listed in api/main.py.

The shared stack (request log, API key, body limits) comes with the kind's app factory
and runs first; the modules below only re-export its parts for this layout.
"""
