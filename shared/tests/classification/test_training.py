import logging

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from medai.classification.export import export_checked_classifier
from medai.classification.metrics import evaluate_classifier, macro_auroc
from medai.classification.onnx_classifier import OnnxClassifier
from medai.classification.settings import TrainSettings
from medai.classification.training import (
    augmentation,
    masked_bce_with_logits,
    positive_weights,
    predict_logits,
    stack_items,
    train_classifier,
    training_setup,
)
from medai.engine.records import EpochRecord

LABELS = ("square", "bar")


def _val_probabilities(run):
    images, _ = stack_items(run.val.items, "val")
    return torch.sigmoid(predict_logits(run.network, images)).numpy()


def test_a_few_epochs_learn_the_easy_problem(trained):
    assert trained.outcome.best_score > 0.9
    assert len(trained.outcome.history) == trained.config.epochs


def test_every_epoch_is_reported_with_loss_lr_and_validation(trained):
    reported = trained.epochs_reported

    assert [m.epoch for m in reported] == [1, 2, 3, 4, 5]
    assert tuple(reported) == trained.outcome.history
    assert all(m.validated for m in reported)
    assert reported[0].lr == pytest.approx(trained.config.learning_rate)
    assert reported[-1].lr < reported[0].lr
    assert reported[-1].train_loss < reported[0].train_loss
    assert set(reported[0].as_metrics()) == {"train_loss", "lr", "epoch_seconds", "val_auroc_macro"}


def test_the_network_ends_with_the_best_validation_weights(trained):
    best = trained.outcome.best_epoch
    history = trained.outcome.history

    assert history[best - 1].scores["val_auroc_macro"] == trained.outcome.best_score
    assert trained.outcome.best_score == max(m.scores["val_auroc_macro"] for m in history)
    assert macro_auroc(trained.val.labels, _val_probabilities(trained)) == pytest.approx(
        trained.outcome.best_score
    )


def test_the_square_cam_is_brightest_on_the_square(trained):
    # The CAM is the head's weights over the last feature map (8x8 here), upsampled: its
    # argmax snaps to block centres, so localisation is judged by where the mass is.
    images, _ = stack_items(trained.val.items, "val")
    with torch.no_grad():
        _, cams = trained.network.exportable()(images)
    ratios = []
    for index, corner in enumerate(trained.val.squares):
        if corner is None:
            continue
        cam = cams[index, 0].numpy()
        inside = np.zeros(cam.shape, dtype=bool)
        inside[max(corner[0] - 2, 0) : corner[0] + 10, max(corner[1] - 2, 0) : corner[1] + 10] = (
            True
        )
        ratios.append(float(cam[inside].mean()) / max(float(cam[~inside].mean()), 1e-6))

    assert len(ratios) >= 8
    assert min(ratios) > 1.5, ratios  # a CAM blind to the square would give about 1


def test_onnx_serving_of_the_trained_model_gives_the_torch_probabilities(trained, tmp_path):
    path = export_checked_classifier(trained.network, tmp_path / "model.onnx", image_size=32)
    classifier = OnnxClassifier(path, 32, LABELS)

    outputs = classifier.predict_batch(trained.val.images)
    served = np.array([[o.probabilities[label] for label in LABELS] for o in outputs])

    assert np.allclose(served, _val_probabilities(trained), atol=1e-5)
    report = evaluate_classifier(trained.val.labels, served, LABELS, n_resamples=50)
    assert report.macro_auroc.mean > 0.9


def test_same_seed_trains_identically_and_validation_follows_val_every(
    synthetic, network_factory, tmp_path
):
    train, val = synthetic(24, seed=10), synthetic(8, seed=11)

    runs = []
    for index, seed in enumerate((4, 4, 5)):
        network = network_factory()
        config = TrainSettings(epochs=3, batch_size=8, val_every=2)
        checkpoints = tmp_path / str(index)
        checkpoints.mkdir()
        outcome = train_classifier(
            network, train.items, val.items, train=config, checkpoint_dir=checkpoints, seed=seed
        )
        runs.append((outcome, network.state_dict()))

    (first, first_state), (again, again_state), (other, _) = runs
    assert [m.train_loss for m in first.history] == [m.train_loss for m in again.history]
    assert all(torch.equal(first_state[key], again_state[key]) for key in first_state)
    assert [m.train_loss for m in other.history] != [m.train_loss for m in first.history]
    assert [m.validated for m in first.history] == [False, True, True]


