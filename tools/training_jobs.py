"""Kubernetes training Jobs: one project trained on N pods, rendered offline.

``deploy/kubernetes/training/`` is a kustomize base with generic names (an Indexed Job
``trainer``, its headless Service, a ConfigMap) and a GPU component
(``components/gpu``). This module writes a throwaway kustomization on top of it for one
project, as ``tools/manifests.py`` does for the model server, and renders it with
``kubectl kustomize``; no cluster is needed. It sets:

- parallelism = completions = ``nnodes``: every pod at once, pod ``i`` named
  ``<project>-trainer-<i>`` in the subdomain ``<project>-trainer`` (the Service);
- the pods' command: torchrun with the options ``tools/training_launch.py`` gives
  ``invoke train --nnodes``, the node rank from ``$(JOB_COMPLETION_INDEX)``, the
  rendezvous at pod 0 (``<project>-trainer-0.<project>-trainer:29400``, c10d, id the
  Job's name), then ``projects/<project>/scripts/train.py --resume=auto --set
  data.root=/data`` and the caller's overrides;
- the image ``<registry>/<project>:<tag>-train``; with ``gpus`` > 0 the GPU component and
  ``nvidia.com/gpu: gpus`` per pod (one trainer process per GPU);
- the PersistentVolumeClaims ``<project>-training-data`` and
  ``<project>-training-checkpoints``, which the operator creates.

    uv run python -m tools.training_jobs --project ct-seg --nnodes 2 --gpus 4
    uv run python -m tools.training_jobs --all --nnodes 2 --validate
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools.errors import ToolError
from tools.manifests import (
    DEFAULT_KUBERNETES_VERSION,
    KUBERNETES_DIR,
    NAME_LABEL,
    TRAIN_IMAGE,
    ManifestError,
    RenderError,
    check_image_names,
    check_project_name,
    render_kustomization,
    validate_manifests,
)
from tools.projects import known_projects
from tools.release import DEFAULT_REGISTRY, image_tag
from tools.training_launch import (
    DEFAULT_RDZV_PORT,
    MAX_NNODES,
    MAX_NPROC,
    check_launch,
    torchrun_arguments,
)

ROOT = Path(__file__).resolve().parents[1]
TRAINING_DIR = KUBERNETES_DIR / "training"
GPU_COMPONENT = "components/gpu"
"""The GPU component, relative to ``TRAINING_DIR``."""

TRAINER = "trainer"
"""Name of the Job, its Service and its container in the base; rendering prefixes it."""
CONFIG_NAME = "trainer-config"
DATA_MOUNT = "/data"
"""Where the data volume is mounted: the trainer's ``data.root``."""
DATA_CLAIM = "training-data"
CHECKPOINT_CLAIM = "training-checkpoints"
GPU_RESOURCE = "nvidia.com/gpu"
TORCHRUN = ("python", "-m", "torch.distributed.run")
"""The base's container command (the image's venv python, WORKDIR the repository)."""
NODE_RANK = "--node-rank=$(JOB_COMPLETION_INDEX)"
"""Kubernetes expands ``$(VAR)`` in args from the container's environment."""
RESUME = "--resume=auto"
"""A recreated pod continues the project's latest unfinished run from its checkpoint."""

EXIT_PROBLEMS = 1
_MAX_NAME = 63
"""A pod's hostname ``<project>-trainer-<index>`` is a DNS-1123 label."""


