"""`vipet deid IN OUT`: one-line errors naming the file, resumable reruns, and no original value anywhere in OUT."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from deid_factories import PATIENT_ID, deid_study, write_identified_dicom
from typer.testing import CliRunner

from vipet.cli import app
from vipet.io.vimed_layout import write_metadata_csv

runner = CliRunner()
SEED = ["--seed", "cli-test-seed", "--no-progress"]
ORIGINAL_VALUES = ("NGUYEN", "NGUYỄN", "HÙNG", "Nguyen", PATIENT_ID, "TRAN^THI^LAN", "LE^VAN^CUONG", "Bach Mai",
                   "001089012345", "ACC778899", "0912 345 678", "19580312", "20230417", "20230418", "cli-test-seed")


def _tree_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def _assert_no_original_values(out: Path) -> None:
    payload = _tree_bytes(out)
    names = "\n".join(str(p.relative_to(out)) for p in out.rglob("*"))
    for value in ORIGINAL_VALUES:
        assert value.encode("utf-8") not in payload, value
        assert value not in names, value


def test_dicom_folder_round_trip_resume_and_a_clean_audit(tmp_path):
    source = write_identified_dicom(tmp_path / "in")
    out = tmp_path / "out"
    first = runner.invoke(app, ["deid", str(source), str(out), *SEED, "--json"])
    assert first.exit_code == 0, first.stderr
    summary = json.loads(first.stdout)
    assert (summary["written"], summary["already_present"], summary["failed"]) == (1, 0, 0)
    audit = json.loads(Path(summary["audit"]).read_text(encoding="utf-8"))
    assert audit["studies"] == {"written": 1, "already_present": 0, "failed": 0}
    assert audit["dicom_tags_changed"]["private X"] > 0 and audit["dicom_tags_changed"]["PatientName Z"] == 12
    assert audit["text_spans_replaced"]["name"] >= 1 and audit["text_spans_replaced"]["phone"] == 1
    _assert_no_original_values(out)
    again = runner.invoke(app, ["deid", str(source), str(out), *SEED])
    assert again.exit_code == 0 and again.stdout.startswith("0 written, 1 already present, 0 failed")
    assert len(list((out / ".vipet_deid").glob("audit_*.json"))) == 2


def test_bad_input_gives_one_line_naming_the_file(tmp_path):
    missing = runner.invoke(app, ["deid", str(tmp_path / "nope"), str(tmp_path / "out"), *SEED])
    assert missing.exit_code == 1
    assert missing.stderr.splitlines() == [f"error: {tmp_path / 'nope'}: no such file or folder"]
    source = write_identified_dicom(tmp_path / "in")
    damaged = source / "CT" / "broken.dcm"
    damaged.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00garbage")
    result = runner.invoke(app, ["deid", str(source), str(tmp_path / "out"), *SEED])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {damaged}: ") and lines[0].endswith("skipped")
    assert result.stdout.startswith("1 written")  # the good study still went through


def test_no_secret_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("VIPET_DEID_SECRET", raising=False)
    result = runner.invoke(app, ["deid", str(tmp_path), str(tmp_path / "out")])
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1 and "VIPET_DEID_SECRET" in result.stderr
    monkeypatch.setenv("MY_SECRET", "from-env")
    source = write_identified_dicom(tmp_path / "in")
    ok = runner.invoke(app, ["deid", str(source), str(tmp_path / "out"), "--secret-env", "MY_SECRET", "--no-progress"])
    assert ok.exit_code == 0, ok.stderr
    assert b"from-env" not in _tree_bytes(tmp_path / "out")


def test_vimed_root_gets_pseudonyms_shifted_dates_and_identical_volumes(tmp_path):
    from vipet.io.sources import discover, load_study
    from vipet.io.vimed import write_vimed_study

    root = tmp_path / "vimed"
    study = deid_study(key="2023_04_17_BN20230417")
    row = write_vimed_study(study, root)
    write_metadata_csv([row], root)
    out = tmp_path / "out"
    result = runner.invoke(app, ["deid", str(root), str(out), *SEED])
    assert result.exit_code == 0, result.stderr
    (ref,), problems = discover(out)
    assert problems == [] and ref.meta["id"].startswith("VP") and PATIENT_ID not in ref.key
    original, cleaned = load_study(discover(root)[0][0]), load_study(ref)
    np.testing.assert_array_equal(cleaned.ct.array, original.ct.array)
    np.testing.assert_array_equal(cleaned.pet.array, original.pet.array)
    assert cleaned.study_date != original.study_date
    assert (cleaned.patient.sex, cleaned.patient.weight_kg, cleaned.patient.height_m) == ("F", 52.0, 1.58)
    text = cleaned.report.full_text()
    assert "NGUYỄN" not in text and "[SĐT]" in text and "SUVmax: 5,2" in text and "D8" in text and "4R" in text
    _assert_no_original_values(out)
    again = runner.invoke(app, ["deid", str(root), str(out), *SEED])
    assert again.exit_code == 0 and again.stdout.startswith("0 written, 1 already present")


def test_nifti_pair_sidecars_are_cleaned_and_voxels_kept(tmp_path):
    from vipet.io.nifti import read_nifti_pair, write_nifti_study

    folder = tmp_path / "in" / "study_a"
    write_nifti_study(deid_study(), folder)
    out = tmp_path / "out"
    result = runner.invoke(app, ["deid", str(tmp_path / "in"), str(out), *SEED])
    assert result.exit_code == 0, result.stderr
    (target,) = [p for p in out.iterdir() if not p.name.startswith(".")]
    original = read_nifti_pair(folder / "ct.nii.gz", folder / "pet.nii.gz")
    cleaned = read_nifti_pair(target / "ct.nii.gz", target / "pet.nii.gz")
    np.testing.assert_array_equal(cleaned.ct.array, original.ct.array)
    np.testing.assert_array_equal(cleaned.pet.array, original.pet.array)
    np.testing.assert_array_equal(cleaned.ct.affine, original.ct.affine)
    sidecar = json.loads((target / "study.json").read_text(encoding="utf-8"))
    assert sidecar["patient"]["id"].startswith("VP") and sidecar["patient"]["weight_kg"] == 52.0
    assert sidecar["study_date"] != "2023-04-17" and sidecar["key"] == target.name
    _assert_no_original_values(out)


def test_nifti_header_text_and_extensions_are_dropped_voxels_and_scaling_kept(tmp_path):
    import nibabel as nib

    from vipet.interop.deid_run import clean_nifti_header

    values = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    image = nib.Nifti1Image(values, np.diag([2.0, 3.0, 4.0, 1.0]))
    image.header["descrip"] = b"NGUYEN VAN HUNG 20230417"
    image.header["aux_file"] = b"BN20230417"
    image.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"PatientName=NGUYEN^VAN^HUNG"))
    image.header.set_slope_inter(0.5, -3.0)
    path = tmp_path / "ct.nii.gz"
    nib.save(image, path)
    cleaned_path = tmp_path / "clean.nii.gz"
    cleaned_path.write_bytes(clean_nifti_header(path))
    original, cleaned = nib.load(path), nib.load(cleaned_path)
    assert len(original.header.extensions) == 1 and len(cleaned.header.extensions) == 0
    assert cleaned.header["descrip"].tobytes().strip(b"\0") == b"" and cleaned.header["aux_file"].tobytes().strip(b"\0") == b""
    np.testing.assert_array_equal(cleaned.get_fdata(), original.get_fdata())
    np.testing.assert_array_equal(cleaned.get_fdata(), values * 0.5 - 3.0)
    np.testing.assert_array_equal(cleaned.affine, original.affine)
    import gzip

    assert b"NGUYEN" not in gzip.decompress(cleaned_path.read_bytes())
