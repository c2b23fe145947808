"""The Kubernetes manifests (deploy/kubernetes) as tools/manifests.py renders them per project."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from tools.manifests import (
    ManifestError,
    image_name,
    known_environments,
    main,
    render_manifests,
    secret_name,
    validate_manifests,
)
from tools.projects import known_projects

ROOT = Path(__file__).resolve().parents[1]
PROJECTS = known_projects(ROOT)
ENVS = ("staging", "production")
CASES = [(project, env) for project in PROJECTS for env in ENVS]

needs_kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None and shutil.which("kustomize") is None,
    reason="kubectl (or kustomize) is not on PATH; rendering needs it",
)


@pytest.fixture(scope="module")
def rendered():
    """``(project, env) -> YAML text``, each rendered once for the module."""
    cache: dict[tuple[str, str], str] = {}

    def get(project: str, env: str) -> str:
        if (project, env) not in cache:
            cache[project, env] = render_manifests(ROOT, project, env)
        return cache[project, env]

    return get


def documents(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def only(docs: list[dict], kind: str) -> dict:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def container(deployment: dict, name: str, *, init: bool = False) -> dict:
    spec = deployment["spec"]["template"]["spec"]
    containers = spec["initContainers" if init else "containers"]
    return next(c for c in containers if c["name"] == name)


def env_value(entry: dict, name: str) -> str:
    return next(e["value"] for e in entry.get("env", []) if e["name"] == name)


def test_every_project_of_the_repo_is_covered():
    assert {"ct-seg", "cxr-cls"} <= set(PROJECTS)
    assert known_environments(ROOT) == sorted(ENVS)


@needs_kubectl
@pytest.mark.parametrize(("project", "env"), CASES)
def test_rendered_manifests_are_valid_kubernetes(rendered, project, env):
    text = rendered(project, env)
    kinds = sorted(doc["kind"] for doc in documents(text))
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Service",
    ]
    assert validate_manifests(text) == []


@needs_kubectl
@pytest.mark.parametrize(("project", "env"), CASES)
def test_every_object_is_named_labelled_and_placed_per_project_and_env(rendered, project, env):
    for doc in documents(rendered(project, env)):
        metadata = doc["metadata"]
        assert metadata["name"].startswith(f"{project}-model-server"), metadata["name"]
        assert metadata["namespace"] == f"medai-{env}"
        assert metadata["labels"]["app.kubernetes.io/name"] == project
        assert metadata["labels"]["medai/environment"] == env


@needs_kubectl
@pytest.mark.parametrize(("project", "env"), CASES)
def test_server_probes_ready_and_health_on_the_http_port(rendered, project, env):
    server = container(only(documents(rendered(project, env)), "Deployment"), "server")
    assert server["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert server["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert server["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert server["startupProbe"]["httpGet"]["path"] == "/health"


@needs_kubectl
@pytest.mark.parametrize(("project", "env"), CASES)
def test_both_containers_request_and_limit_cpu_and_memory(rendered, project, env):
    deployment = only(documents(rendered(project, env)), "Deployment")
    for entry in (container(deployment, "server"), container(deployment, "model-init", init=True)):
        for side in ("requests", "limits"):
            assert set(entry["resources"][side]) == {"cpu", "memory"}, (entry["name"], side)


@needs_kubectl
@pytest.mark.parametrize(("project", "env"), CASES)
def test_api_keys_come_from_the_projects_secret_never_from_the_manifests(rendered, project, env):
    docs = documents(rendered(project, env))
    assert "Secret" not in {doc["kind"] for doc in docs}
    deployment = only(docs, "Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["api-keys"]["secret"]["secretName"] == secret_name(project)
    assert secret_name(project) == f"{project}-api-keys"
    for entry in (container(deployment, "server"), container(deployment, "model-init", init=True)):
        mounts = {m["name"]: m for m in entry["volumeMounts"]}
        assert mounts["api-keys"]["readOnly"] is True
        keys_file = Path(env_value(entry, "MEDAI_API_KEYS_FILE"))
        assert keys_file.parent == Path(mounts["api-keys"]["mountPath"])
        assert keys_file.name in {item["path"] for item in volumes["api-keys"]["secret"]["items"]}
        assert "MEDAI_API_KEYS" not in {e["name"] for e in entry["env"]}


@needs_kubectl
@pytest.mark.parametrize(("project", "env"), CASES)
def test_service_and_budget_select_exactly_this_projects_pods(rendered, project, env):
    docs = documents(rendered(project, env))
    deployment = only(docs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selectors = {
        "Deployment": deployment["spec"]["selector"]["matchLabels"],
        "Service": only(docs, "Service")["spec"]["selector"],
        "PodDisruptionBudget": only(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
    }
    for kind, selector in selectors.items():
        assert selector.items() <= pod_labels.items(), kind
        assert selector["app.kubernetes.io/name"] == project, kind
    service = only(docs, "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}
    ]


@needs_kubectl
@pytest.mark.parametrize(("project", "env"), CASES)
def test_autoscaler_targets_the_deployment_by_its_prefixed_name(rendered, project, env):
    docs = documents(rendered(project, env))
    deployment = only(docs, "Deployment")
    hpa = only(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert deployment["metadata"]["name"] == f"{project}-model-server"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    # The autoscaler owns the count; a fixed `replicas` would reset it at every apply.
    assert "replicas" not in deployment["spec"]


@needs_kubectl
@pytest.mark.parametrize("project", PROJECTS)
def test_staging_and_production_differ_in_scale_and_size(rendered, project):
    def sizes(env: str) -> tuple[int, int, dict]:
        docs = documents(rendered(project, env))
        spec = only(docs, "HorizontalPodAutoscaler")["spec"]
        assert 1 <= spec["minReplicas"] <= spec["maxReplicas"]
        server = container(only(docs, "Deployment"), "server")
        return spec["minReplicas"], spec["maxReplicas"], server["resources"]

    staging_min, staging_max, staging_resources = sizes("staging")
    production_min, production_max, production_resources = sizes("production")
    assert staging_min < production_min
    assert staging_max < production_max
    assert production_min >= 2, "production must survive losing a pod"
    assert staging_resources != production_resources


@needs_kubectl
@pytest.mark.parametrize(("project", "env"), CASES)
def test_images_are_the_projects_serve_and_train_images(rendered, project, env):
    deployment = only(documents(rendered(project, env)), "Deployment")
    assert container(deployment, "server")["image"] == f"medai/{project}:latest-serve"
    init = container(deployment, "model-init", init=True)
    assert init["image"] == f"medai/{project}:latest-train"


@needs_kubectl
def test_tag_and_registry_are_applied_to_both_images():
    project = PROJECTS[0]
    text = render_manifests(ROOT, project, "production", tag="abc1234", registry="ghcr.io/org")
    deployment = only(documents(text), "Deployment")
    assert container(deployment, "server")["image"] == "ghcr.io/org/" + project + ":abc1234-serve"
    assert container(deployment, "model-init", init=True)["image"] == image_name(
        project, "train", tag="abc1234", registry="ghcr.io/org"
    )


@needs_kubectl
@pytest.mark.parametrize(("project", "env"), CASES)
def test_config_names_a_project_environment_the_project_and_the_tracking_server(
    rendered, project, env
):
    docs = documents(rendered(project, env))
    config = only(docs, "ConfigMap")
    data = config["data"]
    # MEDAI_ENV must name a config layer the project has, or the server refuses to start.
    assert (ROOT / "projects" / project / "configs" / f"{data['MEDAI_ENV']}.yaml").is_file()
    assert data["MEDAI_PROJECT"] == project
    assert data["MLFLOW_TRACKING_URI"].startswith(("http://", "https://"))
    deployment = only(docs, "Deployment")
    for entry in (container(deployment, "server"), container(deployment, "model-init", init=True)):
        assert entry["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]


@needs_kubectl
@pytest.mark.parametrize(("project", "env"), CASES)
def test_init_container_materializes_the_model_the_server_reads(rendered, project, env):
    deployment = only(documents(rendered(project, env)), "Deployment")
    init = container(deployment, "model-init", init=True)
    server = container(deployment, "server")
    script = " ".join(init["command"] + init["args"])
    assert "python -m medai.containers materialize" in script
    assert "/models/current" in script
    assert env_value(init, "MEDAI__API__MODELS_ROOT") == "/models"
    assert env_value(server, "MEDAI__API__MODEL_DIR") == "/models/current"
    init_mounts = {m["name"]: m for m in init["volumeMounts"]}
    server_mounts = {m["name"]: m for m in server["volumeMounts"]}
    assert init_mounts["models"]["mountPath"] == server_mounts["models"]["mountPath"] == "/models"
    assert server_mounts["models"]["readOnly"] is True
    assert "readOnly" not in init_mounts["models"]


@needs_kubectl
@pytest.mark.parametrize(("project", "env"), CASES)
def test_pods_run_as_the_images_user_on_a_read_only_root(rendered, project, env):
    deployment = only(documents(rendered(project, env)), "Deployment")
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == pod["runAsGroup"] == 10001
    for entry in (container(deployment, "server"), container(deployment, "model-init", init=True)):
        assert entry["securityContext"]["readOnlyRootFilesystem"] is True
        assert entry["securityContext"]["allowPrivilegeEscalation"] is False
        assert "/tmp" in {m["mountPath"] for m in entry["volumeMounts"]}  # noqa: S108


# ---- validate_manifests on hand-made documents (no kubectl needed) -------------------

SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "demo"},
    "spec": {"selector": {"app": "demo"}, "ports": [{"port": 80, "targetPort": 8000}]},
}


def test_a_valid_document_has_no_problem():
    assert validate_manifests(yaml.safe_dump(SERVICE)) == []


def test_a_wrong_field_type_is_reported_with_kind_name_and_field():
    broken = {**SERVICE, "spec": {**SERVICE["spec"], "ports": [{"port": "eighty"}]}}
    (problem,) = validate_manifests(yaml.safe_dump(broken))
    assert problem.startswith("Service/demo: spec.ports.0.port: ")
    assert "eighty" in problem


def test_an_unknown_field_is_reported_in_strict_mode():
    broken = {**SERVICE, "spec": {**SERVICE["spec"], "readinesProbe": {}}}
    (problem,) = validate_manifests(yaml.safe_dump(broken))
    assert problem.startswith("Service/demo: ")
    assert "readinesProbe" in problem


def test_each_broken_document_of_a_stream_is_reported():
    wrong_type = {**SERVICE, "metadata": {"name": "first"}, "spec": {"type": 3}}
    unknown_kind = {"apiVersion": "v1", "kind": "Gadget", "metadata": {"name": "g"}}
    text = yaml.safe_dump_all([SERVICE, wrong_type, unknown_kind, ["not", "a", "mapping"]])
    problems = validate_manifests(text)
    assert [p.split(":")[0] for p in problems] == ["Service/first", "Gadget/g", "document 4"]


def test_text_that_is_not_yaml_is_a_problem():
    (problem,) = validate_manifests("kind: [unclosed")
    assert problem.startswith("not YAML: ")


def test_an_unsupported_kubernetes_version_is_refused():
    with pytest.raises(ManifestError, match=r"no schemas for Kubernetes 9\.0"):
        validate_manifests(yaml.safe_dump(SERVICE), kubernetes_version="9.0")


@needs_kubectl
def test_a_broken_deployment_from_the_renderer_is_reported(rendered):
    project = PROJECTS[0]
    docs = documents(rendered(project, "staging"))
    deployment = only(docs, "Deployment")
    server = container(deployment, "server")
    server["livenessProbe"]["periodSeconds"] = "often"
    problems = validate_manifests(yaml.safe_dump_all(docs))
    field = "spec.template.spec.containers.0.livenessProbe.periodSeconds"
    (problem,) = problems
    assert problem.startswith(
        f"Deployment/{project}-model-server: {field}: 'often' is not of type 'integer'"
    )


# ---- refusals ------------------------------------------------------------------------


def test_an_unknown_environment_is_refused_naming_the_known_ones():
    with pytest.raises(ManifestError, match=r"^unknown environment 'dev'; expected one of "):
        render_manifests(ROOT, PROJECTS[0], "dev")


def test_an_unknown_project_is_refused_naming_the_known_ones():
    with pytest.raises(ManifestError, match=r"^unknown project 'nope'; known: ") as info:
        render_manifests(ROOT, "nope", "staging")
    known = str(info.value).split("known: ", 1)[1].split(", ")
    assert {"ct-seg", "cxr-cls"} <= set(known)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("tag", "registry", "message"),
    [
        ("bad tag", "medai", "tag 'bad tag'"),
        ("v1", "reg istry", "registry 'reg istry'"),
        ("v1", "ghcr.io/Org", "registry 'ghcr.io/Org'"),
    ],
)
def test_bad_image_names_are_refused(tag, registry, message):
    with pytest.raises(ManifestError, match=message):
        render_manifests(ROOT, PROJECTS[0], "staging", tag=tag, registry=registry)


def test_a_missing_kubectl_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ManifestError, match=r"^kubectl is not on PATH"):
        render_manifests(ROOT, PROJECTS[0], "staging")


def _workspace(root: Path, project: str) -> Path:
    """A repo root with this repo's deploy/kubernetes and one empty project folder."""
    shutil.copytree(ROOT / "deploy" / "kubernetes", root / "deploy" / "kubernetes")
    (root / "projects" / project).mkdir(parents=True)
    (root / "projects" / project / "pyproject.toml").write_text("[project]\n")
    return root


