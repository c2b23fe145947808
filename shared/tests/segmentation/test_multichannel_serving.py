"""Multi-channel, region-based models served: four MRI-like channels in, a region label map out.

A tiny real network (a 1x1x1 convolution from four channels to three region logits,
exported to ONNX here) on a seeded phantom: a head that is exactly zero outside, a
tumour whose oedema shows in FLAIR, whose core shows in T2 and whose enhancing rim
shows in T1c. Nothing is mocked: the ONNX graph runs on ONNX Runtime, the torch
``Segmenter`` on MONAI, and the server is the kind's app factory on a model folder.
"""

from __future__ import annotations

import gzip
import json
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
import torch
from scipy.special import expit

from medai.io import ChannelVolume, Volume, write_nifti
from medai.io.channels import ChannelCountError
from medai.segmentation.onnx_segmenter import OnnxSegmenter
from medai.segmentation.prediction import fit_to_model, read_input
from medai.segmentation.regions import CHANNELS_TAG, Regions, label_map_from_regions
from medai.segmentation.segmenter import Segmenter
from medai.segmentation.serving.app import app_factory
from medai.segmentation.serving.model import channels_of, regions_of
from medai.segmentation.serving.predict import predict_router
from medai.segmentation.settings import InferenceSettings, PreprocessingSettings
from medai.serving import BundleError, ModelCard, write_bundle
from medai.serving.uploads import UploadError, UploadLimits, UploadPart, read_channels_upload
from medai.testing import start_test_client

CHANNELS = ("T1", "T1c", "T2", "FLAIR")
PARTS = tuple(name.lower() for name in CHANNELS)
BRATS = Regions(
    names=("whole_tumour", "tumour_core", "enhancing_tumour"),
    labels=((1, 2, 3), (2, 3), (3,)),
    class_order=(1, 2, 3),
)
LABELS = {0: "background", 1: "oedema", 2: "necrosis", 3: "enhancing"}
PREP = PreprocessingSettings(
    normalize="zscore", target_spacing=(2.0, 2.0, 2.0), patch_size=(16, 16, 16)
)
INFERENCE = InferenceSettings(sw_batch_size=2, overlap=0.25, blend_mode="gaussian")
AFFINE = np.diag([1.5, 1.5, 1.5, 1.0])
SHAPE = (30, 28, 24)


def phantom(shape=SHAPE, affine=AFFINE, seed=0) -> tuple[ChannelVolume, np.ndarray]:
    """A (4, X, Y, Z) head, zero outside, with a tumour; and its label map (0..3)."""
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), axis=-1)
    world = grid @ affine[:3, :3].T + affine[:3, 3]
    centre = np.asarray(shape) / 2 @ affine[:3, :3].T + affine[:3, 3]
    radius = np.linalg.norm(world - centre, axis=-1)
    head = radius < 0.45 * min(np.asarray(shape) * np.abs(np.diag(affine)[:3]))
    labels = np.zeros(shape, np.uint8)
    labels[radius < 9.0] = 1
    labels[radius < 6.0] = 3
    labels[radius < 3.5] = 2
    rng = np.random.default_rng(seed)
    bright = {
        "T1": labels == 0,
        "T1c": labels == 3,
        "T2": np.isin(labels, (2, 3)),
        "FLAIR": labels > 0,
    }
    array = np.stack(
        [
            np.where(head, 100.0 + 80.0 * bright[name] + rng.normal(0, 5, shape), 0.0)
            for name in CHANNELS
        ]
    ).astype(np.float32)
    return ChannelVolume(array, affine, CHANNELS), labels


@pytest.fixture(scope="module")
def region_network() -> torch.nn.Module:
    """Whole tumour from FLAIR, tumour core from T2, enhancing tumour from T1c (z-scored)."""
    network = torch.nn.Conv3d(len(CHANNELS), len(BRATS), kernel_size=1)
    weight = torch.zeros(len(BRATS), len(CHANNELS), 1, 1, 1)
    for region, channel in enumerate((CHANNELS.index("FLAIR"), 2, 1)):
        weight[region, channel] = 4.0
    with torch.no_grad():
        network.weight.copy_(weight)
        network.bias.fill_(-2.0)
    return network.eval()


