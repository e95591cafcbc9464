"""Where findings can sit in a phantom: lymph-node stations, lung lobes, liver segments, bones.

Each function returns a centre (phantom frame, mm) plus the Vietnamese name a radiologist would
write for that place, so the location in the report is true of the image by construction. Points
are checked against the CT label volume (rejection sampling) so a lung nodule is really in lung
and a liver lesion really in liver, whatever the patient's build.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vipet.synth.anatomy import (
    FAT, LIVER, LUNG, MEDIASTINUM, MUSCLE, SOFT_TISSUE, VISCERAL_FAT, Body,
)
from vipet.synth.shapes import Grid

SIDE_VI = {"right": "phải", "left": "trái", "bilateral": "hai bên"}
SIGN = {"right": -1.0, "left": 1.0}  # x runs patient right -> left

# Node stations: Vietnamese name (side appended when lateral), region, report section and whether
# the station is lateral. Names follow the real reports.
STATIONS: dict[str, tuple[str, str, str, bool]] = {
    "cervical_II": ("nhóm II", "head_neck", "Đầu - cổ", True),
    "cervical_III": ("nhóm III", "head_neck", "Đầu - cổ", True),
    "supraclavicular": ("thượng đòn", "head_neck", "Đầu - cổ", True),
    "axillary": ("hố nách", "chest", "Lồng ngực", True),
    "prevascular": ("trước mạch máu", "chest", "Lồng ngực", False),
    "pretracheal": ("trước khí quản", "chest", "Lồng ngực", False),
    "right_paratracheal": ("cạnh phải khí quản đoạn thấp", "chest", "Lồng ngực", False),
    "aortopulmonary": ("cửa sổ chủ phổi", "chest", "Lồng ngực", False),
    "subaortic": ("dưới quai động mạch chủ", "chest", "Lồng ngực", False),
    "subcarinal": ("dưới carina", "chest", "Lồng ngực", False),
    "hilar": ("rốn phổi", "chest", "Lồng ngực", True),
    "para_aortic": ("cạnh động mạch chủ bụng", "abdomen_pelvis", "Ổ bụng - khung chậu", False),
    "inguinal": ("hố bẹn", "abdomen_pelvis", "Ổ bụng - khung chậu", True),
}
MEDIASTINAL = ("prevascular", "pretracheal", "right_paratracheal", "aortopulmonary", "subaortic", "subcarinal")
_NODE_TISSUE = (MEDIASTINUM, FAT, MUSCLE, SOFT_TISSUE, VISCERAL_FAT)


@dataclass(frozen=True)
class LabelLookup:
    """Nearest-voxel label queries on the CT label volume (phantom frame, mm)."""

    labels: np.ndarray
    grid: Grid

    def at(self, point: tuple[float, float, float]) -> int:
        return int(self.labels[self.grid.nearest_index(point)])

    def fraction(self, center: tuple[float, float, float], semi: tuple[float, float, float], allowed: tuple[int, ...],
                 margin: float = 0.0) -> float:
        """Share of the centre and the 6 axis tips (at 90% of each semi-axis, plus `margin` mm) whose
        label is allowed; a margin keeps a lesion clear of its organ's border."""
        points = [center]
        for axis in range(3):
            for sign in (-1.0, 1.0):
                p = list(center)
                p[axis] += sign * (0.9 * semi[axis] + margin)
                points.append(tuple(p))  # type: ignore[arg-type]
        return float(np.mean([self.at(p) in allowed for p in points]))


def station_center(body: Body, station: str, side: str | None, rng: np.random.Generator) -> tuple[float, float, float]:
    """A node centre at a station (side "right"/"left" for lateral stations), jittered a few mm."""
    lm, xc, yc = body.landmarks, body.xc, body.yc
    s = SIGN.get(side or "", 0.0)
    car, ty = lm["carina"], lm["trachea_y"]
    j = lambda v: float(rng.uniform(-v, v))  # noqa: E731
    if station == "cervical_II":
        c = (body.z(0.135), yc - 8.0, xc + s * 36.0)
    elif station == "cervical_III":
        c = (body.z(0.152), yc - 10.0, xc + s * 34.0)
    elif station == "supraclavicular":
        c = (lm["lung_apex"] - 6.0, yc - 12.0, xc + s * 48.0)
    elif station == "axillary":
        a, _ = body.lean_profile(np.array([body.z(0.215)]))
        c = (body.z(0.215), yc - 0.05 * lm["chest_b"], xc + s * (float(a[0]) + body.t_fat * 0.5 - 6.0))
    elif station == "prevascular":
        c = (car - 32.0, ty - 34.0, xc + 6.0)
    elif station == "pretracheal":
        c = (car - 24.0, ty - 17.0, xc)
    elif station == "right_paratracheal":
        c = (car - 14.0, ty, xc - 18.0)
    elif station == "aortopulmonary":
        c = (car - 4.0, ty - 4.0, xc + 24.0)
    elif station == "subaortic":
        c = (car + 4.0, ty - 14.0, xc + 20.0)
    elif station == "subcarinal":
        c = (car + 20.0, ty + 4.0, xc)
    elif station == "hilar":
        c = (car + 18.0, ty + 2.0, xc + s * (0.16 * lm["chest_a"] + 16.0))
    elif station == "para_aortic":
        c = (body.z(0.42), lm["aorta_y"], lm["aorta_x"] + 22.0)
    elif station == "inguinal":
        c = (body.z(0.540), yc - 0.50 * lm["abd_b"], xc + s * (body.legs()["offset"] + 8.0))
    else:
        raise KeyError(f"unknown node station {station!r}")
    return (c[0] + j(3.0), c[1] + j(2.0), c[2] + j(2.0))