@dataclass(frozen=True)
class TrainingJob:
    """One project's training on Kubernetes, checked.

    Attributes:
        project: Project folder name under ``projects/``.
        nnodes: Pods (torchrun's nodes).
        gpus: GPUs per pod; 0 trains on CPU.
        tag: Image tag without the ``-train`` suffix.
        registry: Image repository prefix.
        overrides: Config overrides ``KEY=VALUE`` for ``scripts/train.py --set``.
    """

    project: str
    nnodes: int
    gpus: int
    tag: str
    registry: str
    overrides: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The Job's name, also its Service's (the pods' subdomain) and the rendezvous id."""
        return job_name(self.project)

    @property
    def nproc(self) -> int:
        """Trainer processes per pod: one per GPU, one on CPU."""
        return max(self.gpus, 1)


def job_name(project: str) -> str:
    """``<project>-trainer``: the Job, its headless Service, the torchrun rendezvous id.

    One name per project: a second training of the project waits until the first Job is
    deleted, so two Jobs never resume the same unfinished run at once.
    """
    return f"{project}-{TRAINER}"


def claim_names(project: str) -> tuple[str, str]:
    """The PersistentVolumeClaims the operator creates: data, checkpoints."""
    return f"{project}-{DATA_CLAIM}", f"{project}-{CHECKPOINT_CLAIM}"


def training_namespace(root: Path) -> str:
    """The namespace the base puts the Jobs in (its kustomization's ``namespace``)."""
    text = (root / TRAINING_DIR / "kustomization.yaml").read_text(encoding="utf-8")
    return str(yaml.safe_load(text)["namespace"])


def check_training_job(
    root: Path,
    project: str,
    *,
    nnodes: int,
    gpus: int,
    tag: str,
    registry: str,
    overrides: Sequence[str] = (),
) -> TrainingJob:
    """The Job the arguments ask for, or one line saying which argument is wrong.

    Args:
        root: The repository root.
        project: Project folder name under ``projects/``.
        nnodes: Pods; 0 means ``--nnodes`` was not given.
        gpus: GPUs per pod.
        tag: Image tag; empty: the short commit (``dev`` outside git), as ``invoke build``.
        registry: Image prefix; empty: ``medai`` (local builds).
        overrides: ``KEY=VALUE`` config overrides.

    Raises:
        ToolError: Status 2 and one ``error:`` line.
    """
    if nnodes == 0:
        raise ToolError(
            "error: --on=kubernetes needs --nnodes=N, the number of pods to train on "
            "(each runs torchrun, one process per GPU or one on CPU)"
        )
    if not 1 <= nnodes <= MAX_NNODES:
        raise ToolError(f"error: --nnodes must be 1 to {MAX_NNODES} pods; got {nnodes}")
    if not 0 <= gpus <= MAX_NPROC:
        raise ToolError(f"error: --gpus must be 0 (CPU) to {MAX_NPROC} GPUs per pod; got {gpus}")
    for item in overrides:
        key, sep, _ = item.partition("=")
        if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
            raise ToolError(
                f"error: --set {item!r}: expected the form dotted.key=value, e.g. train.epochs=2"
            )
    tag, registry = image_tag(root, tag), registry or DEFAULT_REGISTRY
    longest_index = len(str(MAX_NNODES - 1))
    try:
        check_project_name(root, project, _MAX_NAME - len(f"-{TRAINER}-") - longest_index)
        check_image_names(tag, registry)
    except ManifestError as error:
        raise ToolError(f"error: {error}") from None
    if not (root / "projects" / project / "scripts" / "train.py").is_file():
        raise ToolError(f"error: project {project!r} has no scripts/train.py")
    return TrainingJob(project, nnodes, gpus, tag, registry, tuple(overrides))


def _escaped(argument: str) -> str:
    """``argument`` as Kubernetes passes it on: ``$$`` is its escape for a literal ``$``."""
    return argument.replace("$", "$$")


def pod_arguments(job: TrainingJob) -> list[str]:
    """The trainer container's args (after ``python -m torch.distributed.run``).

    torchrun's options are ``torchrun_arguments`` of the launch ``invoke train`` checks,
    built for node rank 0; the rank becomes ``$(JOB_COMPLETION_INDEX)``, so one pod
    template serves every index. One pod trains with torchrun's standalone rendezvous.
    """
    endpoint = f"{job.name}-0.{job.name}:{DEFAULT_RDZV_PORT}" if job.nnodes > 1 else ""
    launch = check_launch(job.nproc, job.nnodes, 0, endpoint)
    options = torchrun_arguments(launch, run_id=job.name)
    if job.nnodes > 1:
        options = [NODE_RANK if option == "--node-rank=0" else option for option in options]
    script = f"projects/{job.project}/scripts/train.py"
    settings = [f"data.root={DATA_MOUNT}", *job.overrides]
    script_args = [RESUME, *(part for item in settings for part in ("--set", _escaped(item)))]
    return [*options, script, *script_args]


def training_kustomization(job: TrainingJob) -> dict[str, Any]:
    """The kustomization that turns the base's generic trainer into ``job``'s.

    Paths are relative to the folder holding the copy of ``deploy/kubernetes`` as
    ``kubernetes/`` (``tools.manifests.render_kustomization``).
    """
    base = f"kubernetes/{TRAINING_DIR.relative_to(KUBERNETES_DIR).as_posix()}"
    container: dict[str, Any] = {"name": TRAINER, "args": pod_arguments(job)}
    if job.gpus:
        container["resources"] = {side: {GPU_RESOURCE: job.gpus} for side in ("requests", "limits")}
    data_claim, checkpoint_claim = claim_names(job.project)
    job_patch = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": TRAINER},
        "spec": {
            "parallelism": job.nnodes,
            "completions": job.nnodes,
            "template": {
                "spec": {
                    # namePrefix renames the Service, not this reference to it.
                    "subdomain": job.name,
                    "containers": [container],
                    # The claims are the operator's, so namePrefix leaves them alone.
                    "volumes": [
                        {"name": "data", "persistentVolumeClaim": {"claimName": data_claim}},
                        {
                            "name": "checkpoints",
                            "persistentVolumeClaim": {"claimName": checkpoint_claim},
                        },
                    ],
                }
            },
        },
    }
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [base],
    }
    if job.gpus:
        kustomization["components"] = [f"{base}/{GPU_COMPONENT}"]
    kustomization |= {
        "namePrefix": f"{job.project}-",
        "labels": [{"pairs": {NAME_LABEL: job.project}, "includeSelectors": True}],
        "images": [
            {
                "name": TRAIN_IMAGE,
                "newName": f"{job.registry}/{job.project}",
                "newTag": f"{job.tag}-train",
            }
        ],
        # The project the config is for, as in the model server's ConfigMap (the image
        # sets the same at build; `python -m medai.containers` in a pod reads it).
        "configMapGenerator": [
            {"name": CONFIG_NAME, "behavior": "merge", "literals": [f"MEDAI_PROJECT={job.project}"]}
        ],
        "patches": [
            {
                "target": {"kind": "Job", "name": TRAINER},
                "patch": yaml.safe_dump(job_patch, sort_keys=False),
            }
        ],
    }
    return kustomization