@pytest.fixture(scope="module")
def region_onnx(region_network, tmp_path_factory) -> Path:
    from medai.export import export_onnx  # noqa: PLC0415
    from medai.segmentation.registry import ONNX_GRAPH  # noqa: PLC0415

    path = tmp_path_factory.mktemp("regions") / "regions.onnx"
    example = torch.zeros(1, len(CHANNELS), *PREP.patch_size)
    return export_onnx(region_network, path, example, ONNX_GRAPH)


@pytest.fixture(scope="module")
def onnx_segmenter(region_onnx) -> OnnxSegmenter:
    return OnnxSegmenter(region_onnx, PREP, INFERENCE, intra_op_threads=1, regions=BRATS)


# ------------------------------------------------------------------- the ONNX segmenter


GEOMETRIES = {
    "isotropic": (SHAPE, AFFINE),
    "lps-anisotropic": (
        (28, 26, 14),
        np.array([[-1.2, 0, 0, 30.0], [0, -1.1, 0, 20.0], [0, 0, 2.5, -30.0], [0, 0, 0, 1]]),
    ),
}


@pytest.mark.parametrize("normalize", ["zscore", "window"])
@pytest.mark.parametrize("geometry", GEOMETRIES.values(), ids=GEOMETRIES.keys())
def test_the_onnx_region_segmenter_matches_the_torch_segmenter(
    region_network, region_onnx, geometry, normalize
):
    volume, _ = phantom(*geometry)
    prep = PREP.model_copy(update={"normalize": normalize, "intensity_max": 300.0})
    reference = Segmenter(region_network, prep, INFERENCE, regions=BRATS)
    candidate = OnnxSegmenter(region_onnx, prep, INFERENCE, intra_op_threads=1, regions=BRATS)

    logits = candidate.logits(volume)
    np.testing.assert_allclose(logits, reference.input_logits(volume).numpy(), atol=1e-3)
    expected, mask = reference.segment(volume), candidate.segment(volume)

    assert mask.shape == volume.shape
    foreground = (expected > 0).mean()
    assert 0.01 < foreground < 0.5, f"trivial reference mask ({foreground:.1%} foreground)"
    assert (mask == expected).mean() >= 0.995


def test_region_painting_is_label_map_from_regions_of_the_sigmoid(onnx_segmenter):
    volume, _ = phantom()

    mask = onnx_segmenter.segment(volume)

    expected = label_map_from_regions(expit(onnx_segmenter.logits(volume)), BRATS)
    np.testing.assert_array_equal(mask, expected)
    assert set(np.unique(mask)) == {0, 1, 2, 3}


def test_the_region_model_finds_the_nested_tumour(onnx_segmenter):
    volume, truth = phantom()

    mask = onnx_segmenter.segment(volume)

    for members in BRATS.labels:
        found, wanted = np.isin(mask, members), np.isin(truth, members)
        dice = 2 * (found & wanted).sum() / (found.sum() + wanted.sum())
        assert dice > 0.6, members  # a thin rim, resampled to 2 mm and back


def test_a_volume_with_another_channel_count_is_refused(onnx_segmenter):
    volume, _ = phantom()
    three = ChannelVolume(volume.array[:3], volume.affine, CHANNELS[:3])

    with pytest.raises(ChannelCountError, match=r"has 3 channel\(s\); the model takes 4"):
        onnx_segmenter.segment(three)
    with pytest.raises(ChannelCountError, match=r"has 1 channel\(s\); the model takes 4"):
        onnx_segmenter.segment(volume.channel(0))


def test_a_graph_whose_outputs_are_not_the_regions_is_refused(region_onnx):
    two = Regions(names=("a", "b"), labels=((1,), (2,)), class_order=(1, 2))
    with pytest.raises(ValueError, match=r"3 output channels but the model's regions are 2"):
        OnnxSegmenter(region_onnx, PREP, INFERENCE, regions=two)
    with pytest.raises(ValueError, match=r"channels .* is 4, not 1"):
        OnnxSegmenter(region_onnx, PREP, INFERENCE, channels=1)


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


