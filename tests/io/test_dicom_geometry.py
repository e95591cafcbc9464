"""DICOM geometry is right or refused: slice gaps, lost or damaged slices, bad spacings, tiny volumes.

Each refusal is one line naming the file (or the series folder) and the tag or the fact, and is a
regression test for issue 20: before it, a series with a missing slice was read at the mean
spacing (every slice after the gap misplaced), a negative PixelSpacing flipped the image in-plane,
and 1-slice or 1x1 volumes were read as studies.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from io_factories import make_study

from vipet.errors import ReadError
from vipet.io.dicom import GAP_TOLERANCE, read_dicom_study, write_dicom_study
from vipet.io.plausibility import MIN_SHAPE
from vipet.study import SUV_BW


def edit_slices(folder: Path, modality: str, edit) -> None:
    """Apply `edit(ds, instance_number)` to every slice of one modality and save it in place."""
    for path in sorted(folder.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        if ds.Modality == modality:
            edit(ds, int(ds.InstanceNumber))
            ds.save_as(path)


def one_line(error: pytest.ExceptionInfo) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


def _set_tag(path, keyword, value) -> None:
    """Rewrite one tag of one slice file (the damaged input each test needs)."""
    ds = pydicom.dcmread(path)
    setattr(ds, keyword, value)
    ds.save_as(path)


def test_gap_tolerance_is_documented():
    assert GAP_TOLERANCE == (0.10, 0.1)


@pytest.mark.parametrize("modality", ["PT", "CT"])
def test_a_missing_middle_slice_is_refused_naming_the_series_and_the_gap(tmp_path, modality):
    folder = write_dicom_study(make_study(depth=8), tmp_path / "s")
    if modality == "PT":  # NumberOfSlices would also catch it: make the count agree so the gap check is what fires
        edit_slices(folder, "PT", lambda ds, n: setattr(ds, "NumberOfSlices", 7))
    (folder / modality / f"{modality}_0004.dcm").unlink()
    series = pydicom.dcmread(folder / modality / f"{modality}_0001.dcm").SeriesInstanceUID
    with pytest.raises(ReadError) as refused:
        read_dicom_study(folder)
    # slices at z = -1.5, -4.5, ... (3 mm, head first): slice 4 at -10.5 is gone
    assert one_line(refused) == (
        f"{folder / modality / f'{modality}_0005.dcm'}: {modality} series {series} has a slice gap: step 6.000 mm "
        "between positions -7.500 and -13.500 mm along the slice normal, median step 3.000 mm (tolerance 0.300 mm): "
        "a missing or unreadable slice")


def test_a_lost_end_slice_of_the_pet_is_refused_by_its_slice_count(tmp_path):
    folder = write_dicom_study(make_study(), tmp_path / "s")
    (folder / "PT" / "PT_0006.dcm").unlink()
    series = pydicom.dcmread(folder / "PT" / "PT_0001.dcm").SeriesInstanceUID
    with pytest.raises(ReadError) as refused:
        read_dicom_study(folder)
    assert one_line(refused) == (f"{folder / 'PT'}: PT series {series} has 5 slices but NumberOfSlices (0054,0081) "
                                 "says 6: a slice is missing or unreadable")


def test_small_irregularities_within_the_tolerance_still_read(tmp_path):
    folder = write_dicom_study(make_study(), tmp_path / "s")

    def jitter(ds, n):  # slice 3 moved by 0.2 mm: steps 3.2 and 2.8 mm, under the 0.3 mm tolerance
        if n == 3:
            position = [float(v) for v in ds.ImagePositionPatient]
            position[2] += 0.2
            ds.ImagePositionPatient = position

    edit_slices(folder, "CT", jitter)
    back = read_dicom_study(folder)
    assert back.ct.shape[0] == 6 and any(n.startswith("CT slice spacing is irregular") for n in back.notes)


def test_a_damaged_slice_file_is_refused_not_dropped(tmp_path):
    folder = write_dicom_study(make_study(), tmp_path / "s")
    victim = folder / "CT" / "CT_0006.dcm"  # the last slice: no gap would show its loss
    data = bytearray(victim.read_bytes())
    data[:400] = bytes(400)  # preamble, DICM marker and file meta destroyed
    victim.write_bytes(bytes(data))
    with pytest.raises(ReadError) as refused:
        read_dicom_study(folder)
    assert one_line(refused).startswith(f"{victim}: damaged DICOM file (InvalidDicomError: ")


def test_an_image_slice_without_pixels_is_refused_not_dropped(tmp_path):
    folder = write_dicom_study(make_study(), tmp_path / "s")
    victim = folder / "CT" / "CT_0006.dcm"
    ds = pydicom.dcmread(victim)
    del ds.PixelData
    ds.save_as(victim)
    with pytest.raises(ReadError) as refused:
        read_dicom_study(folder)
    assert one_line(refused) == f"{victim}: CT image slice without PixelData (7FE0,0010)"


def test_unrelated_files_without_a_dicom_marker_are_still_ignored_with_a_note(tmp_path):
    folder = write_dicom_study(make_study(), tmp_path / "s")
    (folder / "notes.txt").write_bytes(b"x" * 300)
    assert "ignored non-DICOM file notes.txt" in read_dicom_study(folder).notes


@pytest.mark.parametrize(
    ("spacing", "shown"),
    [(["-62.5", "62.5"], "(-62.5, 62.5)"), (["0", "62.5"], "(0.0, 62.5)"), (["62.5", "1e9"], "(62.5, 1000000000.0)")],
    ids=["negative", "zero", "absurd"],
)
def test_a_negative_zero_or_absurd_pixel_spacing_is_refused_naming_the_file(tmp_path, spacing, shown):
    """Regression: a negative PixelSpacing flipped the image in-plane; zero gave a degenerate affine."""
    folder = write_dicom_study(make_study(), tmp_path / "s")
    victim = folder / "PT" / "PT_0001.dcm"
    _set_tag(victim, "PixelSpacing", spacing)
    with pytest.raises(ReadError) as refused:
        read_dicom_study(folder)
    assert one_line(refused) == (f"{victim}: PixelSpacing (0028,0030): voxel spacing {shown} mm has values "
                                 "outside 0.05-100 mm")


def test_an_unparsable_image_position_is_refused_naming_the_tag(tmp_path):
    folder = write_dicom_study(make_study(), tmp_path / "s")
    victim = folder / "CT" / "CT_0003.dcm"
    _set_tag(victim, "ImagePositionPatient", ["1", "2"])
    with pytest.raises(ReadError) as refused:
        read_dicom_study(folder)
    assert one_line(refused) == f"{victim}: ImagePositionPatient (0020,0032) '1\\\\2' is not 3 finite numbers"


def test_a_degenerate_orientation_is_refused(tmp_path):
    folder = write_dicom_study(make_study(), tmp_path / "s")
    edit_slices(folder, "PT", lambda ds, n: setattr(ds, "ImageOrientationPatient", [1, 0, 0, 1, 0, 0]))
    with pytest.raises(ReadError, match=r"ImageOrientationPatient \(0020,0037\) .* is not two orthogonal unit vectors"):
        read_dicom_study(folder)


def test_minimum_shape_is_shared_by_the_readers():
    assert MIN_SHAPE == (2, 4, 4)


def test_a_single_slice_series_is_refused(tmp_path):
    """Regression: a 1-slice PET was read with a guessed slice thickness."""
    folder = write_dicom_study(make_study(), tmp_path / "s")
    for path in (folder / "PT").glob("PT_000[2-6].dcm"):
        path.unlink()
    edit_slices(folder, "PT", lambda ds, n: setattr(ds, "NumberOfSlices", 1))
    series = pydicom.dcmread(folder / "PT" / "PT_0001.dcm").SeriesInstanceUID
    with pytest.raises(ReadError) as refused:
        read_dicom_study(folder)
    assert one_line(refused) == (f"{folder / 'PT'}: PT series {series}: volume shape (1, 8, 8) is below the minimum "
                                 "2x4x4 (slices x rows x columns)")


def small_field_study(depth: int, ct_size: int, pet_size: int):
    """`make_study` on a 2 mm CT / 4 mm PET grid (its 500 mm field would make a 4x4 grid 125 mm voxels)."""
    study = make_study(depth=depth, ct_size=ct_size, pet_size=pet_size)
    study.ct.spacing, study.pet.spacing = (3.0, 2.0, 2.0), (3.0, 4.0, 4.0)
    return study


def test_a_tiny_in_plane_grid_is_refused(tmp_path):
    folder = write_dicom_study(small_field_study(6, 16, 3), tmp_path / "s")
    with pytest.raises(ReadError, match=r"PT series .*: volume shape \(6, 3, 3\) is below the minimum 2x4x4"):
        read_dicom_study(folder)


def test_the_smallest_allowed_volume_still_reads(tmp_path):
    back = read_dicom_study(write_dicom_study(small_field_study(2, 4, 4), tmp_path / "s"))
    assert back.pet.shape == (2, 4, 4) and back.ct.shape == (2, 4, 4) and back.pet.unit == SUV_BW


def test_a_copied_series_folder_reads_the_same(tmp_path):
    """Control: moving the files (not their content) changes nothing, so the refusals above are about content."""
    folder = write_dicom_study(make_study(), tmp_path / "s")
    shutil.copytree(folder, tmp_path / "copy")
    a, b = read_dicom_study(folder), read_dicom_study(tmp_path / "copy")
    assert np.array_equal(a.pet.array, b.pet.array) and np.array_equal(a.ct.array, b.ct.array)