def render_training_job(root: Path, job: TrainingJob) -> str:
    """The checked ``job``'s manifests, as kustomize prints them.

    Raises:
        ToolError: No kubectl (status 2), or kustomize failed on the repository's
            manifests (status 1).
    """
    what = f"{job.project} training"
    try:
        return render_kustomization(root, training_kustomization(job), what)
    except RenderError as error:
        raise ToolError(f"error: {error}", EXIT_PROBLEMS) from None
    except ManifestError as error:
        raise ToolError(f"error: {error}") from None


def training_manifests(
    root: Path,
    project: str,
    *,
    nnodes: int,
    gpus: int = 0,
    tag: str = "",
    registry: str = "",
    overrides: Sequence[str] = (),
) -> str:
    """The manifests that train ``project`` on ``nnodes`` pods with ``gpus`` GPUs each.

    Args:
        root: The repository root (holds ``projects/`` and ``deploy/kubernetes/``).
        project: Project folder name under ``projects/``.
        nnodes: Pods; 0 (``--nnodes`` not given) is refused.
        gpus: GPUs per pod; 0 trains on CPU (the base), more adds the GPU component.
        tag: Image tag without ``-train``; empty: the short commit, as ``invoke build``.
        registry: Image prefix; empty: ``medai``.
        overrides: ``KEY=VALUE`` config overrides passed to the training script.

    Returns:
        The YAML stream: the ConfigMap, the headless Service and the Job.

    Raises:
        ToolError: A bad argument (status 2, one ``error:`` line naming it), no kubectl
            (2), or the repository's manifests do not render (1).
    """
    job = check_training_job(
        root, project, nnodes=nnodes, gpus=gpus, tag=tag, registry=registry, overrides=overrides
    )
    return render_training_job(root, job)


