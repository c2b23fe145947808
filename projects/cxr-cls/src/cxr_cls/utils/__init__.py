"""Radiograph preprocessing, metrics, figures and finding names of cxr-cls."""
