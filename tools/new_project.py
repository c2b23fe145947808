"""``invoke new``: a project rendered from the template, registered, or nothing at all.

The steps (render the template's two layers with copier: template/common/, then
template/kinds/<kind>/, ``uv add`` it to the workspace, tidy imports, add its
services to the stack, write its requirements files) run inside ``undone_on_failure``,
so a failure at any step leaves no half-registered project behind.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from medai.kinds import available_kinds
from tools.answers import LAYERS
from tools.errors import ToolError
from tools.requirements import ExportError, uv_command, write_requirements
from tools.stack_services import STACK, add_to_stack
from tools.targets import ALL, NON_PROJECT_TARGETS
from tools.template_git import template_commit

KINDS_FOLDER = Path("template") / "kinds"
"""One folder per kind, holding that kind's files of the template (its kind layer)."""
PROJECT_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
MAX_NAME_LENGTH = 24
RESERVED_NAMES = frozenset(
    {ALL, *NON_PROJECT_TARGETS, "medai", "template", "projects", "tests", "tools", "docs"}
)
"""Names a project cannot take: task targets, the shared library and repo folders."""
REGISTERED_FILES = ("pyproject.toml", "uv.lock", str(STACK))
"""Root files that registering a project changes (``uv add``, the stack's services)."""


def template_kinds(root: Path) -> tuple[str, ...]:
    """The kinds the template renders: the folders of ``template/kinds/``, sorted."""
    folder = root / KINDS_FOLDER
    if not folder.is_dir():
        return ()
    return tuple(sorted(entry.name for entry in folder.iterdir() if entry.is_dir()))


def registered_kinds() -> tuple[str, ...]:
    """The kinds the shared library's registry declares (``medai.kinds`` entry points)."""
    return tuple(available_kinds())


def known_kinds(root: Path) -> tuple[str, ...]:
    """The kinds a project can be made of: registered in ``medai.kinds`` and templated.

    The one place that decides which kinds exist: a new kind is a package registered
    under the ``medai.kinds`` entry points and a folder under ``template/kinds/``, never
    an edit of a list here.
    """
    registered = set(registered_kinds())
    return tuple(kind for kind in template_kinds(root) if kind in registered)


def check_kind(root: Path, kind: str) -> None:
    """Refuse a kind that is not both registered and templated, before copier runs.

    Raises:
        ToolError: Unknown (naming the known ones), or only half there (status 2).
    """
    kinds = known_kinds(root)
    if kind in kinds:
        return
    if kind in template_kinds(root):
        raise ToolError(
            f"kind {kind!r} has a template folder ({KINDS_FOLDER}/{kind}) but no medai.kinds "
            f"registry entry; known: {', '.join(kinds)}"
        )
    if kind in registered_kinds():
        raise ToolError(
            f"kind {kind!r} is registered in medai.kinds but has no template folder "
            f"{KINDS_FOLDER}/{kind}; known: {', '.join(kinds)}"
        )
    raise ToolError(f"unknown kind {kind!r}; known: {', '.join(kinds)}")


def check_new_project_name(root: Path, name: str) -> None:
    """Refuse a name that is malformed, reserved, taken, or shadows an installed package.

    Raises:
        ToolError: Status 2, one line saying what is wrong and what would do.
    """
    if not PROJECT_NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        raise ToolError(
            f"project name {name!r}: use lower-case letters and digits, words joined by "
            f"dashes, at most {MAX_NAME_LENGTH} characters (e.g. mri-seg)"
        )
    if name in RESERVED_NAMES:
        raise ToolError(f"project name {name!r} is reserved; reserved: {sorted(RESERVED_NAMES)}")
    if (root / "projects" / name).exists():
        raise ToolError(f"projects/{name} exists already; choose another name")
    package = name.replace("-", "_")
    if importlib.util.find_spec(package) is not None:
        raise ToolError(
            f"project name {name!r}: its import name {package!r} is taken by an installed "
            "package; choose another name"
        )


@contextlib.contextmanager
def undone_on_failure(root: Path, name: str) -> Iterator[None]:
    """Leave nothing half-made: on any failure remove the project and restore the root files.

    The folder ``projects/<name>`` is removed, and ``REGISTERED_FILES`` get back their
    bytes from before (a file that did not exist is removed again), so a failed ``invoke
    new`` (an interrupt included) leaves no project that is half-registered in the workspace.
    """
    saved = {
        root / relative: (root / relative).read_bytes() if (root / relative).is_file() else None
        for relative in REGISTERED_FILES
    }
    try:
        yield
    except BaseException:
        shutil.rmtree(root / "projects" / name, ignore_errors=True)
        for path, content in saved.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
        raise


def failure_summary(result: subprocess.CompletedProcess[str]) -> str:
    """One line from a failed tool's output: its ``error:``/``cause:`` lines, else its last."""
    lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    reasons = [line for line in lines if line.startswith(("error:", "cause:"))]
    if reasons:
        return "; ".join(reasons[:2])
    return lines[-1] if lines else f"exit status {result.returncode}"


def run_step(argv: Sequence[str], root: Path, what: str) -> None:
    """Run one step of ``invoke new`` / ``update-template`` quietly.

    Raises:
        ToolError: The step failed, naming it and its one-line summary (its exit status).
    """
    result = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise ToolError(f"{what} failed: {failure_summary(result)}", result.returncode or 1)


