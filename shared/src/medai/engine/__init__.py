"""The one training engine every kind trains on: PyTorch Lightning, wrapped once.

A kind (segmentation, classification, ...) supplies a ``TrainingTask`` (its loss, its
validation scores) and its data loaders; the engine owns everything else a training run
needs: devices and precision, the epoch loop, validation every N epochs (and after the
last), the best checkpoint, per-epoch records, interruption handling and the MLflow run
around it all. Why Lightning and not a hand-written loop or MONAI's Ignite engines:
docs/training-engine.md. One module per concern, imported by name:

- ``settings``: ``TrainingSettings``, the ``train`` keys every kind shares (pydantic only).
- ``devices``: ``train.device`` / ``train.precision`` resolved and checked (torch).
- ``task``: ``TrainingTask``, the LightningModule contract a kind implements.
- ``records``: ``EpochRecord`` and ``FitOutcome``, what a fit reports (no torch).
- ``fit``: ``fit``, one Lightning ``Trainer`` run with the engine's callbacks.
- ``network_fit``: ``check_network_fits``, a network's channels and outputs against its
  data, before anything trains (torch).
- ``curves``: the learning-curve figure (matplotlib).
- ``run``: ``run_training``, the tracked MLflow run, checkpoint logging and registration.
"""
