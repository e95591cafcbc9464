"""Diagnosis-driven findings: what is wrong with a synthetic patient, where, how big, how avid.

A patient's diagnosis (normal, benign findings only, inflammatory, primary lung cancer with nodal
and distant spread, lymphoma-like) decides which findings are drawn, so a report never mixes, say,
a spiculated mass with "no abnormality" or malignant-looking nodes without a cause. Each finding
keeps its truth (site, side, lobe, size, planned SUVmax, invasion, judgement) and the solids that
will be planted in CT and PET; the measured SUVmax is filled in after planting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vipet.synth.anatomy import BONE_LABELS, LUNG, Body
from vipet.synth.sites import (
    LOBE_VI, MEDIASTINAL, SIDE_VI, SIGN, STATIONS, LabelLookup, lung_lobes, place_in_bone, place_in_liver,
    place_in_lung, place_node,
)

DIAGNOSES = ("normal", "benign", "inflammatory", "lung_cancer", "lymphoma")
DIAGNOSIS_WEIGHTS = (0.18, 0.20, 0.12, 0.35, 0.15)
JUDGEMENTS = ("primary_malignant", "likely_malignant", "metastasis", "lymphoma", "inflammatory", "benign",
              "follow_up", "none")
HU = {"solid": 35.0, "spiculated": 35.0, "lobulated": 38.0, "ground_glass": -560.0, "calcified": 520.0,
      "node": 35.0, "fluid": 12.0, "pleural": 42.0, "hypodense": 28.0, "cyst": 6.0, "lytic": 70.0,
      "sclerotic": 720.0}
ROUTINE_SITES = {  # the fixed wording of the routine small-node sentences of real reports
    "cervical_II": "góc hàm và phía trong cơ ức đòn chũm (nhóm IIB) hai bên",
    "axillary": "hố nách hai bên",
    "inguinal": "hố bẹn hai bên",
}
_INVASIONS = ("dính vào màng phổi thành sau", "dính vào rãnh liên thùy", "xâm lấn rốn phổi",
              "dính vào màng phổi trung thất", "dính vào màng phổi thành bên", "xâm lấn vào thành ngực")


@dataclass
class Member:
    """One solid of a finding (a node of a group, the body of a mass), phantom frame mm, head-first."""

    center: tuple[float, float, float]
    semi: tuple[float, float, float]  # (z, y, x) semi-axes in mm
    suv_target: float | None  # planned SUVmax after blur; None means non-avid tissue value
    tissue_suv: float = 0.8  # activity of a non-avid lesion
    restrict_to: tuple[int, ...] | None = None
    spicules: list[tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]] = field(
        default_factory=list)  # (centre, semi, direction) thin solids on CT only


@dataclass
class Finding:
    """A reportable abnormality with its ground truth (see `truth_record` in cohort.py)."""

    kind: str
    region: str
    section: str
    organ: str
    side: str
    site: str  # Vietnamese location phrase, as the report writes it
    texture: str
    judgement: str
    members: list[Member]
    lobe: str | None = None
    station: str | None = None
    size_mm: tuple[int, int] | None = None  # axial diameters (left-right, antero-posterior) of the index solid
    count: int = 1
    invasion: str | None = None
    amount: str | None = None  # effusion: "ít" | "vừa" | "nhiều"
    incidental: bool = False  # a routine small finding the impression does not restate
    suv_measured: float | None = None  # filled by planting: max of the final PET inside the solids
    suv_max: float | None = None  # the value the report prints (None when non-avid)
    uptake: str = "none"  # "none" | "mild" | "high" after planting

    @property
    def hu(self) -> float:
        return HU[self.texture]

    @property
    def avid_planned(self) -> bool:
        return any(m.suv_target is not None for m in self.members)


def _diam(rng: np.random.Generator, lo: float, hi: float, ratio: float = 0.25) -> tuple[int, int]:
    a = int(round(rng.uniform(lo, hi)))
    b = int(round(a * rng.uniform(1.0 - ratio, 1.0 + ratio)))
    return a, max(b, 2)


def _semi(size: tuple[int, int], rng: np.random.Generator) -> tuple[float, float, float]:
    a, b = size
    c = (a + b) / 2.0 * rng.uniform(0.8, 1.1)
    return (c / 2.0, b / 2.0, a / 2.0)


class _Sampler:
    """Draws findings for one patient; holds the patient's anatomy and RNG."""

    def __init__(self, rng: np.random.Generator, body: Body, lookup: LabelLookup):
        self.rng, self.body, self.lookup = rng, body, lookup
        self.findings: list[Finding] = []

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    # --- lungs --------------------------------------------------------------------------------
    def lung(self, kind: str, texture: str, side: str, lobe: str, size: tuple[int, int], suv: float | None,
             judgement: str, invasion: str | None = None, tissue_suv: float = 0.6) -> Finding:
        semi = _semi(size, self.rng)
        min_frac = 0.55 if kind == "lung_mass" else 1.0
        center, depth = place_in_lung(self.body, self.lookup, side, lobe, semi, self.rng, min_frac)
        site = f"{LOBE_VI[lobe]} phổi {SIDE_VI[side]}"
        if kind != "lung_ggo" and max(size) >= 8 and self.rng.random() < 0.6:
            site = f"{depth} {site}"
        member = Member(center, semi, suv, tissue_suv, restrict_to=None if kind == "lung_mass" else (LUNG,))
        if texture == "spiculated":
            member.spicules = self._spicules(center, semi)
        finding = Finding(kind, "chest", "Lồng ngực", "lung", side, site, texture, judgement, [member], lobe=lobe,
                          size_mm=size, invasion=invasion)
        self.findings.append(finding)
        return finding

    def _spicules(self, center, semi):
        spikes = []
        for _ in range(int(self.rng.integers(6, 11))):
            d = self.rng.normal(size=3)
            d /= np.linalg.norm(d)
            reach = float(np.sqrt(sum((d[i] * semi[i]) ** 2 for i in range(3))))
            length = self.u(4.0, 9.0)
            c = tuple(float(center[i] + d[i] * (reach + length * 0.6)) for i in range(3))
            spikes.append((c, (length, 0.9, 0.9), tuple(float(v) for v in d)))
        return spikes

    # --- nodes --------------------------------------------------------------------------------
    def nodes(self, station: str, side: str | None, size: tuple[int, int], suv: float | None, judgement: str,
              count: int = 1, incidental: bool = False) -> Finding:
        name, region, section, lateral = STATIONS[station]
        if lateral and side is None:
            side = "right" if self.rng.random() < 0.5 else "left"
        sides = ["right", "left"] if side == "bilateral" else [side]
        members: list[Member] = []
        member_sides: list[str | None] = []
        for i in range(count):
            node_side = sides[i % len(sides)] if lateral else None
            node_size = size if i == 0 else (max(int(size[0] * self.u(0.6, 0.9)), 4), max(int(size[1] * self.u(0.6, 0.9)), 4))
            semi = _semi(node_size, self.rng)
            center = place_node(self.body, self.lookup, station, node_side, semi, self.rng)
            same_side = [m for m, s in zip(members, member_sides) if s == node_side]
            if same_side:  # a chain along z, touching but not overlapping the nodes already there
                step = len(same_side)
                sign = 1.0 if step % 2 else -1.0
                reach = same_side[0].semi[0] + semi[0] + 2.0 + (step - 1) // 2 * (2 * semi[0] + 2.0)
                first = same_side[0].center
                center = (first[0] + sign * reach, first[1] + self.u(-3, 3), first[2] + self.u(-3, 3))
            target = None if suv is None else (suv if i == 0 else suv * self.u(0.6, 0.9))
            members.append(Member(center, semi, target, self.u(0.7, 1.0)))
            member_sides.append(node_side)
        site = name
        if lateral and side:
            prefix = "bên " if station.startswith("cervical") and side != "bilateral" else ""
            site = f"{name} {prefix}{SIDE_VI[side]}"
        finding = Finding("lymph_node", region, section, "lymph_node", side or "midline", site, "node", judgement,
                          members, station=station, size_mm=size, count=count, incidental=incidental)
        self.findings.append(finding)
        return finding

    # --- pleura, liver, bone ------------------------------------------------------------------
    def effusion(self, side: str, amount: str) -> Finding:
        lung = self.body.solid(f"lung_{side}")
        depth = {"ít": self.u(12, 20), "vừa": self.u(24, 36), "nhiều": self.u(40, 55)}[amount]
        height = depth * self.u(2.0, 3.0)
        center = (lung.center[0] + lung.semi[0] - height * 0.6, lung.center[1] + lung.semi[1], lung.center[2])
        member = Member(center, (height, depth * 1.6, lung.semi[2]), None, self.u(0.5, 0.8), restrict_to=(LUNG,))
        finding = Finding("pleural_effusion", "chest", "Lồng ngực", "pleura", side, f"màng phổi {SIDE_VI[side]}",
                          "fluid", "none", [member], amount=amount)
        self.findings.append(finding)
        return finding

    def thickening(self, side: str, suv: float | None, judgement: str) -> Finding:
        lung = self.body.solid(f"lung_{side}")
        wall = "thành sau" if self.rng.random() < 0.6 else "thành bên"
        zc = lung.center[0] + self.u(-0.2, 0.4) * lung.semi[0]
        thick = self.u(4.0, 6.5)
        if wall == "thành sau":
            start = (zc, lung.center[1], lung.center[2] + SIGN[side] * 0.3 * lung.semi[2])
            direction, semi = (0.0, 1.0, 0.0), (self.u(20, 35), thick, self.u(20, 30))
        else:
            start = (zc, lung.center[1], lung.center[2])
            direction, semi = (0.0, 0.0, SIGN[side]), (self.u(20, 35), self.u(20, 30), thick)
        # Walk from inside the lung to the chest wall; the thickening lines the lung side of it.
        center = start
        for step in np.arange(0.0, 200.0, 2.0):
            probe = tuple(start[i] + direction[i] * step for i in range(3))
            if self.lookup.at(probe) != LUNG and step > 0:  # type: ignore[arg-type]
                break
            center = probe  # type: ignore[assignment]
        center = tuple(center[i] - direction[i] * thick * 0.3 for i in range(3))  # type: ignore[assignment]
        member = Member(center, semi, suv, self.u(0.7, 1.0), restrict_to=(LUNG,))
        finding = Finding("pleural_thickening", "chest", "Lồng ngực", "pleura", side,
                          f"màng phổi {wall} bên {SIDE_VI[side]}", "pleural", judgement, [member])
        self.findings.append(finding)
        return finding

    def liver(self, texture: str, size: tuple[int, int], suv: float | None, judgement: str) -> Finding:
        semi = _semi(size, self.rng)
        center, site, segment = place_in_liver(self.body, self.lookup, semi, self.rng)
        member = Member(center, semi, suv, 0.4 if texture == "cyst" else 1.2)
        finding = Finding("liver_lesion", "abdomen_pelvis", "Ổ bụng - khung chậu", "liver",
                          "left" if segment == "left" else "right", site, texture, judgement, [member],
                          lobe=segment, size_mm=size)
        self.findings.append(finding)
        return finding

    def bone(self, site_code: str, texture: str, size: tuple[int, int], suv: float | None, judgement: str) -> Finding:
        center, site, side, fit = place_in_bone(self.body, self.lookup, site_code, self.rng)
        limit = max(int(2 * fit), 4)
        size = (min(size[0], limit), min(size[1], limit))
        semi = _semi(size, self.rng)
        member = Member(center, semi, suv, 0.8, restrict_to=BONE_LABELS)
        z = center[0]
        region = ("head_neck" if z < self.body.z(0.183) else
                  "chest" if z < self.body.landmarks["diaphragm"] else "abdomen_pelvis")
        finding = Finding("bone_lesion", region, "Hệ cơ - xương", "bone", side, site, texture, judgement, [member],
                          lobe=site_code if not site_code.startswith("iliac") else None, size_mm=size)
        self.findings.append(finding)
        return finding

    # --- routine small findings most real reports mention ---------------------------------------
    def routine_nodes(self) -> None:
        for station, p in (("cervical_II", 0.6), ("axillary", 0.7), ("inguinal", 0.75)):
            if self.rng.random() < p:
                d = int(self.rng.integers(7, 11))
                group = self.nodes(station, "bilateral", (d, d), None,
                                   "inflammatory" if station == "cervical_II" else "benign", count=2, incidental=True)
                group.site = ROUTINE_SITES[station]

    def benign_extras(self, n: int) -> None:
        options = ["nodule", "calcified", "cyst", "ggo", "island", "nodes"]
        for choice in self.rng.choice(options, size=n, replace=False):
            side = "right" if self.rng.random() < 0.55 else "left"
            lobe = str(self.rng.choice(lung_lobes(side)))
            if choice == "nodule":
                d = int(self.rng.integers(3, 9))
                self.lung("lung_nodule", "solid", side, lobe, (d, d), None, "follow_up")
            elif choice == "calcified":
                d = int(self.rng.integers(3, 7))
                self.lung("lung_nodule", "calcified", side, lobe, (d, d), None, "benign")
            elif choice == "cyst":
                self.liver("cyst", _diam(self.rng, 8, 22, 0.15), None, "benign")
            elif choice == "ggo":
                d = int(self.rng.integers(4, 10))
                self.lung("lung_ggo", "ground_glass", side, lobe, (d, d), None, "follow_up", tissue_suv=0.4)
            elif choice == "island":
                level = f"{'DL'[int(self.rng.integers(0, 2))]}{int(self.rng.integers(2, 6))}"
                d = int(self.rng.integers(4, 8))
                self.bone(level if self.rng.random() < 0.6 else f"iliac_{side}", "sclerotic", (d, d), None, "benign")
            else:
                station = str(self.rng.choice(["pretracheal", "subcarinal", "aortopulmonary"]))
                d = int(self.rng.integers(6, 10))
                self.nodes(station, None, (d, d), None, "follow_up", count=2)


