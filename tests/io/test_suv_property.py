"""Property test: SUV from random but valid DICOM PET tags against an independent computation.

The expected SUV is worked out here from DOMAIN.md ("PET and CT numbers"), reading the written
files with plain pydicom and never calling vipet's SUV code:

    SUVbw = C * W * 1000 / D(t),  C = stored * RescaleSlope + RescaleIntercept (per slice)
    D(t) = dose * 2^(-dt / T1/2)  (DecayCorrection START),  D = dose  (ADMIN)
    dt = scan start - injection; scan start = SeriesDate/Time unless later than the earliest
    AcquisitionDate/Time; injection = RadiopharmaceuticalStartDateTime, else StartTime on the
    scan's day (a StartTime later than the scan is refused, never moved to the previous day).

Then one unit error at a time is injected into valid files (weight in grams, dose in MBq or kBq,
half-life in minutes, injection after the scan or far before it, RescaleSlope 0, negative or text)
and each must be refused (ReadError, or PET kept in Bq/mL with a note naming it): never an SUV
that differs from the true one.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from io_factories import make_study
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag
from pydicom.valuerep import DSfloat

from vipet.errors import ReadError
from vipet.io.dicom import read_dicom_study, write_dicom_study
from vipet.study import BQML, SUV_BW

F18 = 6586.2
MAX_UPTAKE_S = 6 * 3600.0
# Bounded and reproducible; no shrinking: each example writes a study to disk, and shrinking a failure
# took minutes; the first failing example (tags printed by hypothesis) is enough to see the fault.
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, phases=(Phase.explicit, Phase.generate),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------- independent computation


def _dicom_datetime(date: str, time: str) -> dt.datetime:
    time = str(time).split(".")[0].ljust(6, "0")
    return dt.datetime.strptime(f"{date}{time}", "%Y%m%d%H%M%S")


def _pet_slices(folder: Path) -> list[pydicom.Dataset]:
    slices = [pydicom.dcmread(path) for path in folder.rglob("*") if path.is_file() and path.suffix != ".json"]
    return sorted((ds for ds in slices if ds.Modality == "PT"), key=lambda ds: int(ds.InstanceNumber))


def expected_suv(folder: Path) -> np.ndarray | None:
    """SUVbw by the DOMAIN.md formula from the files' own tags; None when the rules refuse SUV."""
    slices = _pet_slices(folder)
    activity = np.stack([ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in slices])
    first = slices[0]
    info = first.RadiopharmaceuticalInformationSequence[0]
    weight, dose = float(first.PatientWeight), float(info.RadionuclideTotalDose)
    if str(first.DecayCorrection) == "ADMIN":
        decayed = dose
    else:
        series = _dicom_datetime(first.SeriesDate, first.SeriesTime)
        earliest = min(_dicom_datetime(ds.AcquisitionDate, ds.AcquisitionTime) for ds in slices)
        scan = earliest if series > earliest else series
        if "RadiopharmaceuticalStartDateTime" in info:
            text = str(info.RadiopharmaceuticalStartDateTime)
            injection = _dicom_datetime(text[:8], text[8:])
        else:
            injection = _dicom_datetime(scan.strftime("%Y%m%d"), info.RadiopharmaceuticalStartTime)
        elapsed = (scan - injection).total_seconds()
        if not 0 <= elapsed <= MAX_UPTAKE_S:
            return None
        decayed = dose * 2.0 ** (-elapsed / float(info.RadionuclideHalfLife))
    return activity * weight * 1000.0 / decayed


# ---------------------------------------------------------------- random valid studies


@st.composite
def valid_tags(draw) -> dict:
    after_midnight = draw(st.booleans())
    if after_midnight:  # scan in the first hours of 2 Jan: the injection is often on 1 Jan
        series = dt.datetime(2020, 1, 2) + dt.timedelta(seconds=draw(st.integers(0, 3 * 3600)))
    else:
        series = dt.datetime(2020, 1, 2, 7) + dt.timedelta(seconds=draw(st.integers(0, 12 * 3600)))
    uptake_s = draw(st.integers(20 * 60, 180 * 60))
    start = draw(st.sampled_from(["datetime", "time", "both"]))
    return {
        "weight_kg": draw(st.integers(300, 1500)) / 10.0,
        "total_dose_bq": draw(st.integers(1000, 6000)) * 1e5,
        "half_life_s": F18,
        "decay_correction": draw(st.sampled_from(["START", "ADMIN"])),
        "series_datetime": series,
        "injection_datetime": series - dt.timedelta(seconds=uptake_s),
        "acquisition_offset_s": float(draw(st.integers(-900, 900))),
        "write_start_datetime": start in ("datetime", "both"),
        "write_start_time": start in ("time", "both"),
    }


def rescale_per_slice(folder: Path, factors: list[float], intercepts: list[float]) -> None:
    """Re-encode each PET slice with its own slope (x factor) and a non-zero intercept, keeping the activity."""
    for ds, factor, intercept in zip(_pet_slices(folder), factors, intercepts):
        activity = ds.pixel_array * float(ds.RescaleSlope)
        slope = float(DSfloat(float(ds.RescaleSlope) * factor, auto_format=True))
        stored = np.clip(np.rint((activity - intercept) / slope), -32768, 32767).astype("<i2")
        ds.RescaleSlope = DSfloat(slope, auto_format=True)
        ds.RescaleIntercept = DSfloat(intercept, auto_format=True)
        ds.PixelData = stored.tobytes()
        ds.save_as(ds.filename)


