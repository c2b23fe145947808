"""Region-based training on four channels: targets, loss, per-region Dice, network checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from medai.errors import NetworkContractError
from medai.io import ChannelVolume
from medai.segmentation.networks import build_network
from medai.segmentation.regions import Regions, region_masks
from medai.segmentation.segmenter import Segmenter
from medai.segmentation.settings import InferenceSettings, PreprocessingSettings
from medai.segmentation.training import SegmentationTask, data_loaders, train
from medai.segmentation.transforms import LABEL, RegionMasksd

CHANNELS = ("T1", "T1c", "T2", "FLAIR")  # as conftest's dataset.json names them
REGION_NAMES = ("whole_tumour", "tumour_core", "enhancing_tumour")
SPACING = 2.0
BRATS = Regions(REGION_NAMES, ((1, 2, 3), (2, 3), (3,)), (1, 2, 3))


def test_the_project_config_gives_region_data(tumours):
    data = tumours.project.load_data(tumours.load())

    assert data.dataset.channels == CHANNELS
    assert data.regions == BRATS
    assert data.output_channels == 3


def test_region_masks_transform_keeps_the_label_metadata():
    affine = torch.diag(torch.tensor([2.0, 2.0, 2.0, 1.0], dtype=torch.float64))
    label = MetaTensor(torch.tensor([[[[0, 1, 2, 3]]]]), affine=affine)

    out = RegionMasksd(BRATS)({LABEL: label})[LABEL]

    assert isinstance(out, MetaTensor)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.affine, affine)
    assert out[:, 0, 0].tolist() == [[0, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1]]


def test_loaders_give_four_channel_patches_and_nested_region_targets(tumours):
    settings = tumours.load("train.batch_size=2", "train.samples_per_volume=1")
    train_loader, val_loader = data_loaders(settings, tumours.project.load_data(settings))

    batch = next(iter(train_loader))
    assert tuple(batch["image"].shape) == (2, 4, 16, 16, 16)
    masks = batch["label"].as_tensor()
    assert tuple(masks.shape) == (2, 3, 16, 16, 16)
    # Enhancing tumour inside the core, the core inside the whole tumour.
    assert torch.all(masks[:, 2] <= masks[:, 1])
    assert torch.all(masks[:, 1] <= masks[:, 0])
    whole = next(iter(val_loader))
    assert tuple(whole["label"].shape) == (1, 3, 24, 24, 24)
    # z-scored per channel over the head: zero outside stays zero, the head is centred.
    image = whole["image"].as_tensor()[0]
    inside = image[0] != 0
    assert torch.all(image[:, ~inside] == 0)
    assert abs(float(image[1][inside].mean())) < 0.05


def test_a_region_task_learns_on_sigmoid_outputs_and_scores_each_region(tumours):
    settings = tumours.load("train.batch_size=2", "train.samples_per_volume=1")
    data = tumours.project.load_data(settings)
    train_loader, val_loader = data_loaders(settings, data)
    torch.manual_seed(0)
    network = build_network(settings.model, num_classes=3, in_channels=4)
    task = SegmentationTask(network, settings, ["oedema", "necrosis", "enhancing"], BRATS)

    loss = task.training_loss(next(iter(train_loader)))
    loss.backward()
    task.eval()
    task.on_validation_epoch_start()
    for index, batch in enumerate(val_loader):
        task.validation_step(batch, index)
    scores = task.validation_scores()

    assert math.isfinite(float(loss.detach()))
    assert set(scores) == {"val_dice_mean", *(f"val_dice_{name}" for name in REGION_NAMES)}
    assert scores["val_dice_mean"] == pytest.approx(
        sum(scores[f"val_dice_{name}"] for name in REGION_NAMES) / 3
    )
    assert all(0.0 <= value <= 1.0 for value in scores.values())


def test_a_project_network_with_the_wrong_outputs_is_refused_before_training(
    make_tumours, tmp_path
):
    calls = []

    def label_network(settings, in_channels, out_channels):
        calls.append((in_channels, out_channels))
        return build_network(settings.model, num_classes=4, in_channels=in_channels)

    project = make_tumours(tmp_path / "repo", network=label_network)
    settings = project.load(f"tracking.uri=sqlite:///{tmp_path / 'never.db'}")

    message = (
        r"has 4 output channel.s. but the dataset has 3 regions "
        r"\(whole_tumour, tumour_core, enhancing_tumour\)"
    )
    with pytest.raises(NetworkContractError, match=message):
        train(project.project, settings)
    assert calls == [(4, 3)]  # the project's factory was asked for 4 inputs, 3 regions
    assert not (tmp_path / "never.db").exists()


def test_a_project_network_with_too_few_inputs_is_refused_naming_both(make_tumours, tmp_path):
    def one_channel(settings, in_channels, out_channels):  # noqa: ARG001 - ignores the data
        return build_network(settings.model, num_classes=out_channels, in_channels=1)

    project = make_tumours(tmp_path / "repo", network=one_channel)
    with pytest.raises(NetworkContractError, match=r"takes 1 input channel.s. but .* have 4"):
        train(project.project, project.load())


class PickRegions(torch.nn.Module):
    """Region ``r``'s logit is +-10 where channel ``r`` is above/below 0.5."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return (image[:, :3] - 0.5) * 20.0


def test_the_segmenter_paints_region_outputs_on_a_four_channel_volume(make_tumour_case):
    _, labels = make_tumour_case(seed=2)
    masks = region_masks(labels, BRATS).astype(np.float32)
    image = np.concatenate([masks, np.zeros((1, *labels.shape), np.float32)])
    volume = ChannelVolume(image, np.diag([SPACING, SPACING, SPACING, 1.0]), CHANNELS)
    prep = PreprocessingSettings(
        target_spacing=(SPACING,) * 3, patch_size=(16, 16, 16), intensity_min=0, intensity_max=1
    )
    segmenter = Segmenter(PickRegions(), prep, InferenceSettings(), regions=BRATS)

    assert segmenter.classes == 3
    np.testing.assert_array_equal(segmenter.segment(volume), labels)
