"""ct-seg's preprocessing, metrics, figures and measures: its own or the kind's.

Each module says in its first line which it is (``medai.<kind>.extensions``).
"""
