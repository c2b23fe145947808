"""ct-seg: CT segmentation on the shared segmentation kit; see docs/README.md."""
