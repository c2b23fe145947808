import json

import pytest

from medai.serving import BundleError, ModelBundle, ModelCard, ModelInfoResponse, write_bundle

CARD = ModelCard(
    name="ct-seg",
    version="7",
    alias="champion",
    run_id="abc123",
    signature={"inputs": [{"dtype": "float32", "shape": [-1, 1, -1, -1, -1]}]},
    tags={"git_commit": "4e1d2c3"},
    extra={"labels": ["background", "liver"], "spacing": [1.5, 1.5, 2.0]},
)


@pytest.fixture
def bundle_dir(tmp_path):
    folder = tmp_path / "model"
    write_bundle(folder, CARD, b"onnx-bytes")
    return folder


def metadata(folder):
    return json.loads((folder / "metadata.json").read_text(encoding="utf-8"))


def rewrite(folder, data):
    (folder / "metadata.json").write_text(json.dumps(data), encoding="utf-8")


def test_write_then_load_round_trips_the_card(bundle_dir):
    bundle = ModelBundle.load(bundle_dir)
    assert bundle.card == CARD
    assert bundle.folder == bundle_dir
    assert bundle.onnx_path == bundle_dir / "model.onnx"
    assert bundle.onnx_path.read_bytes() == b"onnx-bytes"
    assert metadata(bundle_dir)["metadata_version"] == 1


def test_write_copies_an_onnx_file(tmp_path):
    source = tmp_path / "exported.onnx"
    source.write_bytes(b"graph")
    bundle = write_bundle(tmp_path / "out", CARD, source)
    assert bundle.onnx_path.read_bytes() == b"graph"


@pytest.mark.usefixtures("bundle_dir")
def test_write_leaves_no_temporary_folders(tmp_path):
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_write_refuses_an_existing_folder_unless_asked(bundle_dir):
    with pytest.raises(BundleError, match="already exists"):
        write_bundle(bundle_dir, CARD, b"new")
    newer = ModelCard(name="ct-seg", version="8")
    write_bundle(bundle_dir, newer, b"new", overwrite=True)
    assert ModelBundle.load(bundle_dir).card == newer
    assert (bundle_dir / "model.onnx").read_bytes() == b"new"
    assert sorted(p.name for p in bundle_dir.parent.iterdir()) == ["model"]


def test_a_missing_onnx_source_fails_cleanly(tmp_path):
    with pytest.raises(BundleError, match="cannot copy the ONNX graph"):
        write_bundle(tmp_path / "out", CARD, tmp_path / "missing.onnx")
    assert list(tmp_path.iterdir()) == []


def test_an_invalid_card_is_not_written(tmp_path):
    with pytest.raises(BundleError, match="'name' must be a non-empty string"):
        write_bundle(tmp_path / "out", ModelCard(name="", version="1"), b"x")
    with pytest.raises(BundleError, match="not JSON-serialisable"):
        write_bundle(
            tmp_path / "out", ModelCard(name="m", version="1", extra={"x": object()}), b"x"
        )
    assert list(tmp_path.iterdir()) == []


def test_load_a_missing_folder(tmp_path):
    with pytest.raises(BundleError, match="model folder does not exist"):
        ModelBundle.load(tmp_path / "nope")


def test_load_without_metadata(bundle_dir):
    (bundle_dir / "metadata.json").unlink()
    with pytest.raises(BundleError, match=r"metadata\.json: missing"):
        ModelBundle.load(bundle_dir)


def test_load_invalid_json(bundle_dir):
    (bundle_dir / "metadata.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(BundleError, match="not valid JSON"):
        ModelBundle.load(bundle_dir)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": None}, "'name' must be a non-empty string"),
        ({"version": ""}, "'version' must be a non-empty string"),
        ({"alias": 3}, "'alias' must be a string or null"),
        ({"run_id": []}, "'run_id' must be a string or null"),
        ({"signature": "x"}, "'signature' must be a JSON object"),
        ({"tags": {"a": 1}}, "'tags' values must be strings"),
        ({"extra": [1]}, "'extra' must be a JSON object"),
    ],
)
def test_load_names_the_bad_key(bundle_dir, change, message):
    rewrite(bundle_dir, {**metadata(bundle_dir), **change})
    with pytest.raises(BundleError) as caught:
        ModelBundle.load(bundle_dir)
    assert str(caught.value) == f"{bundle_dir / 'metadata.json'}: {message}"


def test_load_a_metadata_that_is_not_an_object(bundle_dir):
    rewrite(bundle_dir, [1, 2])
    with pytest.raises(BundleError, match="must be a JSON object"):
        ModelBundle.load(bundle_dir)


def test_load_accepts_a_numeric_version_and_optional_keys(bundle_dir):
    rewrite(bundle_dir, {"name": "m", "version": 4})
    assert ModelBundle.load(bundle_dir).card == ModelCard(name="m", version="4")


def test_load_without_onnx(bundle_dir):
    (bundle_dir / "model.onnx").unlink()
    with pytest.raises(BundleError, match=r"model\.onnx: missing"):
        ModelBundle.load(bundle_dir)


def test_model_info_leaves_extra_out():
    info = ModelInfoResponse.from_card(CARD)
    assert info.model_dump() == {
        "name": "ct-seg",
        "version": "7",
        "alias": "champion",
        "run_id": "abc123",
        "signature": CARD.signature,
        "tags": CARD.tags,
    }
    assert ModelInfoResponse.model_json_schema()["examples"][0]["name"] == "ct-seg"
