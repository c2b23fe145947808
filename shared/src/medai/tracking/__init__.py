"""MLflow tracking and registry helpers.

``lineage``, ``model_choice`` (which version a command may use) and ``comparison`` (how a
new version compares) are importable without MLflow; ``runs``, ``models`` and
``registry`` import MLflow and so belong in training and evaluation code, never in a
config-only path.
"""
