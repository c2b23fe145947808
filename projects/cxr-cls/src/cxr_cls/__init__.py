"""cxr-cls: chest radiograph classification on the shared classification kit; see docs/README.md."""
