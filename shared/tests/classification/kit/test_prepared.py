"""Radiographs read per item: the up-front check, the per-item dataset, the disk cache.

All on the demo project's real PNG and DICOM files; the image step that counts its
calls is a real step (it inverts the grey levels), not a mock of the reader.
"""

from __future__ import annotations

import dataclasses
import gc
import pickle
import tracemalloc

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from medai.classification.data import RadiographItem
from medai.classification.prepared import (
    CACHE_FORMAT,
    ImagePreparation,
    PreparedRadiographs,
    check_radiographs,
)
from medai.classification.preprocessing import prepare_image
from medai.classification.settings import PreprocessingSettings, TrainSettings
from medai.classification.training import ImageLabelDataset, train_classifier
from medai.classification.training_inputs import read_training_inputs
from medai.config import ConfigError
from medai.data.array_cache import SETTINGS_FILE
from medai.io import MedicalImageError, RadiographLimits


class CountingStep:
    """A picklable image step (inverts the grey levels) that counts the images it saw."""

    calls = 0

    def __call__(self, image: np.ndarray) -> np.ndarray:
        type(self).calls += 1
        return (1.0 - image).astype(np.float32)


@pytest.fixture
def counting_step():
    CountingStep.calls = 0
    return CountingStep()


def preparation_of(settings, step=None) -> ImagePreparation:
    return ImagePreparation(settings.preprocessing, settings.radiograph.limits(), step)


def cached_settings(demo, cache_dir, *more):
    return demo.load("train.cache=disk", f"train.cache_dir={cache_dir}", *more)


# ---------------------------------------------------------------------- read per item


def test_nothing_is_read_until_an_item_is_asked_for(demo):
    settings = demo.load()
    items = demo.project.load_data(settings).training_items()
    gone = items[0].path
    assert gone is not None
    gone.unlink()

    dataset = PreparedRadiographs(items, preparation_of(settings))  # no error: nothing read

    assert len(dataset) == len(items)
    assert dataset.labels.shape == (len(items), 2)
    assert dataset.image_shape == (32, 32)
    with pytest.raises(MedicalImageError, match=rf"{gone.name}: does not exist"):
        dataset[0]
    image, labels = dataset[1]
    expected = prepare_image(items[1].read(settings.radiograph.limits()).pixels, 32)
    np.testing.assert_array_equal(image, expected)
    np.testing.assert_array_equal(labels, np.asarray(items[1].labels, np.float32))


def test_the_dataset_pickles_and_shards_across_workers_and_ranks(demo):
    settings = demo.load()
    items = demo.project.load_data(settings).training_items()
    prepared = PreparedRadiographs(items, preparation_of(settings, CountingStep()))
    dataset = ImageLabelDataset(prepared.images, torch.from_numpy(prepared.labels))

    copy = pickle.loads(pickle.dumps(dataset))  # noqa: S301 - what a spawned worker receives
    assert torch.equal(copy[3][0], dataset[3][0])

    seen = []
    for rank in (0, 1):
        sampler = DistributedSampler(dataset, num_replicas=2, rank=rank, shuffle=False)
        loader = DataLoader(dataset, batch_size=5, sampler=sampler, num_workers=2)
        indices = list(sampler)
        images = torch.cat([batch[0] for batch in loader])
        assert images.shape == (len(indices), 1, 32, 32)
        for row, index in enumerate(indices):
            assert torch.equal(images[row], dataset[index][0])
        seen.extend(indices)
    assert set(seen) == set(range(len(dataset)))


def test_a_bad_file_stops_the_check_with_its_name_and_the_check_keeps_no_pixels(demo):
    settings = demo.load()
    items = demo.project.load_data(settings).training_items()
    preparation = preparation_of(settings)

    def peak_of(batch) -> int:
        gc.collect()
        tracemalloc.start()
        try:
            check_radiographs(batch, preparation, threads=2)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    once, four_times = peak_of(items), peak_of(items * 4)
    # Holding the prepared images would take 4x; the check holds a few at a time.
    assert four_times < 1.5 * once, (once, four_times)

    broken = items[-1].path
    assert broken is not None
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(MedicalImageError, match=rf"{broken.name}: has a PNG header"):
        check_radiographs(items, preparation, threads=2)


def test_a_failing_image_step_names_the_item():
    item = RadiographItem("train/000007", (1.0,), pixels=np.full((40, 40), 128, np.uint8))
    preparation = ImagePreparation(
        PreprocessingSettings(image_size=32), RadiographLimits(), image_step=lambda image: image[1:]
    )
    with pytest.raises(MedicalImageError, match=r"^train/000007: cannot be prepared .* shape"):
        check_radiographs([item], preparation)


# --------------------------------------------------------------------------- disk cache


def test_the_cache_is_filled_by_the_check_and_spares_the_decode_next_time(
    demo, tmp_path, counting_step
):
    project = dataclasses.replace(demo.project, image_step=counting_step)
    cache_dir = tmp_path / "cache"
    settings = cached_settings(demo, cache_dir, "preprocessing.image_step=project")

    first = read_training_inputs(project, settings)
    count = len(first.train_items) + len(first.val_items)
    assert CountingStep.calls == count  # every image prepared once, by the check

    (folder,) = [p for p in cache_dir.iterdir() if p.is_dir()]
    entries = sorted(p.name for p in folder.glob("*.npy"))
    assert len(entries) == count
    assert all(len(name) == len("0" * 64 + ".npy") for name in entries)  # hashes only
    written = " ".join([*entries, (folder / SETTINGS_FILE).read_text()])
    assert "patient" not in written
    assert "study" not in written

    again = read_training_inputs(project, settings)
    images = [again.train_items[i][0] for i in range(len(again.train_items))]
    assert CountingStep.calls == count  # nothing decoded or prepared a second time
    preparation = preparation_of(settings, CountingStep())
    uncached = PreparedRadiographs(first.train_items.items, preparation)
    for index, image in enumerate(images):
        np.testing.assert_array_equal(image, uncached[index][0])


