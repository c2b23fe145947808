"""brain-mri's data and preprocessing: phantoms in the MSD layout, regions, z-scored channels."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from brain_mri.settings import BINDING, PROJECT
from medai.inference.normalize import normalize_intensity

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


def test_each_channel_is_z_scored_over_the_head_and_the_air_stays_zero(tmp_path):
    settings = BINDING.load([f"data.root={tmp_path}", *SMALL], environ={})
    case = PROJECT.load_data(settings).dataset.cases[0]
    image = np.moveaxis(np.asarray(nib.load(case.image).dataobj, dtype=np.float32), -1, 0)

    normalized = normalize_intensity(image, settings.preprocessing.normalize, (0.0, 1.0))

    for channel in range(4):
        head = image[channel] != 0
        assert normalized[channel][head].mean() == pytest.approx(0.0, abs=1e-4)
        assert normalized[channel][head].std() == pytest.approx(1.0, abs=1e-3)
        assert not normalized[channel][~head].any()
