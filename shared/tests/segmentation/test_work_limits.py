"""A volume whose header declares huge voxels is refused before any work, at every entry point.

8^3 voxels declared 100 mm apart are 86 bytes of NIfTI but 468^3 voxels at 1.5 mm: the
server, the torch segmenter, ``predict``, evaluation and data loading all plan the work
from the header and refuse it with the limit's name, in milliseconds and megabytes.
"""

from __future__ import annotations

import re
import shutil
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from medai.config.sections import WorkLimits
from medai.inference import WorkLimitError
from medai.io import Volume, read_nifti, write_nifti
from medai.segmentation.cli import project_commands
from medai.segmentation.onnx_segmenter import OnnxSegmenter
from medai.segmentation.segmenter import Segmenter
from medai.segmentation.serving.app import app_factory
from medai.segmentation.serving.predict import predict_router
from medai.segmentation.settings import InferenceSettings, PreprocessingSettings
from medai.segmentation.transforms import IMAGE, LABEL, validation_transforms
from medai.serving import ModelCard, write_bundle
from medai.testing import start_test_client

PREP = PreprocessingSettings(patch_size=(32, 32, 32))
INFERENCE = InferenceSettings(sw_batch_size=2, overlap=0.25)
HUGE_SPACINGS = [100.0, 1e4, 1e30]
MEGABYTE = 1 << 20


def huge_voxels(spacing: float, edge: int = 8) -> Volume:
    """A tiny volume whose voxels are ``spacing`` mm apart (the hostile header)."""
    return Volume(np.zeros((edge,) * 3, np.float32), np.diag([spacing, spacing, spacing, 1.0]))


class ThresholdNet(torch.nn.Module):
    """Two classes from the windowed intensity; never reached when the plan is refused."""

    num_classes = 2

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        foreground = (image > 0.5).float()
        return torch.cat([1 - foreground, foreground], dim=1)


@contextmanager
def traced_peak() -> Iterator[Callable[[], int]]:
    """Peak bytes numpy and Python allocated inside the block (tracemalloc), read after it."""
    peak = [0]
    tracemalloc.start()
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    try:
        yield lambda: peak[0]
    finally:
        peak[0] = tracemalloc.get_traced_memory()[1] - start
        tracemalloc.stop()


def _status_kb(field: str) -> int:
    text = Path("/proc/self/status").read_text(encoding="utf-8")
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    assert match, f"/proc/self/status has no {field}"
    return int(match.group(1))