def test_the_plan_counts_every_channel_and_bounds_what_the_onnx_path_holds(onnx_segmenter):
    volume, _ = phantom((60, 56, 48), np.diag([1.0, 1.0, 1.0, 1.0]))
    plan = onnx_segmenter.plan(volume)
    one = OnnxSegmenter.plan(onnx_segmenter, volume.channel(0))
    peak = plan.peak()
    assert peak is not None
    assert one.peak() is not None
    assert peak.nbytes >= one.peak().nbytes + 3 * volume.channel(0).array.nbytes
    estimate = peak.nbytes - volume.array.nbytes

    with traced_peak() as measured:
        onnx_segmenter.segment(volume)

    megabyte = 1 << 20
    assert measured() <= estimate * 1.05 + 0.5 * megabyte, peak.what
    assert estimate <= measured() * 1.5 + megabyte, "the estimate is far too pessimistic"


# ------------------------------------------------------------------------------ the card


def card(**tags: str) -> ModelCard:
    return ModelCard(
        name="brain",
        version="3",
        alias="challenger",
        tags={CHANNELS_TAG: json.dumps(list(CHANNELS)), **tags},
        extra={
            "preprocessing": PREP.model_dump(mode="json"),
            "labels": {str(k): v for k, v in LABELS.items()},
            "regions": json.loads(BRATS.to_json()),
        },
    )


def test_the_card_says_the_channels_and_regions():
    assert channels_of(card()) == CHANNELS
    assert regions_of(card()) == BRATS
    plain = ModelCard(name="ct", version="1")
    assert (channels_of(plain), regions_of(plain)) == ((), None)


@pytest.mark.parametrize("raw", ['"T1"', "[]", '["T1", "t1"]', "not json", '["T1", 3]'])
def test_a_channels_tag_that_is_not_a_list_of_distinct_names_is_refused(raw):
    with pytest.raises(BundleError, match=r"^brain version 3: tag 'medai.channels' must be"):
        channels_of(card(**{CHANNELS_TAG: raw}))


def test_a_regions_tag_without_its_output_order_is_refused():
    sorted_form = ModelCard(
        name="brain",
        version="3",
        extra={"regions": {"regions": {"whole_tumour": [1, 2, 3]}, "class_order": [1]}},
    )
    with pytest.raises(BundleError, match=r"^brain version 3: tag 'medai.regions' must be"):
        regions_of(sorted_form)


# ----------------------------------------------------------------------------- the server


