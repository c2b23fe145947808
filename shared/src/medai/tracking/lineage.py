"""What a run must record to be reproducible: code state, lock file and config hashes.

Pure functions without MLflow, so they are cheap to test and to call before a run starts.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 20


@dataclass(frozen=True)
class GitState:
    """The commit a run was made from and whether uncommitted changes were present."""

    commit: str
    dirty: bool
    branch: str


def git_state(repo_root: Path) -> GitState:
    """Read the git state of ``repo_root``; ``commit="unknown"`` outside a git checkout.

    A container image built without ``.git`` must still be able to train, so a missing
    git is recorded, not fatal.
    """

    def run(*args: str) -> str | None:
        try:
            result = subprocess.run(  # noqa: S603 - fixed argv, no shell
                ["git", *args],  # noqa: S607 - git from PATH is what the user runs too
                cwd=repo_root,
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return result.stdout.strip()

    commit = run("rev-parse", "HEAD")
    if commit is None:
        return GitState(commit="unknown", dirty=True, branch="unknown")
    status = run("status", "--porcelain", "--untracked-files=no")
    branch = run("rev-parse", "--abbrev-ref", "HEAD") or "unknown"
    return GitState(commit=commit, dirty=bool(status) or status is None, branch=branch)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks so large volumes do not fill memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def lock_file_hash(repo_root: Path) -> str:
    """SHA-256 of ``uv.lock`` (``"missing"`` when absent), pinning every dependency version."""
    lock = repo_root / "uv.lock"
    return file_sha256(lock) if lock.is_file() else "missing"