def sample_findings(rng: np.random.Generator, body: Body, lookup: LabelLookup, diagnosis: str) -> list[Finding]:
    """All findings of one patient, clinically coherent with `diagnosis` (one of `DIAGNOSES`)."""
    if diagnosis not in DIAGNOSES:
        raise ValueError(f"unknown diagnosis {diagnosis!r}; expected one of {DIAGNOSES}")
    s = _Sampler(rng, body, lookup)
    s.routine_nodes()
    if diagnosis == "normal":
        return s.findings
    if diagnosis == "benign":
        s.benign_extras(int(rng.integers(1, 4)))
    elif diagnosis == "inflammatory":
        _inflammatory(s)
    elif diagnosis == "lung_cancer":
        _lung_cancer(s)
    else:
        _lymphoma(s)
    return s.findings


def _inflammatory(s: _Sampler) -> None:
    rng = s.rng
    side = "right" if rng.random() < 0.5 else "left"
    if rng.random() < 0.8:
        lobe = str(rng.choice(lung_lobes(side)))
        s.lung("lung_ggo", "ground_glass", side, lobe, _diam(rng, 12, 30), s.u(2.2, 5.0), "inflammatory", tissue_suv=0.5)
    s.nodes("hilar", "bilateral", _diam(rng, 7, 12), s.u(2.2, 4.5), "inflammatory", count=2)
    if rng.random() < 0.6:
        s.nodes(str(rng.choice(["subcarinal", "right_paratracheal", "aortopulmonary"])), None, _diam(rng, 7, 12),
                s.u(2.2, 4.0), "inflammatory", count=int(rng.integers(1, 3)))
    if rng.random() < 0.4:
        s.benign_extras(1)


