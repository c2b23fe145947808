"""MLflow tracking and registry helpers.

``lineage`` is importable without MLflow; ``runs``, ``models`` and ``registry`` import
MLflow and so belong in training and evaluation code, never in a config-only path.
"""