def place_node(body: Body, lookup: LabelLookup, station: str, side: str | None, semi: tuple[float, float, float],
               rng: np.random.Generator) -> tuple[float, float, float]:
    """A station centre whose node body lies mostly in soft tissue (hilar nodes may border lung)."""
    allowed = _NODE_TISSUE + ((LUNG,) if station in ("hilar", "supraclavicular") else ())
    best, best_score = None, -1.0
    for _ in range(12):
        c = station_center(body, station, side, rng)
        score = lookup.fraction(c, semi, allowed)
        if score > best_score:
            best, best_score = c, score
        if score >= 0.85:
            break
    assert best is not None
    return best


# Lung lobes as zones of the lung solid in normalised coordinates: (w range along z top->bottom,
# v range along y anterior->posterior). The left lung has no middle lobe.
_LOBES = {
    ("right", "upper"): ((-0.85, -0.2), (-0.9, 0.9)),
    ("right", "middle"): ((-0.1, 0.45), (-0.9, -0.15)),
    ("right", "lower"): ((0.0, 0.8), (0.1, 0.9)),
    ("left", "upper"): ((-0.85, 0.15), (-0.9, 0.3)),
    ("left", "lower"): ((0.1, 0.8), (0.0, 0.9)),
}
LOBE_VI = {"upper": "thùy trên", "middle": "thùy giữa", "lower": "thùy dưới"}


def lung_lobes(side: str) -> list[str]:
    return ["upper", "middle", "lower"] if side == "right" else ["upper", "lower"]


def place_in_lung(body: Body, lookup: LabelLookup, side: str, lobe: str, semi: tuple[float, float, float],
                  rng: np.random.Generator, min_fraction: float = 1.0) -> tuple[tuple[float, float, float], str]:
    """A centre inside a lobe and whether it is peripheral ("ngoại vi") or central ("trung tâm").

    `min_fraction` 1 (nodules) asks for lung all around the lesion with a 6 mm margin, so it is
    surrounded by aerated lung on CT; masses (0.55) may abut the pleura or the mediastinum."""
    lung = body.solid(f"lung_{side}")
    (w_lo, w_hi), (v_lo, v_hi) = _LOBES[(side, lobe)]
    best, best_score, best_u = None, -1.0, 0.0
    for _ in range(120):
        w, v = rng.uniform(w_lo, w_hi), rng.uniform(v_lo, v_hi)
        u = rng.uniform(-0.85, 0.85)
        c = (lung.center[0] + w * lung.semi[0], lung.center[1] + v * lung.semi[1], lung.center[2] + u * lung.semi[2])
        score = lookup.fraction(c, semi, (LUNG,), margin=0.0 if min_fraction < 1.0 else 6.0)
        if score > best_score:
            best, best_score, best_u = c, score, u
        if score >= min_fraction:
            break
    assert best is not None
    lateral = best_u * SIGN[side] > 0.15  # u > 0 is towards patient left
    return best, "ngoại vi" if lateral else "trung tâm"


def place_in_liver(body: Body, lookup: LabelLookup, semi: tuple[float, float, float],
                   rng: np.random.Generator) -> tuple[tuple[float, float, float], str, str]:
    """(centre, Vietnamese site, segment) of a liver lesion: right-lobe Couinaud segments V-VIII by
    quadrant of the right lobe, else "left" (written "gan trái")."""
    liver = body.solid("liver")
    best, best_score = liver.center, -1.0
    for _ in range(60):
        c = tuple(float(liver.center[i] + rng.uniform(-0.7, 0.7) * liver.semi[i]) for i in range(3))
        score = lookup.fraction(c, semi, (LIVER,))  # type: ignore[arg-type]
        if score > best_score:
            best, best_score = c, score  # type: ignore[assignment]
        if score >= 0.99:
            break
    if best[2] > body.xc + 10.0:
        return best, "gan trái", "left"  # type: ignore[return-value]
    upper = best[0] < liver.center[0]
    posterior = best[1] > liver.center[1]
    segment = {(True, True): "VII", (True, False): "VIII", (False, True): "VI", (False, False): "V"}[(upper, posterior)]
    return best, f"hạ phân thùy {segment} gan phải", segment  # type: ignore[return-value]


def place_in_bone(body: Body, lookup: LabelLookup, site: str, rng: np.random.Generator) -> tuple[tuple[float, float, float], str, str, float]:
    """(centre, Vietnamese site, side, largest radius that fits) of a bone lesion: a vertebral body
    ("D7", "L3", ...), an iliac wing ("iliac_right"/"iliac_left") or the sacrum."""
    if site.startswith("iliac"):
        side = site.split("_")[1]
        wing = body.solid(site)
        c = (wing.center[0] + float(rng.uniform(-0.4, 0.4)) * wing.semi[0], wing.center[1] + float(rng.uniform(-0.4, 0.4)) * wing.semi[1], wing.center[2])
        return c, f"cánh chậu {SIDE_VI[side]}", side, min(wing.semi) - 4.0
    if site == "sacrum":
        sac = body.solid("sacrum")
        return sac.center, "xương cùng", "midline", min(sac.semi) - 3.0
    for name, top, bottom in body.vertebrae:
        if name == site:
            zc = (top + 0.4 * (bottom - top))
            yc = float(body.spine_y(np.array([zc]))[0])
            k = body.height_mm / 1700.0
            radius = {"C": 10.0, "D": 13.0 + 0.25 * int(name[1:]), "L": 18.0}[name[0]] * k**0.5
            return (zc, yc, body.xc), f"thân đốt sống {name}", "midline", radius - 3.0
    raise KeyError(f"unknown bone site {site!r}")

