"""Which check targets a change touches: CI checks those, and only those.

A target is what the nox sessions ``lint``, ``typecheck`` and ``tests`` accept: the
shared library (``shared``), a project (its folder name under ``projects/``) or the
repo's own tooling (``tooling``). A change is the set of files that differ between the
merge base of a base ref and ``HEAD`` (``git diff base...HEAD``), plus, for local use,
what is staged, unstaged or untracked. Each path is classified on its own:

    projects/X/**                 X and the images, when projects/X/pyproject.toml exists
                                  now (the image holds the project's code, configs and
                                  scripts; its serve stage must import the API); a deleted
                                  project has no checks left to run: nothing
      projects/X/tests/**, projects/X/docs/**, projects/X/notebooks/**, projects/X/**/*.md
                                  X only (not in the image)
    shared/**, pyproject.toml, uv.lock, noxfile.py, tasks.py, .python-version,
    configs/** (every project's first config layer), .ci/**, .github/workflows/**
                                  everything: shared, every project, tooling, images
    template/**, copier.yml, tools/**, tests/**, make/** (the rules of every project
    Makefile), benchmarks/**      tooling
      tools/image_deps.py         tooling and the images (the image job runs it)
    docker/**, deploy/**, .dockerignore
                                  the images (recipe, scripts, manifests; the image
                                  job lints every project's link to the recipe)
    docs/**, *.md at the root, .github/ outside workflows/, anything else
                                  nothing

Paths are compared as git prints them: case-sensitive and by whole folder names, so
``projects-old/x`` and ``shared-notes.md`` affect nothing, and
``projects/ct-seg/shared/x.py`` affects ct-seg only. A base of forty zeros is what
GitHub sends as ``before`` for the first push of a branch: there is no previous commit
to compare with, so everything is affected. Run::

    uv run python -m tools.affected --base origin/main                # one target a line
    uv run python -m tools.affected --base origin/main --worktree     # + uncommitted work
    uv run python -m tools.affected --base "$SHA" --format github     # CI step outputs
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.projects import known_projects

ROOT = Path(__file__).resolve().parents[1]
NULL_SHA = "0" * 40
"""GitHub's ``before`` for a push that creates a branch: no previous commit."""

SHARED = "shared"
TOOLING = "tooling"
IMAGES = "images"
EVERYTHING = "all"

_ALL = (EVERYTHING,)
ROOT_FILES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        ("pyproject.toml", "uv.lock", "noxfile.py", "tasks.py", ".python-version"), _ALL
    ),
    "copier.yml": (TOOLING,),
    ".dockerignore": (IMAGES,),
}
"""Files at the repo root that affect something; any other root file affects nothing."""
FOLDERS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("shared", "configs", ".ci", ".github/workflows"), _ALL),
    **dict.fromkeys(("template", "tools", "tests", "make", "benchmarks"), (TOOLING,)),
    **dict.fromkeys(("docker", "deploy"), (IMAGES,)),
    # The image job runs it: a change to it is checked on the real recipe too.
    "tools/image_deps.py": (TOOLING, IMAGES),
}
"""Folders (or a file one level down) whose files affect something, matched on the first
two path parts, then the first; ``projects`` is classified per project."""
OUTSIDE_IMAGE = frozenset({"tests", "docs", "notebooks"})
"""Project folders that do not reach the project's image (nor its install check)."""


class AffectedError(RuntimeError):
    """The change cannot be computed (no git repo, unknown base, no merge base); one line."""


@dataclass(frozen=True)
class Affected:
    """The targets a change touches, and why.

    Attributes:
        projects: affected project folder names, in the order of the known projects.
        shared: whether the shared library's checks run.
        tooling: whether the repo tooling's checks (tasks.py, noxfile.py, tools/) run.
        images: whether the image recipe, scripts and manifests are checked.
        reasons: one line per kind of effect: the first path that had it, e.g.
            ``shared/src/medai/x.py affects all``.
    """

    projects: tuple[str, ...] = ()
    shared: bool = False
    tooling: bool = False
    images: bool = False
    reasons: tuple[str, ...] = ()

    @property
    def targets(self) -> tuple[str, ...]:
        """The nox targets to check, in nox's order: shared, the projects, tooling."""
        return (
            *((SHARED,) if self.shared else ()),
            *self.projects,
            *((TOOLING,) if self.tooling else ()),
        )

    @property
    def has_targets(self) -> bool:
        """Whether there is anything to check (GitHub cannot run an empty matrix)."""
        return bool(self.targets)