@pytest.mark.parametrize(
    "changed",
    [
        ("preprocessing.image_size=24",),
        ("preprocessing.standardize=true",),
        ("radiograph.min_size=16",),
    ],
)
def test_a_changed_preprocessing_never_reads_a_stale_entry(demo, tmp_path, changed):
    cache_dir = tmp_path / "cache"
    before = read_training_inputs(demo.project, cached_settings(demo, cache_dir))
    settings = cached_settings(demo, cache_dir, *changed)

    after = read_training_inputs(demo.project, settings)

    assert before.train_items.cache is not None
    assert after.train_items.cache is not None
    assert after.train_items.cache.folder != before.train_items.cache.folder
    assert not set(after.train_items.keys or ()) & set(before.train_items.keys or ())
    fresh = PreparedRadiographs(after.train_items.items, preparation_of(settings))
    for index in range(len(after.train_items)):
        np.testing.assert_array_equal(after.train_items[index][0], fresh[index][0])


def test_an_image_step_is_part_of_the_key(demo, tmp_path, counting_step):
    cache_dir = tmp_path / "cache"
    plain = read_training_inputs(demo.project, cached_settings(demo, cache_dir))
    project = dataclasses.replace(demo.project, image_step=counting_step)
    stepped = read_training_inputs(
        project, cached_settings(demo, cache_dir, "preprocessing.image_step=project")
    )

    assert CountingStep.calls == len(stepped.train_items) + len(stepped.val_items)
    np.testing.assert_allclose(stepped.train_items[0][0], 1.0 - plain.train_items[0][0])


def test_a_changed_file_gets_a_new_entry(demo, tmp_path):
    cache_dir = tmp_path / "cache"
    settings = cached_settings(demo, cache_dir)
    before = read_training_inputs(demo.project, settings)
    first, second = before.train_items.items[0], before.train_items.items[1]
    assert first.path is not None
    assert second.path is not None
    assert first.path.suffix == second.path.suffix
    first.path.write_bytes(second.path.read_bytes())  # same name, other content

    after = read_training_inputs(demo.project, settings)

    assert before.train_items.keys is not None
    assert after.train_items.keys is not None
    assert after.train_items.keys[0] != before.train_items.keys[0]
    assert after.train_items.keys[0] == after.train_items.keys[1]
    np.testing.assert_array_equal(after.train_items[0][0], after.train_items[1][0])


def test_a_damaged_entry_is_prepared_again(demo, tmp_path):
    settings = cached_settings(demo, tmp_path / "cache")
    inputs = read_training_inputs(demo.project, settings)
    dataset = inputs.train_items
    assert dataset.cache is not None
    assert dataset.keys is not None
    expected = dataset[0][0]
    entry = dataset.cache.path(dataset.keys[0])
    entry.write_bytes(b"not an array")

    np.testing.assert_array_equal(dataset[0][0], expected)
    assert np.load(entry).shape == (32, 32)  # stored anew


def test_medmnist_arrays_are_cached_by_their_content(demo, tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in (("train", 12), ("val", 4), ("test", 4)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (count, 32, 32), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 2, (count, 2), dtype=np.uint8)
    npz = tmp_path / "shapemnist.npz"
    np.savez(npz, **arrays)
    settings = cached_settings(
        demo, tmp_path / "cache", "data.source=medmnist", f"data.medmnist.path={npz}"
    )

    inputs = read_training_inputs(demo.project, settings)

    assert inputs.train_items.keys is not None
    assert len(set(inputs.train_items.keys)) == len(inputs.train_items)
    item = inputs.train_items.items[2]
    expected = prepare_image(item.read(RadiographLimits()).pixels, 32)
    np.testing.assert_array_equal(inputs.train_items[2][0], expected)


def test_a_cache_dir_that_cannot_be_a_folder_is_refused_by_its_key(demo, tmp_path):
    occupied = tmp_path / "a-file"
    occupied.write_text("not a folder")
    settings = cached_settings(demo, occupied)

    with pytest.raises(ConfigError, match=r"^train.cache_dir: .*a-file cannot hold the image"):
        read_training_inputs(demo.project, settings)


def test_the_cache_setting_is_validated(demo):
    with pytest.raises(ConfigError, match=r"train.cache: Input should be 'none' or 'disk'"):
        demo.load("train.cache=memory")


def test_training_reads_from_the_cache(demo, tmp_path, network_factory):
    settings = cached_settings(demo, tmp_path / "cache")
    inputs = read_training_inputs(demo.project, settings)
    assert inputs.train_items.cache is not None
    assert CACHE_FORMAT >= 1
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()

    outcome = train_classifier(
        network_factory(),
        inputs.train_items,
        inputs.val_items,
        train=TrainSettings(epochs=1, batch_size=8, augment=True),
        checkpoint_dir=checkpoints,
        seed=0,
    )

    assert len(outcome.history) == 1
    assert np.isfinite(outcome.history[0].train_loss)
