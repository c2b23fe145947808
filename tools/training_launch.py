"""How ``invoke train`` starts a project's training: one process, or torchrun's N.

``--nproc=N`` (N > 1) runs the project's ``scripts/train.py`` under torchrun
(``python -m torch.distributed.run``), which starts N processes and gives each its rank
in the environment (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``); the training engine reads
them and trains with Lightning's DDP strategy (gloo on CPU, NCCL on CUDA). One machine
uses torchrun's standalone rendezvous; several (``--nnodes`` > 1) meet at
``--rdzv-endpoint`` (c10d), each started with its ``--node-rank``. The same command line
runs in every pod of a Kubernetes training Job (``tools/training_jobs.py``).

Everything here is checked before anything starts, so a bad option is one line and
exit status 2, with no process, run or checkpoint made.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.errors import ToolError

MAX_NPROC = 64
"""Processes per machine, at most (one per GPU, or a few per CPU socket)."""
MAX_NNODES = 1024
_ENDPOINT = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")
MAX_PORT = 65535
DEFAULT_RDZV_PORT = 29400
"""torchrun's default c10d rendezvous port."""


@dataclass(frozen=True)
class Launch:
    """How many processes on how many machines, and where they meet.

    Attributes:
        nproc: Processes on this machine (``--nproc-per-node``).
        nnodes: Machines (``--nnodes``).
        node_rank: This machine's rank, 0 .. nnodes - 1.
        rdzv_endpoint: ``host[:port]`` every machine reaches (several machines only).
    """

    nproc: int = 1
    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str = ""

    @property
    def distributed(self) -> bool:
        """More than one process in all: torchrun starts them."""
        return self.nproc * self.nnodes > 1


def check_launch(nproc: int, nnodes: int, node_rank: int, rdzv_endpoint: str) -> Launch:
    """The launch the options ask for, or one line saying which option is wrong.

    Raises:
        ToolError: ``--nproc`` / ``--nnodes`` out of range, ``--node-rank`` outside the
            machines, several machines without ``--rdzv-endpoint``, or a malformed one.
    """
    if not 1 <= nproc <= MAX_NPROC:
        message = f"error: --nproc must be 1 to {MAX_NPROC} processes per machine; got {nproc}"
        raise ToolError(message)
    if not 1 <= nnodes <= MAX_NNODES:
        raise ToolError(f"error: --nnodes must be 1 to {MAX_NNODES} machines; got {nnodes}")
    if not 0 <= node_rank < nnodes:
        raise ToolError(
            f"error: --node-rank must be 0 to {nnodes - 1} with --nnodes={nnodes}; got {node_rank}"
        )
    if rdzv_endpoint and not _valid_endpoint(rdzv_endpoint):
        raise ToolError(
            f"error: --rdzv-endpoint must be HOST or HOST:PORT (port 1-65535): {rdzv_endpoint!r}"
        )
    if nnodes > 1 and not rdzv_endpoint:
        raise ToolError(
            f"error: --nnodes={nnodes} needs --rdzv-endpoint=HOST:PORT, an address every "
            "machine reaches (machine 0's, where the rendezvous is held)"
        )
    return Launch(nproc=nproc, nnodes=nnodes, node_rank=node_rank, rdzv_endpoint=rdzv_endpoint)


def _valid_endpoint(endpoint: str) -> bool:
    if not _ENDPOINT.match(endpoint):
        return False
    _, _, port = endpoint.partition(":")
    return not port or 0 < int(port) <= MAX_PORT


def torchrun_arguments(launch: Launch, *, run_id: str = "") -> list[str]:
    """The torchrun options for ``launch`` (before the script and its arguments).

    Args:
        launch: The checked launch.
        run_id: The rendezvous id every machine of one training shares (several
            machines; the Kubernetes Job's name); torchrun's default otherwise.
    """
    arguments = [f"--nproc-per-node={launch.nproc}"]
    if launch.nnodes == 1:
        return ["--standalone", *arguments]
    endpoint = launch.rdzv_endpoint
    if ":" not in endpoint:
        endpoint = f"{endpoint}:{DEFAULT_RDZV_PORT}"
    arguments += [
        f"--nnodes={launch.nnodes}",
        f"--node-rank={launch.node_rank}",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={endpoint}",
    ]
    if run_id:
        arguments.append(f"--rdzv-id={run_id}")
    return arguments


def training_command(
    python: str, script: Path, launch: Launch, script_args: Sequence[str]
) -> list[str]:
    """The command that trains: the script itself, or torchrun running it on every rank."""
    if not launch.distributed:
        return [python, str(script), *script_args]
    torchrun = [python, "-m", "torch.distributed.run", *torchrun_arguments(launch)]
    return [*torchrun, str(script), *script_args]