def test_augmentation_moves_and_changes_the_image_but_never_flips_it():
    image = torch.zeros(1, 32, 32)
    image[:, :, :12] = 1.0
    transform = augmentation(32)
    transform.set_random_state(seed=0)

    outputs = [torch.as_tensor(transform(image)) for _ in range(40)]

    assert all(out.shape == (1, 32, 32) for out in outputs)
    assert all(out[..., :16].mean() > out[..., 16:].mean() + 0.3 for out in outputs)
    assert sum(not torch.allclose(out, image) for out in outputs) > 30


def test_positive_weights_are_negatives_over_positives_ignoring_unknowns(caplog):
    labels = torch.tensor(
        [[1, 0, 0], [0, 0, 0], [0, float("nan"), 0], [0, 1, 0]], dtype=torch.float32
    )

    with caplog.at_level(logging.WARNING, logger="medai.classification.training"):
        weights = positive_weights(labels)

    assert weights.tolist() == [3.0, 2.0, 1.0]
    assert "label column 2 has 0 positive and 4 negative training images" in caplog.text


def test_masked_loss_is_the_mean_over_known_targets_only():
    logits = torch.tensor([[2.0, -1.0], [0.5, 3.0]])
    targets = torch.tensor([[1.0, float("nan")], [0.0, 1.0]])
    weight = torch.tensor([2.0, 1.0])

    loss = masked_bce_with_logits(logits, targets, weight)

    known = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.nan_to_num(targets), pos_weight=weight, reduction="none"
    )
    expected = (known[0, 0] + known[1, 0] + known[1, 1]) / 3
    assert loss.item() == pytest.approx(expected.item())
    nothing_known = torch.full((2, 2), float("nan"))
    assert masked_bce_with_logits(logits, nothing_known, weight).item() == 0.0


@pytest.mark.parametrize(
    ("field", "value"),
    [("epochs", 0), ("val_every", 0), ("learning_rate", 0.0), ("num_workers", -1)],
)
def test_train_settings_refuse_values_that_cannot_train(field, value):
    with pytest.raises(ValidationError, match=field):
        TrainSettings(**{field: value})


def test_inconsistent_items_are_refused_with_the_item_named(network_factory):
    good = (np.zeros((32, 32), np.float32), np.array([1.0, 0.0], np.float32))
    small = (np.zeros((16, 16), np.float32), np.array([1.0, 0.0], np.float32))
    broken = (np.full((32, 32), np.nan, np.float32), np.array([1.0, 0.0], np.float32))

    with pytest.raises(ValueError, match=r"train_items\[1\]: image \(16, 16\)"):
        stack_items([good, small], "train_items")
    with pytest.raises(ValueError, match=r"train_items\[1\]: image has non-finite values"):
        stack_items([good, broken], "train_items")
    with pytest.raises(ValueError, match="val_items: no images"):
        stack_items([], "val_items")
    with pytest.raises(ValueError, match=r"train_items\[1\]: labels must be 1 .present., 0"):
        stack_items([good, (good[0], np.array([0.5, 1.0], np.float32))], "train_items")
    one_epoch = TrainSettings(epochs=1)
    with pytest.raises(ValueError, match="the network has 3 outputs, the items 2 labels"):
        training_setup(network_factory(num_labels=3), [good, good], [good], train=one_epoch, seed=0)
    with pytest.raises(ValueError, match="differ from validation images"):
        training_setup(network_factory(), [good, good], [small], train=one_epoch, seed=0)


def test_epoch_records_leave_out_validation_when_there_was_none():
    record = EpochRecord(epoch=1, train_loss=0.5, lr=0.1, seconds=2.0)

    assert not record.validated
    assert record.as_metrics() == {"train_loss": 0.5, "lr": 0.1, "epoch_seconds": 2.0}
