"""Preprocessing, metrics, figures and measures of cxr-cls, from the shared kit."""
