"""Radiograph datasets of cxr-cls: the synthetic default and real layouts."""
