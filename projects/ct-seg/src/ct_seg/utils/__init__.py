"""Preprocessing, metrics, plots and medical helpers of ct-seg."""
