"""build, deploy and rollback: image tags, which images, the manifests an environment gets.

The registry side (the gate, the champion alias) is the project's deploy script
(``medai.deployment.cli``); the cluster side is ``kubectl``; this module holds the
decisions between them, so ``tasks.py`` only runs the commands.
"""

from __future__ import annotations

from pathlib import Path

from tools.errors import ToolError
from tools.manifests import ManifestError, render_manifests
from tools.template_git import short_head

DEFAULT_REGISTRY = "medai"
"""Image prefix of local builds (docker/scripts/build.sh); a cluster needs a real registry."""
IMAGE_TARGETS = ("serve", "train")
ALL_TARGETS = "all"


class ManifestsError(ToolError):
    """The manifests do not render; ``reason`` is the renderer's line without ``error:``."""

    def __init__(self, reason: str) -> None:
        """Stop with ``error: <reason>`` (status 2)."""
        super().__init__(f"error: {reason}")
        self.reason = reason


def image_targets(target: str) -> list[str]:
    """The image targets ``--target`` names: ``serve``, ``train`` or ``all`` (both).

    Raises:
        ToolError: Another name (status 2, naming the known ones).
    """
    if target == ALL_TARGETS:
        return list(IMAGE_TARGETS)
    if target not in IMAGE_TARGETS:
        raise ToolError(f"unknown target {target!r}; known: {', '.join(IMAGE_TARGETS)}, all")
    return [target]


def image_tag(root: Path, tag: str) -> str:
    """``tag``, else the short commit (the tag docker/scripts/build.sh gives by default).

    ``dev`` outside a git work tree, as the build script's default too.
    """
    return tag or short_head(root) or "dev"


def manifests_for(
    root: Path,
    project: str,
    env: str,
    *,
    tag: str,
    registry: str,
    model_version: str | None = None,
) -> str:
    """The project's Kubernetes manifests for ``env``, rendered offline.

    Raises:
        ManifestsError: An unknown environment, a bad tag or registry, or no kubectl.
    """
    try:
        return render_manifests(
            root,
            project,
            env,
            tag=image_tag(root, tag),
            registry=registry or DEFAULT_REGISTRY,
            model_version=model_version,
        )
    except ManifestError as exc:
        raise ManifestsError(str(exc)) from None


def check_apply_options(root: Path, project: str, env: str, tag: str, registry: str) -> None:
    """Refuse ``deploy --apply`` before the gate when its manifests could not be applied.

    The cluster context is checked by the caller (it runs kubectl).

    Raises:
        ToolError: No ``--registry``/``--tag`` (the cluster pulls real images) or the
            manifests do not render (status 2; nothing promoted).
    """
    if not registry or not tag:
        raise ToolError(
            "--apply needs --registry and --tag (the images the cluster pulls, as pushed by "
            "docker/scripts/deploy.sh); nothing promoted"
        )
    manifests_for(root, project, env, tag=tag, registry=registry)


NO_CLUSTER = "--apply: kubectl has no current cluster context; nothing promoted"


def apply_failed(project: str, env: str) -> ToolError:
    """The error after ``kubectl apply`` failed: the alias has moved, so say how to finish."""
    return ToolError(
        f"kubectl apply failed for {project} ({env}) after the champion alias moved: "
        f"fix the cluster and run the same deploy again (it finds the champion in "
        f"place and applies), or `invoke rollback --project={project}`",
        1,
    )
