"""brain-mri's own metric (tumour volume error) and figure (each region on its contrast)."""

from __future__ import annotations

import numpy as np
import pytest

from brain_mri.settings import BINDING, PROJECT
from brain_mri.utils.metrics import METRICS, abs_volume_error_ml
from brain_mri.utils.visualization import contrast_for, region_overlays
from medai.segmentation.evaluation import score_structures
from medai.segmentation.plots import OverlayCase
from medai.segmentation.regions import regions_from_settings


@pytest.fixture(scope="module")
def regions():
    found = regions_from_settings(BINDING.load(environ={}).data)
    assert found is not None
    return found


def test_the_volume_error_is_in_millilitres_on_the_cases_spacing():
    true = np.zeros((10, 10, 10), dtype=bool)
    true[:5] = True  # 500 voxels
    predicted = np.zeros_like(true)
    predicted[:4] = True  # 400 voxels
    assert abs_volume_error_ml(predicted, true, (2.0, 2.0, 2.0)) == pytest.approx(0.8)
    assert abs_volume_error_ml(true, predicted, (1.0, 1.0, 1.0)) == pytest.approx(0.1)
    assert abs_volume_error_ml(true, true, (1.0, 1.0, 1.0)) == 0.0


def test_the_project_scores_each_region_with_its_volume_error(regions):
    assert tuple(PROJECT.metrics) == METRICS
    truth = np.zeros((12, 12, 12), dtype=np.uint8)
    truth[2:10, 2:10, 2:10] = 1  # oedema
    truth[4:8, 4:8, 4:8] = 3  # enhancing tumour (inside the core)
    prediction = truth.copy()
    prediction[4:8, 4:8, 4:8] = 1  # the enhancing tumour missed: only oedema predicted
    rows = score_structures("brain_000", prediction, truth, regions, (1.0, 1.0, 1.0), METRICS)
    errors = {row.label: row.extra["abs_volume_error_ml"] for row in rows}
    assert errors == {
        "whole_tumor": 0.0,
        "tumor_core": pytest.approx(0.064),
        "enhancing_tumor": pytest.approx(0.064),
    }
    assert METRICS[0].higher_is_better is False


def test_each_region_is_drawn_on_its_contrast(regions):
    shape = (16, 16, 16)
    truth = np.zeros(shape, dtype=np.uint8)
    truth[4:12, 4:12, 6:10] = 1
    truth[6:10, 6:10, 6:10] = 3
    channels = {
        name: np.full(shape, value, dtype=np.float32)
        for value, name in enumerate(["T1", "T1c", "T2", "FLAIR"], start=1)
    }
    case = OverlayCase("brain_000", channels["T1"], truth, truth, channels)
    figure = PROJECT.overlays([case], regions, None)
    titles = [axis.get_title() for axis in figure.axes]
    assert titles == [
        "brain_000: whole_tumor on FLAIR",
        "brain_000: tumor_core on T1c",
        "brain_000: enhancing_tumor on T1c",
    ]


@pytest.mark.parametrize(
    ("names", "region", "expected"),
    [
        (["FLAIR", "T1w", "t1gd", "T2w"], "tumor_core", "t1gd"),  # MSD Task01's names
        (["flair", "t1", "t1ce", "t2"], "enhancing_tumor", "t1ce"),  # BraTS's file suffixes
        (["T1", "T2"], "whole_tumor", "T1"),  # no FLAIR: the first channel
    ],
)
def test_the_contrast_follows_the_datasets_spelling(names, region, expected):
    channels = {name: np.zeros((2, 2, 2)) for name in names}
    assert contrast_for(region, channels)[0] == expected


def test_a_label_model_gets_the_kinds_figure():
    truth = np.zeros((8, 8, 8), dtype=np.uint8)
    truth[2:6, 2:6, 2:6] = 1
    figure = region_overlays([OverlayCase("c", truth.astype(np.float32), truth, truth)], None, None)
    assert [axis.get_title() for axis in figure.axes][:3] == [
        "c: image",
        "c: truth",
        "c: prediction",
    ]