def _lung_cancer(s: _Sampler) -> None:
    rng = s.rng
    side = "right" if rng.random() < 0.55 else "left"
    lobe = "upper" if rng.random() < 0.55 else str(rng.choice(lung_lobes(side)))
    if rng.random() < 0.55:
        texture = "spiculated" if rng.random() < 0.6 else "lobulated"
        invasion = str(rng.choice(_INVASIONS)) if rng.random() < 0.5 else None
        s.lung("lung_mass", texture, side, lobe, _diam(rng, 30, 62, 0.2), s.u(5.0, 22.0), "primary_malignant", invasion)
    else:
        texture = "spiculated" if rng.random() < 0.5 else "solid"
        s.lung("lung_nodule", texture, side, lobe, _diam(rng, 12, 29, 0.2), s.u(3.0, 12.0), "primary_malignant")
    if rng.random() < 0.75:
        if rng.random() < 0.85:
            s.nodes("hilar", side, _diam(rng, 9, 22), s.u(3.0, 12.0), "metastasis", count=int(rng.integers(1, 3)))
        stations = rng.choice(MEDIASTINAL, size=int(rng.integers(1, 4)), replace=False)
        for station in stations:
            s.nodes(str(station), None, _diam(rng, 8, 22), s.u(3.0, 14.0), "metastasis", count=int(rng.integers(1, 3)))
        if rng.random() < 0.25:
            s.nodes("supraclavicular", side, _diam(rng, 7, 16), s.u(3.0, 10.0), "metastasis")
    if rng.random() < 0.25:
        s.effusion(side, str(rng.choice(["ít", "ít", "vừa", "nhiều"])))
    if rng.random() < 0.15:
        s.thickening(side, s.u(3.0, 7.0), "metastasis")
    if rng.random() < 0.15:
        other = "left" if side == "right" else "right"
        d = int(rng.integers(6, 12))
        s.lung("lung_nodule", "solid", other, str(rng.choice(lung_lobes(other))), (d, d), s.u(2.5, 6.0), "metastasis")
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(1, 3))):
            s.liver("hypodense", _diam(rng, 10, 35), s.u(4.0, 12.0), "metastasis")
    if rng.random() < 0.3:
        for site in rng.choice(["D6", "D9", "L2", "L4", "iliac_right", "iliac_left", "sacrum"], size=int(rng.integers(1, 3)), replace=False):
            s.bone(str(site), "lytic" if rng.random() < 0.7 else "sclerotic", _diam(rng, 10, 22), s.u(4.0, 12.0), "metastasis")
    if rng.random() < 0.3:
        s.benign_extras(1)


def _lymphoma(s: _Sampler) -> None:
    rng = s.rng
    pool = ["cervical_II", "cervical_III", "supraclavicular", "axillary", "prevascular", "pretracheal", "subcarinal",
            "hilar", "para_aortic", "inguinal"]
    chosen = set(rng.choice(pool, size=int(rng.integers(3, 7)), replace=False))
    for station in ("cervical_II", "axillary", "inguinal"):
        if station in chosen:  # the lymphoma group replaces the routine small nodes at that station
            s.findings = [f for f in s.findings if f.station != station]
    for station in pool:
        if station not in chosen:
            continue
        lateral = STATIONS[station][3]
        side = ("bilateral" if rng.random() < 0.6 else None) if lateral else None
        count = 2 if side == "bilateral" else int(rng.integers(1, 4))
        s.nodes(station, side, _diam(rng, 12, 32), s.u(4.0, 18.0), "lymphoma", count=count)
