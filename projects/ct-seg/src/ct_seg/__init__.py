"""ct-seg: 3D CT segmentation of an organ and its lesions, MSD layout, tracked in MLflow."""

PROJECT_NAME = "ct-seg"
