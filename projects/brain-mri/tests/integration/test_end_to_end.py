"""A tiny brain-mri model trained into a temporary store, registered, run."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from brain_mri.cli import predict_main
from brain_mri.settings import BINDING

pytestmark = pytest.mark.integration


def test_training_registers_the_best_model_as_challenger_with_lineage(trained, registry):
    challenger = registry.get_model_version_by_alias("brain-mri", "challenger")

    assert (challenger.run_id, str(challenger.version)) == (trained.run_id, trained.model_version)
    assert json.loads(challenger.tags["medai.labels"]) == {"0": "background", "1": "sphere"}
    assert challenger.tags["medai.git_commit"]
    assert 0.0 <= trained.best_score <= 1.0
    assert trained.best_epoch in {1, 2}
    history = registry.get_metric_history(trained.run_id, "val_dice_mean")
    assert [point.step for point in history] == [1, 2]


@pytest.mark.usefixtures("trained")
def test_the_predict_command_writes_a_binary_mask_on_the_input_grid(
    session_overrides, session_options, tmp_path, capsys
):
    settings = BINDING.load(session_overrides, environ={})
    scans = sorted(BINDING.resolve_path(settings.data.root).glob("raw/spheres-*/imagesTr/*.nii.gz"))
    output = tmp_path / "mask.nii.gz"

    assert predict_main([str(scans[0]), str(output), *session_options]) == 0
    assert capsys.readouterr().out == f"wrote {output}\n"
    scan, mask = nib.load(scans[0]), nib.load(output)
    assert mask.shape == scan.shape
    np.testing.assert_allclose(mask.affine, scan.affine, atol=1e-5)
    assert set(np.unique(np.asarray(mask.dataobj))) <= {0, 1}
