"""SUVbw from DICOM PET tag values: pure functions, so every rule can be checked by hand.

SUVbw = C * W * 1000 / D(t), C in Bq/mL (stored value x RescaleSlope + RescaleIntercept, per slice),
W = PatientWeight kg, D(t) = RadionuclideTotalDose x 2^(-dt / RadionuclideHalfLife) with dt from
injection to scan start (DecayCorrection START) or D = dose (ADMIN). The reader multiplies the
activity by `SUVScale.factor`; when a rule cannot be met the factor is None, the activity is kept in
its own unit and `note` names the missing or refusing tag. Nothing is guessed: no default weight,
dose or half-life. Every input and intermediate goes into `trace` for the study's provenance.

Every number is also checked against the ranges of `vipet.io.plausibility`, because a unit error
(weight in grams, dose in MBq, half-life in minutes) gives an SUV wrong by orders of magnitude that
nothing later can notice: such a study keeps its activity, and `note` names the tag, the value and
the likely unit. The injection must precede the scan start by an uptake time inside
`plausibility.UPTAKE_S`. A RadiopharmaceuticalStartTime carries no date, so it is placed on the
scan's day and never moved: an injection on the previous day (a scan just after midnight) needs a
RadiopharmaceuticalStartDateTime that says so. (Moving a later time of day to the previous day
turned a clock or typing error into an SUV thousands of times too high.) Finally the reader passes
the whole-volume SUVmax to `refuse_implausible_suv_max`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from vipet.io.plausibility import dose_problem, half_life_problem, suv_max_problem, uptake_problem, weight_problem
from vipet.study import BQML, CNTS, SUV_BW, UNKNOWN_UNIT

F18_HALF_LIFE_S = 6586.2

TAG_UNITS = "Units (0054,1001)"
TAG_CORRECTED = "CorrectedImage (0028,0051)"
TAG_DECAY = "DecayCorrection (0054,1102)"
TAG_WEIGHT = "PatientWeight (0010,1030)"
TAG_DOSE = "RadionuclideTotalDose (0018,1074)"
TAG_HALF_LIFE = "RadionuclideHalfLife (0018,1075)"
TAG_START_DT = "RadiopharmaceuticalStartDateTime (0018,1078)"
TAG_START_TM = "RadiopharmaceuticalStartTime (0018,1072)"
TAG_SERIES = "SeriesDate (0008,0021) / SeriesTime (0008,0031)"
TAG_PHILIPS_SUV = "Philips SUVScaleFactor (7053,1000)"


@dataclass
class SUVScale:
    """How to turn rescaled PET values into SUVbw: `factor` (scalar or one per slice) or why not."""

    unit: str
    factor: float | np.ndarray | None
    note: str | None = None
    trace: dict[str, Any] = field(default_factory=dict)


def parse_da(text: Any) -> dt.date | None:
    """DICOM DA `YYYYMMDD` (also the legacy `YYYY.MM.DD`); None when empty or malformed."""
    value = re.sub(r"[.\-]", "", str(text or "").strip())
    if len(value) != 8 or not value.isdigit():
        return None
    try:
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return None


def parse_tm(text: Any) -> dt.time | None:
    """DICOM TM `HH[MM[SS[.FFFFFF]]]` (also legacy `HH:MM:SS`); None when empty or malformed."""
    value = str(text or "").strip().replace(":", "")
    match = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?", value)
    if match is None:
        return None
    hour, minute, second = int(match[1]), int(match[2] or 0), int(match[3] or 0)
    micro = int((match[4] or "0").ljust(6, "0"))
    if hour > 23 or minute > 59 or second > 60:
        return None
    return dt.time(hour, minute, min(second, 59), micro)


def parse_dt(text: Any) -> dt.datetime | None:
    """DICOM DT `YYYYMMDD[HH[MM[SS[.F]]]][&ZZXX]`; a UTC offset is dropped (scanner clocks are local)."""
    value = re.sub(r"[+-]\d{4}$", "", str(text or "").strip())
    date = parse_da(value[:8])
    if date is None:
        return None
    rest = value[8:]
    time = parse_tm(rest) if rest else dt.time(0, 0)
    if time is None:
        return None
    return dt.datetime.combine(date, time)


def combine(date_text: Any, time_text: Any) -> dt.datetime | None:
    date, time = parse_da(date_text), parse_tm(time_text)
    if date is None or time is None:
        return None
    return dt.datetime.combine(date, time)


def scan_start(
    series_datetime: dt.datetime | None, acquisition_datetimes: Sequence[dt.datetime]
) -> tuple[dt.datetime | None, str]:
    """Series date/time unless it is later than the earliest acquisition (re-saved series), then that."""
    earliest = min(acquisition_datetimes) if acquisition_datetimes else None
    if series_datetime is None:
        return earliest, "earliest AcquisitionDate/Time" if earliest else "none"
    if earliest is not None and series_datetime > earliest:
        return earliest, "earliest AcquisitionDate/Time (SeriesTime is later)"
    return series_datetime, "SeriesDate/SeriesTime"


def injection_datetime(start_datetime: Any, start_time: Any, scan: dt.datetime) -> tuple[dt.datetime | None, str]:
    """(injection moment, which tag gave it).

    StartDateTime carries its own date. StartTime has none: it is placed on the scan's day and
    never moved, so a time of day later than the scan start reads as an injection after the scan
    (refused by `suv_scale`): only a StartDateTime can say the injection was the day before.
    """
    if start_datetime not in (None, ""):
        parsed = parse_dt(start_datetime)
        if parsed is not None:
            return parsed, TAG_START_DT
    time = parse_tm(start_time)
    if time is None:
        return None, "none"
    return dt.datetime.combine(scan.date(), time), TAG_START_TM


def decayed_dose(total_dose_bq: float, half_life_s: float, elapsed_s: float) -> float:
    """Activity left after `elapsed_s`: D x 2^(-t / T1/2)."""
    return float(total_dose_bq) * math.pow(2.0, -float(elapsed_s) / float(half_life_s))


def suv_scale(
    *,
    units: Any,
    corrected_image: Sequence[str] | str | None,
    decay_correction: Any,
    weight_kg: float | None,
    total_dose_bq: float | None,
    half_life_s: float | None,
    start_datetime: Any = None,
    start_time: Any = None,
    series_date: Any = None,
    series_time: Any = None,
    acquisition_datetimes: Sequence[dt.datetime] = (),
    philips_suv_scale: float | Sequence[float] | None = None,
) -> SUVScale:
    """Apply the SUVbw rules of DOMAIN.md to raw tag values; see the module docstring."""
    unit_text = str(units or "").strip().upper()
    trace: dict[str, Any] = {"units": unit_text or None, "formula": "SUVbw = C[Bq/mL] * W[kg] * 1000 / D(t)[Bq]"}
    if unit_text == "GML":
        trace["method"] = "Units GML: values are already SUVbw (g/mL)"
        return SUVScale(SUV_BW, 1.0, None, trace)
    if unit_text == "CNTS":
        if philips_suv_scale is None:
            note = f"{TAG_UNITS} is CNTS and {TAG_PHILIPS_SUV} is missing: counts cannot be converted to SUV"
            return SUVScale(CNTS, None, note, trace)
        factors = np.asarray(philips_suv_scale, dtype=np.float64)
        if not np.all(np.isfinite(factors)) or np.any(factors <= 0):
            return SUVScale(CNTS, None, f"{TAG_PHILIPS_SUV} is not a positive number", trace)
        trace.update(method=f"Units CNTS scaled by {TAG_PHILIPS_SUV}", philips_suv_scale=factors.tolist())
        factor: float | np.ndarray = float(factors) if factors.ndim == 0 else factors
        return SUVScale(SUV_BW, factor, None, trace)
    if unit_text != "BQML":  # a unit no rule understands is not relabelled as counts: it stays UNKNOWN
        stated = str(units or "").strip()
        said = f"= {stated!r} is not BQML/CNTS/GML" if stated else "is missing"
        return SUVScale(UNKNOWN_UNIT, None, f"{TAG_UNITS} {said}: SUV cannot be computed", trace)

    flags = _corrections(corrected_image)
    trace["corrected_image"] = sorted(flags)
    lacking = [flag for flag in ("ATTN", "DECY") if flag not in flags]
    if lacking:
        return SUVScale(BQML, None, f"{TAG_CORRECTED} lacks {' and '.join(lacking)}: SUV would be wrong", trace)
    trace["weight_kg"] = weight_kg
    if weight_kg is None:
        return SUVScale(BQML, None, f"{TAG_WEIGHT} missing", trace)
    if not weight_kg > 0:
        return SUVScale(BQML, None, f"{TAG_WEIGHT} is {weight_kg}, not a positive weight", trace)
    if (problem := weight_problem(weight_kg)) is not None:
        return SUVScale(BQML, None, f"{TAG_WEIGHT}: {problem}", trace)
    trace["total_dose_bq"] = total_dose_bq
    if total_dose_bq is None:
        return SUVScale(BQML, None, f"{TAG_DOSE} missing", trace)
    if not total_dose_bq > 0:
        return SUVScale(BQML, None, f"{TAG_DOSE} is {total_dose_bq}, not a positive dose", trace)
    if (problem := dose_problem(total_dose_bq)) is not None:
        return SUVScale(BQML, None, f"{TAG_DOSE}: {problem}", trace)
    decay = str(decay_correction or "").strip().upper()
    trace["decay_correction"] = decay or None
    if decay == "ADMIN":
        trace.update(method="DecayCorrection ADMIN: image decay-corrected to injection, D = total dose",
                     dose_at_scan_bq=float(total_dose_bq))
        return _finish(float(weight_kg), float(total_dose_bq), trace)
    if decay != "START":
        shown = decay or "missing"
        return SUVScale(BQML, None, f"{TAG_DECAY} is {shown}: only START and ADMIN are understood", trace)

    trace["half_life_s"] = half_life_s
    if half_life_s is None:
        return SUVScale(BQML, None, f"{TAG_HALF_LIFE} missing", trace)
    if not half_life_s > 0:
        return SUVScale(BQML, None, f"{TAG_HALF_LIFE} is {half_life_s}, not a positive time", trace)
    if (problem := half_life_problem(half_life_s)) is not None:
        return SUVScale(BQML, None, f"{TAG_HALF_LIFE}: {problem}", trace)
    series_dt = combine(series_date, series_time)
    scan, scan_source = scan_start(series_dt, list(acquisition_datetimes))
    trace.update(series_datetime=_iso(series_dt), scan_start=_iso(scan), scan_start_source=scan_source)
    if acquisition_datetimes:
        trace["earliest_acquisition"] = _iso(min(acquisition_datetimes))
    if scan is None:
        return SUVScale(BQML, None, f"{TAG_SERIES} missing and no AcquisitionDate/Time to stand in", trace)
    injection, source = injection_datetime(start_datetime, start_time, scan)
    trace.update(
        start_datetime_tag=str(start_datetime) if start_datetime else None,
        start_time_tag=str(start_time) if start_time else None,
        injection=_iso(injection),
        injection_source=source,
        injection_moved_to_previous_day=False,  # never: see the module docstring
    )
    if injection is None:
        return SUVScale(BQML, None, f"{TAG_START_TM} and {TAG_START_DT} missing", trace)
    elapsed = (scan - injection).total_seconds()
    trace["elapsed_s"] = elapsed
    if (problem := uptake_problem(elapsed)) is not None:
        note = f"{source} gives injection {_iso(injection)}, scan start {_iso(scan)} ({scan_source}): {problem}"
        if source == TAG_START_TM and elapsed < 0:
            note += f"; a StartTime has no date: an injection the day before needs {TAG_START_DT}"
        return SUVScale(BQML, None, note, trace)
    dose_at_scan = decayed_dose(total_dose_bq, half_life_s, elapsed)
    trace.update(method="DecayCorrection START: dose decayed from injection to scan start", dose_at_scan_bq=dose_at_scan)
    return _finish(float(weight_kg), dose_at_scan, trace)


def refuse_implausible_suv_max(scale: SUVScale, suv_max: float) -> SUVScale:
    """`scale` unchanged, or refused when the SUVmax it would give is implausible (a unit error upstream).

    A refused scale keeps the unit the values were stored in (Bq/mL or counts; UNKNOWN for a GML
    series, whose values claim to be SUV but cannot be), so no SUV reaches a later stage.
    """
    if scale.factor is None or (problem := suv_max_problem(suv_max)) is None:
        return scale
    unit = {"BQML": BQML, "CNTS": CNTS}.get(str(scale.trace.get("units")), UNKNOWN_UNIT)
    trace = scale.trace | {"refused_suv_max": float(suv_max)}
    return SUVScale(unit, None, f"whole-volume {problem}", trace)


def _finish(weight_kg: float, dose_at_scan_bq: float, trace: dict[str, Any]) -> SUVScale:
    factor = weight_kg * 1000.0 / dose_at_scan_bq
    trace["suv_factor"] = factor
    return SUVScale(SUV_BW, factor, None, trace)


def _corrections(corrected_image: Sequence[str] | str | None) -> set[str]:
    if corrected_image is None:
        return set()
    if isinstance(corrected_image, str):
        items = corrected_image.split("\\")
    else:
        items = list(corrected_image)
    return {str(item).strip().upper() for item in items if str(item).strip()}


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None
