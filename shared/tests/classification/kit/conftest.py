"""Fixtures of the classification kit's pipeline tests: a demo project on real files.

Nothing mocks the work away: the demo project ``shape-cls`` is a monorepo folder in
``tmp_path`` with its own configs and a data source that writes PNG and DICOM DX files
and a CheXpert-layout ``labels.csv``; training, registration and evaluation run for
real into a throwaway MLflow store.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import Field
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

from medai.classification.data import ClassificationData, load_radiograph_data
from medai.classification.project import ClassificationProject
from medai.classification.settings import ClassificationSettings, RadiographDataSettings
from medai.project import ProjectBinding
from medai.testing import (
    DemoProject,
    TrainedDemo,
    start_test_client,
    train_demo,
    write_demo_repo,
)

with warnings.catch_warnings():
    # Starlette asks for httpx2 in its TestClient; scoped to this import only.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

DEMO = "shape-cls"
LABELS = ("square", "bar")
EDGE = 40
SQUARE = 10


class ShapeData(RadiographDataSettings):
    labels: tuple[str, ...] = Field(default=LABELS, min_length=1)
    n_patients: int = 24


class ShapeSettings(ClassificationSettings):
    data: ShapeData = ShapeData()


def shape_image(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """An 8-bit radiograph-like image: noise, a bright square (label 0), a bar (label 1)."""
    image = rng.uniform(20, 80, (EDGE, EDGE))
    if labels[0] == 1:
        row, col = (int(v) for v in rng.integers(3, EDGE - SQUARE - 3, 2))
        image[row : row + SQUARE, col : col + SQUARE] = 230
    if labels[1] == 1:
        row = int(rng.integers(3, EDGE - 6))
        image[row : row + 4, :] = np.maximum(image[row : row + 4, :], 170)
    return image.astype(np.uint8)


def dicom_bytes(pixels: np.ndarray, *, monochrome1: bool = False, modality: str = "DX") -> bytes:
    """A DX DICOM file (12-bit stored values, a window) holding ``pixels`` (uint8, 255 bright)."""
    shown = 255 - pixels if monochrome1 else pixels
    stored = (shown.astype(np.uint16) * 16).astype(np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    dataset.SOPClassUID = meta.MediaStorageSOPClassUID
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.Modality = modality
    dataset.PatientName = "Doe^Jane"
    dataset.PatientID = "PHI-123456"
    dataset.Rows, dataset.Columns = stored.shape
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 12, 11
    dataset.PixelRepresentation = 0
    dataset.PixelSpacing = [0.5, 0.5]
    dataset.PixelData = stored.tobytes()
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def write_shapes(root: Path, n_patients: int, seed: int) -> Path:
    """A CheXpert-layout dataset of shape images: 2 per patient, every fifth one a DICOM."""
    rng = np.random.default_rng(seed)
    rows = []
    for patient in range(n_patients):
        folder = root / "images" / f"patient{patient:05d}"
        folder.mkdir(parents=True)
        for study in range(2):
            labels = rng.integers(0, 2, 2)
            pixels = shape_image(rng, labels)
            if (2 * patient + study) % 5 == 0:
                path = folder / f"study{study + 1}.dcm"
                path.write_bytes(dicom_bytes(pixels, monochrome1=bool(patient % 2)))
            else:
                path = folder / f"study{study + 1}.png"
                path.write_bytes(png_bytes(pixels))
            cells = [f"{float(v):.1f}" for v in labels]
            if patient == 1 and study == 0:
                cells[1] = "-1.0"  # uncertain: unknown under the default 'ignore' policy
            rows.append([path.relative_to(root).as_posix(), *cells])
    with (root / "labels.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Path", *LABELS])
        writer.writerows(rows)
    return root


def prepare_shapes(
    settings: ShapeSettings, binding: ProjectBinding[ShapeSettings]
) -> ClassificationData:
    def sample(raw: Path) -> Path:
        folder = raw / "shapes"
        if not (folder / "labels.csv").is_file():
            write_shapes(folder, settings.data.n_patients, settings.seed)
        return folder

    return load_radiograph_data(binding, settings, settings.data, sample)


BASE_YAML = f"""\
project: {DEMO}
seed: 3
docker:
  image: medai/{DEMO}
preprocessing:
  image_size: 32
model:
  init_features: 8
  growth_rate: 8
  block_config: [2, 2]
train:
  epochs: 4
  batch_size: 16
  learning_rate: 0.003
  augment: false
  torch_threads: 1
  read_threads: 2
evaluate:
  bootstrap_resamples: 200
  cam_cases: 3
"""


def make_demo_project(root: Path) -> DemoProject[ShapeSettings]:
    package = write_demo_repo(root, DEMO, "shape_cls", BASE_YAML)
    binding = ProjectBinding(package, ShapeSettings)
    findings = {"square": "a bright square", "bar": "a horizontal bar"}
    project = ClassificationProject(binding, prepare_shapes, "shape picture", findings)
    return DemoProject(root, project)


@pytest.fixture(autouse=True)
def _never_the_users_store(tmp_path, monkeypatch) -> None:
    """Any code path that reaches MLflow without explicit settings lands in ``tmp_path``."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'guard-mlflow.db'}")
    monkeypatch.delenv("MEDAI_ENV", raising=False)


@pytest.fixture
def demo(tmp_path) -> DemoProject:
    """A classification project ``shape-cls`` in a monorepo folder under ``tmp_path``."""
    return make_demo_project(tmp_path / "repo")


@pytest.fixture
def test_client():
    """FastAPI's ``TestClient`` class (imported here, once, without Starlette's warning)."""
    return TestClient


@pytest.fixture
def make_dicom():
    """``make_dicom(pixels_uint8, monochrome1=False, modality="DX")`` -> DICOM file bytes."""
    return dicom_bytes


@pytest.fixture
def start():
    """``start(test_client, app)`` -> a started client; the caller exits it."""
    return start_test_client


@pytest.fixture(scope="session")
def trained_demo(tmp_path_factory) -> TrainedDemo[ShapeSettings]:
    """The demo project trained for 4 epochs into a throwaway MLflow store, then evaluated."""
    from medai.classification.evaluation import evaluate  # noqa: PLC0415 - heavy: MLflow
    from medai.classification.training_run import train  # noqa: PLC0415

    root = tmp_path_factory.mktemp("pipeline")
    return train_demo(make_demo_project(root / "repo"), root, train, evaluate)
