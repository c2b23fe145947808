"""brain-mri's data and preprocessing: phantoms in both layouts, regions, the brain's z-score."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from brain_mri.data.anatomy import Tissue
from brain_mri.data.synthetic import PhantomSpec, generate_phantom_case
from brain_mri.settings import BINDING, PROJECT
from brain_mri.utils.preprocessing import brain_mask, otsu_threshold, zscore_over_brain

SMALL = ["data.synthetic.n_cases=4", "data.synthetic.shape=[48, 48, 48]"]


@pytest.mark.parametrize("layout", ["msd", "nnunet"])
def test_generated_phantoms_load_as_four_channels_with_the_brats_regions(tmp_path, layout):
    settings = BINDING.load(
        [f"data.root={tmp_path}", f"data.synthetic.layout={layout}", *SMALL], environ={}
    )

    data = PROJECT.load_data(settings)

    assert data.dataset.channels == ("T1", "T1c", "T2", "FLAIR")
    assert sorted(data.labels) == [0, 1, 2, 3]
    assert data.regions is not None
    assert data.regions.names == ("whole_tumor", "tumor_core", "enhancing_tumor")
    assert data.output_channels == 3
    assert (tmp_path / "processed" / data.dataset.root.name / "split.json").is_file()
    case = data.dataset.cases[0]
    assert len(case.images) == (1 if layout == "msd" else 4)
    label = nib.load(case.label)
    assert label.shape == (48, 48, 48)
    assert set(np.unique(np.asarray(label.dataobj))) == {0, 1, 2, 3}


def test_each_channel_is_z_scored_over_the_brain_and_the_rest_is_zero(tmp_path):
    settings = BINDING.load([f"data.root={tmp_path}", *SMALL], environ={})
    case = PROJECT.load_data(settings).dataset.cases[0]
    image = np.moveaxis(np.asarray(nib.load(case.image).dataobj, dtype=np.float32), -1, 0)
    assert PROJECT.normalizer_for(settings.preprocessing) is zscore_over_brain

    normalized = zscore_over_brain(image)
    brain = brain_mask(image)

    assert normalized.dtype == np.float32
    assert normalized.shape == image.shape
    assert 0.05 < brain.mean() < 0.6  # the brain, neither the whole volume nor nothing
    for channel in range(4):
        assert normalized[channel][brain].mean() == pytest.approx(0.0, abs=1e-4)
        assert normalized[channel][brain].std() == pytest.approx(1.0, abs=1e-3)
        assert not normalized[channel][~brain].any()


@pytest.mark.parametrize("index", range(6))
def test_the_brain_mask_is_the_brain_of_a_phantom_not_its_air_scalp_or_skull(index):
    case = generate_phantom_case(index, seed=11, spec=PhantomSpec(shape=(48, 48, 48)))
    mask = brain_mask(np.moveaxis(case.image, -1, 0))
    outside = np.isin(case.tissue, [Tissue.AIR, Tissue.SCALP, Tissue.SKULL])
    assert not mask[outside].any()
    assert mask[case.label > 0].all()  # every tumour voxel, the necrotic core included
    assert mask[np.isin(case.tissue, [Tissue.GREY, Tissue.WHITE])].all()


def test_a_skull_stripped_scan_is_its_own_brain():
    image = np.zeros((4, 20, 20, 20), dtype=np.float32)
    rng = np.random.default_rng(0)
    image[:, 5:15, 4:16, 6:14] = rng.uniform(100, 900, size=(4, 10, 12, 8))
    assert np.array_equal(brain_mask(image), image[0] != 0)


def test_an_image_without_tissue_comes_back_zero():
    assert not zscore_over_brain(np.zeros((4, 8, 8, 8), dtype=np.int16)).any()


def test_a_constant_channel_is_divided_by_one():
    image = np.zeros((2, 10, 10, 10), dtype=np.float32)
    image[:, 2:8, 2:8, 2:8] = 5.0
    image[1, 2:8, 2:8, 2:5] = 9.0
    out = zscore_over_brain(image)
    assert not out[0].any()  # constant inside the brain: zero, not NaN
    assert np.isfinite(out).all()


def test_a_three_dimensional_image_is_refused_naming_its_shape():
    with pytest.raises(ValueError, match=r"\(channels, x, y, z\) image, got shape \(8, 8, 8\)"):
        brain_mask(np.zeros((8, 8, 8)))


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=4, max_dims=4, min_side=1, max_side=9),
        elements=st.floats(-1e4, 1e4, width=32),
    )
)
def test_any_image_gives_finite_float32_of_its_shape_zero_outside_the_mask(image):
    out = zscore_over_brain(image)
    assert out.shape == image.shape
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    assert not out[:, ~brain_mask(image)].any()


@pytest.mark.parametrize(
    "values",
    [np.array([0.0, 0.0, 10.0, 10.0]), np.array([1.0, 1.0, 1.0]), np.array([np.nan, 2.0, 5.0])],
)
def test_otsu_splits_two_levels_and_survives_degenerate_input(values):
    threshold = otsu_threshold(values)
    assert np.isfinite(threshold)
    if values[0] == 0.0:
        assert 0.0 <= threshold < 10.0