def everything(projects: Sequence[str], reason: str) -> Affected:
    """Every target and the images, for a change nothing narrower can be said about."""
    return Affected(tuple(projects), shared=True, tooling=True, images=True, reasons=(reason,))


def effect_of(path: str, projects: Iterable[str]) -> tuple[str, ...]:
    """What one changed path affects: ``("all",)``, project names, "tooling", "images".

    Args:
        path: a path relative to the repo root, with ``/`` separators (as git prints it).
        projects: the projects that exist now.

    Returns:
        The effects, empty when the path affects nothing.
    """
    parts = tuple(posixpath.normpath(path).split("/"))
    if parts[0] in {"", ".", ".."}:
        return ()  # empty, absolute or outside the repo: not a path git reports for it
    if len(parts) == 1:
        return ROOT_FILES.get(parts[0], ())
    if parts[0] == "projects":
        return _project_effect(parts[1], parts[2:], projects)
    return FOLDERS.get("/".join(parts[:2]), FOLDERS.get(parts[0], ()))


def _project_effect(name: str, rest: tuple[str, ...], projects: Iterable[str]) -> tuple[str, ...]:
    if name not in set(projects):
        return ()  # a deleted (or never registered) project has no checks to run
    in_image = bool(rest) and rest[0] not in OUTSIDE_IMAGE and not rest[-1].endswith(".md")
    return (name, IMAGES) if in_image else (name,)


def affected_targets(paths: Iterable[str], projects: Sequence[str]) -> Affected:
    """The targets the changed ``paths`` affect, with one reason line per kind of effect.

    Args:
        paths: changed files relative to the repo root (as git prints them).
        projects: the project folder names that exist now (their order is kept).

    Returns:
        The affected targets; everything when any path affects all.
    """
    first: dict[tuple[str, ...], str] = {}
    counts: dict[tuple[str, ...], int] = {}
    for path in paths:
        effect = effect_of(path, projects)
        first.setdefault(effect, path)
        counts[effect] = counts.get(effect, 0) + 1
    reasons = tuple(
        _reason(first[effect], effect, counts[effect] - 1)
        for effect in sorted(first, key=lambda e: (not e, EVERYTHING not in e, e))
    )
    hit = {target for effect in first for target in effect}
    if EVERYTHING in hit:
        return Affected(tuple(projects), shared=True, tooling=True, images=True, reasons=reasons)
    return Affected(
        projects=tuple(p for p in projects if p in hit),
        shared=False,
        tooling=TOOLING in hit,
        images=IMAGES in hit,
        reasons=reasons,
    )


def _reason(path: str, effect: tuple[str, ...], more: int) -> str:
    what = ", ".join(effect) or "nothing"
    others = f" (and {more} more file{'s' if more > 1 else ''})" if more else ""
    return f"{path} affects {what}{others}"


