"""cxr-cls: multi-label chest radiograph classification in the standard project layout."""

__version__ = "0.1.0"
