"""Fixtures for the tracking tests: a git runner that ignores the user's git config."""

from __future__ import annotations

import subprocess

import pytest


def _run_git(repo, *args) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],  # noqa: S607
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def git():
    """Run ``git`` in a repo folder with a fixed identity; returns its stripped stdout."""
    return _run_git
