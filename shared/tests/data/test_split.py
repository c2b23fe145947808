import json

import pytest

from medai.data import DatasetError, Split, make_split, resolve_split
from medai.data.split import check_no_group_leak, make_group_split

CASES = [f"case_{i:02d}" for i in range(20)]


def test_make_split_is_deterministic_for_the_same_ids_fraction_and_seed():
    first = make_split(CASES, 0.25, seed=7)

    assert make_split(CASES, 0.25, seed=7) == first
    assert make_split(list(reversed(CASES)), 0.25, seed=7) == first


def test_make_split_is_disjoint_and_covers_every_case_once():
    split = make_split([*CASES, CASES[0]], 0.3, seed=1)

    assert not set(split.train) & set(split.validation)
    assert sorted(split.train + split.validation) == CASES
    assert list(split.train) == sorted(split.train)
    assert list(split.validation) == sorted(split.validation)


@pytest.mark.parametrize(
    ("n_cases", "fraction", "n_validation"),
    [(20, 0.25, 5), (20, 0.1, 2), (10, 0.2, 2), (3, 0.01, 1), (3, 0.99, 2), (2, 0.5, 1)],
)
def test_make_split_respects_the_fraction_and_keeps_both_sides_non_empty(
    n_cases, fraction, n_validation
):
    split = make_split(CASES[:n_cases], fraction, seed=0)

    assert len(split.validation) == n_validation
    assert len(split.train) == n_cases - n_validation
    assert (split.seed, split.validation_fraction, split.source) == (0, fraction, "computed")


def test_make_split_changes_with_the_seed():
    validations = {make_split(CASES, 0.25, seed=seed).validation for seed in range(5)}

    assert len(validations) > 1


@pytest.mark.parametrize("case_ids", [[], ["only"], ["same", "same"]])
def test_make_split_needs_two_distinct_cases(case_ids):
    with pytest.raises(ValueError, match=r"need at least 2 cases to split, got [01]$"):
        make_split(case_ids, 0.5, seed=0)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_make_split_rejects_a_fraction_outside_zero_one(fraction):
    with pytest.raises(ValueError, match=f"between 0 and 1, got {fraction}"):
        make_split(CASES, fraction, seed=0)


def test_split_to_json_holds_every_field():
    split = Split(("a", "b"), ("c",), seed=3, validation_fraction=0.3)

    assert json.loads(split.to_json()) == {
        "train": ["a", "b"],
        "validation": ["c"],
        "seed": 3,
        "validation_fraction": 0.3,
        "source": "computed",
    }


def test_resolve_split_computes_a_seeded_split_and_records_it(tmp_path):
    record = tmp_path / "processed" / "nested" / "split.json"

    split = resolve_split(
        tmp_path / "raw", CASES, validation_fraction=0.25, seed=4, record_to=record
    )

    assert split == make_split(CASES, 0.25, seed=4)
    assert record.read_text(encoding="utf-8") == split.to_json()


def _user_split(root, folds):
    root.mkdir(parents=True, exist_ok=True)
    path = root / "splits_final.json"
    path.write_text(folds if isinstance(folds, str) else json.dumps(folds), encoding="utf-8")
    return path


def test_resolve_split_uses_the_datasets_splits_final_json(tmp_path):
    raw = tmp_path / "raw"
    path = _user_split(
        raw,
        [
            {"train": ["case_03", "case_01"], "val": ["case_02"]},
            {"train": ["case_02", "case_03"], "val": ["case_01"]},
        ],
    )
    record = tmp_path / "split.json"

    split = resolve_split(raw, CASES[:4], validation_fraction=0.5, seed=0, record_to=record, fold=1)

    assert split.train == ("case_02", "case_03")
    assert split.validation == ("case_01",)
    assert split.source == str(path)
    assert split.seed == -1
    assert split.validation_fraction == 0.25
    assert json.loads(record.read_text(encoding="utf-8"))["source"] == str(path)


def _user_split_error(tmp_path, folds, fold=0):
    raw = tmp_path / "raw"
    path = _user_split(raw, folds)
    record = tmp_path / "split.json"
    with pytest.raises(DatasetError) as caught:
        resolve_split(raw, CASES[:4], validation_fraction=0.5, seed=0, record_to=record, fold=fold)
    assert caught.value.path == path
    assert "\n" not in str(caught.value)
    assert not record.exists()
    return caught.value.problem


def test_user_split_naming_an_unknown_case_is_an_error(tmp_path):
    problem = _user_split_error(tmp_path, [{"train": ["case_00", "ghost"], "val": ["case_01"]}])

    assert problem == "names case 'ghost' which the dataset does not have"


