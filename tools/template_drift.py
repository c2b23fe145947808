"""Has a project drifted from the template? Compare it with a fresh render of its answers.

The template is the source of truth for every file it renders except those a project
owns, which copier.yml lists once: under copier's own ``_skip_if_exists`` the files
``copier update`` never touches again, under ``_project_owned`` (a key copier ignores)
those a project edits while updates still merge into them. Every other rendered file is
template-owned and
must be byte for byte what the project's recorded answers render at the *current*
template commit (HEAD), after the same import tidying ``invoke new`` does. The recorded
``_commit`` does not matter: a project whose files match today's render is in step, and
one that matches an old render but not today's has drifted (``invoke update-template``
brings it back).

    uv run python -m tools.template_drift ct-seg     # or no name: every project
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pathspec
import yaml

from tools.answers import LAYERS, answers_path, made_from_template, user_answers
from tools.errors import ToolError
from tools.new_project import render_layers
from tools.projects import known_projects
from tools.template_git import git

OWNED_KEYS = ("_skip_if_exists", "_project_owned")
"""The keys of copier.yml that list the files a project owns."""
RECORDS = frozenset(LAYERS.values())
"""The answers files: copier's record of the render, compared through the render itself."""


@dataclass(frozen=True)
class Drift:
    """One template-owned file of a project that is not what the template renders."""

    path: str
    """Project-relative POSIX path."""
    how: str
    """``differs`` or ``missing``."""

    def __str__(self) -> str:
        """``path (how)``, as the report lists it."""
        return f"{self.path} ({self.how})"


def owned_patterns(root: Path) -> list[str]:
    """The project-owned patterns of ``<root>/copier.yml``, as written (Jinja, gitignore-style).

    Raises:
        ToolError: copier.yml is not a YAML mapping, or a key is not a list of strings
            (status 2).
    """
    path = root / "copier.yml"
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ToolError(f"{path}: cannot read the template config ({first})") from None
    if not isinstance(config, dict):
        raise ToolError(f"{path}: expected a mapping, got {type(config).__name__}")
    patterns: list[str] = []
    for key in OWNED_KEYS:
        listed = config.get(key, [])
        if not isinstance(listed, list) or not all(isinstance(item, str) for item in listed):
            raise ToolError(
                f"{path}: {key}: expected a list of path patterns, got {type(listed).__name__}"
            )
        patterns.extend(listed)
    return patterns


def template_context(answers: Mapping[str, object]) -> dict[str, object]:
    """The answers with the names copier.yml derives from them (``package_name``, ...)."""
    name = str(answers.get("project_name", ""))
    return {
        **answers,
        "package_name": name.replace("-", "_"),
        "class_prefix": "".join(word.capitalize() for word in name.split("-")),
    }


def owned_matcher(patterns: Sequence[str], answers: Mapping[str, object]) -> Callable[[str], bool]:
    """Whether a project-relative path is project-owned, matched as copier matches them."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 - paths, not HTML
    context = template_context(answers)
    rendered = [environment.from_string(pattern).render(context) for pattern in patterns]
    return pathspec.PathSpec.from_lines("gitignore", rendered).match_file


def rendered_files(folder: Path) -> list[str]:
    """Every file or link under ``folder``, project-relative POSIX paths, sorted."""
    return sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_symlink() or path.is_file()
    )


def tidy(root: Path, folder: Path) -> None:
    """Sort imports and format ``folder`` as ``invoke new`` tidies a project in the repo.

    The repo's ruff config, with the rendered ``src/`` counted first-party as a project's
    is under ``projects/*/src``, so imports sort into the same sections.

    Raises:
        ToolError: ruff failed.
    """
    config = [
        "--config",
        str(root / "pyproject.toml"),
        "--config",
        f"src = [{str(root / 'shared' / 'src')!r}, {str(folder / 'src')!r}]",
    ]
    ruff = [sys.executable, "-m", "ruff"]
    for step in (["check", "--fix", "--select", "I"], ["format"]):
        result = subprocess.run(  # noqa: S603 - fixed argv
            [*ruff, *step, "--quiet", *config, str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
            raise ToolError(f"ruff {step[0]} of the fresh render failed: {lines[0]}")


def same(found: Path, expected: Path) -> bool:
    """Same link target, or same bytes and executable bit."""
    if expected.is_symlink() or found.is_symlink():
        return (
            found.is_symlink() and expected.is_symlink() and found.readlink() == expected.readlink()
        )
    if not found.is_file():
        return False
    executable = (found.stat().st_mode & 0o111 != 0) == (expected.stat().st_mode & 0o111 != 0)
    return executable and found.read_bytes() == expected.read_bytes()


def compare(project: Path, render: Path, owned: Callable[[str], bool]) -> list[Drift]:
    """Each template-owned file of ``render`` that ``project`` lacks or has otherwise."""
    drifts = []
    for relative in rendered_files(render):
        if relative in RECORDS or owned(relative):
            continue
        found = project / relative
        if not (found.exists() or found.is_symlink()):
            drifts.append(Drift(relative, "missing"))
        elif not same(found, render / relative):
            drifts.append(Drift(relative, "differs"))
    return drifts


def project_drift(root: Path, name: str, commit: str | None) -> list[Drift]:
    """The drifted template-owned files of ``projects/<name>`` against the template at ``commit``.

    ``commit`` None renders the template files as they are (a folder that is not a git
    repository, in tests).

    Raises:
        ToolError: The answers or copier.yml cannot be read, or copier refused an answer.
    """
    answers = user_answers(answers_path(root, name))
    owned = owned_matcher(owned_patterns(root), answers)
    with tempfile.TemporaryDirectory(prefix="medai-drift-") as scratch:
        render = Path(scratch) / name
        render_layers(root, render, answers, commit)
        tidy(root, render)
        return compare(root / "projects" / name, render, owned)


def drift_report(name: str, drifts: Sequence[Drift]) -> str:
    """One line for a project: in step, or its drifted files and the command that fixes it."""
    if not drifts:
        return f"{name}: in step with the template"
    return f"{name}: {drift_detail(name, drifts)}"


def drift_detail(name: str, drifts: Sequence[Drift]) -> str:
    """The drifted files of project ``name`` and the command that fixes them, in one line."""
    return (
        f"{len(drifts)} template-owned file{'s differ' if len(drifts) > 1 else ' differs'} from "
        f"the current template: {', '.join(map(str, drifts))}; run "
        f"`uv run invoke update-template --project={name}` (or, if the project owns the "
        f"file, list it under {' or '.join(OWNED_KEYS)} in copier.yml)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tools.template_drift [PROJECT ...]``: exit 1 on drift, 2 on bad input."""
    root = Path(__file__).resolve().parents[1]
    names = list(sys.argv[1:] if argv is None else argv)
    known = [name for name in known_projects(root) if made_from_template(root, name)]
    unknown = [name for name in names if name not in known]
    if unknown:
        print(f"unknown project {unknown[0]!r}; made from the template: {', '.join(known)}")  # noqa: T201
        return 2
    try:
        commit = git(root, "rev-parse", "HEAD")
        results = {name: project_drift(root, name, commit) for name in names or known}
    except ToolError as exc:
        print(exc)  # noqa: T201
        return exc.code
    for name, drifts in results.items():
        print(drift_report(name, drifts))  # noqa: T201
    return 1 if any(results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
