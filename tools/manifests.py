"""Kubernetes manifests of a project's model server: render them offline, validate them.

``deploy/kubernetes/`` holds one kustomize base (a generic ``model-server``: Deployment,
Service, HorizontalPodAutoscaler, PodDisruptionBudget, ConfigMap) and one overlay per
environment (``overlays/staging``, ``overlays/production``: namespace, sizes, replicas).
Nothing there names a project: this module writes a throwaway kustomization on top of an
overlay that applies the project (name prefix, label, images, API-key Secret) and runs
``kubectl kustomize`` on it. No cluster is needed. (``deploy/kubernetes/training`` is the
training Job's base, rendered the same way by ``tools/training_jobs.py``.) Run:

    uv run python -m tools.manifests --project ct-seg --env staging
    uv run python -m tools.manifests --all --validate
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import yaml

from tools.projects import known_projects

ROOT = Path(__file__).resolve().parents[1]
KUBERNETES_DIR = Path("deploy") / "kubernetes"
DEFAULT_KUBERNETES_VERSION = "1.31.0"

SERVER_NAME = "model-server"
"""Name of the Deployment, Service, HPA and PDB in the base; rendering prefixes it."""
CONFIG_NAME = "model-server-config"
SECRET_VOLUME = "api-keys"  # noqa: S105 - the name of a volume, not a password
SERVE_IMAGE = "model-serve"
TRAIN_IMAGE = "model-train"
NAME_LABEL = "app.kubernetes.io/name"

EXIT_PROBLEMS = 1
EXIT_USAGE = 2
_RENDER_TIMEOUT_S = 120
_MAX_MESSAGE = 200
# A project name prefixes Kubernetes names (DNS-1035 labels, at most 63 characters).
_PROJECT_NAME = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?$")
_MAX_NAME = 63
# Docker's tag grammar, leaving room for the "-serve" / "-train" suffix.
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,121}$")
_REGISTRY = re.compile(r"^[a-z0-9][a-z0-9._:/-]*$")
"""Image references are lowercase (a host:port prefix included)."""
MODEL_VERSION_ANNOTATION = "medai/model-version"
"""On the pod template: a new champion changes it, so `kubectl apply` rolls the pods out."""


class ManifestError(Exception):
    """The manifests cannot be rendered or validated as asked; ``str()`` is one line."""


class RenderError(ManifestError):
    """kustomize failed on the repository's manifests (not on the caller's arguments)."""


def known_environments(root: Path) -> list[str]:
    """Environments with an overlay: ``deploy/kubernetes/overlays/<env>/kustomization.yaml``."""
    overlays = root / KUBERNETES_DIR / "overlays"
    return sorted(p.parent.name for p in overlays.glob("*/kustomization.yaml"))


def secret_name(project: str) -> str:
    """The Secret holding a project's API keys (one a line, key ``api-keys``)."""
    return f"{project}-{SECRET_VOLUME}"


def image_name(project: str, target: str, *, tag: str = "latest", registry: str = "medai") -> str:
    """``<registry>/<project>:<tag>-<target>``, the name docker/scripts/build.sh gives."""
    return f"{registry}/{project}:{tag}-{target}"


def check_project_name(root: Path, project: str, longest: int) -> None:
    """Refuse a project the repo does not have, or whose name cannot prefix Kubernetes names.

    Args:
        root: The repository root.
        project: Project folder name under ``projects/``.
        longest: The most characters the name may have (the longest name it prefixes
            must stay a DNS-1035 label of at most 63 characters).

    Raises:
        ManifestError: Unknown project (naming the known ones), or an unusable name.
    """
    projects = known_projects(root)
    if project not in projects:
        raise ManifestError(
            f"unknown project {project!r}; known: {', '.join(projects) or '(none)'}"
        )
    if not _PROJECT_NAME.match(project) or len(project) > longest:
        raise ManifestError(
            f"project {project!r} cannot prefix Kubernetes names: expected lowercase letters,"
            f" digits and '-', starting with a letter, at most {longest} characters"
        )


def check_image_names(tag: str, registry: str) -> None:
    """Refuse a tag or registry that cannot make an image reference.

    Raises:
        ManifestError: The tag or the registry, named, is malformed.
    """
    if not _TAG.match(tag):
        raise ManifestError(f"tag {tag!r} is not a valid image tag")
    if not _REGISTRY.match(registry):
        raise ManifestError(
            f"registry {registry!r} is not a valid image repository prefix "
            "(lowercase letters, digits, '.', '-', '_', ':' and '/')"
        )


def _check_arguments(root: Path, project: str, env: str, tag: str, registry: str) -> None:
    # The Service name, `<project>-model-server`, is a DNS-1035 label.
    check_project_name(root, project, _MAX_NAME - len(f"-{SERVER_NAME}"))
    envs = known_environments(root)
    if env not in envs:
        raise ManifestError(f"unknown environment {env!r}; expected one of {', '.join(envs)}")
    check_image_names(tag, registry)


