"""The Kubernetes training Job (deploy/kubernetes/training) as tools/training_jobs.py renders it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from tools.errors import ToolError
from tools.manifests import image_name, validate_manifests
from tools.projects import known_projects
from tools.training_jobs import (
    DATA_MOUNT,
    TORCHRUN,
    check_apply,
    claim_names,
    job_name,
    main,
    training_manifests,
    training_namespace,
)
from tools.training_launch import DEFAULT_RDZV_PORT, MAX_NNODES

from medai.containers import binding_of

ROOT = Path(__file__).resolve().parents[1]
PROJECTS = known_projects(ROOT)
SHAPES = [(nnodes, gpus) for nnodes in (1, 3) for gpus in (0, 2)]
CASES = [(project, nnodes, gpus) for project in PROJECTS for nnodes, gpus in SHAPES]
README = ROOT / "deploy" / "kubernetes" / "training" / "README.md"

needs_kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None and shutil.which("kustomize") is None,
    reason="kubectl (or kustomize) is not on PATH; rendering needs it",
)


@pytest.fixture(scope="module")
def rendered():
    """``(project, nnodes, gpus) -> list of documents``, each rendered once for the module."""
    cache: dict[tuple[str, int, int], str] = {}

    def get(project: str, nnodes: int, gpus: int) -> str:
        if (project, nnodes, gpus) not in cache:
            cache[project, nnodes, gpus] = training_manifests(
                ROOT, project, nnodes=nnodes, gpus=gpus, tag="v1", registry="medai"
            )
        return cache[project, nnodes, gpus]

    return get


def documents(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def only(docs: list[dict], kind: str) -> dict:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def pod_spec(docs: list[dict]) -> dict:
    return only(docs, "Job")["spec"]["template"]["spec"]


def trainer(docs: list[dict]) -> dict:
    (container,) = pod_spec(docs)["containers"]
    return container


def env_of(container: dict) -> dict[str, dict]:
    return {entry["name"]: entry for entry in container["env"]}


def options(container: dict) -> dict[str, str]:
    """torchrun's ``--name=value`` options (those before the script)."""
    found: dict[str, str] = {}
    for argument in container["args"]:
        if not argument.startswith("--"):
            break
        name, _, value = argument.partition("=")
        found[name] = value
    return found


def script_and_arguments(container: dict) -> list[str]:
    args = container["args"]
    first = next(i for i, a in enumerate(args) if not a.startswith("--"))
    return args[first:]


def set_items(container: dict) -> list[str]:
    rest = script_and_arguments(container)
    return [rest[i + 1] for i, a in enumerate(rest) if a == "--set"]


# ---- the rendering -------------------------------------------------------------------


def test_every_project_of_the_repo_is_covered():
    assert {"ct-seg", "cxr-cls", "brain-mri"} <= set(PROJECTS)


@needs_kubectl
@pytest.mark.parametrize(("project", "nnodes", "gpus"), CASES)
def test_rendered_job_is_valid_kubernetes(rendered, project, nnodes, gpus):
    text = rendered(project, nnodes, gpus)
    assert sorted(doc["kind"] for doc in documents(text)) == ["ConfigMap", "Job", "Service"]
    assert validate_manifests(text) == []