def test_user_split_with_a_case_on_both_sides_is_an_error(tmp_path):
    folds = [{"train": ["case_00", "case_01"], "val": ["case_01"]}]

    problem = _user_split_error(tmp_path, folds)

    assert problem == "case 'case_01' is in both train and val of fold 0"


@pytest.mark.parametrize(
    ("folds", "fold"),
    [
        ([{"train": ["case_00"], "val": ["case_01"]}], 1),
        ([{"train": ["case_00"], "validation": ["case_01"]}], 0),
        ({"train": ["case_00"], "val": ["case_01"]}, 0),
        ("[{not json", 0),
    ],
)
def test_malformed_user_split_is_an_error_naming_the_fold(tmp_path, folds, fold):
    problem = _user_split_error(tmp_path, folds, fold)

    assert problem.startswith(f"cannot read fold {fold} with 'train' and 'val' lists (")


# --- patient-level (group) splits ------------------------------------------------------------

# 12 patients with 1 to 4 images each: image "p03_v2" belongs to patient "p03".
GROUPS = {f"p{p:02d}_v{v}": f"p{p:02d}" for p in range(12) for v in range(1 + p % 4)}
IMAGES = sorted(GROUPS)


def test_make_group_split_keeps_every_patient_on_one_side():
    split = make_group_split(IMAGES, GROUPS, 0.25, seed=3)

    train_patients = {GROUPS[item] for item in split.train}
    validation_patients = {GROUPS[item] for item in split.validation}
    assert not train_patients & validation_patients
    assert len(validation_patients) == 3  # a quarter of 12 patients, not of the images
    assert sorted(split.train + split.validation) == IMAGES
    assert list(split.validation) == sorted(split.validation)
    check_no_group_leak(split, GROUPS)


def test_make_group_split_is_deterministic_and_changes_with_the_seed():
    first = make_group_split(IMAGES, GROUPS, 0.25, seed=3)

    assert make_group_split(list(reversed(IMAGES)), GROUPS, 0.25, seed=3) == first
    assert len({make_group_split(IMAGES, GROUPS, 0.25, seed=s).validation for s in range(6)}) > 1
    assert (first.seed, first.validation_fraction) == (3, 0.25)


def test_make_group_split_with_one_item_per_group_matches_the_case_split():
    one_each = {case: case for case in CASES}

    assert make_group_split(CASES, one_each, 0.25, seed=7) == make_split(CASES, 0.25, seed=7)


def test_make_group_split_puts_one_group_on_each_side_at_least():
    split = make_group_split(IMAGES[:3], GROUPS, 0.99, seed=0)  # p00 (1 image), p01 (2 images)

    assert len({GROUPS[item] for item in split.train}) == 1
    assert len({GROUPS[item] for item in split.validation}) == 1
    assert sorted(split.train + split.validation) == IMAGES[:3]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["p01_v0", "p01_v1"], r"need at least 2 groups to split, got 1$"),
        (["p01_v0", "stranger"], r"item 'stranger' has no group$"),
    ],
)
def test_make_group_split_needs_two_groups_and_a_group_for_every_item(items, message):
    with pytest.raises(ValueError, match=message):
        make_group_split(items, GROUPS, 0.5, seed=0)


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_make_group_split_rejects_a_fraction_outside_zero_one(fraction):
    with pytest.raises(ValueError, match=f"between 0 and 1, got {fraction}"):
        make_group_split(IMAGES, GROUPS, fraction, seed=0)


def test_check_no_group_leak_names_the_first_patient_on_both_sides():
    split = Split(
        train=("p03_v0", "p05_v0", "p02_v0"),
        validation=("p03_v1", "p02_v1", "p01_v0"),
        seed=0,
        validation_fraction=0.5,
        source="/data/splits.json",
    )

    with pytest.raises(DatasetError) as caught:
        check_no_group_leak(split, GROUPS)

    assert str(caught.value) == (
        "/data/splits.json: patient/group 'p02' has items in both train and validation "
        "(2 such groups); split by patient"
    )


def test_check_no_group_leak_names_an_item_without_a_group():
    split = Split(("p00_v0",), ("ghost",), seed=0, validation_fraction=0.5)

    with pytest.raises(DatasetError, match=r"^computed: item 'ghost' has no patient/group$"):
        check_no_group_leak(split, GROUPS)


def test_check_no_group_leak_catches_a_case_split_of_multi_image_patients():
    leaky = make_split(IMAGES, 0.5, seed=0)  # splits images, not patients

    with pytest.raises(DatasetError, match="has items in both train and validation"):
        check_no_group_leak(leaky, GROUPS)
