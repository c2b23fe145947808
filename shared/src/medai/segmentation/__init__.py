"""3D segmentation kit: settings, training, evaluation, prediction, serving, commands.

A project supplies its settings class, its data source and a few thin modules; the rest
is here, once. One module per concern, imported by name (nothing is re-exported here, so
importing the torch-free serving pieces never pulls in torch):

- ``settings``: the config sections and ``SegmentationSettings`` (pydantic only).
- ``project``: ``SegmentationProject``, what the kit needs from a project.
- ``data``: ``SegmentationData`` (cases and split) and ``load_or_generate``, the usual
  data source (an MSD / nnU-Net folder, else the project's generated sample).
- ``transforms``: MONAI chains for training, validation and inference (torch, MONAI).
- ``networks``: the network contract and MONAI's residual UNet (torch, MONAI).
- ``segmenter``: sliding-window segmentation on the input grid (torch, MONAI).
- ``onnx_segmenter``: the same on ONNX Runtime (numpy, SciPy; no torch).
- ``metrics``: Dice and HD95 per structure (torch, MONAI); ``measures``: volumes and
  display helpers (numpy); ``plots``: learning curves and overlays (matplotlib).
- ``registry``: registration with its ONNX export, loading by alias (MLflow, torch).
- ``training``, ``evaluation``, ``prediction``: the commands' work.
- ``serving``: model loaders, the ``/v1/predict`` route and the app factory (no torch).
- ``cli``: the console-script entry points.
"""
