"""`vipet pacs pull|push` against a real Orthanc over DICOMweb: a study goes up and comes back intact, and
every expected failure (wrong password, unknown study, no PET series, nothing listening) is one line."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from interop_factories import write_source
from orthanc_server import PASSWORD, USER, free_port, orthanc  # noqa: F401  (the session fixture)
from pydicom.uid import generate_uid
from typer.testing import CliRunner

from vipet.cli import app
from vipet.interop.pacs import PASSWORD_ENV, USER_ENV, display_url
from vipet.io.dicom import read_dicom_study

runner = CliRunner()


def env(password: str = PASSWORD) -> dict[str, str]:
    return {USER_ENV: USER, PASSWORD_ENV: password}


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def pushed(orthanc, tmp_path_factory):  # noqa: F811
    """A tiny PET/CT study written, pushed with `vipet pacs push`, and its instance headers."""
    folder = tmp_path_factory.mktemp("pacs") / "study"
    headers = write_source(folder, key="2022_05_06_patient_3", depth=5)
    result = runner.invoke(app, ["pacs", "push", orthanc.dicomweb, str(folder)], env=env())
    assert result.exit_code == 0, result.output
    assert f"stored {len(headers)} instances (1 studies)" in result.stdout
    return folder, headers


def test_a_pushed_study_comes_back_instance_for_instance(orthanc, pushed, tmp_path):  # noqa: F811
    folder, headers = pushed
    study_uid = str(headers[0].StudyInstanceUID)
    result = runner.invoke(app, ["pacs", "pull", orthanc.dicomweb, study_uid, str(tmp_path / "pulled")], env=env())
    assert result.exit_code == 0, result.output
    target = tmp_path / "pulled" / study_uid
    pulled = {str(ds.SOPInstanceUID): ds for ds in (pydicom.dcmread(p) for p in target.rglob("*.dcm"))}
    originals = {str(ds.SOPInstanceUID): ds for ds in (pydicom.dcmread(p) for p in folder.rglob("*.dcm"))}
    assert set(pulled) == set(originals)
    for uid, original in originals.items():
        assert pulled[uid].PixelData == original.PixelData and pulled[uid].RescaleSlope == original.RescaleSlope
    # the pulled folder is a study the DICOM reader reads, with the same SUV voxels
    before, after = read_dicom_study(folder), read_dicom_study(target)
    assert after.pet.unit == before.pet.unit == "SUVbw"
    np.testing.assert_array_equal(after.pet.array, before.pet.array)
    np.testing.assert_array_equal(after.ct.array, before.ct.array)
    assert sorted(p.name.split("_")[0] for p in target.iterdir()) == ["CT", "PT"]


def test_a_wrong_password_is_one_line_naming_the_url_and_never_the_password(orthanc, pushed, tmp_path):  # noqa: F811
    study_uid = str(pushed[1][0].StudyInstanceUID)
    result = runner.invoke(app, ["pacs", "pull", orthanc.dicomweb, study_uid, str(tmp_path / "x")],
                           env=env("not-the-password"))
    line = one_error_line(result)
    assert "refused the credentials (HTTP 401)" in line and orthanc.dicomweb in line
    assert "not-the-password" not in result.output and not (tmp_path / "x").exists()
    push = runner.invoke(app, ["pacs", "push", orthanc.dicomweb, str(pushed[0])], env=env("not-the-password"))
    assert "refused the credentials (HTTP 401)" in one_error_line(push)


def test_credentials_in_the_url_never_reach_a_message(orthanc):  # noqa: F811
    url = orthanc.dicomweb.replace("http://", "http://someone:hunter2@")
    assert display_url(url) == orthanc.dicomweb
    result = runner.invoke(app, ["pacs", "pull", url, "1.2.3", "out"], env=env("wrong"))
    assert "hunter2" not in result.output and result.exit_code == 1


def test_an_unknown_study_is_one_line_naming_it(orthanc, pushed, tmp_path):  # noqa: F811
    unknown = generate_uid(entropy_srcs=["no such study"])
    result = runner.invoke(app, ["pacs", "pull", orthanc.dicomweb, unknown, str(tmp_path / "x")], env=env())
    line = one_error_line(result)
    assert f"study {unknown} not found on the PACS at {orthanc.dicomweb}" in line


def test_a_study_with_only_ct_is_refused_for_want_of_pet(orthanc, tmp_path):  # noqa: F811
    headers = write_source(tmp_path / "ct_only", key="2022_07_08_patient_5", depth=3)
    ct_files = [p for p in (tmp_path / "ct_only").rglob("*.dcm") if pydicom.dcmread(p, stop_before_pixels=True).Modality == "CT"]
    assert ct_files and len(ct_files) < len(headers)
    pushed = runner.invoke(app, ["pacs", "push", orthanc.dicomweb, *map(str, ct_files)], env=env())
    assert pushed.exit_code == 0, pushed.output
    study_uid = str(headers[0].StudyInstanceUID)
    result = runner.invoke(app, ["pacs", "pull", orthanc.dicomweb, study_uid, str(tmp_path / "x")], env=env())
    line = one_error_line(result)
    assert f"study {study_uid} on the PACS at {orthanc.dicomweb} has no PET series (series modalities: CT)" in line
    assert not (tmp_path / "x" / study_uid).exists()


def test_a_port_with_nothing_listening_is_one_line_naming_the_url(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/dicom-web"
    result = runner.invoke(app, ["pacs", "pull", url, "1.2.3", str(tmp_path / "x")], env=env())
    assert f"cannot reach the PACS at {url}" in one_error_line(result)
    push_file = tmp_path / "a.dcm"
    write_source(tmp_path / "s", depth=2)
    push_file.write_bytes(next((tmp_path / "s").rglob("*.dcm")).read_bytes())
    push = runner.invoke(app, ["pacs", "push", url, str(push_file)], env=env())
    assert f"cannot reach the PACS at {url}" in one_error_line(push)


def test_pushing_a_file_that_is_not_dicom_names_it_and_sends_nothing(orthanc, tmp_path):  # noqa: F811
    bad = tmp_path / "notes.txt"
    bad.write_text("không phải DICOM", encoding="utf-8")
    result = runner.invoke(app, ["pacs", "push", orthanc.dicomweb, str(bad)], env=env())
    line = one_error_line(result)
    assert str(bad) in line and "not a DICOM file" in line


def test_a_bad_url_is_refused_before_any_request():
    result = runner.invoke(app, ["pacs", "pull", "ftp://pacs/dicom-web", "1.2.3", "out"], env=env())
    assert "PACS URL must be http(s)" in one_error_line(result)