@contextmanager
def resident_peak() -> Iterator[Callable[[], int]]:
    """Growth of the process's peak resident memory inside the block (Linux: VmHWM).

    Writing 5 to ``/proc/self/clear_refs`` resets the peak to the current size, so the
    figure is what the block itself added, whatever ran before in this process.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="utf-8")
    except OSError as exc:
        pytest.skip(f"cannot reset the peak resident size here ({exc.strerror})")
    grown = [0]
    start = _status_kb("VmRSS")
    try:
        yield lambda: grown[0]
    finally:
        grown[0] = (_status_kb("VmHWM") - start) * 1024


@pytest.fixture(scope="module")
def onnx_segmenter(onnx_path) -> OnnxSegmenter:
    return OnnxSegmenter(onnx_path, PREP, INFERENCE, intra_op_threads=1)


@pytest.mark.parametrize("spacing", HUGE_SPACINGS)
def test_the_onnx_segmenter_refuses_huge_voxels_before_allocating(onnx_segmenter, spacing):
    volume = huge_voxels(spacing)

    started = time.perf_counter()
    with traced_peak() as peak, pytest.raises(WorkLimitError) as caught:
        onnx_segmenter.segment(volume)

    assert time.perf_counter() - started < 0.5
    assert peak() < MEGABYTE
    assert caught.value.limit in {"limits.max_windows", "limits.max_grid_voxels"}
    assert caught.value.reason.endswith(f"({caught.value.limit})")


@pytest.mark.parametrize("spacing", HUGE_SPACINGS)
def test_the_torch_segmenter_refuses_huge_voxels_before_monai_runs(spacing):
    segmenter = Segmenter(ThresholdNet(), PREP, INFERENCE)

    with traced_peak() as peak, pytest.raises(WorkLimitError):
        segmenter.segment(huge_voxels(spacing))

    assert peak() < MEGABYTE


def test_limits_come_from_the_caller(onnx_segmenter, onnx_path, make_sphere):
    volume, _ = make_sphere((40, 40, 40), np.diag([1.5, 1.5, 1.5, 1.0]))
    onnx_segmenter.segment(volume)  # 2 x 2 x 2 windows: within the defaults
    strict = OnnxSegmenter(onnx_path, PREP, INFERENCE, limits=WorkLimits(max_windows=7))

    with pytest.raises(WorkLimitError, match=r"= 8 windows; the limit is 7 windows"):
        strict.segment(volume)


GEOMETRIES = {
    "downsampled": ((90, 80, 60), np.diag([0.8, 0.8, 0.8, 1.0])),
    "upsampled": ((30, 30, 30), np.diag([3.0, 3.0, 3.0, 1.0])),
    "reoriented-anisotropic": (
        (70, 60, 30),
        np.array([[-0.8, 0, 0, 40.0], [0, -1.1, 0, 20.0], [0, 0, 2.5, -30.0], [0, 0, 0, 1]]),
    ),
    "already-at-1.5-mm": ((60, 50, 40), np.diag([1.5, 1.5, 1.5, 1.0])),
    "thin-slab": ((6, 6, 200), np.diag([12.0, 12.0, 0.5, 1.0])),
}


@pytest.mark.parametrize("geometry", GEOMETRIES.values(), ids=GEOMETRIES.keys())
def test_the_memory_estimate_bounds_what_the_onnx_path_really_holds(
    onnx_segmenter, make_sphere, geometry
):
    volume, _ = make_sphere(*geometry)
    peak = onnx_segmenter.plan(volume).peak()
    assert peak is not None
    estimate = peak.nbytes - volume.array.nbytes  # the input exists before the call

    with traced_peak() as measured:
        onnx_segmenter.segment(volume)

    assert measured() <= estimate * 1.05 + 0.5 * MEGABYTE, peak.what
    assert estimate <= measured() * 1.5 + MEGABYTE, "the estimate is far too pessimistic"


# ----------------------------------------------------------------------------- the server


@pytest.fixture
def served(demo, onnx_path, test_client):
    """``create(environ)`` -> a started client of the factory's app on the real ONNX model."""
    card = ModelCard(
        name="sphere-seg",
        version="2",
        extra={"preprocessing": PREP.model_dump(mode="json"), "labels": {"0": "bg", "1": "s"}},
    )
    model_dir = write_bundle(demo.root / "models" / "sphere-seg" / "2", card, onnx_path).folder
    create = app_factory(demo.project, routers=[predict_router(demo.project)])
    clients = []

    def start(**environ: str):
        app = create(
            {"MEDAI_ENV": "development", "MEDAI__API__MODEL_DIR": str(model_dir), **environ}
        )
        client = start_test_client(test_client, app)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def nifti_upload(volume: Volume, path: Path) -> dict[str, tuple[str, bytes]]:
    written = write_nifti(path, volume.array, volume.affine)
    return {"file": ("scan.nii.gz", written.read_bytes())}


def test_the_server_answers_413_naming_the_limit_within_50_mb(served, tmp_path):
    client = served()
    files = nifti_upload(huge_voxels(100.0), tmp_path / "hostile.nii.gz")
    assert len(files["file"][1]) < 200  # gzip: a header and 8^3 zeros

    with resident_peak() as grown:
        started = time.perf_counter()
        response = client.post("/v1/predict", files=files)
        elapsed = time.perf_counter() - started

    assert response.status_code == 413, response.text
    body = response.json()
    assert body["error"]["code"] == "work_limit_exceeded"
    assert "468 x 468 x 468 grid" in body["error"]["message"]
    assert body["error"]["message"].endswith("(limits.max_windows)")
    assert "hostile" not in response.text
    assert grown() < 50 * MEGABYTE
    assert elapsed < 2.0


