import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from medai.classification import export
from medai.classification.export import (
    OnnxExportError,
    check_classifier_onnx,
    export_checked_classifier,
    export_classifier_onnx,
)


def test_export_has_named_io_a_free_batch_and_a_fixed_image_size(tmp_path, network_factory):
    path = export_classifier_onnx(network_factory(), tmp_path / "m" / "model.onnx", image_size=32)

    model = onnx.load(str(path))
    graph_input = model.graph.input[0]
    dims = graph_input.type.tensor_type.shape.dim
    assert graph_input.name == "image"
    assert [o.name for o in model.graph.output] == ["logits", "cams"]
    assert dims[0].dim_param == "batch"
    assert [d.dim_value for d in dims[1:]] == [1, 32, 32]


def test_onnx_matches_torch_on_two_batch_sizes(tmp_path, network_factory):
    network = network_factory()
    path = export_classifier_onnx(network, tmp_path / "model.onnx", image_size=32)

    worst = check_classifier_onnx(network, path, image_size=32, batch_sizes=(1, 4))

    assert worst < 1e-4
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    image = torch.rand(5, 1, 32, 32)
    logits, cams = session.run(None, {"image": image.numpy()})
    with torch.no_grad():
        torch_logits, torch_cams = network.exportable()(image)
    assert logits.shape == (5, 2)
    assert cams.shape == (5, 2, 32, 32)
    assert np.allclose(logits, torch_logits.numpy(), atol=1e-4)
    assert np.allclose(cams, torch_cams.numpy(), atol=1e-4)


def test_a_file_that_no_longer_matches_the_network_is_refused(tmp_path, network_factory):
    network = network_factory()
    path = export_classifier_onnx(network, tmp_path / "model.onnx", image_size=32)
    with torch.no_grad():
        network.classifier.weight.mul_(2.0)

    differs = r"ONNX output 'logits' differs from torch by up to .* input \(1, 1, 32, 32\)"
    with pytest.raises(OnnxExportError, match=differs):
        check_classifier_onnx(network, path, image_size=32)


def test_a_file_with_other_inputs_or_outputs_is_refused(tmp_path, network_factory):
    path = tmp_path / "other.onnx"
    tensor = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [tensor("x", onnx.TensorProto.FLOAT, ["batch", 1, 32, 32])],
        [tensor("y", onnx.TensorProto.FLOAT, ["batch", 1, 32, 32])],
    )
    onnx.save(onnx.helper.make_model(graph), str(path))

    with pytest.raises(OnnxExportError, match=r"expected input 'image' and outputs"):
        check_classifier_onnx(network_factory(), path, image_size=32)


def test_export_checked_deletes_a_file_that_fails_its_check(tmp_path, network_factory, monkeypatch):
    def fail(*_args, **_kwargs):
        raise OnnxExportError("differs")

    monkeypatch.setattr(export, "check_classifier_onnx", fail)
    path = tmp_path / "model.onnx"

    with pytest.raises(OnnxExportError, match="differs"):
        export_checked_classifier(network_factory(), path, image_size=32)
    assert not path.exists()


def test_export_checked_returns_a_matching_file(tmp_path, network_factory):
    path = export_checked_classifier(network_factory(), tmp_path / "model.onnx", image_size=32)

    assert path.is_file()