def matrix(affected: Affected) -> dict[str, list[str]]:
    """The GitHub Actions matrix ``{"target": [...]}``; check ``has_targets`` before using it."""
    return {"target": list(affected.targets)}


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(  # noqa: S603 - fixed git argv; refs go after --end-of-options
            ["git", *args],  # noqa: S607 - git from PATH, as a developer runs it
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise AffectedError("git is not installed (or not on PATH)") from None
    except NotADirectoryError:
        raise AffectedError(f"{root} is not a folder") from None


def _out(root: Path, *args: str) -> str:
    done = _git(root, *args)
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise AffectedError(f"git {args[0]} failed: {first}")
    return done.stdout


def _names(output: str) -> list[str]:
    return [name for name in output.split("\0") if name]


def _toplevel(root: Path) -> Path:
    if not root.is_dir():
        raise AffectedError(f"not a git repository: {root} (no such folder)")
    done = _git(root, "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        raise AffectedError(f"not a git repository: {root}")
    return Path(done.stdout.strip())


def _commit(top: Path, ref: str, what: str, hint: str) -> str:
    if not ref:
        raise AffectedError(f"{what} is empty; {hint}")
    done = _git(top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if done.returncode != 0:
        raise AffectedError(f"{what} {ref!r} is not a known commit; {hint}")
    return done.stdout.strip()


def changed_files(root: Path, base: str, *, include_worktree: bool) -> list[str]:
    """The files changed since the merge base of ``base`` and ``HEAD``, sorted.

    A rename counts as both its paths (old and new), whatever ``diff.renames`` says.

    Args:
        root: the repo (any folder in it; paths are relative to its top level).
        base: the ref or commit the change is measured from, e.g. ``origin/main``.
        include_worktree: also count staged, unstaged and untracked (not ignored) files.

    Returns:
        Paths relative to the repo's top level, ``/``-separated, each once.

    Raises:
        AffectedError: not a git repo, no commit yet, unknown base, or no merge base.
    """
    top = _toplevel(root)
    head = _commit(top, "HEAD", "HEAD", "commit something first")
    base_sha = _commit(
        top,
        base,
        "base",
        "fetch it: git fetch origin main (in CI: actions/checkout with fetch-depth: 0)",
    )
    found = _git(top, "merge-base", base_sha, head)
    if found.returncode != 0:
        shallow = _out(top, "rev-parse", "--is-shallow-repository").strip() == "true"
        why = (
            "this clone is shallow: git fetch --unshallow (in CI: actions/checkout with "
            "fetch-depth: 0)"
            if shallow
            else "the histories are unrelated"
        )
        raise AffectedError(f"no merge base between {base!r} and HEAD: {why}")
    merge_base = found.stdout.strip()
    names = set(_names(_out(top, "diff", "--name-only", "-z", "--no-renames", merge_base, head)))
    if include_worktree:
        names.update(_names(_out(top, "diff", "--name-only", "-z", "--no-renames", "HEAD")))
        names.update(_names(_out(top, "ls-files", "--others", "--exclude-standard", "-z")))
    return sorted(names)


def affected_since(
    root: Path,
    base: str,
    *,
    include_worktree: bool = False,
    projects: Sequence[str] | None = None,
) -> Affected:
    """What changed since ``base`` affects; a base of forty zeros (a new branch) is everything.

    Args:
        root: the repo root.
        base: the ref or commit to compare with.
        include_worktree: also count uncommitted and untracked files (local use).
        projects: the projects to consider; default: those under ``root/projects``.

    Raises:
        AffectedError: from ``changed_files``.
    """
    names = known_projects(root) if projects is None else list(projects)
    if base == NULL_SHA:
        return everything(names, f"base {base} (a new branch: no previous commit) affects all")
    return affected_targets(changed_files(root, base, include_worktree=include_worktree), names)


def github_output(affected: Affected) -> str:
    """The ``$GITHUB_OUTPUT`` lines: ``targets`` (a JSON list), ``any`` and ``images``."""
    targets = json.dumps(list(affected.targets), separators=(",", ":"))
    return (
        f"targets={targets}\n"
        f"any={str(affected.has_targets).lower()}\n"
        f"images={str(affected.images).lower()}\n"
    )


def render(affected: Affected, output_format: str) -> str:
    """The text ``main`` prints for a ``--format``: lines, json or github."""
    if output_format == "json":
        return json.dumps(matrix(affected)) + "\n"
    if output_format == "github":
        return github_output(affected)
    return "".join(f"{target}\n" for target in affected.targets)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tools.affected --base REF``: exit 2 with one line when it cannot tell.

    The targets go to stdout (or ``$GITHUB_OUTPUT`` with ``--format github`` in a GitHub
    job); the reasons go to stderr, so a log says why a project was or was not checked.
    """
    parser = argparse.ArgumentParser(
        prog="python -m tools.affected",
        description="The check targets (shared, projects, tooling) a change since --base affects.",
    )
    parser.add_argument("--base", required=True, help="ref or commit to compare with")
    parser.add_argument("--format", choices=("lines", "json", "github"), default="lines")
    parser.add_argument("--worktree", action="store_true", help="count uncommitted files too")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repo (default: this one)")
    args = parser.parse_args(argv)
    try:
        affected = affected_since(args.root, args.base, include_worktree=args.worktree)
    except AffectedError as error:
        print(f"affected: {error}", file=sys.stderr)  # noqa: T201 - the CLI's one-line error
        return 2
    for reason in affected.reasons or ("no file changed",):
        print(reason, file=sys.stderr)  # noqa: T201 - why, for the log
    text = render(affected, args.format)
    destination = os.environ.get("GITHUB_OUTPUT") if args.format == "github" else None
    if destination:
        with Path(destination).open("a", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
