"""Log a network to MLflow with a tensor signature, an input example and its environment.

Logging a model must not warn on every training about what is a decision, so the two
warnings MLflow would print are answered here (docs/tracking.md says why):

- "Failed to resolve installed pip version": MLflow writes ``pip<=<installed pip>``
  into ``conda.yaml`` and warns when pip is not installed, which it never is in a uv
  environment. The conda environment is given explicitly instead, with ``pip``
  unversioned (what MLflow would write anyway) and the pinned requirements.
- "Saving pytorch model by Pickle or CloudPickle format requires exercising caution":
  the network is pickled on purpose (see ``log_pytorch_model``), so this one log
  record, and only it, is dropped while the model is saved.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import mlflow
import numpy as np
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types import Schema, TensorSpec


def tensor_signature(
    input_shape: Sequence[int], output_shape: Sequence[int], dtype: str = "float32"
) -> ModelSignature:
    """A signature of one unnamed tensor in and out; use -1 for free dimensions.

    Unnamed on purpose: a named tensor spec makes MLflow expect a dict input, which the
    PyTorch flavour refuses when it validates the serving example.
    """
    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(dtype), tuple(input_shape))]),
        outputs=Schema([TensorSpec(np.dtype(dtype), tuple(output_shape))]),
    )


PICKLE_WARNING = "Saving pytorch model by Pickle or CloudPickle format"
"""How MLflow's warning about pickled PyTorch models starts (logger ``mlflow.pytorch``)."""
CONDA_CHANNEL = "conda-forge"


def model_environment(pip_requirements: Sequence[str]) -> dict[str, Any]:
    """The conda environment recorded with a model: this Python, pip, the pinned packages.

    ``pip`` is unversioned: the environment that trains is made by uv and has no pip,
    and the one that ``mlflow models serve`` would build installs its own. MLflow is
    pinned to the version that logged the model, as MLflow itself does.
    """
    return {
        "name": "mlflow-env",
        "channels": [CONDA_CHANNEL],
        "dependencies": [
            f"python={platform.python_version()}",
            "pip",
            {"pip": [f"mlflow=={mlflow.__version__}", *pip_requirements]},
        ],
    }


class _DropRecordsStarting(logging.Filter):
    """Drops the log records whose message starts with ``start``; passes every other."""

    def __init__(self, start: str) -> None:
        super().__init__()
        self.start = start

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.start)


@contextmanager
def _pickle_warning_dropped() -> Iterator[None]:
    """While saving: MLflow's pickle warning, about a format chosen on purpose, is dropped."""
    logger = logging.getLogger("mlflow.pytorch")
    drop = _DropRecordsStarting(PICKLE_WARNING)
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def log_pytorch_model(
    model: Any,  # noqa: ANN401 - a torch.nn.Module; torch is not a dependency of this library
    *,
    signature: ModelSignature,
    input_example: np.ndarray[Any, Any],
    pip_requirements: Sequence[str],
    registered_model_name: str | None = None,
    name: str = "model",
) -> ModelInfo:
    """Log a PyTorch network to the active run, optionally registering it.

    ``pip_requirements`` are given explicitly: MLflow's inference of them imports the
    model in a subprocess, which costs tens of seconds with MONAI and guesses wrong in
    a workspace. They go in as a whole conda environment (``model_environment``), so
    MLflow does not look for a pip that a uv environment does not have.

    The module is pickled rather than saved as a ``torch.export`` program ("pt2", which
    MLflow recommends): loading a pt2 program gives back a ``torch.fx.GraphModule``, not
    the project's class, so the classifier's CAM methods and the kits' type checks on
    the loaded network would be lost, and ``.eval()`` cannot be called on it. The
    registry is a trusted store; the light server loads the ONNX export, never a pickle.
    """
    import mlflow.pytorch  # noqa: PLC0415 - needs torch; only training code calls this

    with _pickle_warning_dropped():
        info: ModelInfo = mlflow.pytorch.log_model(
            model,
            name=name,
            signature=signature,
            input_example=input_example,
            conda_env=model_environment(pip_requirements),
            registered_model_name=registered_model_name,
            serialization_format="pickle",
        )
    return info
