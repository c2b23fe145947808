"""The ``train`` keys every kind shares, so ``--set train.device=cuda`` means one thing.

A kind's ``TrainSettings`` subclasses ``TrainingSettings``, changing defaults and adding
its own keys (patches per volume, augmentation, threads); the engine reads only these.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from medai.config import Section

Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["32", "bf16-mixed", "16-mixed"]


class TrainingSettings(Section):
    """Optimisation and hardware; every hyper-parameter lives here, none in scripts."""

    epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=8, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    val_every: int = Field(
        default=1, ge=1, description="Validate every this many epochs, and after the last."
    )
    num_workers: int = Field(default=0, ge=0, description="DataLoader worker processes.")
    checkpoint_every: int = Field(
        default=1,
        ge=1,
        description=(
            "Write the resumable checkpoint every this many epochs (and after the last, "
            "and on SIGTERM); --resume continues from it."
        ),
    )
    device: Device = Field(
        default="auto", description="Where to train: auto = a CUDA GPU when torch sees one."
    )
    precision: Precision = Field(
        default="32",
        description=(
            "32 = full float32; bf16-mixed = bfloat16 autocast (CPU or recent GPUs); "
            "16-mixed = float16 autocast with loss scaling (CUDA only)."
        ),
    )

    @field_validator("precision", mode="before")
    @classmethod
    def _yaml_number(cls, value: object) -> object:
        """YAML reads ``precision: 32`` as the integer 32; it means the string ``"32"``."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value