def project_kustomization(
    overlay: str,
    project: str,
    *,
    tag: str = "latest",
    registry: str = "medai",
    model_version: str | None = None,
) -> dict[str, Any]:
    """The kustomization that turns an overlay's generic server into ``project``'s.

    Args:
        overlay: Path of the overlay folder, relative to the kustomization's folder.
        project: Project folder name (already checked).
        tag: Image tag without the ``-serve`` / ``-train`` suffix.
        registry: Image repository prefix (``medai`` locally, a registry host for a cluster).
        model_version: The champion the pods will serve, when known: written as a pod
            annotation, because the pods resolve the alias only when they start, and an
            unchanged pod template would make `kubectl apply` after a promotion a no-op.
    """
    template_metadata = (
        {"metadata": {"annotations": {MODEL_VERSION_ANNOTATION: str(model_version)}}}
        if model_version
        else {}
    )
    secret_patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": SERVER_NAME},
        "spec": {
            "template": {
                **template_metadata,
                "spec": {
                    "volumes": [
                        {"name": SECRET_VOLUME, "secret": {"secretName": secret_name(project)}}
                    ]
                },
            }
        },
    }
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [overlay],
        "namePrefix": f"{project}-",
        "labels": [{"pairs": {NAME_LABEL: project}, "includeSelectors": True}],
        "images": [
            {"name": SERVE_IMAGE, "newName": f"{registry}/{project}", "newTag": f"{tag}-serve"},
            {"name": TRAIN_IMAGE, "newName": f"{registry}/{project}", "newTag": f"{tag}-train"},
        ],
        # The images set MEDAI_PROJECT at build; saying it again here makes a pod that
        # runs another project's image fail at start instead of serving the wrong model.
        "configMapGenerator": [
            {"name": CONFIG_NAME, "behavior": "merge", "literals": [f"MEDAI_PROJECT={project}"]}
        ],
        # The Secret is the operator's (never generated here), so namePrefix leaves the
        # reference alone: it is renamed explicitly.
        "patches": [
            {
                "target": {"kind": "Deployment", "name": SERVER_NAME},
                "patch": yaml.safe_dump(secret_patch, sort_keys=False),
            }
        ],
    }


def _kustomize_command(folder: Path) -> list[str]:
    kubectl = shutil.which("kubectl")
    if kubectl is not None:
        return [kubectl, "kustomize", str(folder)]
    kustomize = shutil.which("kustomize")
    if kustomize is not None:
        return [kustomize, "build", str(folder)]
    raise ManifestError("kubectl is not on PATH (nor kustomize): install kubectl to render")


def render_manifests(
    root: Path,
    project: str,
    env: str,
    *,
    tag: str = "latest",
    registry: str = "medai",
    model_version: str | None = None,
) -> str:
    """The manifests of ``project``'s model server in ``env``, as kustomize prints them.

    The overlays are copied into a temporary folder next to the project's kustomization,
    because kustomize refuses an absolute path to a resource folder.

    Args:
        root: The repository root (holds ``projects/`` and ``deploy/kubernetes/``).
        project: Project folder name under ``projects/``.
        env: An overlay under ``deploy/kubernetes/overlays/`` (staging, production).
        tag: Image tag without the target suffix.
        registry: Image repository prefix.
        model_version: The registered version the pods serve (a pod annotation).

    Returns:
        The YAML stream (one document per object).

    Raises:
        ManifestError: unknown project or environment, bad tag or registry, no kubectl.
        RenderError: kustomize failed on the manifests.
    """
    _check_arguments(root, project, env, tag, registry)
    kustomization = project_kustomization(
        f"kubernetes/overlays/{env}",
        project,
        tag=tag,
        registry=registry,
        model_version=model_version,
    )
    return render_kustomization(root, kustomization, f"{project}/{env}")


def render_kustomization(root: Path, kustomization: dict[str, Any], what: str) -> str:
    """``kubectl kustomize`` of ``kustomization`` on a copy of ``deploy/kubernetes``.

    The copy is a temporary folder holding ``kubernetes/`` (so ``kustomization`` names
    ``kubernetes/overlays/staging``, ``kubernetes/training``, ...) next to the
    kustomization, because kustomize refuses an absolute path to a resource folder.

    Args:
        root: The repository root (holds ``deploy/kubernetes/``).
        kustomization: The kustomization to render, as data.
        what: What is rendered, for the error (``ct-seg/staging``).

    Raises:
        ManifestError: No kubectl (nor kustomize) on PATH.
        RenderError: kustomize failed or took too long.
    """
    with tempfile.TemporaryDirectory(prefix="medai-manifests-") as scratch:
        folder = Path(scratch)
        shutil.copytree(root / KUBERNETES_DIR, folder / "kubernetes")
        (folder / "kustomization.yaml").write_text(
            yaml.safe_dump(kustomization, sort_keys=False), encoding="utf-8"
        )
        command = _kustomize_command(folder)
        try:
            done = subprocess.run(  # noqa: S603 - fixed argv, found on PATH
                command, capture_output=True, text=True, check=False, timeout=_RENDER_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            raise RenderError(f"{what}: kustomize took more than {_RENDER_TIMEOUT_S} s") from None
    if done.returncode != 0:
        reason = " ".join(done.stderr.split()) or f"exit code {done.returncode}"
        raise RenderError(f"{what}: kustomize failed: {reason}")
    return done.stdout


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 3] + "..."


