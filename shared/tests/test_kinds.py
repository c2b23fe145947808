"""The registry of kinds: both kinds keep the one contract, by the same names, without cycles."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from medai.config import ProjectSettings
from medai.kinds import CONTRACT, Kind, KindError, available_kinds, kind_named

SAME_NAME_IN_EVERY_KIND = {
    "train": "train",
    "register_model": "register_model",
    "loaded_model": "LoadedModel",
    "load_registered_model": "load_registered_model",
    "evaluation_report": "EvaluationReport",
    "evaluate": "evaluate",
    "gate_scores": "gate_scores",
    "app_factory": "app_factory",
    "predict_router": "predict_router",
    "commands": "project_commands",
    "extensions": "EXTENSION_POINTS",
}


def test_both_kinds_are_registered_through_entry_points():
    kinds = available_kinds()

    assert list(kinds) == ["classification", "segmentation"]
    assert kinds["segmentation"].package == "medai.segmentation"


def test_an_unknown_kind_is_refused_listing_the_known_ones():
    with pytest.raises(
        KindError, match=r"^unknown kind 'nope'; known: classification, segmentation$"
    ):
        kind_named("nope")


def test_a_declaration_that_breaks_the_contract_names_what_is_missing_and_unknown():
    members = {m: "module:thing" for m in CONTRACT if m != "train"} | {"fly": "module:wings"}

    with pytest.raises(KindError, match=r"missing \['train'\], unknown \['fly'\]"):
        Kind(name="broken", summary="", package="nowhere", members=members)
    with pytest.raises(KindError, match="expected 'module:attribute'"):
        Kind(name="broken", summary="", package="p", members=dict.fromkeys(CONTRACT, "nocolon"))


@pytest.mark.parametrize("name", ["classification", "segmentation"])
def test_every_member_resolves_to_what_the_contract_says(name):
    from torch import nn  # noqa: PLC0415 - the kinds' modules import torch; this test may

    from medai.engine.task import TrainingTask  # noqa: PLC0415

    kind = kind_named(name)
    resolved = {member: kind.resolve(member) for member in CONTRACT}

    assert issubclass(resolved["settings"], ProjectSettings)
    assert issubclass(resolved["task"], TrainingTask)
    assert issubclass(resolved["network"], nn.Module)
    for member in ("project", "data", "loaded_model", "evaluation_report"):
        assert inspect.isclass(resolved[member]), member
    for member in ("train", "evaluate", "gate_scores", "app_factory", "predict_router", "commands"):
        assert inspect.isfunction(resolved[member]), member
    assert list(inspect.signature(resolved["train"]).parameters)[:2] == ["project", "settings"]
    points = resolved["extensions"]
    assert {row[0] for row in points} >= {"network", "metrics"}
    for point, module, default in points:
        assert point, (point, module, default)
        assert module.endswith(".py"), module  # a standard-layout module of the project
        assert default, point
        if point.isidentifier():  # routers/middleware live in api/main.py, not on the project
            assert point in {f.name for f in dataclasses.fields(resolved["project"])}, point


def test_the_shared_members_have_the_same_name_in_every_kind():
    for kind in available_kinds().values():
        names = {member: kind.where(member)[1] for member in SAME_NAME_IN_EVERY_KIND}
        assert names == SAME_NAME_IN_EVERY_KIND, kind.name


def test_a_member_that_does_not_import_is_named():
    kind = Kind(
        name="ghost",
        summary="",
        package="medai",
        members=dict.fromkeys(CONTRACT, "no_such_module:thing"),
    )
    with pytest.raises(KindError, match=r"kind 'ghost': member 'train' \(medai.no_such_module"):
        kind.resolve("train")


def module_level_imports(path: Path, package: str) -> set[str]:
    """Modules of ``package`` that ``path`` imports at module level (not in functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for child in [node] if not isinstance(node, ast.If | ast.Try) else ast.walk(node):
            if isinstance(child, ast.ImportFrom) and child.module:
                found.add(child.module)
            elif isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
    return {name for name in found if name == package or name.startswith(package + ".")}


def import_cycles(root: Path, package: str) -> tuple[list[list[str]], int]:
    """Cycles among ``package``'s module-level imports (its folder is ``root``), and its size."""
    graph = {}
    for path in root.rglob("*.py"):
        parts = [p for p in path.relative_to(root).with_suffix("").parts if p != "__init__"]
        module = ".".join([package, *parts])
        graph[module] = module_level_imports(path, package) - {module}

    def cycle_from(start, node, trail):
        for target in graph.get(node, ()):
            if target == start:
                return [*trail, target]
            if target not in trail and target in graph:
                found = cycle_from(start, target, [*trail, target])
                if found:
                    return found
        return None

    return [c for m in graph if (c := cycle_from(m, m, [m]))], len(graph)


@pytest.mark.parametrize("name", ["classification", "segmentation"])
def test_a_kinds_modules_import_each_other_without_cycles(name):
    kind = kind_named(name)
    root = Path(__import__(kind.package, fromlist=["_"]).__file__).parent

    cycles, modules = import_cycles(root, kind.package)

    assert cycles == [], " -> ".join(cycles[0]) if cycles else ""
    assert modules > 10  # the walk saw the kind's modules


def test_the_cycle_check_finds_a_cycle_and_ignores_function_level_imports(tmp_path):
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "a.py").write_text("from fake.b import thing\n")
    (tmp_path / "b.py").write_text("import fake.c\n")
    (tmp_path / "c.py").write_text("from fake import a\n\ndef late():\n    import fake.b\n")

    cycles, _ = import_cycles(tmp_path, "fake")

    assert cycles == []  # c imports a only inside a function
    (tmp_path / "c.py").write_text("import fake.a\n")
    cycles, _ = import_cycles(tmp_path, "fake")
    assert ["fake.a", "fake.b", "fake.c", "fake.a"] in cycles


def test_reading_the_registry_imports_no_torch_mlflow_or_monai():
    code = (
        "import sys; from medai.kinds import available_kinds; available_kinds(); "
        "print(sorted(m for m in ('torch', 'mlflow', 'monai') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
