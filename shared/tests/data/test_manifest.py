import hashlib

from medai.data import ManifestEntry, build_manifest


def _files(root):
    root.mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(exist_ok=True)
    (root / "a.nii.gz").write_bytes(b"image a")
    (root / "labels" / "a.nii.gz").write_bytes(b"label a")
    (root / "b.nii.gz").write_bytes(b"image b")
    return [root / "a.nii.gz", root / "labels" / "a.nii.gz", root / "b.nii.gz"]


def test_manifest_entries_are_relative_hashed_and_sized(tmp_path):
    root = tmp_path / "data"
    _files(root)

    manifest = build_manifest("demo", root, ["b.nii.gz", root / "a.nii.gz", "labels/a.nii.gz"])

    assert manifest.name == "demo"
    assert manifest.entries == (
        ManifestEntry("a.nii.gz", hashlib.sha256(b"image a").hexdigest(), 7),
        ManifestEntry("b.nii.gz", hashlib.sha256(b"image b").hexdigest(), 7),
        ManifestEntry("labels/a.nii.gz", hashlib.sha256(b"label a").hexdigest(), 7),
    )
    assert [row["path"] for row in manifest.as_rows()] == [
        "a.nii.gz",
        "b.nii.gz",
        "labels/a.nii.gz",
    ]


def test_digest_does_not_depend_on_file_order_or_duplicates(tmp_path):
    root = tmp_path / "data"
    files = _files(root)

    forward = build_manifest("demo", root, files)
    backward = build_manifest("demo", root, [*reversed(files), files[0]])

    assert backward.digest == forward.digest
    assert len(backward.entries) == 3


def test_digest_changes_when_one_files_bytes_change(tmp_path):
    root = tmp_path / "data"
    files = _files(root)
    before = build_manifest("demo", root, files).digest

    (root / "labels" / "a.nii.gz").write_bytes(b"label A")

    assert build_manifest("demo", root, files).digest != before


def test_digest_changes_when_a_file_is_renamed(tmp_path):
    root = tmp_path / "data"
    files = _files(root)
    before = build_manifest("demo", root, files).digest

    files[2].rename(root / "c.nii.gz")

    assert build_manifest("demo", root, [*files[:2], root / "c.nii.gz"]).digest != before


def test_digest_changes_when_a_file_is_added(tmp_path):
    root = tmp_path / "data"
    files = _files(root)

    assert (
        build_manifest("demo", root, files).digest != build_manifest("demo", root, files[:2]).digest
    )


def test_file_outside_the_root_keeps_its_absolute_path(tmp_path):
    root = tmp_path / "data"
    _files(root)
    outside = tmp_path / "elsewhere.txt"
    outside.write_bytes(b"x")

    manifest = build_manifest("demo", root, [outside])

    assert manifest.entries[0].relative_path == str(outside.resolve())
