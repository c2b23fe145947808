"""Preprocessing, metrics, figures and measures of brain-mri, from the shared kit."""
