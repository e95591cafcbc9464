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
    combine,
    injection_datetime,
    parse_da,
    parse_dt,
    parse_tm,
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


def test_scan_after_midnight_puts_injection_on_the_previous_day():
    result = scale(series_date="20200102", series_time="002000", start_time="233000")
    assert result.trace["injection"] == "2020-01-01T23:30:00"
    assert result.trace["injection_moved_to_previous_day"] is True
    assert result.factor == pytest.approx(FACTOR_50_MIN, rel=1e-4)


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
    moment, source, moved = injection_datetime(None, "001000", series)
    assert moment == dt.datetime(2020, 1, 2, 0, 10) and not moved and "StartTime" in source