def nifti_bytes(array: np.ndarray, affine: np.ndarray) -> bytes:
    image = nib.Nifti1Image(np.asarray(array, np.float32), affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    return gzip.compress(image.to_bytes(), compresslevel=1)


def four_d(volume: ChannelVolume) -> bytes:
    return nifti_bytes(np.moveaxis(volume.array, 0, -1), volume.affine)


def channel_parts(volume: ChannelVolume, names=PARTS) -> list[tuple[str, tuple[str, bytes]]]:
    return [
        (name, (f"{name}.nii.gz", nifti_bytes(channel, volume.affine)))
        for name, channel in zip(names, volume.array, strict=True)
    ]


@pytest.fixture
def brain_server(demo, region_onnx, test_client):
    """A started client of the kind's app serving the region model from its folder."""
    folder = write_bundle(demo.root / "models" / "brain" / "3", card(), region_onnx).folder
    create = app_factory(demo.project, routers=[predict_router(demo.project)])
    app = create(
        {
            "MEDAI_ENV": "development",
            "MEDAI__API__MODEL_DIR": str(folder),
            "MEDAI__API__MAX_VOXELS": str(5 * 30 * 28 * 24),
        }
    )
    client = start_test_client(test_client, app)
    yield client
    client.__exit__(None, None, None)


def mask_of(response: Any) -> np.ndarray:
    assert response.status_code == 200, response.text
    return np.asarray(nib.Nifti1Image.from_bytes(gzip.decompress(response.content)).dataobj)


def test_a_4d_nifti_and_named_parts_give_the_segmenters_mask(brain_server, onnx_segmenter):
    volume, _ = phantom()
    expected = onnx_segmenter.segment(volume)

    from_4d = mask_of(brain_server.post("/v1/predict", files={"file": ("x", four_d(volume))}))
    shuffled = channel_parts(volume, names=("T1", "t1C", "T2", "Flair"))[::-1]
    from_parts = mask_of(brain_server.post("/v1/predict", files=shuffled))

    np.testing.assert_array_equal(from_4d, expected)
    np.testing.assert_array_equal(from_parts, expected)


def test_the_json_summary_has_labels_and_nested_regions(brain_server):
    volume, _ = phantom()
    response = brain_server.post(
        "/v1/predict", files=channel_parts(volume), params={"format": "json"}
    )

    assert response.status_code == 200, response.text
    summary = response.json()
    by_label = {s["label"]: s["voxels"] for s in summary["structures"]}
    regions = {r["name"]: r for r in summary["regions"]}
    assert list(regions) == list(BRATS.names)
    assert regions["whole_tumour"]["voxels"] == by_label[1] + by_label[2] + by_label[3]
    assert regions["tumour_core"]["voxels"] == by_label[2] + by_label[3]
    assert regions["enhancing_tumour"]["labels"] == [3]
    assert regions["enhancing_tumour"]["voxels"] == by_label[3] > 0
    assert regions["whole_tumour"]["volume_ml"] == pytest.approx(
        by_label[1] * 1.5**3 / 1000 + regions["tumour_core"]["volume_ml"], abs=2e-3
    )


def _hostile_uploads() -> dict[str, tuple[Any, int, str, str]]:
    volume, _ = phantom()
    parts = channel_parts(volume)
    smaller, _ = phantom((30, 28, 20))
    shifted = ChannelVolume(volume.array, volume.affine + np.diag([0, 0, 0, 0]), CHANNELS)
    shifted.affine[0, 3] += 3.0
    big, _ = phantom((36, 36, 36))
    return {
        "three-of-four": (
            parts[:3],
            422,
            "invalid_channels",
            "expected 4 channels (t1, t1c, t2, flair), got 3: missing flair",
        ),
        "unknown-part": (
            [*parts, ("pd", ("pd.nii.gz", parts[0][1][1]))],
            422,
            "invalid_channels",
            "unknown part 'pd'; expected t1, t1c, t2, flair",
        ),
        "duplicate-part": (
            [*parts[:3], ("T1", parts[0][1])],
            422,
            "invalid_channels",
            "duplicate part 't1'",
        ),
        "file-beside-parts": (
            [("file", ("x", four_d(volume))), *parts],
            422,
            "invalid_channels",
            "send either one 4D NIfTI as 'file' or one part per channel",
        ),
        "text-field": (
            {"data": dict.fromkeys(PARTS, "hello")},
            422,
            "invalid_channels",
            "is not a file",
        ),
        "shape-mismatch": (
            [*parts[:3], channel_parts(smaller)[3]],
            422,
            "channel_mismatch",
            (
                "part 'flair': channel 3 (FLAIR) has shape (30, 28, 20), but channel 0 (T1) "
                "has shape (30, 28, 24)"
            ),
        ),
        "affine-mismatch": (
            [*parts[:3], channel_parts(shifted)[3]],
            422,
            "channel_mismatch",
            "channel 3 (FLAIR) affine differs from channel 0 (T1)'s",
        ),
        "4d-with-3-channels": (
            [("file", ("x", nifti_bytes(np.moveaxis(volume.array[:3], 0, -1), AFFINE)))],
            422,
            "invalid_dimensions",
            "3 channels on its 4th axis; this model takes 4 channels (T1, T1c, T2, FLAIR)",
        ),
        "3d-file": (
            [("file", ("x", nifti_bytes(volume.array[0], AFFINE)))],
            422,
            "invalid_dimensions",
            "one channel; this model takes 4 channels",
        ),
        "too-many-voxels-in-all": (
            channel_parts(big),
            413,
            "too_many_voxels",
            "the upload's channels have 186624 voxels in all; the limit is 100800",
        ),
        "dicom-part": (
            [*parts[:3], ("flair", ("x.dcm", b"\0" * 128 + b"DICM" + b"\0" * 64))],
            415,
            "unsupported_media_type",
            "part 'flair' is a DICOM file; this model takes 4 channels",
        ),
    }


HOSTILE = _hostile_uploads()


def test_hostile_multichannel_uploads_get_4xx_json_and_the_server_keeps_serving(brain_server):
    for case, (files, status, code, message) in HOSTILE.items():
        if isinstance(files, dict):
            response = brain_server.post("/v1/predict", **files)
        else:
            response = brain_server.post("/v1/predict", files=files)
        assert response.status_code == status, (case, response.text)
        error = response.json()["error"]
        assert error["code"] == code, (case, error)
        assert message in error["message"], (case, error["message"])
        assert ".nii" not in error["message"], "a client file name in the message"

    volume, _ = phantom()
    assert mask_of(brain_server.post("/v1/predict", files=channel_parts(volume))).any()


def test_the_route_docs_say_which_parts_a_multichannel_model_takes(brain_server):
    operation = brain_server.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]
    body = operation["requestBody"]["description"]
    assert "medai.channels" in body
    assert "one 3D NIfTI per channel" in body
    assert "`t1`, `t1c`, `t2`, `flair`" in body
    assert "invalid_channels" in body


