"""Log a network to MLflow with a tensor signature and an input example."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
    a workspace.

    The module is pickled rather than saved as a ``torch.export`` program (MLflow 3's
    default): an exported program fixes the batch size of the example, cannot be put in
    eval mode after loading, and the registry is a trusted store. Light serving uses an
    ONNX export instead.
    """
    import mlflow.pytorch  # noqa: PLC0415 - needs torch; only training code calls this

    info: ModelInfo = mlflow.pytorch.log_model(
        model,
        name=name,
        signature=signature,
        input_example=input_example,
        pip_requirements=list(pip_requirements),
        registered_model_name=registered_model_name,
        serialization_format="pickle",
    )
    return info
