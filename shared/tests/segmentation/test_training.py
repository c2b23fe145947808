"""The training loop learns, validates per class, and names a broken case by its file."""

from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from medai.io import MedicalImageError
from medai.segmentation.networks import build_network
from medai.segmentation.training import SegmentationTrainer, data_loaders, plain_tensor


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
def test_the_loss_falls_and_validation_gives_one_dice_per_foreground_class(demo_loaders):
    settings, data, (train_loader, val_loader) = demo_loaders
    torch.manual_seed(0)
    trainer = SegmentationTrainer(build_network(settings.model, len(data.labels)), settings)
    batch = next(iter(train_loader))
    image, label = plain_tensor(batch["image"], "cpu"), plain_tensor(batch["label"], "cpu")

    first = float(trainer.train_step(image, label))
    for _ in range(8):
        last = float(trainer.train_step(image, label))
    epoch_loss = trainer.train_epoch(train_loader)
    per_class = trainer.validate(val_loader)

    assert last < first
    assert math.isfinite(epoch_loss)
    assert len(per_class) == 1
    assert 0.0 <= per_class[0] <= 1.0


def test_plain_tensor_drops_monai_metadata():
    meta = MetaTensor(torch.ones(1, 2), affine=torch.eye(4))
    plain = plain_tensor(meta, "cpu")
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