DEPTH = 4
per_slice = st.tuples(
    st.lists(st.sampled_from([1.0, 1.25, 1.5, 2.0, 3.0]), min_size=DEPTH, max_size=DEPTH),
    st.lists(st.integers(-40, 40).map(float), min_size=DEPTH, max_size=DEPTH),
)


def write(tmp: str, tags: dict, rescale: tuple[list[float], list[float]]) -> Path:
    folder = write_dicom_study(make_study(depth=DEPTH), Path(tmp) / "s", suv_tags=tags, shuffle_names=True)
    rescale_per_slice(folder, *rescale)
    return folder


def read_quietly(folder: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_dicom_study(folder)


@PROPERTY
@given(tags=valid_tags(), rescale=per_slice)
def test_suv_of_random_valid_tags_matches_the_independent_computation(tags, rescale):
    with tempfile.TemporaryDirectory() as tmp:
        folder = write(tmp, tags, rescale)
        expected = expected_suv(folder)
        back = read_quietly(folder)
    event("refused: StartTime before midnight" if expected is None else f"SUV, {tags['decay_correction']}")
    if expected is None:  # only a StartTime, and the injection was before midnight: no date says so
        assert not tags["write_start_datetime"] and tags["injection_datetime"].date() < tags["series_datetime"].date()
        assert back.pet.unit == BQML and "a StartTime has no date" in back.suv_note
        return
    assert back.pet.unit == SUV_BW and back.suv_note is None
    np.testing.assert_allclose(back.pet.array, expected, rtol=2e-5, atol=1e-6)


# ---------------------------------------------------------------- injected unit errors


def _set_info(ds: pydicom.Dataset, keyword: str, value) -> None:
    setattr(ds.RadiopharmaceuticalInformationSequence[0], keyword, value)


def _move_injection(ds: pydicom.Dataset, moment: dt.datetime) -> None:
    _set_info(ds, "RadiopharmaceuticalStartDateTime", moment.strftime("%Y%m%d%H%M%S"))
    _set_info(ds, "RadiopharmaceuticalStartTime", moment.strftime("%H%M%S"))


ERRORS = {  # name -> (edit of every PET slice given the valid tags and a random size, what the refusal must say)
    "weight_grams": (lambda ds, tags, k: setattr(ds, "PatientWeight", str(tags["weight_kg"] * 1000)), "likely grams"),
    "dose_MBq": (lambda ds, tags, k: _set_info(ds, "RadionuclideTotalDose", str(tags["total_dose_bq"] / 1e6)),
                 "likely MBq"),
    "dose_kBq": (lambda ds, tags, k: _set_info(ds, "RadionuclideTotalDose", str(tags["total_dose_bq"] / 1e3)),
                 "likely kBq"),
    "half_life_minutes": (lambda ds, tags, k: _set_info(ds, "RadionuclideHalfLife", "109.77"), "likely minutes"),
    "injection_after_scan": (lambda ds, tags, k: _move_injection(ds, tags["series_datetime"] + dt.timedelta(minutes=20 + k)),
                             "an injection must precede the scan"),
    "uptake_too_long": (lambda ds, tags, k: _move_injection(ds, tags["series_datetime"] - dt.timedelta(hours=7, minutes=k)),
                        "exceeds 6 h"),
}
SLOPES = {"slope_zero": b"0 ", "slope_negative": b"-1.5", "slope_text": b"n/a "}
TIME_ERRORS = {"half_life_minutes", "injection_after_scan", "uptake_too_long"}  # irrelevant under ADMIN


@pytest.mark.parametrize("error", sorted(ERRORS) + sorted(SLOPES))
@settings(PROPERTY, max_examples=8)  # per error: 9 errors x 8 examples
@given(tags=valid_tags(), rescale=per_slice, size=st.integers(0, 600), victim=st.integers(0, DEPTH - 1))
def test_every_injected_unit_error_is_refused_or_noted(error, tags, rescale, size, victim):
    tags = {**tags, "write_start_datetime": True}  # a valid study to start from
    with tempfile.TemporaryDirectory() as tmp:
        folder = write(tmp, tags, rescale)
        truth = expected_suv(folder)
        slices = _pet_slices(folder)
        if error in SLOPES:
            ds = slices[victim]
            raw = SLOPES[error]
            ds[0x00281053] = RawDataElement(Tag(0x00281053), "DS", len(raw), raw, 0, False, True)
            ds.save_as(ds.filename)
            try:
                read_quietly(folder)
            except ReadError as refused:
                assert str(refused) == (f"{ds.filename}: RescaleSlope (0028,1053) {raw.decode().strip()!r} "
                                        + ("is not a number" if error == "slope_text" else "must be a positive finite number"))
            else:
                raise AssertionError(f"{error} was not refused")
            event(error)
            return
        edit, said = ERRORS[error]
        for ds in slices:
            edit(ds, tags, size)
            ds.save_as(ds.filename)
        activity = np.stack([ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in slices])
        back = read_quietly(folder)
    assert truth is not None
    event(f"{error}, {tags['decay_correction']}")
    if tags["decay_correction"] == "ADMIN" and error in TIME_ERRORS:
        # ADMIN images are decay-corrected to the injection: times and half-life are not used, SUV stays right
        assert back.pet.unit == SUV_BW
        np.testing.assert_allclose(back.pet.array, truth, rtol=2e-5, atol=1e-6)
        return
    assert back.pet.unit == BQML, f"{error}: SUV computed from a unit error"
    assert said in back.suv_note
    np.testing.assert_allclose(back.pet.array, activity, rtol=1e-6, atol=1e-4)  # kept in Bq/mL, untouched