def tidy_imports(root: Path, name: str) -> None:
    """Sort imports and format the rendered code.

    The template writes the project's own imports before ``medai``'s, as isort wants
    for names that sort before "medai"; ruff puts them in place for the others.

    Raises:
        ToolError: ruff failed.
    """
    folder = str(root / "projects" / name)
    ruff = [sys.executable, "-m", "ruff"]
    run_step([*ruff, "check", "--fix", "--select", "I", "--quiet", folder], root, "ruff (imports)")
    run_step([*ruff, "format", "--quiet", folder], root, "ruff format")


def render_layer(
    root: Path, target: Path, answers: Mapping[str, object], commit: str | None, layer: str
) -> None:
    """Render one layer of the template (``tools.answers.LAYERS``) at ``commit`` into ``target``.

    ``answers`` are copier's answers (``project_name``, ``kind``, ...); empty ones take
    the kind's default (``Kind.template_defaults`` in the registry), else copier's. The
    layer records its own answers file, so ``copier update -a FILE`` updates it from the
    commit it recorded.

    Runs from the repo root with the template path ".", which copier records as
    ``_src_path``: relative to the repo root, so ``copier update`` works from any clone.
    ``target`` is relative to the repo root or absolute. ``commit`` None renders the
    files as they are (a template folder that is not a git repository, in tests).

    Raises:
        ToolError: copier refused an answer (status 2).
    """
    import copier  # noqa: PLC0415 - only rendering needs it, and it takes a while to import

    given = {key: value for key, value in answers.items() if value not in ("", None)}
    kind = available_kinds().get(str(given.get("kind", "")))
    kind_defaults = kind.template_defaults if kind is not None else {}
    data = {**kind_defaults, **given}
    try:
        with contextlib.chdir(root):
            copier.run_copy(
                ".",
                target,
                data={**data, "layer": layer},
                answers_file=LAYERS[layer],
                defaults=True,
                vcs_ref=commit,
                unsafe=False,  # the template runs no tasks, migrations or extensions
                quiet=True,
            )
    except ValueError as exc:  # copier's validation errors
        raise ToolError(f"template: {str(exc).strip().splitlines()[0]}") from None


def render_layers(
    root: Path, target: Path, answers: Mapping[str, object], commit: str | None
) -> None:
    """Render the template's layers at ``commit`` into ``target``: common, then the kind's.

    The layers' files are disjoint, so the second render overwrites nothing.

    Raises:
        ToolError: copier refused an answer (status 2).
    """
    for layer in LAYERS:
        render_layer(root, target, answers, commit, layer)


def layer_files(
    root: Path, answers: Mapping[str, object], commit: str | None
) -> dict[str, list[str]]:
    """Each layer's files as rendered at ``commit`` with ``answers``: POSIX paths, sorted.

    Rendered into a temporary folder, so the names are the rendered ones
    (``src/<package>/...``) and a layer's answers file is its own.

    Raises:
        ToolError: copier refused an answer (status 2).
    """
    listed: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="medai-layer-") as scratch:
        for layer in LAYERS:
            target = Path(scratch) / layer
            render_layer(root, target, answers, commit, layer)
            listed[layer] = sorted(
                path.relative_to(target).as_posix()
                for path in target.rglob("*")
                if path.is_symlink() or path.is_file()
            )
    return listed


def render_project(root: Path, name: str, answers: Mapping[str, str], commit: str) -> None:
    """Render the template at ``commit`` into ``projects/<name>`` (both layers).

    ``answers`` are copier's answers besides the name; empty ones take their default.

    Raises:
        ToolError: copier refused an answer (status 2).
    """
    render_layers(root, Path("projects") / name, {"project_name": name, **answers}, commit)


def write_project_requirements(root: Path, folder: str, distribution: str) -> None:
    """``requirements*.txt`` of the project from ``uv.lock``.

    Raises:
        ToolError: ``uv export`` failed (status 2, uv's first line).
    """
    try:
        write_requirements(root, folder, distribution)
    except ExportError as exc:
        raise ToolError(str(exc)) from None


def create_project(root: Path, name: str, kind: str, modality: str = "") -> str:
    """Render, register and finish ``projects/<name>``; the template commit it came from.

    Every check runs before anything is written; any failure afterwards removes the
    folder and restores ``REGISTERED_FILES``.

    Raises:
        ToolError: A bad name or kind, an uncommitted template, or a failed step.
    """
    check_new_project_name(root, name)
    check_kind(root, kind)
    commit = template_commit(root)
    with undone_on_failure(root, name):
        render_project(root, name, {"kind": kind, "modality": modality}, commit)
        run_step([*uv_command(), "add", "--no-sync", "--quiet", f"{name}[train]"], root, "uv add")
        tidy_imports(root, name)
        add_to_stack(root, name)
        write_project_requirements(root, name, name)
    return commit


def created_report(name: str, kind: str, commit: str) -> str:
    """What ``invoke new`` says it did, and the commands to run next."""
    return (
        f"created projects/{name} ({kind}) from template commit {commit[:12]}; registered "
        f'"{name}[train]" in pyproject.toml and uv.lock; added its server to {STACK}; '
        "wrote requirements*.txt\n"
        "next:\n"
        f"  uv run nox -s tests -- {name}\n"
        f"  uv run invoke train --project={name}\n"
        f"  uv run invoke check --project={name}\n"
        f"  git add projects/{name} pyproject.toml uv.lock {STACK} && git commit"
    )
