"""Routes of the brain-mri server: shared operations routes, its prediction."""
