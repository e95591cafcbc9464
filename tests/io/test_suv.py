"""The SUVbw rules on raw tag values, against factors worked out by hand.

Hand values (F-18, T1/2 = 6586.2 s, dose 370 MBq, weight 70 kg):
  60 min uptake: D = 3.7e8 x 2^(-3600/6586.2) = 3.7e8 x 0.684633 = 2.533142e8 Bq
                 factor = 70 x 1000 / 2.533142e8 = 2.763367e-4 (SUV per Bq/mL)
  50 min uptake: D = 3.7e8 x 2^(-3000/6586.2) = 2.698256e8 Bq -> factor 2.594268e-4
  ADMIN (no decay): factor = 70 x 1000 / 3.7e8 = 1.891892e-4
"""

from __future__ import annotations

import datetime as dt

import pytest

from vipet.io.suv import (
    SUVScale,
    combine,
    injection_datetime,
    parse_da,
    parse_dt,
    parse_tm,
    refuse_implausible_suv_max,
    scan_start,
    suv_scale,
)
from vipet.study import BQML, CNTS, SUV_BW, UNKNOWN_UNIT

FACTOR_60_MIN = 2.763367e-4
FACTOR_50_MIN = 2.594268e-4
FACTOR_ADMIN = 1.891892e-4

BASE = dict(
    units="BQML",
    corrected_image=["ATTN", "DECY", "SCAT"],
    decay_correction="START",
    weight_kg=70.0,
    total_dose_bq=3.7e8,
    half_life_s=6586.2,
    series_date="20200101",
    series_time="100000",
)


def scale(**changes):
    return suv_scale(**{**BASE, **changes})


def test_start_decay_with_start_datetime():
    result = scale(start_datetime="20200101090000.000000")
    assert result.unit == SUV_BW and result.note is None
    assert result.factor == pytest.approx(FACTOR_60_MIN, rel=1e-4)
    assert result.trace["injection_source"].startswith("RadiopharmaceuticalStartDateTime")
    assert result.trace["elapsed_s"] == 3600.0


def test_admin_decay_ignores_times():
    result = scale(decay_correction="ADMIN", start_time=None, series_time=None)
    assert result.factor == pytest.approx(FACTOR_ADMIN, rel=1e-4)


def test_start_datetime_is_preferred_over_start_time():
    result = scale(start_datetime="20200101091000", start_time="090000")
    assert result.factor == pytest.approx(FACTOR_50_MIN, rel=1e-4)  # 09:10 -> 10:00 is 50 min
    assert result.trace["injection"] == "2020-01-01T09:10:00"


def test_start_time_alone_uses_the_scan_day():
    result = scale(start_time="090000")
    assert result.factor == pytest.approx(FACTOR_60_MIN, rel=1e-4)
    assert result.trace["injection_moved_to_previous_day"] is False


def test_scan_after_midnight_with_a_start_datetime_on_the_previous_day_is_accepted():
    result = scale(series_date="20200102", series_time="002000", start_datetime="20200101233000", start_time="233000")
    assert result.trace["injection"] == "2020-01-01T23:30:00"
    assert result.factor == pytest.approx(FACTOR_50_MIN, rel=1e-4)


def test_a_start_time_later_than_the_scan_is_refused_not_moved_to_the_previous_day():
    """Regression: 11:00 injection, 10:00 scan read as 23 h uptake (SUV ~6,000x too high) before."""
    result = scale(start_time="110000")
    assert (result.unit, result.factor) == (BQML, None)
    assert result.note == (
        "RadiopharmaceuticalStartTime (0018,1072) gives injection 2020-01-01T11:00:00, scan start "
        "2020-01-01T10:00:00 (SeriesDate/SeriesTime): injection is 3600 s after the scan start: an injection "
        "must precede the scan; a StartTime has no date: an injection the day before needs "
        "RadiopharmaceuticalStartDateTime (0018,1078)")
    assert result.trace["injection_moved_to_previous_day"] is False
    # also just after midnight: without a date nothing says the injection was the day before
    midnight = scale(series_date="20200102", series_time="002000", start_time="233000")
    assert midnight.factor is None and "a StartTime has no date" in midnight.note


def test_an_uptake_time_outside_the_window_is_refused_naming_the_times():
    result = scale(start_datetime="20191231090000")  # 25 h before the scan
    assert (result.unit, result.factor) == (BQML, None)
    assert result.note == ("RadiopharmaceuticalStartDateTime (0018,1078) gives injection 2019-12-31T09:00:00, scan "
                           "start 2020-01-01T10:00:00 (SeriesDate/SeriesTime): uptake time 25.0 h exceeds 6 h "
                           "(injection or scan date/time wrong?)")
    assert scale(start_datetime="20200101040000").factor is not None  # 6 h exactly is inside


@pytest.mark.parametrize(
    ("changes", "note"),
    [
        ({"weight_kg": 70000.0}, "PatientWeight (0010,1030): patient weight 70000 kg is outside 2-350 kg: likely grams"),
        ({"total_dose_bq": 370.0}, "RadionuclideTotalDose (0018,1074): injected dose 370 Bq is outside 5e+06-2e+09 Bq: "
                                   "likely MBq"),
        ({"half_life_s": 109.77}, "RadionuclideHalfLife (0018,1075): half-life 109.77 s is outside 60-432000 s or is "
                                  "F-18's 109.8: likely minutes"),
        ({"weight_kg": float("inf")}, "PatientWeight (0010,1030): patient weight inf kg is not a positive finite number"),
    ],
    ids=["grams", "MBq", "minutes", "infinite"],
)
def test_unit_errors_refuse_suv_naming_the_likely_unit(changes, note):
    """Regression: these gave SUVmax 3e4 to 1.6e11 with no note."""
    result = scale(start_time="090000", **changes)
    assert (result.unit, result.factor, result.note) == (BQML, None, note)


