"""Physiological and physical ranges for every number that enters an SUV, a geometry or a leakage check.

A weight in grams, a dose in MBq or a half-life in minutes gives an SUV wrong by orders of
magnitude that no later stage can notice, so each input is checked here against a documented
range, and a value outside it is reported with the unit error it most likely is. The functions
return a problem sentence (or None): the reader decides whether it refuses (an SUV input) or keeps
the study with a note (patient metadata used only for leakage checks), and says so.

The ranges are deliberately wide (they catch unit errors, not unusual patients):
- patient weight 2-350 kg; height 0.4-2.5 m;
- injected dose 5 MBq-2 GBq (FDG: typically 150-500 MBq);
- half-life 60 s-5 days (F-18: 6586.2 s);
- uptake time (injection to scan start) 0-6 h; an injection after the scan is refused;
- whole-volume PET SUVmax at most 200 (bladder and brain stay well below);
- voxel spacing 0.05-100 mm, finite; a DICOM RescaleSlope must be a positive finite number.
- a volume has at least MIN_SHAPE = (2, 4, 4) voxels along (slices, rows, columns).
"""

from __future__ import annotations

import math

WEIGHT_KG = (2.0, 350.0)
HEIGHT_M = (0.4, 2.5)
DOSE_BQ = (5e6, 2e9)
HALF_LIFE_S = (60.0, 5 * 86400.0)
UPTAKE_S = (0.0, 6 * 3600.0)
SUV_MAX = 200.0
SPACING_MM = (0.05, 100.0)  # wide: the io tests' 8x8 PET over 500 mm has 62.5 mm voxels
# Smallest usable volume (slices, rows, columns): a single slice or an in-plane grid under 4x4 is a
# localizer, a thumbnail or a broken export (1x1x1), never a PET/CT study. Deliberately low: the tests'
# tiny studies (6x6 PET) must still read, and any real PET has at least 64x64.
MIN_SHAPE = (2, 4, 4)


def _finite(value: float | None) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(float(value))


def _range_problem(what: str, value: float | None, unit: str, bounds: tuple[float, float],
                   unit_errors: tuple[tuple[float, str], ...]) -> str | None:
    """Why `value` (in `unit`) lies outside `bounds`; `unit_errors` are (factor, name) pairs: a value
    inside `bounds` scaled by `factor` is named as that unit error ("likely grams"). None if fine."""
    if value is None:
        return None
    if not _finite(value) or value <= 0:
        return f"{what} {value!r} {unit} is not a positive finite number"
    low, high = bounds
    if low <= value <= high:
        return None
    outside = f"{what} {value:g} {unit} is outside {low:g}-{high:g} {unit}"
    for factor, name in unit_errors:
        if low * factor <= value <= high * factor:
            return f"{outside}: likely {name}"
    return outside


def weight_problem(kg: float | None) -> str | None:
    """Why a patient weight (kg) is not plausible, naming grams; None if fine."""
    return _range_problem("patient weight", kg, "kg", WEIGHT_KG, ((1000.0, "grams"),))


def height_problem(m: float | None) -> str | None:
    """Why a patient height (m) is not plausible, naming centimetres or millimetres; None if fine."""
    return _range_problem("patient height", m, "m", HEIGHT_M, ((100.0, "centimetres"), (1000.0, "millimetres")))


def dose_problem(bq: float | None) -> str | None:
    """Why an injected dose (Bq) is not plausible, naming MBq or kBq; None if fine."""
    return _range_problem("injected dose", bq, "Bq", DOSE_BQ, ((1e-6, "MBq"), (1e-3, "kBq")))


def half_life_problem(seconds: float | None) -> str | None:
    """Why a radionuclide half-life (s) is not plausible, naming minutes or hours; None if fine."""
    if seconds is None:
        return None
    if not _finite(seconds) or seconds <= 0:
        return f"half-life {seconds!r} s is not a positive finite number"
    low, high = HALF_LIFE_S
    if low <= seconds <= high and not 100.0 <= seconds <= 120.0:  # 109.77 is F-18 in minutes
        return None
    if 100.0 <= seconds <= 120.0 or low / 60 <= seconds < low:
        return f"half-life {seconds:g} s is outside {low:g}-{high:g} s or is F-18's 109.8: likely minutes"
    return f"half-life {seconds:g} s is outside {low:g}-{high:g} s"


def uptake_problem(seconds: float) -> str | None:
    """Why the time from injection to scan start is not plausible; None if fine."""
    if not _finite(seconds):
        return f"uptake time {seconds!r} s is not finite"
    low, high = UPTAKE_S
    if seconds < low:
        return f"injection is {-seconds:g} s after the scan start: an injection must precede the scan"
    if seconds > high:
        return f"uptake time {seconds / 3600:.1f} h exceeds {high / 3600:g} h (injection or scan date/time wrong?)"
    return None


def suv_max_problem(suv_max: float) -> str | None:
    """Why a whole-volume SUVmax is not plausible (a unit error upstream); None if fine."""
    if not _finite(suv_max):
        return f"SUVmax {suv_max!r} is not finite"
    if suv_max > SUV_MAX:
        return (f"SUVmax {suv_max:g} exceeds {SUV_MAX:g}: check the weight (kg), dose (Bq) and half-life (s) units")
    return None


def slope_problem(slope: object) -> str | None:
    """Why a RescaleSlope is unusable (it must be a positive finite number); None if fine."""
    try:
        value = float(slope)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"RescaleSlope (0028,1053) {slope!r} is not a number"
    if not math.isfinite(value) or value <= 0:
        return f"RescaleSlope (0028,1053) {slope!r} must be a positive finite number"
    return None


def spacing_problem(spacing: tuple[float, ...]) -> str | None:
    """Why voxel spacings (mm) are unusable: zero, negative, infinite or absurd; None if fine."""
    low, high = SPACING_MM
    bad = [s for s in spacing if not _finite(s) or not low <= float(s) <= high]
    if bad:
        return f"voxel spacing {tuple(float(s) for s in spacing)} mm has values outside {low:g}-{high:g} mm"
    return None


def shape_problem(shape: tuple[int, ...]) -> str | None:
    """Why a volume shape (slices, rows, columns) is too small to be a study (see MIN_SHAPE); None if fine."""
    dims = tuple(int(n) for n in shape)
    if len(dims) != len(MIN_SHAPE) or any(n < low for n, low in zip(dims, MIN_SHAPE)):
        low = "x".join(str(n) for n in MIN_SHAPE)
        return f"volume shape {dims} is below the minimum {low} (slices x rows x columns)"
    return None