def _label(document: dict[str, Any], position: int) -> str:
    kind = document.get("kind") or "(no kind)"
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f"{kind}/{name or f'(document {position}, no name)'}"


def validate_document(document: object, position: int, kubernetes_version: str) -> list[str]:
    """Problems of one parsed YAML document against the Kubernetes schema (strict)."""
    if not isinstance(document, dict):
        return [f"document {position}: expected a mapping, got {type(document).__name__}"]
    label = _label(document, position)
    if not isinstance(document.get("apiVersion"), str) or not isinstance(document.get("kind"), str):
        return [f"{label}: apiVersion and kind must be strings"]
    try:
        kubernetes_validate.validate(document, kubernetes_version, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = ".".join(str(part) for part in error.path) or "(top level)"
        return [f"{label}: {where}: {_short(error.message)}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [f"{label}: {error.message}"]
    return []


def validate_manifests(
    text: str, kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
) -> list[str]:
    """Validate every document of a YAML stream against the Kubernetes API schemas.

    Strict: an unknown field is a problem too (a misspelt ``readinessProbe`` would
    otherwise be dropped by the API server without a word). kubernetes-validate reports
    the first problem of each document.

    Args:
        text: Manifests, as :func:`render_manifests` returns them.
        kubernetes_version: The cluster version whose schemas apply.

    Returns:
        One line per problem, each naming ``Kind/name`` and the field; empty when valid.

    Raises:
        ManifestError: kubernetes-validate has no schemas for ``kubernetes_version``.
    """
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        return [f"not YAML: {_short(str(error))}"]
    problems: list[str] = []
    for position, document in enumerate(documents, start=1):
        if document is None:
            continue
        try:
            problems.extend(validate_document(document, position, kubernetes_version))
        except kubernetes_validate.utils.VersionNotSupportedError:
            raise ManifestError(
                f"kubernetes-validate {kubernetes_validate.__version__} has no schemas for"
                f" Kubernetes {kubernetes_version}"
            ) from None
    return problems


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.manifests",
        description="Render (and validate) a project's Kubernetes manifests, offline.",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--project", help="project folder under projects/")
    which.add_argument("--all", action="store_true", help="every project")
    parser.add_argument(
        "--env", help="overlay: staging or production (default with --all: every overlay)"
    )
    parser.add_argument("--tag", default="latest", help="image tag (default: latest)")
    parser.add_argument("--registry", default="medai", help="image prefix (default: medai)")
    parser.add_argument(
        "--validate",
        action="store_true",
        help="validate against the Kubernetes schemas; print one line per project/env",
    )
    parser.add_argument(
        "--kubernetes-version",
        default=DEFAULT_KUBERNETES_VERSION,
        help=f"schemas to validate against (default: {DEFAULT_KUBERNETES_VERSION})",
    )
    return parser


def _targets(root: Path, args: argparse.Namespace) -> list[tuple[str, str]]:
    if args.all:
        projects = known_projects(root)
        envs = [args.env] if args.env else known_environments(root)
    else:
        if not args.env:
            raise ManifestError("--env is required with --project (staging or production)")
        projects, envs = [args.project], [args.env]
    return [(project, env) for project in projects for env in envs]


def _report(root: Path, targets: list[tuple[str, str]], args: argparse.Namespace) -> int:
    """Validate each target; one line each, then every problem indented under it."""
    failed = False
    for project, env in targets:
        try:
            text = render_manifests(root, project, env, tag=args.tag, registry=args.registry)
            problems = validate_manifests(text, args.kubernetes_version)
        except RenderError as error:
            problems = [str(error)]
        if problems:
            failed = True
            print(f"{project}/{env}: {len(problems)} problem(s)")  # noqa: T201
            for problem in problems:
                print(f"    {problem}")  # noqa: T201
        else:
            print(f"{project}/{env}: valid (Kubernetes {args.kubernetes_version})")  # noqa: T201
    return EXIT_PROBLEMS if failed else 0


def main(argv: Sequence[str] | None = None, root: Path = ROOT) -> int:
    """``python -m tools.manifests``: 0 when rendered (and valid), 1 on problems, 2 on misuse."""
    args = _parser().parse_args(argv)
    try:
        targets = _targets(root, args)
        if args.validate:
            return _report(root, targets, args)
        texts = [
            render_manifests(root, project, env, tag=args.tag, registry=args.registry)
            for project, env in targets
        ]
    except RenderError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return EXIT_PROBLEMS
    except ManifestError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    for (project, env), text in zip(targets, texts, strict=True):
        if len(targets) > 1:
            print(f"---\n# {project} / {env}")  # noqa: T201
        print(text, end="")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
