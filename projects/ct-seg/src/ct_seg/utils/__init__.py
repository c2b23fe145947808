"""Preprocessing, metrics, figures and measures of ct-seg, from the shared kit."""
