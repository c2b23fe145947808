"""Preprocessing, metrics, plots and HU helpers of ct-seg, from the segmentation kit."""
