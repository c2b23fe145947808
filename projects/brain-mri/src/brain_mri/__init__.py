"""brain-mri: MRI segmentation on the shared segmentation kit; see docs/README.md."""