def test_the_server_reads_its_limits_from_the_config(served, make_sphere, tmp_path):
    client = served(MEDAI__LIMITS__MAX_GRID_VOXELS="1000")
    volume, _ = make_sphere((20, 20, 20), np.diag([1.5, 1.5, 1.5, 1.0]))

    response = client.post("/v1/predict", files=nifti_upload(volume, tmp_path / "s.nii.gz"))

    assert response.status_code == 413
    assert response.json()["error"]["message"] == (
        "reorienting to RAS gives a grid of 20 x 20 x 20 = 8,000 voxels; "
        "the limit is 1,000 voxels (limits.max_grid_voxels)"
    )


# ----------------------------------------------------------------------- loading training data


def test_a_case_with_huge_voxels_is_refused_when_loaded_naming_its_file(tmp_path):
    volume = huge_voxels(1e4)
    image = write_nifti(tmp_path / "case_001.nii.gz", volume.array, volume.affine)
    label = write_nifti(
        tmp_path / "case_001_label.nii.gz", np.zeros((8, 8, 8), np.uint8), volume.affine
    )

    with pytest.raises(Exception) as caught:  # noqa: PT011 - MONAI wraps what a transform raises
        validation_transforms(PREP, [0, 1])({IMAGE: str(image), LABEL: str(label)})

    chain = [caught.value, caught.value.__cause__, caught.value.__context__]
    refusal = next(error for error in chain if isinstance(error, WorkLimitError))
    assert str(refusal).startswith(f"{image}: resampling to 1.5 x 1.5 x 1.5 mm spacing")


# ----------------------------------------------------------------- predict and evaluate commands


def write_hostile_dataset(source: Path, target: Path, spacing: float) -> None:
    """A copy of an MSD dataset whose every case declares ``spacing`` mm voxels."""
    shutil.copytree(source, target)
    for image in [*target.glob("imagesTr/*.nii.gz"), *target.glob("labelsTr/*.nii.gz")]:
        original = read_nifti(image)
        write_nifti(image, original.array[:8, :8, :8], np.diag([spacing, spacing, spacing, 1.0]))


@pytest.mark.integration
def test_predict_refuses_huge_voxels_in_one_line_naming_the_file(
    trained_demo, tmp_path, monkeypatch, capsys
):
    demo, settings = trained_demo.demo, trained_demo.settings
    monkeypatch.setenv("MLFLOW_TRACKING_URI", str(settings.tracking.uri))
    volume = huge_voxels(1e4)
    source = write_nifti(tmp_path / "hostile.nii.gz", volume.array, volume.affine)
    commands = project_commands(demo.project, "sphere_seg.api.main:create_app")

    status = commands.predict(
        ["--set", f"tracking.uri={settings.tracking.uri}", str(source), str(tmp_path / "m.nii.gz")]
    )

    # Other lines (a WARNING that the challenger stands in for a champion) may precede it.
    (error,) = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert status == 2
    assert error.startswith(f"error: {source}: resampling to 2 x 2 x 2 mm spacing gives a grid")
    assert error.endswith("(limits.max_grid_voxels)")
    assert not (tmp_path / "m.nii.gz").exists()


@pytest.mark.integration
def test_evaluation_refuses_a_case_with_huge_voxels_naming_its_image(trained_demo, tmp_path):
    from medai.segmentation.evaluation import evaluate  # noqa: PLC0415 - heavy: MLflow

    demo, settings = trained_demo.demo, trained_demo.settings
    dataset = demo.project.load_data(settings).dataset.root
    write_hostile_dataset(dataset, tmp_path / "hostile-spheres", 1e4)
    hostile = demo.binding.load(
        [
            f"tracking.uri={settings.tracking.uri}",
            f"data.dataset_dir={tmp_path / 'hostile-spheres'}",
        ],
        environ={},
    )

    with pytest.raises(WorkLimitError) as caught:
        evaluate(demo.project, hostile, record=False)

    assert caught.value.path.parent == tmp_path / "hostile-spheres" / "imagesTr"
    assert caught.value.limit == "limits.max_grid_voxels"
