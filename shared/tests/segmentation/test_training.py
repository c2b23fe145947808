"""Segmentation on the engine learns, validates per class, and names a broken case by its file."""

from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from medai.engine.devices import plan_devices
from medai.engine.fit import fit
from medai.io import MedicalImageError
from medai.segmentation.networks import build_network
from medai.segmentation.training import SegmentationTask, data_loaders, plain_tensor


@pytest.fixture
def demo_loaders(demo):
    settings = demo.load("train.batch_size=2", "train.samples_per_volume=1")
    data = demo.project.load_data(settings)
    return settings, data, data_loaders(settings, data)


def test_loaders_give_patches_for_training_and_whole_volumes_for_validation(demo_loaders):
    settings, data, (train_loader, val_loader) = demo_loaders

    batch = next(iter(train_loader))
    assert tuple(batch["image"].shape) == (2, 1, 16, 16, 16)
    assert tuple(batch["label"].shape) == (2, 1, 16, 16, 16)
    whole = next(iter(val_loader))
    assert tuple(whole["image"].shape) == (1, 1, 20, 20, 20)  # 20 voxels of 2 mm, kept
    # Validation is not augmented: exactly the window mapped to [0, 1].
    assert float(whole["image"].min()) == 0.0
    assert float(whole["image"].max()) == 1.0
    assert len(val_loader) == len(data.validation_cases())
    assert settings.train.batch_size == 2


@pytest.mark.slow  # torch.optim imports torch._dynamo: ~10 s on a cold start
def test_the_engine_lowers_the_loss_and_keeps_the_best_validated_epoch(demo_loaders, tmp_path):
    settings, data, (train_loader, val_loader) = demo_loaders
    settings = settings.model_copy(
        update={"train": settings.train.model_copy(update={"epochs": 3, "val_every": 2})}
    )
    torch.manual_seed(0)
    network = build_network(settings.model, len(data.labels))
    task = SegmentationTask(network, settings, ["sphere"])
    records = []
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()

    outcome = fit(
        task,
        train_loader,
        val_loader,
        train=settings.train,
        devices=plan_devices(settings.train),
        checkpoint_dir=checkpoints,
        on_epoch=records.append,
    )

    assert [r.epoch for r in records] == [1, 2, 3]
    # val_every=2 validates epoch 2, and the last epoch whatever val_every says.
    assert [r.validated for r in records] == [False, True, True]
    assert set(records[1].scores) == {"val_dice_mean", "val_dice_sphere"}
    assert all(math.isfinite(r.train_loss) for r in records)
    assert records[-1].train_loss < records[0].train_loss
    assert outcome.best_epoch in {2, 3}
    assert outcome.best_score == max(r.scores["val_dice_mean"] for r in records if r.validated)
    assert 0.0 <= outcome.best_score <= 1.0
    assert outcome.checkpoint == checkpoints / "best.ckpt"
    assert (checkpoints / "resume.ckpt").is_file()  # the state after the last epoch
    # The task holds the best epoch's weights, on the CPU.
    kept = torch.load(outcome.checkpoint, weights_only=True)["state_dict"]
    for key, value in task.state_dict().items():
        assert value.device.type == "cpu"
        torch.testing.assert_close(value, kept[key])


def test_plain_tensor_drops_monai_metadata():
    meta = MetaTensor(torch.ones(1, 2), affine=torch.eye(4))
    plain = plain_tensor(meta)
    assert type(plain) is torch.Tensor
    torch.testing.assert_close(plain, torch.ones(1, 2))


def test_a_label_with_an_undeclared_value_is_named_not_wrapped_by_monai(demo):
    settings = demo.load()
    data = demo.project.load_data(settings)
    case = data.training_cases()[0]
    label = nib.load(case.label)
    values = np.asarray(label.dataobj).copy()
    values[0, 0, 0] = 7
    nib.save(nib.Nifti1Image(values, label.affine, label.header), case.label)

    with pytest.raises(MedicalImageError, match=rf"{case.label.name}: label values \[7\]"):
        data_loaders(settings, data)
