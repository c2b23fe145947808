"""``train.cache``: cases in memory, on disk (keyed by content) or preprocessed every epoch.

Each mode must give the very batches the others give, check every case before training
(a broken one named, not discovered mid-run), and the disk cache must never hand back
an entry made from other settings or another file's content.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import CacheDataset, PersistentDataset
from monai.utils import set_determinism

from medai.config import ConfigError
from medai.data.array_cache import SETTINGS_FILE
from medai.io import MedicalImageError
from medai.segmentation.task import data_loaders


@pytest.fixture(autouse=True)
def _global_seeds_restored():
    yield
    set_determinism(seed=None)


def loaders(demo, *overrides, project_dir=None):
    settings = demo.load("train.batch_size=2", "train.samples_per_volume=1", *overrides)
    data = demo.project.load_data(settings)
    return data, data_loaders(settings, data, project_dir=project_dir)


def batches(train_loader, val_loader):
    """The first training batch and every validation volume, drawn with fixed seeds."""
    train_loader.dataset.transform.set_random_state(seed=0)
    torch.manual_seed(0)
    first = next(iter(train_loader))
    return (
        [torch.as_tensor(first["image"]), torch.as_tensor(first["label"])],
        [torch.as_tensor(case["image"]) for case in val_loader],
    )


def disk(cache_dir):
    return ("train.cache=disk", f"train.cache_dir={cache_dir}")


def entries(cache_dir):
    return sorted(cache_dir.glob("*/*.pt"))


@pytest.mark.parametrize("mode", ["disk", "none"])
def test_every_mode_gives_the_batches_of_the_memory_cache(demo, tmp_path, mode):
    set_determinism(seed=0)
    _, in_memory = loaders(demo)
    expected = batches(*in_memory)
    overrides = disk(tmp_path / "cache") if mode == "disk" else ("train.cache=none",)

    set_determinism(seed=0)
    _, other = loaders(demo, *overrides)
    got = batches(*other)

    assert isinstance(in_memory[0].dataset, CacheDataset)
    assert not isinstance(other[0].dataset, CacheDataset)  # nothing held in memory
    for want, have in zip([*expected[0], *expected[1]], [*got[0], *got[1]], strict=True):
        torch.testing.assert_close(have, want)


def test_the_disk_cache_is_filled_before_training_and_named_by_hashes(demo, tmp_path):
    cache_dir = tmp_path / "cache"
    data, (train_loader, _) = loaders(demo, *disk(cache_dir))

    assert isinstance(train_loader.dataset, PersistentDataset)
    written = entries(cache_dir)
    assert len(written) == len(data.training_cases()) + len(data.validation_cases())
    assert {len(path.stem) for path in written} == {64}
    folders = sorted(p for p in cache_dir.iterdir() if p.is_dir())
    assert len(folders) == 2  # the training chain's head and the validation chain
    described = " ".join((folder / SETTINGS_FILE).read_text() for folder in folders)
    assert "sphere_" not in described
    assert all("sphere_" not in path.name for path in cache_dir.rglob("*"))

    before = {path: path.stat().st_mtime_ns for path in written}
    loaders(demo, *disk(cache_dir))
    assert {path: path.stat().st_mtime_ns for path in entries(cache_dir)} == before


@pytest.mark.parametrize(
    "changed",
    ["preprocessing.intensity_max=250", "preprocessing.target_spacing=[2.5, 2.5, 2.5]"],
)
def test_a_changed_preprocessing_never_reads_a_stale_entry(demo, tmp_path, changed):
    cache_dir = tmp_path / "cache"
    loaders(demo, *disk(cache_dir))
    old = set(entries(cache_dir))

    set_determinism(seed=0)
    _, cached = loaders(demo, *disk(cache_dir), changed)
    got = batches(*cached)
    set_determinism(seed=0)
    _, fresh = loaders(demo, changed)
    expected = batches(*fresh)

    new = set(entries(cache_dir)) - old
    assert len(new) == len(old)
    assert {path.parent for path in new}.isdisjoint({path.parent for path in old})
    for want, have in zip([*expected[0], *expected[1]], [*got[0], *got[1]], strict=True):
        torch.testing.assert_close(have, want)


def test_a_file_rewritten_under_its_name_gets_a_new_entry(demo, tmp_path):
    cache_dir = tmp_path / "cache"
    data, _ = loaders(demo, *disk(cache_dir))
    case = data.validation_cases()[0]
    image = nib.load(case.images[0])
    brighter = np.asarray(image.dataobj, dtype=np.float32) + 100.0
    nib.save(nib.Nifti1Image(brighter, image.affine), case.images[0])
    count = len(entries(cache_dir))

    _, (_, val_loader) = loaders(demo, *disk(cache_dir))
    _, (_, fresh) = loaders(demo, "train.cache=none")

    assert len(entries(cache_dir)) == count + 1
    for have, want in zip(val_loader, fresh, strict=True):
        torch.testing.assert_close(torch.as_tensor(have["image"]), torch.as_tensor(want["image"]))


@pytest.mark.parametrize(
    "overrides",
    [("train.cache=none",), ("train.cache=memory", "train.cache_rate=0.0"), "disk"],
)
def test_a_broken_case_is_named_before_training_in_every_mode(demo, tmp_path, overrides):
    settings = demo.load()
    data = demo.project.load_data(settings)
    case = data.validation_cases()[-1]
    label = nib.load(case.label)
    values = np.asarray(label.dataobj).copy()
    values[0, 0, 0] = 7
    nib.save(nib.Nifti1Image(values, label.affine, label.header), case.label)
    if overrides == "disk":
        overrides = disk(tmp_path / "cache")

    with pytest.raises(MedicalImageError, match=rf"{case.label.name}: label values \[7\]"):
        loaders(demo, *overrides)


def test_cache_rate_holds_that_fraction_in_memory(demo):
    data, (train_loader, val_loader) = loaders(demo, "train.cache_rate=0.5")

    assert train_loader.dataset.cache_num == int(0.5 * len(data.training_cases()))  # floor
    assert val_loader.dataset.cache_num == int(0.5 * len(data.validation_cases()))


def test_a_relative_cache_dir_starts_at_the_project_folder(demo, tmp_path):
    with pytest.raises(ConfigError, match=r"^train.cache_dir: cache is relative .* absolute"):
        loaders(demo, "train.cache=disk", "train.cache_dir=cache")

    project_dir = tmp_path / "project"
    loaders(demo, "train.cache=disk", "train.cache_dir=cache", project_dir=project_dir)
    assert entries(project_dir / "cache")


def test_a_cache_dir_that_is_a_file_is_refused_by_its_key(demo, tmp_path):
    occupied = tmp_path / "a-file"
    occupied.write_text("not a folder")
    with pytest.raises(ConfigError, match=r"^train.cache_dir: .*a-file cannot hold the case"):
        loaders(demo, *disk(occupied))


def test_the_cache_mode_is_validated(demo):
    with pytest.raises(ConfigError, match=r"train.cache: Input should be 'memory', 'disk' or"):
        demo.load("train.cache=ram")
