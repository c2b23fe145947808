"""The kit's server: a volume in, a mask or a summary out; models loaded from their folder."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nibabel.testing import data_path

from medai.io import Volume, read_nifti, write_nifti
from medai.segmentation.serving.app import api_description, app_factory
from medai.segmentation.serving.model import (
    SegmentationServedModel,
    labels_of,
    model_loaders,
    settings_from_card,
)
from medai.segmentation.serving.predict import predict_router
from medai.segmentation.serving.response import nifti_gz_bytes, summarize
from medai.segmentation.settings import PreprocessingSettings
from medai.serving import BundleError, ModelCard, ServingSettings, create_app, write_bundle
from medai.testing import start_test_client

AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
CARD = ModelCard(name="sphere-seg", version="4", extra={"labels": {"0": "background", "1": "x"}})


def threshold(volume: Volume) -> np.ndarray:
    """A stand-in model: everything brighter than 0 is label 1."""
    return (volume.array > 0).astype(np.uint8)


@pytest.fixture
def client(demo, test_client):
    served = SegmentationServedModel(CARD, labels_of(CARD), threshold)
    app = create_app(
        title="spheres",
        version="1",
        settings=ServingSettings(),
        load_model=lambda: served,
        routers=[predict_router(demo.project)],
    )
    client = start_test_client(test_client, app)
    yield client
    client.__exit__(None, None, None)


def upload(path: Path) -> dict[str, tuple[str, bytes]]:
    return {"file": (path.name, path.read_bytes())}


def test_predict_returns_the_mask_on_the_input_grid(client, make_sphere, tmp_path):
    volume, truth = make_sphere((20, 18, 16), AFFINE, radius=10.0, noise=0)
    path = write_nifti(tmp_path / "scan.nii.gz", volume.array, AFFINE)

    response = client.post("/v1/predict", files=upload(path))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/gzip"
    assert response.headers["x-model-version"] == "4"
    mask = nib.Nifti1Image.from_bytes(gzip.decompress(response.content))
    np.testing.assert_allclose(mask.affine, AFFINE)
    np.testing.assert_array_equal(np.asarray(mask.dataobj), truth.astype(np.uint8))


def test_predict_as_json_summarises_each_structure(client, make_sphere, tmp_path):
    volume, truth = make_sphere((20, 18, 16), AFFINE, radius=10.0, noise=0)
    path = write_nifti(tmp_path / "scan.nii.gz", volume.array, AFFINE)

    summary = client.post("/v1/predict", files=upload(path), params={"format": "json"}).json()

    assert summary["model_name"] == "sphere-seg"
    assert summary["shape"] == [20, 18, 16]
    (structure,) = summary["structures"]
    assert structure["name"] == "x"
    assert structure["voxels"] == int(truth.sum())
    assert structure["volume_ml"] == pytest.approx(truth.sum() * 8 / 1000, rel=1e-3)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not an image at all, just text" * 10, 415, "unsupported_media_type"),
        ((Path(data_path) / "example4d.nii.gz").read_bytes(), 422, "invalid_dimensions"),
    ],
    ids=["text", "4d-nifti"],
)
def test_bad_uploads_get_their_4xx(client, body, status, code):
    response = client.post("/v1/predict", files={"file": ("upload.bin", body)})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_the_route_summary_names_the_modality(client):
    operation = client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]
    assert operation["summary"] == "Segment a PET volume"


def test_summary_skips_background_and_reports_absent_structures():
    mask = np.zeros((4, 4, 4), np.uint8)
    mask[1:3, 1:3, 1:3] = 1
    volume = Volume(np.zeros((4, 4, 4), np.float32), np.diag([1.0, 2.0, 3.0, 1.0]))

    summary = summarize(mask, volume, {0: "bg", 1: "organ", 2: "lesion"}, "m", "1")

    organ, lesion = summary.structures
    assert (organ.voxels, organ.volume_ml) == (8, 0.048)
    assert organ.bounding_box.min_index == (1, 1, 1)
    assert organ.bounding_box.max_index == (2, 2, 2)
    assert (lesion.voxels, lesion.bounding_box) == (0, None)


def test_mask_bytes_carry_the_affine_in_qform_and_sform():
    affine = np.array([[0, -1.5, 0, 10], [2.0, 0, 0, -5], [0, 0, 1.0, 3], [0, 0, 0, 1]])
    image = nib.Nifti1Image.from_bytes(gzip.decompress(nifti_gz_bytes(np.ones((3, 3, 3)), affine)))
    np.testing.assert_allclose(image.get_qform(), affine, atol=1e-6)
    np.testing.assert_allclose(image.get_sform(), affine)
    assert image.get_data_dtype() == np.uint8


def test_the_card_decides_preprocessing_and_labels(demo):
    settings = demo.load()
    trained = PreprocessingSettings(intensity_min=0.0, intensity_max=1.0, patch_size=(32,) * 3)
    card = ModelCard(name="m", version="1", extra={"preprocessing": trained.model_dump()})

    prep, inference = settings_from_card(card, settings)

    assert prep == trained
    assert inference == settings.inference  # a deployment choice: the config's
    assert labels_of(card) == {0: "background"}
    assert labels_of(CARD) == {0: "background", 1: "x"}


def test_a_card_from_older_code_is_refused_with_the_reason(demo):
    card = ModelCard(name="m", version="9", extra={"preprocessing": {"hu_min": -200}})
    with pytest.raises(BundleError, match=r"^m version 9: .*hu_min.*train it again"):
        settings_from_card(card, demo.load())


def test_every_backend_has_a_loader(demo):
    assert set(model_loaders(demo.project)) == {"onnx", "torch"}


def test_the_app_factory_serves_a_materialized_onnx_model(
    demo, onnx_path, make_sphere, test_client
):
    trained = PreprocessingSettings(patch_size=(32, 32, 32))
    card = ModelCard(
        name="sphere-seg",
        version="2",
        alias="challenger",
        extra={"preprocessing": trained.model_dump(mode="json"), "labels": {"0": "bg", "1": "s"}},
    )
    model_dir = write_bundle(demo.root / "models" / "sphere-seg" / "2", card, onnx_path).folder
    create = app_factory(demo.project, routers=[predict_router(demo.project)])
    app = create({"MEDAI_ENV": "development", "MEDAI__API__MODEL_DIR": str(model_dir)})
    volume, truth = make_sphere((48, 48, 48), np.diag([1.5, 1.5, 1.5, 1.0]), radius=20.0)
    path = write_nifti(demo.root / "scan.nii.gz", volume.array, volume.affine)

    client = start_test_client(test_client, app)
    try:
        info = client.get("/v1/model").json()
        response = client.post("/v1/predict", files=upload(path))
        document = client.get("/openapi.json").json()
    finally:
        client.__exit__(None, None, None)

    assert (info["name"], info["version"], info["alias"]) == ("sphere-seg", "2", "challenger")
    mask = nib.Nifti1Image.from_bytes(gzip.decompress(response.content))
    found = np.asarray(mask.dataobj) == 1
    assert 2 * (found & truth).sum() / (found.sum() + truth.sum()) > 0.8
    np.testing.assert_allclose(mask.affine, read_nifti(path).affine)
    assert document["info"]["title"] == "sphere-seg inference"
    assert document["info"]["description"] == api_description(demo.project)
    assert document["info"]["description"].startswith("Segments a bright sphere in a PET volume")


def test_the_app_factory_without_a_model_folder_exits_with_one_line(demo):
    create = app_factory(demo.project, routers=[predict_router(demo.project)])
    with pytest.raises(SystemExit, match=r"^error: api.model_dir: not set: .*--project=sphere-seg"):
        create({"MEDAI_ENV": "development"})
