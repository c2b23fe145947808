"""Fixtures of the segmentation kit's tests: sphere volumes, a small trained UNet, a project.

Nothing mocks the work away: volumes are real arrays with real affines, the network is
trained for a few steps, and the demo project is a monorepo folder in ``tmp_path`` with
its own configs and a data source that writes NIfTI spheres in the MSD layout.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from medai.io import Volume, write_nifti
from medai.project import ProjectBinding
from medai.segmentation.data import GeneratedData, SegmentationData, load_or_generate
from medai.segmentation.networks import UNetSegmentationNetwork
from medai.segmentation.project import SegmentationProject
from medai.segmentation.settings import (
    DecathlonDataSettings,
    ModelSettings,
    SegmentationSettings,
)
from medai.testing import DemoProject, TrainedDemo, train_demo, write_demo_repo

with warnings.catch_warnings():
    # Starlette asks for httpx2 in its TestClient; scoped to this import only.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

SMALL = ModelSettings(channels=(4, 8, 16), strides=(2, 2), num_res_units=1, norm="batch")
TRAIN_STEPS = 30
DEMO = "sphere-seg"


def sphere_volume(shape, affine, radius=12.0, seed=0, noise=60.0) -> tuple[Volume, np.ndarray]:
    """A bright sphere (150) in a dark background (-150), centred in world space, with noise."""
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), axis=-1)
    world = grid @ affine[:3, :3].T + affine[:3, 3]
    centre = np.asarray(shape) / 2 @ affine[:3, :3].T + affine[:3, 3]
    inside = np.linalg.norm(world - centre, axis=-1) < radius
    noisy = np.random.default_rng(seed).normal(0.0, noise, size=shape) if noise else 0.0
    intensities = np.where(inside, 150.0, -150.0) + noisy
    return Volume(intensities.astype(np.float32), affine), inside


@pytest.fixture(autouse=True)
def _never_the_users_store(tmp_path, monkeypatch) -> None:
    """Any code path that reaches MLflow without explicit settings lands in ``tmp_path``."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'guard-mlflow.db'}")
    monkeypatch.delenv("MEDAI_ENV", raising=False)


@pytest.fixture
def test_client():
    """FastAPI's ``TestClient`` class (imported here, once, without Starlette's warning)."""
    return TestClient


@pytest.fixture
def make_sphere():
    """``make_sphere(shape, affine, radius=12, seed=0, noise=60)`` -> (volume, truth mask)."""
    return sphere_volume


