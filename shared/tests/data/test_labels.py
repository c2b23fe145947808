import math

import pytest

from medai.data import DatasetError
from medai.data.labels import LabelCsvError, LabelledImage, read_label_csv

CHEXPERT_HEADER = "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Cardiomegaly,Pleural Effusion"
NIH_HEADER = "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age"


def _touch(root, *relatives):
    for relative in relatives:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def _csv(tmp_path, lines, name="labels.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _chexpert_dataset(tmp_path, rows):
    """A CheXpert-like tree: root/CheXpert-v1.0-small/train/patientNNNNN/studyN/viewN.jpg."""
    root = tmp_path / "data"
    lines = [CHEXPERT_HEADER]
    for relative, labels in rows:
        _touch(root, relative)
        lines.append(f"{relative},Female,68,Frontal,AP,,{labels}")
    return _csv(tmp_path, lines), root


CHEXPERT_ROWS = [
    ("CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg", "1.0,-1.0"),
    ("CheXpert-v1.0-small/train/patient00001/study2/view1_frontal.jpg", "0.0,"),
    ("CheXpert-v1.0-small/train/patient00002/study1/view1_frontal.jpg", "-1.0,1.0"),
]


def _read_chexpert(csv_path, root, **kwargs):
    kwargs.setdefault("label_names", ["Cardiomegaly", "Pleural Effusion"])
    return read_label_csv(csv_path, image_root=root, layout="chexpert", **kwargs)


@pytest.mark.parametrize(
    ("policy", "uncertain_as"), [("zeros", 0.0), ("ones", 1.0), ("ignore", math.nan)]
)
def test_chexpert_layout_applies_the_uncertainty_policy(tmp_path, policy, uncertain_as):
    csv_path, root = _chexpert_dataset(tmp_path, CHEXPERT_ROWS)

    images = _read_chexpert(csv_path, root, uncertain=policy)

    labels = [image.labels for image in images]
    assert labels[1] == (0.0, 0.0)  # blank is "not mentioned": negative
    for got, expected in zip(
        (labels[0][1], labels[2][0]), (uncertain_as, uncertain_as), strict=True
    ):
        assert got == expected or (math.isnan(got) and math.isnan(expected))
    assert (labels[0][0], labels[2][1]) == (1.0, 1.0)


def test_chexpert_layout_gives_paths_patients_and_file_order(tmp_path):
    csv_path, root = _chexpert_dataset(tmp_path, CHEXPERT_ROWS)

    images = _read_chexpert(csv_path, root, label_names=["Pleural Effusion"])

    assert images[0] == LabelledImage(
        path=root / CHEXPERT_ROWS[0][0], patient_id="patient00001", labels=(0.0,)
    )
    assert [image.patient_id for image in images] == [
        "patient00001",
        "patient00001",
        "patient00002",
    ]
    assert all(image.path.is_absolute() for image in images)


@pytest.mark.parametrize("text", ["1", "0", "-1", "1.00", " 0.0 ", "-0"])
def test_chexpert_accepts_any_spelling_of_the_four_values(tmp_path, text):
    relative = "patient00009/study1/view1.png"
    _touch(tmp_path / "img", relative)
    csv_path = _csv(tmp_path, ["Path,Cardiomegaly", f'{relative},"{text}"'])

    (image,) = read_label_csv(
        csv_path, image_root=tmp_path / "img", label_names=["Cardiomegaly"], layout="chexpert"
    )

    assert image.labels == (max(float(text), 0.0),)
    assert math.copysign(1.0, image.labels[0]) == 1.0


def test_chexpert_patient_comes_from_a_patient_column_when_the_path_has_no_patient_folder(
    tmp_path,
):
    _touch(tmp_path, "images/a.png", "images/b.png")
    csv_path = _csv(
        tmp_path, ["PatientID,Path,Effusion", "P-7,images/a.png,1", "P-8,images/b.png,0"]
    )

    images = read_label_csv(
        csv_path, image_root=tmp_path, label_names=["Effusion"], layout="chexpert"
    )

    assert [(image.patient_id, image.labels) for image in images] == [
        ("P-7", (1.0,)),
        ("P-8", (0.0,)),
    ]


def test_csv_written_by_excel_with_a_byte_order_mark_and_crlf_is_read(tmp_path):
    _touch(tmp_path, "patient00001/x.png")
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffPath,Effusion\r\npatient00001/x.png,1.0\r\n\r\n".encode())

    (image,) = read_label_csv(
        path, image_root=tmp_path, label_names=["Effusion"], layout="chexpert"
    )

    assert image.labels == (1.0,)


def test_nih_layout_reads_pipe_separated_findings_and_no_finding(tmp_path):
    root = tmp_path / "images"
    _touch(root, "00000001_000.png", "00000001_001.png", "00000002_000.png")
    csv_path = _csv(
        tmp_path,
        [
            NIH_HEADER,
            "00000001_000.png,Cardiomegaly|Effusion,0,1,58",
            "00000001_001.png,No Finding,1,1,58",
            "00000002_000.png,Infiltration|Nodule,0,2,81",
        ],
    )

    images = read_label_csv(
        csv_path, image_root=root, label_names=["Nodule", "Cardiomegaly"], layout="nih"
    )

    assert [(image.path.name, image.patient_id, image.labels) for image in images] == [
        ("00000001_000.png", "1", (0.0, 1.0)),
        ("00000001_001.png", "1", (0.0, 0.0)),
        ("00000002_000.png", "2", (1.0, 0.0)),  # Infiltration is known but not asked for
    ]


def test_nih_layout_accepts_custom_finding_names_that_are_asked_for(tmp_path):
    _touch(tmp_path, "a.png")
    csv_path = _csv(tmp_path, [NIH_HEADER, "a.png,Fracture,0,5,40"])

    (image,) = read_label_csv(csv_path, image_root=tmp_path, label_names=["Fracture"], layout="nih")

    assert image.labels == (1.0,)


# --- errors ----------------------------------------------------------------------------------


def _error(csv_path, root, **kwargs):
    with pytest.raises(LabelCsvError) as caught:
        read_label_csv(csv_path, image_root=root, **kwargs)
    assert isinstance(caught.value, DatasetError)
    assert caught.value.path == csv_path
    assert "\n" not in str(caught.value)
    return caught.value.problem


CHEXPERT = {"label_names": ["Cardiomegaly"], "layout": "chexpert"}
NIH = {"label_names": ["Cardiomegaly"], "layout": "nih"}


NIH_WITHOUT_PATIENT = NIH_HEADER.replace("Patient ID", "Patient")


@pytest.mark.parametrize(
    ("lines", "kwargs", "problem"),
    [
        (
            ["Image,Cardiomegaly", "a.png,1"],
            CHEXPERT,
            "missing the image path column 'Path' (the header has 'Image', 'Cardiomegaly')",
        ),
        (
            ["Path,Edema", "patient00001/a.png,1"],
            CHEXPERT,
            "missing the label column 'Cardiomegaly' (the header has 'Path', 'Edema')",
        ),
        (
            [NIH_WITHOUT_PATIENT, "a.png,Mass,0,1,3"],
            NIH,
            (
                "missing the patient column 'Patient ID' (the header has 'Image Index', "
                "'Finding Labels', 'Follow-up #', 'Patient', 'Patient Age')"
            ),
        ),
        (
            ["Finding Labels,Patient ID", "Mass,1"],
            NIH,
            (
                "missing the image file column 'Image Index' (the header has 'Finding Labels', "
                "'Patient ID')"
            ),
        ),
        (
            ["Path,Cardiomegaly,Cardiomegaly", "patient00001/a.png,1,0"],
            CHEXPERT,
            "column 'Cardiomegaly' appears more than once",
        ),
    ],
)
def test_missing_or_repeated_columns_are_errors(tmp_path, lines, kwargs, problem):
    _touch(tmp_path, "patient00001/a.png", "a.png")

    assert _error(_csv(tmp_path, lines), tmp_path, **kwargs) == f"line 1: {problem}"


@pytest.mark.parametrize("value", ["2", "yes", "0.5", "nan", "-1.5"])
def test_chexpert_label_outside_one_zero_minus_one_blank_is_an_error(tmp_path, value):
    _touch(tmp_path, "patient00001/a.png", "patient00001/b.png")
    lines = ["Path,Cardiomegaly", "patient00001/a.png,1", f"patient00001/b.png,{value}"]

    problem = _error(_csv(tmp_path, lines), tmp_path, **CHEXPERT)

    assert problem == f"line 3, column 'Cardiomegaly': expected 1, 0, -1 or blank, got {value!r}"


def test_line_numbers_count_quoted_multiline_fields_and_blank_lines(tmp_path):
    _touch(tmp_path, "patient00001/a.png")
    lines = [
        "Path,Note,Cardiomegaly",
        'patient00001/a.png,"two\nlines",1',
        "",
        "patient00001/a.png,x,9",
    ]

    problem = _error(_csv(tmp_path, lines), tmp_path, **CHEXPERT)

    assert problem.startswith("line 5, column 'Cardiomegaly'")


def test_unknown_nih_finding_is_an_error_listing_the_known_names(tmp_path):
    _touch(tmp_path, "a.png")
    lines = [NIH_HEADER, "a.png,Cardiomegaly|Efusion,0,1,3"]

    problem = _error(_csv(tmp_path, lines), tmp_path, **NIH)

    assert problem.startswith("line 2, column 'Finding Labels': unknown finding 'Efusion'; known")
    assert "Effusion" in problem
    assert "Pleural_Thickening" in problem


@pytest.mark.parametrize(
    ("findings", "problem"),
    [
        ("", "expected finding names separated by '|' or 'No Finding'"),
        ("Mass||Nodule", "expected finding names separated by '|' or 'No Finding'"),
        ("No Finding|Mass", "'No Finding' is combined with findings"),
    ],
)
def test_malformed_nih_finding_lists_are_errors(tmp_path, findings, problem):
    _touch(tmp_path, "a.png")
    lines = [NIH_HEADER, f"a.png,{findings},0,1,3"]

    assert (
        _error(_csv(tmp_path, lines), tmp_path, **NIH)
        == f"line 2, column 'Finding Labels': {problem}"
    )


def test_nih_label_name_in_the_wrong_case_is_refused_rather_than_silently_all_zero(tmp_path):
    _touch(tmp_path, "a.png")
    csv_path = _csv(tmp_path, [NIH_HEADER, "a.png,Cardiomegaly,0,1,3"])

    with pytest.raises(ValueError, match="'cardiomegaly' must be spelled 'Cardiomegaly'"):
        read_label_csv(csv_path, image_root=tmp_path, label_names=["cardiomegaly"], layout="nih")


@pytest.mark.parametrize(
    ("relative", "problem"),
    [
        (
            "patient00001/missing.png",
            "image 'patient00001/missing.png' does not exist under {root}",
        ),
        ("../patient00001/a.png", "image path '../patient00001/a.png' points outside {root}"),
        ("", "is empty; expected an image path"),
    ],
)
def test_image_that_does_not_exist_or_escapes_the_root_is_an_error(tmp_path, relative, problem):
    root = tmp_path / "root"
    _touch(root, "patient00001/a.png")
    _touch(tmp_path, "patient00001/a.png")
    lines = ["Path,Cardiomegaly", "patient00001/a.png,1", f"{relative},1"]

    got = _error(_csv(tmp_path, lines), root, **CHEXPERT)

    assert got == f"line 3, column 'Path': {problem.format(root=root)}"


def test_nih_image_that_does_not_exist_is_an_error(tmp_path):
    lines = [NIH_HEADER, "gone.png,Mass,0,1,3"]

    problem = _error(_csv(tmp_path, lines), tmp_path, **NIH)

    assert (
        problem == f"line 2, column 'Image Index': image 'gone.png' does not exist under {tmp_path}"
    )


def test_chexpert_without_any_way_to_tell_the_patient_is_an_error(tmp_path):
    _touch(tmp_path, "images/a.png")
    lines = ["Path,Cardiomegaly", "images/a.png,1"]

    problem = _error(_csv(tmp_path, lines), tmp_path, **CHEXPERT)

    assert problem == (
        "line 2, column 'Path': path has no patientNNNNN folder and the CSV has no "
        "'Patient' or 'PatientID' column to tell the patient"
    )


@pytest.mark.parametrize("layout", ["chexpert", "nih"])
def test_empty_patient_id_is_an_error(tmp_path, layout):
    _touch(tmp_path, "a.png")
    if layout == "chexpert":
        lines, column = ["Path,Patient,Cardiomegaly", "a.png,,1"], "Patient"
    else:
        lines, column = [NIH_HEADER, "a.png,Mass,0,,3"], "Patient ID"

    problem = _error(_csv(tmp_path, lines), tmp_path, label_names=["Cardiomegaly"], layout=layout)

    assert problem == f"line 2, column '{column}': is empty; expected the patient id"


def test_row_with_the_wrong_number_of_fields_is_an_error(tmp_path):
    _touch(tmp_path, "patient00001/a.png")
    lines = ["Path,Cardiomegaly,Edema", "patient00001/a.png,1"]

    problem = _error(_csv(tmp_path, lines), tmp_path, **CHEXPERT)

    assert problem == "line 2: has 2 fields, the header has 3"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is empty; expected a header line and one line per image"),
        ("\n\n", "is empty; expected a header line and one line per image"),
        ("Path,Cardiomegaly\n", "has a header but no data lines"),
    ],
)
def test_empty_csv_is_an_error(tmp_path, text, problem):
    path = tmp_path / "labels.csv"
    path.write_text(text, encoding="utf-8")

    assert _error(path, tmp_path, **CHEXPERT) == problem


def test_missing_csv_is_an_error(tmp_path):
    assert _error(tmp_path / "nope.csv", tmp_path, **CHEXPERT) == "label CSV does not exist"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label_names": []}, "label_names must name at least one label"),
        ({"label_names": ["A", "A"]}, "label_names repeats 'A'"),
        ({"uncertain": "maybe"}, "uncertain must be one of"),
        ({"layout": "mimic"}, "layout must be 'chexpert' or 'nih'"),
    ],
)
def test_bad_arguments_are_value_errors(tmp_path, kwargs, message):
    arguments = {"label_names": ["A"], "layout": "chexpert"} | kwargs
    with pytest.raises(ValueError, match=message):
        read_label_csv(tmp_path / "x.csv", image_root=tmp_path, **arguments)
