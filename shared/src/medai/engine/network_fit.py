"""Whether a network fits its data, checked before anything trains (every kind's rule).

A kind's network contract declares its input channels and its outputs (a segmentation
network's classes or regions, a classifier's labels); a project may bring its own network,
so training first compares both declarations with the data and runs one small forward
pass, which also catches a network that declares one head and computes another. The
error names both numbers and is raised before a run opens, so nothing is tracked or
registered for a network that could never have fitted.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from medai.errors import NetworkContractError


@dataclass(frozen=True)
class NetworkFit:
    """What the data needs of a network, and how the messages name it.

    Attributes:
        in_channels: The data's input channels.
        outputs: The outputs the data needs (one per label, or one per region).
        what: What the outputs are, for the message (``"labels"``, ``"regions (a, b)"``).
        head: What one output is called (``"output channel"``, ``"output"``).
    """

    in_channels: int
    outputs: int
    what: str
    head: str = "output channel"


def check_network_fits(
    network: nn.Module,
    declared: tuple[int, int],
    example: torch.Tensor,
    fit: NetworkFit,
) -> None:
    """Refuse a network whose channels in or outputs differ from the data's.

    Args:
        network: The network about to train (the kind's or a project's own).
        declared: ``(input channels, outputs)`` the network declares.
        example: A small valid input of the network, batch first; its forward pass must
            give the outputs along axis 1.
        fit: What the data needs.

    Raises:
        NetworkContractError: naming the expected and the network's numbers.
    """
    name = type(network).__name__
    takes, gives = declared
    if takes != fit.in_channels:
        message = (
            f"{name} takes {takes} input channel(s) but the dataset's images have {fit.in_channels}"
        )
        raise NetworkContractError(message)
    if gives != fit.outputs:
        message = f"{name} has {gives} {fit.head}(s) but the dataset has {fit.outputs} {fit.what}"
        raise NetworkContractError(message)
    with torch.no_grad():
        was_training = network.training
        computed = network.eval()(example)
        network.train(was_training)
    if computed.shape[1] != fit.outputs:
        message = (
            f"{name} declares {gives} {fit.head}s but computes {computed.shape[1]}; "
            f"the dataset has {fit.outputs} {fit.what}"
        )
        raise NetworkContractError(message)