@needs_kubectl
@pytest.mark.parametrize(("project", "nnodes", "gpus"), CASES)
def test_an_indexed_job_runs_every_node_at_once(rendered, project, nnodes, gpus):
    spec = only(documents(rendered(project, nnodes, gpus)), "Job")["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["parallelism"] == spec["completions"] == nnodes
    assert "selector" not in spec, "the Job controller makes the selector"


@needs_kubectl
@pytest.mark.parametrize(("project", "nnodes", "gpus"), CASES)
def test_every_object_is_named_labelled_and_placed_per_project(rendered, project, nnodes, gpus):
    for doc in documents(rendered(project, nnodes, gpus)):
        metadata = doc["metadata"]
        assert metadata["name"].startswith(job_name(project)), metadata["name"]
        assert metadata["namespace"] == training_namespace(ROOT) == "medai-training"
        assert metadata["labels"]["app.kubernetes.io/name"] == project


@needs_kubectl
@pytest.mark.parametrize(("project", "nnodes", "gpus"), CASES)
def test_the_headless_service_is_the_pods_subdomain_and_selects_them(
    rendered, project, nnodes, gpus
):
    docs = documents(rendered(project, nnodes, gpus))
    service = only(docs, "Service")
    job = only(docs, "Job")
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert job["spec"]["template"]["spec"]["subdomain"] == service["metadata"]["name"]
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    selector = service["spec"]["selector"]
    assert selector.items() <= pod_labels.items()
    assert selector["app.kubernetes.io/name"] == project
    assert selector["app.kubernetes.io/component"] == "trainer"


@needs_kubectl
@pytest.mark.parametrize(("project", "gpus"), [(p, g) for p in PROJECTS for g in (0, 2)])
def test_several_pods_meet_at_pod_0_of_this_job_through_its_service(rendered, project, gpus):
    docs = documents(rendered(project, 3, gpus))
    job, service = only(docs, "Job"), only(docs, "Service")
    container = trainer(docs)
    found = options(container)
    job_pod_0 = f"{job['metadata']['name']}-0"  # an Indexed Job's pod hostname
    assert found["--rdzv-endpoint"] == f"{job_pod_0}.{service['metadata']['name']}:29400"
    assert found["--rdzv-backend"] == "c10d"
    assert found["--rdzv-id"] == job["metadata"]["name"]
    assert found["--nnodes"] == "3"
    assert "--standalone" not in found
    # The port the pods meet on is the one the Service and the container name.
    (port,) = service["spec"]["ports"]
    assert port["port"] == DEFAULT_RDZV_PORT == 29400
    assert port["targetPort"] == "rendezvous"
    assert {"name": "rendezvous", "containerPort": 29400, "protocol": "TCP"} in container["ports"]


@needs_kubectl
@pytest.mark.parametrize(("project", "gpus"), [(p, g) for p in PROJECTS for g in (0, 2)])
def test_the_node_rank_is_each_pods_completion_index(rendered, project, gpus):
    container = trainer(documents(rendered(project, 3, gpus)))
    assert options(container)["--node-rank"] == "$(JOB_COMPLETION_INDEX)"
    index = env_of(container)["JOB_COMPLETION_INDEX"]
    assert index["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    )


@needs_kubectl
@pytest.mark.parametrize(("project", "gpus"), [(p, g) for p in PROJECTS for g in (0, 2)])
def test_one_pod_trains_with_a_standalone_rendezvous(rendered, project, gpus):
    found = options(trainer(documents(rendered(project, 1, gpus))))
    assert "--standalone" in found
    assert not {"--rdzv-endpoint", "--node-rank", "--nnodes"} & set(found)


@needs_kubectl
@pytest.mark.parametrize(("project", "nnodes", "gpus"), CASES)
def test_one_trainer_process_per_gpu_or_one_on_cpu(rendered, project, nnodes, gpus):
    container = trainer(documents(rendered(project, nnodes, gpus)))
    assert options(container)["--nproc-per-node"] == str(gpus or 1)


@needs_kubectl
@pytest.mark.parametrize(("project", "nnodes", "gpus"), CASES)
def test_gpus_are_asked_for_only_in_the_gpu_rendering(rendered, project, nnodes, gpus):
    text = rendered(project, nnodes, gpus)
    docs = documents(text)
    container = trainer(docs)
    resources = container["resources"]
    spec = pod_spec(docs)
    if gpus:
        assert resources["limits"]["nvidia.com/gpu"] == resources["requests"]["nvidia.com/gpu"]
        assert resources["limits"]["nvidia.com/gpu"] == gpus
        assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec[
            "tolerations"
        ]
        assert env_of(container)["NCCL_DEBUG"]["value"] == "WARN"
        assert "NCCL_SOCKET_IFNAME" not in env_of(container)
    else:
        assert "nvidia.com" not in text
        assert "NCCL" not in text
        assert "nodeSelector" not in spec
        assert "tolerations" not in spec


@needs_kubectl
@pytest.mark.parametrize(("project", "nnodes", "gpus"), CASES)
def test_cpu_and_memory_are_requested_and_limited(rendered, project, nnodes, gpus):
    container = trainer(documents(rendered(project, nnodes, gpus)))
    for side in ("requests", "limits"):
        expected = {"cpu", "memory"} | ({"nvidia.com/gpu"} if gpus else set())
        assert set(container["resources"][side]) == expected, side
    threads = env_of(container)["OMP_NUM_THREADS"]
    if gpus:
        assert threads == {"name": "OMP_NUM_THREADS", "value": "1"}
    else:
        assert threads["valueFrom"]["resourceFieldRef"]["resource"] == "limits.cpu"


@needs_kubectl
@pytest.mark.parametrize(("project", "gpus"), [(p, g) for p in PROJECTS for g in (0, 2)])
def test_gpu_pods_are_bigger_than_cpu_pods(rendered, project, gpus):
    def memory_gib(docs: list[dict]) -> int:
        return int(trainer(docs)["resources"]["limits"]["memory"].removesuffix("Gi"))

    cpu = documents(rendered(project, 3, 0))
    this = documents(rendered(project, 3, gpus))
    if gpus:
        assert memory_gib(this) > memory_gib(cpu)
    else:
        assert memory_gib(this) == memory_gib(cpu)


@needs_kubectl
@pytest.mark.parametrize(("project", "nnodes", "gpus"), CASES)
def test_data_and_checkpoints_are_the_projects_claims_mounted_where_training_reads(
    rendered, project, nnodes, gpus
):
    docs = documents(rendered(project, nnodes, gpus))
    container = trainer(docs)
    volumes = {v["name"]: v for v in pod_spec(docs)["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    data_claim, checkpoint_claim = claim_names(project)
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == data_claim
    assert volumes["checkpoints"]["persistentVolumeClaim"]["claimName"] == checkpoint_claim
    assert (data_claim, checkpoint_claim) == (
        f"{project}-training-data",
        f"{project}-training-checkpoints",
    )
    assert mounts["data"] == DATA_MOUNT == "/data"
    assert f"data.root={mounts['data']}" in set_items(container)
    assert env_of(container)["MEDAI_CHECKPOINT_DIR"]["value"] == mounts["checkpoints"]
    assert mounts["checkpoints"] != mounts["data"]
    # DataLoader workers' shared memory, in RAM.
    assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"
    assert mounts["dshm"] == "/dev/shm"  # noqa: S108 - a mount path


@needs_kubectl
@pytest.mark.parametrize("project", PROJECTS)
def test_the_projects_config_takes_the_pods_settings(rendered, project):
    """Every ``--set`` the pod passes is a key of the project's config, in the pod's MEDAI_ENV."""
    docs = documents(rendered(project, 3, 2))
    environment = only(docs, "ConfigMap")["data"]["MEDAI_ENV"]
    settings = binding_of(project).load(
        environ={"MEDAI_ENV": environment}, overrides=set_items(trainer(docs))
    )
    assert settings.data.root == Path(DATA_MOUNT)


@needs_kubectl
@pytest.mark.parametrize(("project", "nnodes", "gpus"), CASES)
def test_the_pod_runs_the_projects_train_script_under_torchrun_resuming(
    rendered, project, nnodes, gpus
):
    container = trainer(documents(rendered(project, nnodes, gpus)))
    assert tuple(container["command"]) == TORCHRUN == ("python", "-m", "torch.distributed.run")
    script, resume, *_ = script_and_arguments(container)
    assert script == f"projects/{project}/scripts/train.py"
    assert (ROOT / script).is_file()  # the image holds the repository at its WORKDIR
    assert not {"scripts", "projects/*/scripts"} & set((ROOT / ".dockerignore").read_text().split())
    assert resume == "--resume=auto"


@needs_kubectl
@pytest.mark.parametrize(("project", "nnodes", "gpus"), CASES)
def test_tracking_comes_from_the_config_map_and_the_operators_secret(
    rendered, project, nnodes, gpus
):
    docs = documents(rendered(project, nnodes, gpus))
    config = only(docs, "ConfigMap")
    container = trainer(docs)
    assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
    data = config["data"]
    assert data["MLFLOW_TRACKING_URI"].startswith(("http://", "https://"))
    assert data["MEDAI_PROJECT"] == project
    assert (ROOT / "projects" / project / "configs" / f"{data['MEDAI_ENV']}.yaml").is_file()
    # The credentials: the operator's Secret, never in the render; documented.
    assert "Secret" not in {doc["kind"] for doc in docs}
    readme = README.read_text()
    env = env_of(container)
    for variable in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        reference = env[variable]["valueFrom"]["secretKeyRef"]
        assert reference == {"name": "mlflow-credentials", "key": variable, "optional": True}
        assert variable in readme
    assert "mlflow-credentials" in readme
    # The claims are the operator's too.
    assert "PersistentVolumeClaim" not in {doc["kind"] for doc in docs}
    assert "<project>-training-data" in readme
    assert "<project>-training-checkpoints" in readme


@needs_kubectl
@pytest.mark.parametrize(("project", "nnodes", "gpus"), CASES)
def test_a_disrupted_pod_is_retried_without_counting_and_waits_for_the_old_one(
    rendered, project, nnodes, gpus
):
    spec = only(documents(rendered(project, nnodes, gpus)), "Job")["spec"]
    (rule,) = spec["podFailurePolicy"]["rules"]
    assert rule == {
        "action": "Ignore",
        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
    }
    assert spec["podReplacementPolicy"] == "Failed"
    assert spec["backoffLimitPerIndex"] >= 1
    assert spec["maxFailedIndexes"] == 0
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    # After SIGTERM torchrun waits this long for its trainers' checkpoint; the pod outlasts it.
    (container,) = pod["containers"]
    shutdown = int(env_of(container)["TORCH_ELASTIC_SHUTDOWN_TIMEOUT"]["value"])
    assert 30 < shutdown < pod["terminationGracePeriodSeconds"]


@needs_kubectl
@pytest.mark.parametrize(("project", "nnodes", "gpus"), CASES)
def test_the_pod_runs_as_the_images_user_on_a_read_only_root(rendered, project, nnodes, gpus):
    docs = documents(rendered(project, nnodes, gpus))
    pod = pod_spec(docs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == pod["securityContext"]["fsGroup"] == 10001
    assert pod["automountServiceAccountToken"] is False
    container = trainer(docs)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}  # noqa: S108
    assert env_of(container)["HOME"]["value"] == "/tmp"  # noqa: S108


@needs_kubectl
def test_tag_registry_and_overrides_reach_the_pod():
    project = PROJECTS[0]
    text = training_manifests(
        ROOT,
        project,
        nnodes=2,
        gpus=0,
        tag="abc1234",
        registry="ghcr.io/org",
        overrides=["train.epochs=3", "data.dataset_dir=/data/Task03_Liver"],
    )
    container = trainer(documents(text))
    assert container["image"] == image_name(project, "train", tag="abc1234", registry="ghcr.io/org")
    assert container["image"] == f"ghcr.io/org/{project}:abc1234-train"
    # The pod's data.root first: an override of the caller's comes later and wins.
    assert set_items(container) == [
        "data.root=/data",
        "train.epochs=3",
        "data.dataset_dir=/data/Task03_Liver",
    ]
    assert validate_manifests(text) == []


@needs_kubectl
def test_a_dollar_in_an_override_reaches_the_script_as_it_was_written():
    # Kubernetes expands $(VAR) in args; $$ is its escape for a literal $.
    text = training_manifests(
        ROOT, PROJECTS[0], nnodes=2, gpus=0, tag="v1", registry="medai", overrides=["x.y=$(HOME)"]
    )
    assert set_items(trainer(documents(text)))[-1] == "x.y=$$(HOME)"


@needs_kubectl
def test_no_tag_is_the_short_commit_as_invoke_build_gives_it():
    from tools.release import image_tag  # noqa: PLC0415

    text = training_manifests(ROOT, PROJECTS[0], nnodes=1)
    assert trainer(documents(text))["image"] == f"medai/{PROJECTS[0]}:{image_tag(ROOT, '')}-train"


# ---- refusals: one line, status 2, before anything is rendered -----------------------


def _refusal(monkeypatch, tmp_path, **arguments) -> ToolError:
    # No kubectl on PATH: a refusal must come before any rendering.
    monkeypatch.setenv("PATH", str(tmp_path))
    call = {"nnodes": 2, "gpus": 0, "tag": "v1", "registry": "medai", **arguments}
    project = call.pop("project", PROJECTS[0])
    with pytest.raises(ToolError) as info:
        training_manifests(ROOT, project, **call)
    error = info.value
    assert error.code == 2
    assert error.message is not None
    assert error.message.startswith("error: ")
    assert "\n" not in error.message
    return error


def test_kubernetes_without_nnodes_is_refused(monkeypatch, tmp_path):
    error = _refusal(monkeypatch, tmp_path, nnodes=0)
    assert str(error.message).startswith("error: --on=kubernetes needs --nnodes=N")


@pytest.mark.parametrize("nnodes", [-1, MAX_NNODES + 1])
def test_nnodes_out_of_range_is_refused(monkeypatch, tmp_path, nnodes):
    error = _refusal(monkeypatch, tmp_path, nnodes=nnodes)
    assert error.message == f"error: --nnodes must be 1 to {MAX_NNODES} pods; got {nnodes}"


@pytest.mark.parametrize("gpus", [-1, 65])
def test_gpus_out_of_range_are_refused(monkeypatch, tmp_path, gpus):
    error = _refusal(monkeypatch, tmp_path, gpus=gpus)
    assert str(error.message).startswith(
        f"error: --gpus must be 0 (CPU) to 64 GPUs per pod; got {gpus}"
    )


def test_an_unknown_project_is_refused_naming_the_known_ones(monkeypatch, tmp_path):
    error = _refusal(monkeypatch, tmp_path, project="nope")
    assert str(error.message).startswith("error: unknown project 'nope'; known: ")
    assert set(PROJECTS) <= set(str(error.message).split("known: ", 1)[1].split(", "))


@pytest.mark.parametrize(
    ("tag", "registry", "message"),
    [
        ("bad tag", "medai", "error: tag 'bad tag' is not a valid image tag"),
        ("v1", "reg istry", "error: registry 'reg istry' is not a valid"),
        ("v1", "ghcr.io/Org", "error: registry 'ghcr.io/Org' is not a valid"),
    ],
)
def test_bad_image_names_are_refused(monkeypatch, tmp_path, tag, registry, message):
    error = _refusal(monkeypatch, tmp_path, tag=tag, registry=registry)
    assert str(error.message).startswith(message)


@pytest.mark.parametrize("override", ["train.epochs", "=3", "train..epochs=3", " =1"])
def test_overrides_that_are_not_key_value_are_refused(monkeypatch, tmp_path, override):
    error = _refusal(monkeypatch, tmp_path, overrides=["train.epochs=2", override])
    assert error.message == (
        f"error: --set {override!r}: expected the form dotted.key=value, e.g. train.epochs=2"
    )


def test_apply_needs_a_registry_and_a_tag(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    for tag, registry in (("", "ghcr.io/org"), ("v1", ""), ("", "")):
        with pytest.raises(ToolError, match=r"^error: --on=kubernetes --apply needs --registry"):
            check_apply(ROOT, PROJECTS[0], nnodes=2, tag=tag, registry=registry)


@needs_kubectl
def test_apply_with_registry_and_tag_gets_the_manifests_it_pulls():
    text = check_apply(ROOT, PROJECTS[0], nnodes=2, gpus=1, tag="v2", registry="ghcr.io/org")
    assert trainer(documents(text))["image"] == f"ghcr.io/org/{PROJECTS[0]}:v2-train"


def test_a_missing_kubectl_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolError, match=r"^error: kubectl is not on PATH") as info:
        training_manifests(ROOT, PROJECTS[0], nnodes=2, tag="v1", registry="medai")
    assert info.value.code == 2


def _workspace(root: Path, project: str) -> Path:
    """A repo root with this repo's deploy/kubernetes and one project with a train script."""
    shutil.copytree(ROOT / "deploy" / "kubernetes", root / "deploy" / "kubernetes")
    (root / "projects" / project / "scripts").mkdir(parents=True)
    (root / "projects" / project / "pyproject.toml").write_text("[project]\n")
    (root / "projects" / project / "scripts" / "train.py").write_text("")
    return root


@needs_kubectl
def test_the_longest_project_name_keeps_every_pod_hostname_a_dns_label(tmp_path):
    longest = "p" * (63 - len("-trainer-") - len(str(MAX_NNODES - 1)))
    root = _workspace(tmp_path / "ok", longest)
    text = training_manifests(root, longest, nnodes=MAX_NNODES, tag="v1", registry="medai")
    last_pod = f"{only(documents(text), 'Job')['metadata']['name']}-{MAX_NNODES - 1}"
    assert len(last_pod) == 63
    longer = longest + "p"
    root = _workspace(tmp_path / "long", longer)
    with pytest.raises(ToolError, match=rf"'{longer}' cannot prefix Kubernetes names"):
        training_manifests(root, longer, nnodes=1, tag="v1", registry="medai")


def test_a_project_without_a_train_script_is_refused(tmp_path):
    root = _workspace(tmp_path, "demo")
    (root / "projects" / "demo" / "scripts" / "train.py").unlink()
    with pytest.raises(ToolError, match=r"^error: project 'demo' has no scripts/train\.py$"):
        training_manifests(root, "demo", nnodes=1, tag="v1", registry="medai")


# ---- the command line ----------------------------------------------------------------


@needs_kubectl
def test_cli_validates_every_project_on_cpu_and_gpu(capsys):
    assert main(["--all", "--nnodes", "2", "--validate"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sorted(lines) == sorted(
        f"{project} (nnodes=2, gpus={gpus}): valid (Kubernetes 1.31.0)"
        for project in PROJECTS
        for gpus in (0, 2)
    )


@needs_kubectl
def test_cli_prints_the_manifests_of_one_project(capsys):
    project = PROJECTS[0]
    argv = ["--project", project, "--nnodes", "3", "--gpus", "4", "--set", "train.epochs=5"]
    assert main([*argv, "--tag", "v1"]) == 0
    docs = documents(capsys.readouterr().out)
    assert only(docs, "Job")["spec"]["parallelism"] == 3
    container = trainer(docs)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert set_items(container)[-1] == "train.epochs=5"


@needs_kubectl
def test_cli_exits_1_and_names_the_problem_when_the_job_is_invalid(tmp_path, capsys):
    root = _workspace(tmp_path, "demo")
    job = root / "deploy" / "kubernetes" / "training" / "job.yaml"
    job.write_text(job.read_text().replace("completionMode: Indexed", "completionMode: 3"))
    assert main(["--all", "--nnodes", "2", "--gpus", "0", "--validate"], root=root) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "demo (nnodes=2, gpus=0): 1 problem(s)"
    assert out[1].startswith("    Job/demo-trainer: spec.completionMode: ")


@needs_kubectl
def test_cli_exits_1_when_kustomize_fails_on_the_repositorys_manifests(tmp_path, capsys):
    root = _workspace(tmp_path, "demo")
    (root / "deploy" / "kubernetes" / "training" / "service.yaml").unlink()
    assert main(["--project", "demo", "--nnodes", "2"], root=root) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: demo training: kustomize failed: ")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--project", "ct-seg"], "error: --on=kubernetes needs --nnodes=N"),
        (["--project", "nope", "--nnodes", "2"], "error: unknown project 'nope'"),
        (["--project", "ct-seg", "--nnodes", "2", "--gpus", "-2"], "error: --gpus must be 0"),
        (["--project", "ct-seg", "--nnodes", "2", "--set", "epochs"], "error: --set 'epochs'"),
    ],
)
def test_cli_user_errors_exit_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(message)
    assert captured.err.count("\n") == 1
    assert captured.out == ""


def test_the_readme_names_the_files_and_the_command():
    readme = README.read_text()
    for name in ("job.yaml", "service.yaml", "components/gpu", "python -m tools.training_jobs"):
        assert name in readme


@needs_kubectl
def test_cli_refuses_a_kubernetes_version_without_schemas(capsys):
    argv = ["--project", PROJECTS[0], "--nnodes", "2", "--validate", "--kubernetes-version", "9.0"]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("error: kubernetes-validate ")