def check_apply(
    root: Path,
    project: str,
    *,
    nnodes: int,
    gpus: int = 0,
    tag: str = "",
    registry: str = "",
    overrides: Sequence[str] = (),
) -> str:
    """The manifests ``--apply`` may pipe to ``kubectl apply -f -``, or why not.

    The cluster pulls a pushed image, so ``--registry`` and ``--tag`` must be given (the
    defaults name a local build). The cluster context is the caller's to check.

    Returns:
        The rendered manifests (as :func:`training_manifests`).

    Raises:
        ToolError: No registry or tag, or what :func:`training_manifests` refuses.
    """
    if not registry or not tag:
        raise ToolError(
            "error: --on=kubernetes --apply needs --registry and --tag (the training image "
            "the cluster pulls, as pushed by docker/scripts/deploy.sh); nothing applied"
        )
    return training_manifests(
        root, project, nnodes=nnodes, gpus=gpus, tag=tag, registry=registry, overrides=overrides
    )


# ---- the command line ----------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.training_jobs",
        description="Render (and validate) a project's Kubernetes training Job, offline.",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--project", help="project folder under projects/")
    which.add_argument("--all", action="store_true", help="every project")
    parser.add_argument("--nnodes", type=int, default=0, help="pods (torchrun's nodes)")
    parser.add_argument(
        "--gpus",
        type=int,
        default=None,
        help="GPUs per pod (default 0: CPU; with --all, both 0 and 2)",
    )
    parser.add_argument("--tag", default="", help="image tag (default: the short commit)")
    parser.add_argument(
        "--registry", default="", help=f"image prefix (default: {DEFAULT_REGISTRY})"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for the training script (repeatable)",
    )
    parser.add_argument(
        "--validate",
        action="store_true",
        help="validate against the Kubernetes schemas; print one line per rendering",
    )
    parser.add_argument(
        "--kubernetes-version",
        default=DEFAULT_KUBERNETES_VERSION,
        help=f"schemas to validate against (default: {DEFAULT_KUBERNETES_VERSION})",
    )
    return parser


def _jobs(root: Path, args: argparse.Namespace) -> list[TrainingJob]:
    projects = known_projects(root) if args.all else [args.project]
    if args.gpus is not None:
        gpu_counts: tuple[int, ...] = (args.gpus,)
    else:
        gpu_counts = (0, 2) if args.all else (0,)
    return [
        check_training_job(
            root,
            project,
            nnodes=args.nnodes,
            gpus=gpus,
            tag=args.tag,
            registry=args.registry,
            overrides=args.overrides,
        )
        for project in projects
        for gpus in gpu_counts
    ]


def _label(job: TrainingJob) -> str:
    return f"{job.project} (nnodes={job.nnodes}, gpus={job.gpus})"


def _report(root: Path, jobs: list[TrainingJob], kubernetes_version: str) -> int:
    """Validate each rendering; one line each, then every problem indented under it."""
    failed = False
    for job in jobs:
        problems = validate_manifests(render_training_job(root, job), kubernetes_version)
        if problems:
            failed = True
            print(f"{_label(job)}: {len(problems)} problem(s)")  # noqa: T201
            for problem in problems:
                print(f"    {problem}")  # noqa: T201
        else:
            print(f"{_label(job)}: valid (Kubernetes {kubernetes_version})")  # noqa: T201
    return EXIT_PROBLEMS if failed else 0


def main(argv: Sequence[str] | None = None, root: Path = ROOT) -> int:
    """``python -m tools.training_jobs``: 0 rendered (and valid), 1 problems, 2 misuse."""
    args = _parser().parse_args(argv)
    try:
        jobs = _jobs(root, args)
        if args.validate:
            return _report(root, jobs, args.kubernetes_version)
        texts = [render_training_job(root, job) for job in jobs]
    except ToolError as error:
        print(error.message, file=sys.stderr)  # noqa: T201
        return error.code
    except ManifestError as error:  # validate_manifests: no schemas for that version
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return 2
    for job, text in zip(jobs, texts, strict=True):
        if len(jobs) > 1:
            print(f"---\n# {_label(job)}")  # noqa: T201
        print(text, end="")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