def test_a_project_name_kubernetes_cannot_use_is_refused(tmp_path):
    root = _workspace(tmp_path, "Demo_Project")
    with pytest.raises(ManifestError, match=r"'Demo_Project' cannot prefix Kubernetes names"):
        render_manifests(root, "Demo_Project", "staging")


# ---- the command line ----------------------------------------------------------------


@needs_kubectl
def test_cli_validates_every_project_and_env(capsys):
    assert main(["--all", "--validate"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sorted(lines) == sorted(
        f"{project}/{env}: valid (Kubernetes 1.31.0)" for project, env in CASES
    )


@needs_kubectl
def test_cli_prints_the_manifests_of_one_project(capsys):
    project = PROJECTS[0]
    assert main(["--project", project, "--env", "production"]) == 0
    docs = documents(capsys.readouterr().out)
    assert only(docs, "Deployment")["metadata"]["namespace"] == "medai-production"


@needs_kubectl
def test_cli_exits_1_and_names_the_problem_when_a_manifest_is_invalid(tmp_path, capsys):
    root = _workspace(tmp_path, "demo")
    service = root / "deploy" / "kubernetes" / "base" / "service.yaml"
    service.write_text(service.read_text().replace("type: ClusterIP", "type: 80\n  colour: blue"))
    assert main(["--all", "--validate", "--env", "staging"], root=root) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "demo/staging: 1 problem(s)"
    assert out[1].startswith("    Service/demo-model-server: spec")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--project", "nope", "--env", "staging"], "error: unknown project 'nope'"),
        (["--project", "ct-seg"], "error: --env is required with --project"),
        (["--project", "ct-seg", "--env", "qa"], "error: unknown environment 'qa'"),
    ],
)
def test_cli_user_errors_exit_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_cli_needs_a_project_or_all(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--env", "staging"])
    assert info.value.code == 2
    assert "one of the arguments --project --all is required" in capsys.readouterr().err


def test_the_model_version_is_a_pod_annotation_so_a_promotion_rolls_the_pods():
    project = PROJECTS[0]
    without = render_manifests(ROOT, project, "staging")
    with_version = render_manifests(ROOT, project, "staging", model_version="12")
    assert "medai/model-version" not in without
    deployment = next(
        d for d in yaml.safe_load_all(with_version) if d and d["kind"] == "Deployment"
    )
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["medai/model-version"] == "12"
    assert validate_manifests(with_version) == []
