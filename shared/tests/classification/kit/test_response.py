"""The answer's pieces: positive findings, heatmap choices, file names, the image summary."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from medai.classification.onnx_classifier import ClassifierOutput
from medai.classification.serving.response import (
    HeatmapChoiceError,
    classification_result,
    file_stem_of,
    heatmap_labels,
    positive_findings,
    render_heatmaps,
)
from medai.io import Radiograph

LABELS = ("cardiomegaly", "effusion", "nodule")


def test_a_finding_is_positive_at_or_above_its_threshold():
    probabilities = {"cardiomegaly": 0.5, "effusion": 0.49, "nodule": 0.9}
    thresholds = {"cardiomegaly": 0.5, "effusion": 0.5, "nodule": 0.95}
    assert positive_findings(probabilities, thresholds) == ["cardiomegaly"]


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ([], []),
        (["nodule"], ["nodule"]),
        (["nodule", "cardiomegaly", "nodule"], ["cardiomegaly", "nodule"]),
        (["positive"], ["effusion"]),
        (["all"], list(LABELS)),
        (["positive", "nodule"], ["effusion", "nodule"]),
    ],
)
def test_heatmap_choices_come_back_in_label_order(requested, expected):
    assert heatmap_labels(requested, LABELS, ["effusion"]) == expected


def test_an_unknown_heatmap_choice_lists_what_can_be_asked_for():
    with pytest.raises(
        HeatmapChoiceError,
        match=r"heatmap 'Nodule' is not a label .*cardiomegaly, effusion, nodule, positive or all",
    ):
        heatmap_labels(["Nodule"], LABELS, [])


def test_a_long_unknown_choice_is_cut_in_the_message():
    with pytest.raises(HeatmapChoiceError) as caught:
        heatmap_labels(["x" * 500], LABELS, [])
    assert len(str(caught.value)) < 200


def test_labels_become_safe_file_name_parts():
    assert file_stem_of("Pleural Effusion") == "pleural_effusion"
    assert file_stem_of("../../etc") == "etc"
    assert file_stem_of("???") == "label"


def test_the_result_carries_probabilities_positives_image_and_heatmap_pngs():
    pixels = np.linspace(0, 1, 40 * 50, dtype=np.float32).reshape(40, 50)
    radiograph = Radiograph(pixels, (0.2, 0.3), "dicom")
    cams = np.zeros((3, 16, 16), np.float32)
    cams[1, 4:8, 4:8] = 5.0
    output = ClassifierOutput({"cardiomegaly": 0.1, "effusion": 0.8, "nodule": 0.3}, cams)
    pngs = render_heatmaps(radiograph, output, LABELS, ["effusion"])

    result = classification_result(
        model_name="cxr",
        model_version="7",
        output=output,
        thresholds=dict.fromkeys(LABELS, 0.5),
        radiograph=radiograph,
        heatmaps=pngs,
    )

    assert result.positive_findings == ["effusion"]
    assert list(result.probabilities) == list(LABELS)
    assert (result.image.format, result.image.rows, result.image.columns) == ("dicom", 40, 50)
    assert result.image.spacing_mm == (0.2, 0.3)
    (heatmap,) = result.heatmaps
    assert (heatmap.label, heatmap.probability) == ("effusion", 0.8)
    assert heatmap.media_type == "image/png"
    image = Image.open(io.BytesIO(base64.b64decode(heatmap.png_base64)))
    assert (image.size, image.mode) == ((16, 16), "RGB")
    hot, cold = np.asarray(image)[5, 5], np.asarray(image)[12, 12]
    assert hot[0] > hot[2]  # the CAM's colour where the map is hot
    assert cold[0] == cold[1] == cold[2]  # the grey radiograph where it is cold