def test_admin_decay_does_not_need_a_plausible_half_life_or_times():
    result = scale(decay_correction="ADMIN", half_life_s=109.77, start_time="110000")
    assert result.factor == pytest.approx(FACTOR_ADMIN, rel=1e-4)


@pytest.mark.parametrize(("units", "kept"), [("BQML", BQML), ("CNTS", CNTS), ("GML", UNKNOWN_UNIT)])
def test_an_implausible_suv_max_refuses_the_scale_keeping_the_stored_unit(units, kept):
    computed = SUVScale(SUV_BW, 0.5, None, {"units": units})
    refused = refuse_implausible_suv_max(computed, 3e4)
    assert (refused.unit, refused.factor) == (kept, None)
    assert refused.note == ("whole-volume SUVmax 30000 exceeds 200: check the weight (kg), dose (Bq) and "
                            "half-life (s) units")
    assert refused.trace["refused_suv_max"] == 3e4 and computed.trace == {"units": units}
    assert refuse_implausible_suv_max(computed, 150.0) is computed


def test_series_time_later_than_acquisition_uses_earliest_acquisition():
    acquisitions = [dt.datetime(2020, 1, 1, 9, 55), dt.datetime(2020, 1, 1, 9, 50), dt.datetime(2020, 1, 1, 10, 5)]
    result = scale(start_time="090000", acquisition_datetimes=acquisitions)
    assert result.trace["scan_start"] == "2020-01-01T09:50:00"
    assert result.factor == pytest.approx(FACTOR_50_MIN, rel=1e-4)


def test_series_time_not_later_than_acquisition_is_kept():
    result = scale(start_time="090000", acquisition_datetimes=[dt.datetime(2020, 1, 1, 10, 2)])
    assert result.trace["scan_start_source"] == "SeriesDate/SeriesTime"
    assert result.factor == pytest.approx(FACTOR_60_MIN, rel=1e-4)


def test_gml_is_already_suv():
    result = scale(units="GML", weight_kg=None)
    assert result.unit == SUV_BW and result.factor == 1.0


def test_cnts_without_vendor_factor_is_refused_naming_the_tag():
    result = scale(units="CNTS")
    assert result.unit == CNTS and result.factor is None
    assert "(7053,1000)" in result.note


def test_cnts_with_philips_factor_per_slice():
    result = scale(units="CNTS", philips_suv_scale=[0.0005, 0.0006])
    assert result.unit == SUV_BW
    assert list(result.factor) == [0.0005, 0.0006]


@pytest.mark.parametrize(
    ("changes", "tag"),
    [
        ({"weight_kg": None}, "PatientWeight (0010,1030) missing"),
        ({"weight_kg": 0.0}, "PatientWeight (0010,1030) is 0.0"),
        ({"total_dose_bq": None}, "RadionuclideTotalDose (0018,1074) missing"),
        ({"half_life_s": None}, "RadionuclideHalfLife (0018,1075) missing"),
        ({"corrected_image": ["ATTN"]}, "CorrectedImage (0028,0051) lacks DECY"),
        ({"corrected_image": None}, "CorrectedImage (0028,0051) lacks ATTN and DECY"),
        ({"decay_correction": "NONE"}, "DecayCorrection (0054,1102) is NONE"),
        ({"start_time": None}, "RadiopharmaceuticalStartTime (0018,1072) and RadiopharmaceuticalStartDateTime"),
        ({"series_date": None, "series_time": None}, "SeriesDate (0008,0021)"),
        ({"start_datetime": "20200101110000"}, "after the scan start"),
    ],
)
def test_refusals_keep_activity_and_name_the_tag(changes, tag):
    result = scale(**{"start_time": "090000", **changes})
    assert result.factor is None
    assert result.unit in (BQML, CNTS)
    assert tag in result.note


@pytest.mark.parametrize(
    ("units", "note"),
    [
        ("PROPCNTS", "Units (0054,1001) = 'PROPCNTS' is not BQML/CNTS/GML: SUV cannot be computed"),
        (" xyz ", "Units (0054,1001) = 'xyz' is not BQML/CNTS/GML: SUV cannot be computed"),
        (None, "Units (0054,1001) is missing: SUV cannot be computed"),
        ("", "Units (0054,1001) is missing: SUV cannot be computed"),
    ],
)
def test_units_no_rule_understands_are_unknown_not_counts(units, note):
    result = scale(units=units, start_time="090000")
    assert (result.unit, result.factor, result.note) == (UNKNOWN_UNIT, None, note)


def test_dicom_time_parsing():
    assert parse_tm("235959.123") == dt.time(23, 59, 59, 123000)
    assert parse_tm("0930") == dt.time(9, 30)
    assert parse_tm("09:30:15") == dt.time(9, 30, 15)
    assert parse_tm("2561") is None and parse_tm("") is None
    assert parse_da("20171227") == dt.date(2017, 12, 27) and parse_da("20171327") is None
    assert parse_dt("20200101233000.5+0700") == dt.datetime(2020, 1, 1, 23, 30, 0, 500000)
    assert parse_dt("20200101") == dt.datetime(2020, 1, 1)
    assert combine("20200101", None) is None


def test_scan_start_and_injection_helpers():
    series = dt.datetime(2020, 1, 2, 0, 20)
    assert scan_start(series, []) == (series, "SeriesDate/SeriesTime")
    assert scan_start(None, [series])[0] == series
    moment, source = injection_datetime(None, "001000", series)
    assert moment == dt.datetime(2020, 1, 2, 0, 10) and "StartTime" in source
    assert injection_datetime(None, "233000", series)[0] == dt.datetime(2020, 1, 2, 23, 30)  # never moved
