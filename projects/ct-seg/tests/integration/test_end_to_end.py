"""A tiny ct-seg model trained into a temporary store, registered, run."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from ct_seg.cli import predict_main
from ct_seg.settings import BINDING, PROJECT

pytestmark = pytest.mark.integration


def _data(session_overrides: list[str]):
    """The session's dataset, as training read it (the project's data source decides it)."""
    return PROJECT.load_data(BINDING.load(session_overrides, environ={}))


def test_training_registers_the_best_model_as_challenger_with_lineage(
    trained, registry, session_overrides
):
    challenger = registry.get_model_version_by_alias("ct-seg", "challenger")
    labels = {str(value): name for value, name in _data(session_overrides).labels.items()}

    assert (challenger.run_id, str(challenger.version)) == (trained.run_id, trained.model_version)
    assert json.loads(challenger.tags["medai.labels"]) == labels
    assert challenger.tags["medai.git_commit"]
    assert 0.0 <= trained.best_score <= 1.0
    assert trained.best_epoch in {1, 2}
    history = registry.get_metric_history(trained.run_id, "val_dice_mean")
    assert [point.step for point in history] == [1, 2]


@pytest.mark.usefixtures("trained")
def test_the_predict_command_writes_a_label_mask_on_the_input_grid(
    session_overrides, session_options, tmp_path, capsys
):
    data = _data(session_overrides)
    scan_path = data.dataset.cases[0].image
    output = tmp_path / "mask.nii.gz"

    assert predict_main([str(scan_path), str(output), *session_options]) == 0
    assert capsys.readouterr().out == f"wrote {output}\n"
    scan, mask = nib.load(scan_path), nib.load(output)
    assert mask.shape == scan.shape[:3]
    np.testing.assert_allclose(mask.affine, scan.affine, atol=1e-5)
    assert set(np.unique(np.asarray(mask.dataobj))) <= set(data.labels)
