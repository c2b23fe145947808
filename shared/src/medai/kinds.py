"""The registry of kinds, and the contract every kind keeps under the same names.

A kind (segmentation, classification, ...) is a plugin: a package that declares one
``Kind`` and registers it under the ``medai.kinds`` entry-point group, as the shared
library does for its own two (``shared/pyproject.toml``). ``invoke new --kind=...``
lists and checks kinds here, so adding a kind adds a package (and its template folder),
never a branch in the tasks.

A ``Kind`` names where each contract member lives as ``module:attribute`` inside its
package, resolved only when asked for: reading the registry imports no torch, MONAI or
MLflow, so listing kinds takes milliseconds.

The contract (``CONTRACT``), the same names in every kind:

=====================  ===================================================================
``settings``           the pydantic settings type a project subclasses
``project``            what the kind needs from a project (binding, data source, words)
``data``               the data contract: the kind's dataset type
``network``            the network contract: the ``nn.Module`` base a project's network keeps
``task``               the ``medai.engine.task.TrainingTask``: training and validation step
``train``              ``train(project, settings)``: one tracked training, registered
``register_model``     registration with the checked ONNX export
``loaded_model``       ``LoadedModel``: a registered version loaded back for torch use
``load_registered_model``  loads one by alias
``evaluation_report``  ``EvaluationReport``: what ``evaluate`` returns
``evaluate``           ``evaluate(project, settings, alias)``: report with confidence intervals
``gate_scores``        the deployment gate's scores from an ``EvaluationReport``
``app_factory``        the server handler: ``app_factory(project, routers=, middleware=)``
``predict_router``     the kind's ``POST /v1/predict`` route for a project
``commands``           ``project_commands(project, app_factory)``: the console scripts
``extensions``         ``EXTENSION_POINTS``: (point, the project's module, the default) rows
=====================  ===================================================================
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

ENTRY_POINT_GROUP = "medai.kinds"

CONTRACT = (
    "settings",
    "project",
    "data",
    "network",
    "task",
    "train",
    "register_model",
    "loaded_model",
    "load_registered_model",
    "evaluation_report",
    "evaluate",
    "gate_scores",
    "app_factory",
    "predict_router",
    "commands",
    "extensions",
)
"""Every member a kind provides, by the one name all kinds use."""


class KindError(LookupError):
    """An unknown kind, or a kind that breaks the contract; ``str()`` is one line."""


@dataclass(frozen=True)
class Kind:
    """One kind: its name, its package and where each contract member lives.

    Attributes:
        name: The kind's name (``segmentation``), as ``invoke new --kind`` takes it.
        summary: One line for listings (``dense 2D/3D label or region maps``).
        package: The kind's package (``medai.segmentation``).
        members: Contract name -> ``module:attribute`` relative to ``package``.
        template_defaults: The template answers a new project of this kind starts from
            (``modality``, ``target``, ...): ``invoke new`` passes them to copier unless
            the user gives a value, so the template's questions need no ``if kind ==``.
    """

    name: str
    summary: str
    package: str
    members: Mapping[str, str] = field(default_factory=dict)
    template_defaults: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse a declaration that misses or adds contract members, naming them."""
        missing = [m for m in CONTRACT if m not in self.members]
        extra = sorted(set(self.members) - set(CONTRACT))
        if missing or extra:
            message = (
                f"kind {self.name!r} ({self.package}) breaks the contract: "
                f"missing {missing or 'nothing'}, unknown {extra or 'nothing'}"
            )
            raise KindError(message)
        for member, target in self.members.items():
            module, _, attribute = target.partition(":")
            if not module or not attribute:
                message = (
                    f"kind {self.name!r}: member {member!r} is {target!r}; "
                    "expected 'module:attribute'"
                )
                raise KindError(message)

    def where(self, member: str) -> tuple[str, str]:
        """The absolute module and the attribute of ``member``."""
        if member not in self.members:
            message = f"{member!r} is not a contract member; expected one of {', '.join(CONTRACT)}"
            raise KindError(message)
        module, _, attribute = self.members[member].partition(":")
        return f"{self.package}.{module}", attribute

    def resolve(self, member: str) -> Any:  # noqa: ANN401 - members are types and functions
        """Import and return ``member`` (this may import torch, MONAI, MLflow)."""
        module, attribute = self.where(member)
        try:
            return getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            message = f"kind {self.name!r}: member {member!r} ({module}:{attribute}): {exc}"
            raise KindError(message) from exc


def available_kinds() -> dict[str, Kind]:
    """Every registered kind by name, sorted (installed packages' ``medai.kinds`` entries).

    Raises:
        KindError: An entry point does not load or is not a ``Kind`` named as registered.
    """
    kinds: dict[str, Kind] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            kind = entry.load()
        except (ImportError, AttributeError) as exc:
            message = f"entry point {entry.name} = {entry.value}: {exc}"
            raise KindError(message) from exc
        if not isinstance(kind, Kind) or kind.name != entry.name:
            message = (
                f"entry point {entry.name} = {entry.value} must be a Kind named "
                f"{entry.name!r}, got {kind!r}"
            )
            raise KindError(message)
        kinds[kind.name] = kind
    return dict(sorted(kinds.items()))


def kind_named(name: str) -> Kind:
    """The registered kind called ``name``.

    Raises:
        KindError: ``unknown kind 'nope'; known: classification, segmentation``.
    """
    kinds = available_kinds()
    if name not in kinds:
        message = f"unknown kind {name!r}; known: {', '.join(kinds) or 'none'}"
        raise KindError(message)
    return kinds[name]