def test_the_model_route_lists_the_channels(brain_server):
    info = brain_server.get("/v1/model").json()
    assert json.loads(info["tags"][CHANNELS_TAG]) == list(CHANNELS)


# ------------------------------------------------------------------------ the upload reader


def test_channel_bytes_count_together_before_any_is_inflated():
    volume, _ = phantom()
    parts = [UploadPart(None, data) for _, (_, data) in channel_parts(volume)]
    one_channel = 352 + volume.channel(0).array.nbytes  # header + float32 voxels

    read_channels_upload(parts, CHANNELS, UploadLimits(max_bytes=4 * one_channel, max_voxels=10**7))
    with pytest.raises(UploadError, match=r"channels hold \d+ bytes of image in all") as caught:
        read_channels_upload(
            parts, CHANNELS, UploadLimits(max_bytes=3 * one_channel, max_voxels=10**7)
        )
    assert caught.value.status == 413


# ------------------------------------------------------------------- one-channel models


def test_a_4d_upload_to_a_one_channel_model_names_its_channel_count(demo, onnx_path, test_client):
    sphere_card = ModelCard(
        name="sphere-seg",
        version="2",
        extra={"preprocessing": PreprocessingSettings(patch_size=(32,) * 3).model_dump()},
    )
    folder = write_bundle(demo.root / "models" / "sphere-seg" / "2", sphere_card, onnx_path).folder
    app = app_factory(demo.project, routers=[predict_router(demo.project)])(
        {"MEDAI_ENV": "development", "MEDAI__API__MODEL_DIR": str(folder)}
    )
    volume, _ = phantom()
    client = start_test_client(test_client, app)
    try:
        four = client.post("/v1/predict", files={"file": ("x", four_d(volume))})
        nothing = client.post("/v1/predict", files={"other": ("x", b"1")})
    finally:
        client.__exit__(None, None, None)

    assert four.status_code == 422
    assert four.json()["error"]["code"] == "invalid_dimensions"
    assert "4 channels on its 4th axis; this model takes one channel" in four.text
    assert nothing.status_code == 422
    assert nothing.json()["error"]["message"].startswith("the upload has no 'file' part")


# ------------------------------------------------------------------ the predict command


def write_4d(path: Path, volume: ChannelVolume) -> Path:
    path.write_bytes(four_d(volume))
    return path


def test_predict_reads_a_4d_nifti_as_channels_and_names_them_as_the_model(tmp_path, demo):
    volume, _ = phantom()
    path = write_4d(tmp_path / "case.nii.gz", volume)
    settings = demo.load()

    image = fit_to_model(read_input(path, settings), path, CHANNELS)

    assert isinstance(image, ChannelVolume)
    assert image.channels == CHANNELS
    np.testing.assert_allclose(image.array, volume.array, atol=1e-4)


def test_predict_refuses_a_channel_count_the_model_does_not_take(tmp_path, demo):
    volume, _ = phantom()
    four = write_4d(tmp_path / "case.nii.gz", volume)
    three = write_nifti(tmp_path / "t1.nii.gz", volume.array[0], AFFINE)
    settings = demo.load()

    with pytest.raises(ChannelCountError, match=r"is one channel; the model takes 4 channels"):
        fit_to_model(read_input(three, settings), three, CHANNELS)
    with pytest.raises(ChannelCountError, match=r"has 4 channels .* takes one channel"):
        fit_to_model(read_input(four, settings), four, ("CT",))
    assert isinstance(fit_to_model(read_input(three, settings), three, ()), Volume)