def _training_batch(rng: np.random.Generator, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for _ in range(2):
        radius = rng.uniform(4.0, 12.0)
        centre = rng.uniform(8.0, size - 8.0, size=3)
        grid = np.stack(np.meshgrid(*[np.arange(size)] * 3, indexing="ij"), axis=-1)
        inside = np.linalg.norm(grid - centre, axis=-1) < radius
        hu = np.where(inside, 150.0, -150.0) + rng.normal(0.0, 60.0, size=inside.shape)
        images.append(np.clip((hu + 200.0) / 500.0, 0.0, 1.0)[np.newaxis])
        labels.append(inside)
    return (
        torch.from_numpy(np.stack(images).astype(np.float32)),
        torch.from_numpy(np.stack(labels).astype(np.int64)),
    )


def _adam_step(params, moments, step, *, lr=1e-2, betas=(0.9, 0.999), eps=1e-8):
    """Plain Adam: ``torch.optim`` would import torch._dynamo, ~10 s on a cold start."""
    with torch.no_grad():
        for param, (mean, square) in zip(params, moments, strict=True):
            mean.mul_(betas[0]).add_(param.grad, alpha=1 - betas[0])
            square.mul_(betas[1]).addcmul_(param.grad, param.grad, value=1 - betas[1])
            mean_hat = mean / (1 - betas[0] ** step)
            square_hat = square / (1 - betas[1] ** step)
            param.sub_(lr * mean_hat / (square_hat.sqrt() + eps))
            param.grad = None


@pytest.fixture(scope="session")
def trained_unet() -> torch.nn.Module:
    """A small UNet trained briefly on noisy spheres, so its masks are neither empty nor full.

    Its inputs are intensities windowed from [-200, 300] (the default window) to [0, 1].
    """
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    network = UNetSegmentationNetwork(SMALL, num_classes=2).exportable()
    params = [p for p in network.parameters() if p.requires_grad]
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    network.train()
    # One thread: tiny convolutions gain nothing from more, and on a busy machine the
    # spinning worker threads made the same 30 steps ten times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for step in range(1, TRAIN_STEPS + 1):
            images, labels = _training_batch(rng)
            torch.nn.functional.cross_entropy(network(images), labels).backward()
            _adam_step(params, moments, step)
    finally:
        torch.set_num_threads(threads)
    return network.eval()


@pytest.fixture(scope="session")
def onnx_path(trained_unet, tmp_path_factory) -> Path:
    """``trained_unet`` exported to ONNX with the kit's graph names and free axes."""
    from medai.export import export_onnx  # noqa: PLC0415
    from medai.segmentation.registry import ONNX_GRAPH  # noqa: PLC0415

    path = tmp_path_factory.mktemp("onnx") / "sphere.onnx"
    return export_onnx(trained_unet, path, torch.zeros(1, 1, 32, 32, 32), ONNX_GRAPH)


# ----------------------------------------------------------------------------- a demo project


class SphereData(DecathlonDataSettings):
    n_cases: int = 4
    edge: int = 20


class SphereSettings(SegmentationSettings):
    data: SphereData = SphereData()


def write_spheres(root: Path, n_cases: int, edge: int, seed: int) -> None:
    """An MSD-layout dataset of noisy spheres (label 1), ``dataset.json`` written last."""
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    training = []
    for index in range(n_cases):
        volume, inside = sphere_volume(
            (edge, edge, edge), affine, radius=10.0 + index, seed=seed + index
        )
        name = f"sphere_{index:03d}.nii.gz"
        write_nifti(root / "imagesTr" / name, volume.array, affine)
        write_nifti(root / "labelsTr" / name, inside.astype(np.uint8), affine, dtype=np.uint8)
        training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
    meta = {
        "name": "Spheres",
        "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "sphere"},
        "numTraining": n_cases,
        "training": training,
    }
    (root / "dataset.json").write_text(json.dumps(meta), encoding="utf-8")


def prepare_spheres(
    settings: SphereSettings, binding: ProjectBinding[SphereSettings]
) -> SegmentationData:
    data = settings.data
    generated = GeneratedData(
        prefix="spheres",
        key=[settings.seed, data.n_cases, data.edge],
        write=lambda root: write_spheres(root, data.n_cases, data.edge, settings.seed),
    )
    return load_or_generate(binding, settings, data, generated)


BASE_YAML = f"""\
project: {DEMO}
seed: 3
docker:
  image: medai/{DEMO}
preprocessing:
  target_spacing: [2.0, 2.0, 2.0]
  patch_size: [16, 16, 16]
model:
  channels: [4, 8, 16]
  strides: [2, 2]
  num_res_units: 1
"""


def make_demo_project(root: Path) -> DemoProject[SphereSettings]:
    package = write_demo_repo(root, DEMO, "sphere_seg", BASE_YAML)
    binding = ProjectBinding(package, SphereSettings)
    project = SegmentationProject(
        binding, prepare_spheres, modality="PET", target="a bright sphere"
    )
    return DemoProject(root, project)


@pytest.fixture
def demo(tmp_path) -> DemoProject:
    """A segmentation project ``sphere-seg`` in a monorepo folder under ``tmp_path``."""
    return make_demo_project(tmp_path / "repo")


@pytest.fixture(scope="session")
def trained_demo(tmp_path_factory) -> TrainedDemo[SphereSettings]:
    """The demo project trained for 2 epochs into a throwaway MLflow store, then evaluated."""
    from medai.segmentation.evaluation import evaluate  # noqa: PLC0415 - heavy: MLflow
    from medai.segmentation.training import train  # noqa: PLC0415

    root = tmp_path_factory.mktemp("pipeline")
    shrink = [
        "train.epochs=2",
        "train.val_every=1",
        "evaluate.bootstrap_resamples=200",
        "evaluate.overlay_cases=1",
    ]
    return train_demo(make_demo_project(root / "repo"), root, train, evaluate, *shrink)
