"""``train.device`` and ``train.precision`` resolved against what torch sees, before training.

A request the machine cannot honour (CUDA on a machine without it, float16 autocast on
a CPU) stops the command with one line naming the key, before any data is read or any
MLflow run opens; Lightning would otherwise fail later, or silently train in another
precision.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch

from medai.config.blame import RESOLVED
from medai.config.errors import ConfigError
from medai.engine.settings import TrainingSettings

LightningPrecision = Literal["32-true", "bf16-mixed", "16-mixed"]

_LIGHTNING_PRECISION: dict[str, LightningPrecision] = {
    "32": "32-true",
    "bf16-mixed": "bf16-mixed",
    "16-mixed": "16-mixed",
}


@dataclass(frozen=True)
class DevicePlan:
    """Where and in which precision a fit runs, in Lightning's terms.

    Attributes:
        accelerator: ``cpu`` or ``cuda``.
        precision: Lightning's precision string (``32-true``, ``bf16-mixed``, ``16-mixed``).
        devices: Processes (one device each) on this machine: 1, or torchrun's
            ``LOCAL_WORLD_SIZE``.
        num_nodes: Machines (torchrun's ``WORLD_SIZE / LOCAL_WORLD_SIZE``).
    """

    accelerator: str
    precision: LightningPrecision
    devices: int = 1
    num_nodes: int = 1

    @property
    def world_size(self) -> int:
        """Processes in all; more than one trains with DDP."""
        return self.devices * self.num_nodes

    @property
    def torch_device(self) -> torch.device:
        """The torch device the network runs on."""
        return torch.device(self.accelerator)


def cuda_description() -> str:
    """Why torch sees no CUDA device, in words (its build, the driver's answer)."""
    built_for = torch.version.cuda
    if built_for is None:
        return f"torch {torch.__version__} is a CPU-only build"
    return f"torch {torch.__version__} (CUDA {built_for}) finds no CUDA device or driver"


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place among torchrun's (``RANK``, ``LOCAL_WORLD_SIZE``, ``WORLD_SIZE``).

    One process (no torchrun) is rank 0 of 1.
    """

    rank: int = 0
    local_world_size: int = 1
    world_size: int = 1

    @property
    def is_zero(self) -> bool:
        """The process that tracks in MLflow, logs and writes checkpoints."""
        return self.rank == 0


def process_group(environ: Mapping[str, str] | None = None) -> ProcessGroup:
    """Read torchrun's variables (absent: one process).

    Raises:
        ConfigError: They are inconsistent (not numbers, or a world not a whole number of
            machines), which only a hand-made environment produces.
    """
    env = os.environ if environ is None else environ
    try:
        group = ProcessGroup(
            rank=int(env.get("RANK", "0")),
            local_world_size=int(env.get("LOCAL_WORLD_SIZE", "1")),
            world_size=int(env.get("WORLD_SIZE", "1")),
        )
    except ValueError:
        group = ProcessGroup(rank=-1)
    valid = (
        group.local_world_size >= 1
        and group.world_size % group.local_world_size == 0
        and 0 <= group.rank < group.world_size
    )
    if not valid:
        raise ConfigError(
            RESOLVED,
            "train",
            "torchrun's RANK / LOCAL_WORLD_SIZE / WORLD_SIZE are inconsistent: "
            f"{env.get('RANK')!r} / {env.get('LOCAL_WORLD_SIZE')!r} / {env.get('WORLD_SIZE')!r}",
            hint="start several processes with `invoke train --nproc=N`",
        )
    return group


def plan_devices(
    train: TrainingSettings,
    *,
    cuda_available: bool | None = None,
    group: ProcessGroup | None = None,
) -> DevicePlan:
    """Resolve ``auto`` and check that the device and precision can be honoured here.

    Args:
        train: The ``train`` section.
        cuda_available: What torch reports; asked when None (a parameter for tests).
        group: This process among torchrun's; read from the environment when None.

    Raises:
        ConfigError: ``train.device=cuda`` without a CUDA device, ``16-mixed`` on a CPU,
            or more processes on a machine than it has CUDA devices.
    """
    group = process_group() if group is None else group
    available = torch.cuda.is_available() if cuda_available is None else cuda_available
    if train.device == "cuda" and not available:
        raise ConfigError(
            RESOLVED,
            "train.device",
            f"cuda requested but {cuda_description()}",
            hint="use train.device=auto (a GPU when there is one) or train.device=cpu",
        )
    use_cuda = train.device == "cuda" or (train.device == "auto" and available)
    accelerator = "cuda" if use_cuda else "cpu"
    if train.precision == "16-mixed" and accelerator != "cuda":
        raise ConfigError(
            RESOLVED,
            "train.precision",
            f"16-mixed needs a CUDA device; training runs on {accelerator}",
            hint="use train.precision=32 or bf16-mixed on a CPU",
        )
    if accelerator == "cuda" and 1 < group.local_world_size > torch.cuda.device_count():
        raise ConfigError(
            RESOLVED,
            "train.device",
            f"{group.local_world_size} processes on this machine but "
            f"{torch.cuda.device_count()} CUDA devices; DDP needs one device per process",
            hint="use --nproc=<number of GPUs>, or train.device=cpu",
        )
    return DevicePlan(
        accelerator=accelerator,
        precision=_LIGHTNING_PRECISION[train.precision],
        devices=group.local_world_size,
        num_nodes=group.world_size // group.local_world_size,
    )
