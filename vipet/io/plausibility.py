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


def weight_problem(kg: float | None) -> str | None:
    """Why a patient weight (kg) is not plausible, naming grams or pounds-free nonsense; None if fine."""
    if kg is None:
        return None
    if not _finite(kg) or kg <= 0:
        return f"patient weight {kg!r} kg is not a positive finite number"
    low, high = WEIGHT_KG
    if low <= kg <= high:
        return None
    if low * 1000 <= kg <= high * 1000:
        return f"patient weight {kg:g} kg is outside {low:g}-{high:g} kg: likely grams"
    return f"patient weight {kg:g} kg is outside {low:g}-{high:g} kg"


def height_problem(m: float | None) -> str | None:
    """Why a patient height (m) is not plausible, naming centimetres or millimetres; None if fine."""
    if m is None:
        return None
    if not _finite(m) or m <= 0:
        return f"patient height {m!r} m is not a positive finite number"
    low, high = HEIGHT_M
    if low <= m <= high:
        return None
    if low * 100 <= m <= high * 100:
        return f"patient height {m:g} m is outside {low:g}-{high:g} m: likely centimetres"
    if low * 1000 <= m <= high * 1000:
        return f"patient height {m:g} m is outside {low:g}-{high:g} m: likely millimetres"
    return f"patient height {m:g} m is outside {low:g}-{high:g} m"


def dose_problem(bq: float | None) -> str | None:
    """Why an injected dose (Bq) is not plausible, naming MBq or kBq; None if fine."""
    if bq is None:
        return None
    if not _finite(bq) or bq <= 0:
        return f"injected dose {bq!r} Bq is not a positive finite number"
    low, high = DOSE_BQ
    if low <= bq <= high:
        return None
    if low / 1e6 <= bq <= high / 1e6:
        return f"injected dose {bq:g} Bq is outside {low:g}-{high:g} Bq: likely MBq"
    if low / 1e3 <= bq <= high / 1e3:
        return f"injected dose {bq:g} Bq is outside {low:g}-{high:g} Bq: likely kBq"
    return f"injected dose {bq:g} Bq is outside {low:g}-{high:g} Bq"


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
