"""Per-patient phantom anatomy: tissue labels, body geometry, CT numbers and FDG uptake.

The phantom frame is millimetres along (z, y, x): z runs head -> feet from the top of the field
of view, y anterior -> posterior, x patient right -> left, which is the project's axis convention
for a head-first study. Every landmark is a fraction of the patient's height so tall and short,
thin and obese patients all get coherent anatomy; the numbers (HU, SUV) follow DOMAIN.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Tissue labels (uint8). Order is irrelevant; names are what tables and tests use.
AIR, SKIN, FAT, MUSCLE, LUNG, MEDIASTINUM, BLOOD, MYOCARDIUM = 0, 1, 2, 3, 4, 5, 6, 7
LIVER, SPLEEN, KIDNEY, RENAL_PELVIS, BLADDER, BRAIN_GM, BRAIN_WM, CSF = 8, 9, 10, 11, 12, 13, 14, 15
BONE_CORTEX, BONE_MARROW, DISC, AIRWAY, VISCERAL_FAT, BOWEL, COLON_WALL, BOWEL_GAS = 16, 17, 18, 19, 20, 21, 22, 23
STOMACH, TONSIL, SOFT_TISSUE = 24, 25, 26

LABEL_NAMES: dict[int, str] = {
    AIR: "air", SKIN: "skin", FAT: "fat", MUSCLE: "muscle", LUNG: "lung", MEDIASTINUM: "mediastinum",
    BLOOD: "blood", MYOCARDIUM: "myocardium", LIVER: "liver", SPLEEN: "spleen", KIDNEY: "kidney",
    RENAL_PELVIS: "renal_pelvis", BLADDER: "bladder", BRAIN_GM: "brain_grey", BRAIN_WM: "brain_white",
    CSF: "csf", BONE_CORTEX: "bone_cortex", BONE_MARROW: "bone_marrow", DISC: "disc", AIRWAY: "airway",
    VISCERAL_FAT: "visceral_fat", BOWEL: "bowel", COLON_WALL: "colon_wall", BOWEL_GAS: "bowel_gas",
    STOMACH: "stomach", TONSIL: "tonsil", SOFT_TISSUE: "soft_tissue",
}
N_LABELS = max(LABEL_NAMES) + 1
BONE_LABELS = (BONE_CORTEX, BONE_MARROW)

# Field of view (mm) in-plane and the air margin above the vertex; both sizes share these.
FOV_MM = 500.0
TOP_MARGIN_MM = 20.0
COVERAGE = 0.60  # vertex to mid-thigh, as a fraction of height (real whole-body FDG coverage)

# Torso half-widths (x) and half-depths (y) under the subcutaneous fat, in mm for a 1.70 m adult,
# at fractions of height from the vertex: neck, shoulders, chest, upper abdomen, pelvis, hips.
_TORSO_F = np.array([0.100, 0.165, 0.190, 0.225, 0.300, 0.360, 0.420, 0.480, 0.535])
_TORSO_A = np.array([46.0, 52.0, 140.0, 150.0, 143.0, 133.0, 135.0, 147.0, 152.0])
_TORSO_B = np.array([46.0, 52.0, 80.0, 92.0, 98.0, 96.0, 100.0, 98.0, 90.0])

# Spine levels: (name, first level fraction, last level fraction, count).
_SPINE_SEGMENTS = (("C", 0.112, 0.183, 7), ("D", 0.183, 0.360, 12), ("L", 0.360, 0.460, 5))


@dataclass(frozen=True)
class Solid:
    """One organ-shaped super-ellipsoid in the phantom frame (mm) with the labels it may overwrite."""

    name: str
    label: int
    center: tuple[float, float, float]
    semi: tuple[float, float, float]
    power: float = 2.0
    only_on: tuple[int, ...] | None = None


@dataclass
class Body:
    """Geometry of one patient: profiles, landmarks and organ solids, all in the phantom frame (mm)."""

    sex: str
    height_mm: float
    weight_kg: float
    t_skin: float
    t_fat: float
    t_muscle: float
    xc: float
    yc: float
    landmarks: dict[str, float] = field(default_factory=dict)  # z positions and a few offsets
    solids: list[Solid] = field(default_factory=list)  # painted in order after the profile
    vertebrae: list[tuple[str, float, float]] = field(default_factory=list)  # (name, z_top, z_bottom)

    @property
    def bmi(self) -> float:
        return self.weight_kg / (self.height_mm / 1000.0) ** 2

    def z(self, fraction: float) -> float:
        """Position (mm) of a fraction of height below the vertex."""
        return TOP_MARGIN_MM + fraction * self.height_mm

    def fov_depth_mm(self) -> float:
        return TOP_MARGIN_MM + COVERAGE * self.height_mm + 10.0

    # --- transverse profile -------------------------------------------------------------------
    def _scale(self) -> float:
        return (self.height_mm / 1700.0) ** 0.8 * (1.04 if self.sex == "M" else 0.94)

    def lean_profile(self, z_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Torso half-width and half-depth under the fat at each z (0 outside the torso)."""
        frac = (np.asarray(z_mm, dtype=np.float64) - TOP_MARGIN_MM) / self.height_mm
        scale = self._scale()
        a = np.interp(frac, _TORSO_F, _TORSO_A) * scale
        b = np.interp(frac, _TORSO_F, _TORSO_B) * scale
        belly = 1.0 + 0.018 * max(self.bmi - 22.0, 0.0) * np.clip(1.0 - np.abs(frac - 0.43) / 0.09, 0.0, 1.0)
        a, b = a * (1.0 + 0.4 * (belly - 1.0)), b * belly
        outside = (frac < _TORSO_F[0]) | (frac > _TORSO_F[-1])
        a[outside] = 0.0
        b[outside] = 0.0
        return a, b

    def outer_profile(self, z_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Skin-surface half-width and half-depth of the torso, clipped to the field of view."""
        a, b = self.lean_profile(z_mm)
        frac = (np.asarray(z_mm, dtype=np.float64) - TOP_MARGIN_MM) / self.height_mm
        fat = self.t_fat * np.where(frac < 0.17, 0.5, 1.0)
        present = a > 0
        limit = FOV_MM / 2.0 - 6.0
        a_out = np.where(present, np.minimum(a + fat + self.t_skin, limit), 0.0)
        b_out = np.where(present, np.minimum(b + fat + self.t_skin, limit), 0.0)
        return a_out, b_out

    def legs(self) -> dict[str, float]:
        """Thigh ellipses (lean half-axes and centre offset) below the crotch."""
        scale = self._scale()
        return {"z_top": self.z(0.535), "offset": 80.0 * scale, "a": 58.0 * scale, "b": 64.0 * scale}

    def spine_y(self, z_mm: np.ndarray) -> np.ndarray:
        """Centre (y) of the vertebral bodies: a fixed fraction of the lean depth (without the belly, which
        grows forwards) behind the body centre."""
        frac = (np.asarray(z_mm, dtype=np.float64) - TOP_MARGIN_MM) / self.height_mm
        b = np.interp(frac, _TORSO_F, _TORSO_B) * self._scale()
        return self.yc + 0.58 * b

    def vertebra_at(self, z_mm: float) -> str | None:
        for name, top, bottom in self.vertebrae:
            if top <= z_mm < bottom:
                return name
        return None

    def solid(self, name: str) -> Solid:
        for item in self.solids:
            if item.name == name:
                return item
        raise KeyError(name)


def sample_body(rng: np.random.Generator, sex: str, height_m: float, weight_kg: float) -> Body:
    """Anatomy for one patient; organ sizes and positions jitter a little so no two phantoms match."""
    height = height_m * 1000.0
    bmi = weight_kg / height_m**2
    body = Body(
        sex=sex,
        height_mm=height,
        weight_kg=weight_kg,
        t_skin=2.0,
        t_fat=float(np.clip(1.8 * (bmi - 16.0), 2.5, 42.0) + (4.0 if sex == "F" else 0.0)),
        t_muscle=float(rng.uniform(11.0, 16.0)),
        xc=FOV_MM / 2.0,
        yc=FOV_MM / 2.0 + float(rng.uniform(-6.0, 6.0)),
    )
    _add_landmarks(body, rng)
    _add_vertebrae(body)
    _add_solids(body, rng)
    return body


def _add_landmarks(body: Body, rng: np.random.Generator) -> None:
    z = body.z
    jitter = lambda s: float(rng.uniform(-s, s))  # noqa: E731 - tiny local helper
    lm = body.landmarks
    lm["vertex"] = z(0.0)
    lm["lung_apex"] = z(0.190) + jitter(5)
    lm["carina"] = z(0.245) + jitter(6)
    lm["lung_base_right"] = z(0.338) + jitter(6)
    lm["lung_base_left"] = z(0.348) + jitter(6)
    lm["diaphragm"] = lm["lung_base_right"]
    lm["crotch"] = z(0.535)
    lm["fov_end"] = body.fov_depth_mm()
    a_chest, b_chest = body.lean_profile(np.array([z(0.28)]))
    a_abd, b_abd = body.lean_profile(np.array([z(0.40)]))
    lm["chest_a"] = float(a_chest[0]) - body.t_muscle
    lm["chest_b"] = float(b_chest[0]) - body.t_muscle
    lm["abd_a"] = float(a_abd[0]) - body.t_muscle
    lm["abd_b"] = float(b_abd[0]) - body.t_muscle
    y_spine_chest = float(body.spine_y(np.array([lm["carina"]]))[0])
    lm["trachea_y"] = y_spine_chest - 16.0 - 22.0
    lm["aorta_x"] = body.xc + 26.0
    lm["aorta_y"] = y_spine_chest - 30.0


def _add_vertebrae(body: Body) -> None:
    for letter, start, stop, count in _SPINE_SEGMENTS:
        edges = np.linspace(body.z(start), body.z(stop), count + 1)
        for i in range(count):
            body.vertebrae.append((f"{letter}{i + 1}", float(edges[i]), float(edges[i + 1])))


def _add_solids(body: Body, rng: np.random.Generator) -> None:
    """Organs in painting order; each is clipped to the labels it may replace."""
    lm, xc, yc, z = body.landmarks, body.xc, body.yc, body.z
    k = body.height_mm / 1700.0
    ca, cb = lm["chest_a"], lm["chest_b"]
    aa, ab = lm["abd_a"], lm["abd_b"]
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    cav = (MEDIASTINUM,)
    belly = (VISCERAL_FAT,)
    add = body.solids.append

    # Head: scalp/face soft tissue, skull, brain (grey rim, white core, ventricles), tonsils.
    kh = k**0.3
    head_c = (z(0.062), yc - 4.0, xc)
    head_s = (0.062 * body.height_mm, 98.0 * kh, 76.0 * kh)
    brain_c = (z(0.050), yc + 4.0, xc)
    brain_s = (0.036 * body.height_mm + 8.0, 74.0 * kh, 64.0 * kh)
    # Skin only where there is no body yet, then everything but a 2.5 mm rim becomes soft tissue,
    # which also merges the top of the neck into the head.
    add(Solid("head_skin", SKIN, head_c, head_s, only_on=(AIR,)))
    add(Solid("head_inner", SOFT_TISSUE, head_c, tuple(s - 2.5 for s in head_s), only_on=(SKIN, FAT, MUSCLE)))
    add(Solid("skull", BONE_CORTEX, brain_c, tuple(s + 7.0 for s in brain_s), only_on=(SOFT_TISSUE,)))
    add(Solid("brain", BRAIN_GM, brain_c, brain_s, only_on=(BONE_CORTEX,)))
    add(Solid("brain_white", BRAIN_WM, brain_c, tuple(s * 0.68 for s in brain_s), only_on=(BRAIN_GM,)))
    add(Solid("ventricles", CSF, (brain_c[0] + 5.0, brain_c[1], xc), (14.0, 22.0, 9.0), only_on=(BRAIN_WM,)))
    for side, sign in (("right", -1.0), ("left", 1.0)):
        add(Solid(f"tonsil_{side}", TONSIL, (z(0.112), yc - 18.0, xc + sign * 15.0), (10.0, 8.0, 7.0),
                  only_on=(SOFT_TISSUE,)))

    # Thorax: paraspinal muscles, lungs, heart, great vessels, airway.
    y_sp = lm["trachea_y"] + 38.0
    for sign in (-1.0, 1.0):
        add(Solid("paraspinal", MUSCLE, ((z(0.19) + z(0.46)) / 2, y_sp + 28.0, xc + sign * 30.0),
                  ((z(0.46) - z(0.19)) / 2, 20.0, 22.0), power=4.0, only_on=cav + belly))
    apex = lm["lung_apex"]
    for side, sign, base in (("right", -1.0, lm["lung_base_right"]), ("left", 1.0, lm["lung_base_left"])):
        add(Solid(f"lung_{side}", LUNG, ((apex + base) / 2, yc + 0.06 * cb, xc + sign * 0.50 * ca),
                  ((base - apex) / 2, 0.93 * cb, 0.47 * ca), power=2.6, only_on=cav))
    heart_c = (z(0.303) + u(-6, 6), yc - 0.22 * cb, xc + 0.13 * ca)
    heart_s = (0.034 * body.height_mm * u(0.9, 1.1), 0.48 * cb, 0.36 * ca)
    lm["heart_z"], lm["heart_y"], lm["heart_x"] = heart_c
    add(Solid("heart", MYOCARDIUM, heart_c, heart_s, only_on=(MEDIASTINUM, LUNG)))
    add(Solid("heart_blood", BLOOD, heart_c, tuple(s - 10.0 for s in heart_s), only_on=(MYOCARDIUM,)))
    r_ao = 12.5 * k**0.5
    arch_z = lm["carina"] - 22.0
    asc_y = yc - 0.12 * cb
    add(Solid("aorta_ascending", BLOOD, ((arch_z + heart_c[0]) / 2, asc_y, xc + 4.0),
              ((heart_c[0] - arch_z) / 2, r_ao, r_ao), power=8.0, only_on=(MEDIASTINUM, LUNG)))
    for t in np.linspace(0.0, 1.0, 8):
        add(Solid("aorta_arch", BLOOD, (arch_z - 8.0 * np.sin(np.pi * t), asc_y + t * (lm["aorta_y"] - asc_y),
                                        xc + 4.0 + t * (lm["aorta_x"] - xc - 4.0)),
                  (r_ao, r_ao, r_ao), only_on=(MEDIASTINUM, LUNG)))
    z_bif = z(0.455)
    add(Solid("aorta_descending", BLOOD, ((arch_z + z_bif) / 2, lm["aorta_y"], lm["aorta_x"]),
              ((z_bif - arch_z) / 2, r_ao * 0.9, r_ao * 0.9), power=8.0,
              only_on=(MEDIASTINUM, LUNG, VISCERAL_FAT, MUSCLE)))
    z_larynx = z(0.125)
    add(Solid("trachea", AIRWAY, ((z_larynx + lm["carina"]) / 2, lm["trachea_y"], xc),
              ((lm["carina"] - z_larynx) / 2, 9.0 * k**0.5, 10.0 * k**0.5), power=8.0,
              only_on=(SOFT_TISSUE, MEDIASTINUM, MUSCLE, FAT, LUNG)))
    for sign in (-1.0, 1.0):
        for t in np.linspace(0.15, 1.0, 5):
            add(Solid("bronchus", AIRWAY, (lm["carina"] + 20.0 * t, lm["trachea_y"] + 6.0 * t, xc + sign * 32.0 * t),
                      (6.0, 6.0, 6.0), only_on=(MEDIASTINUM, LUNG)))

    # Abdomen: liver (right and left lobes), spleen, stomach, kidneys, bowel, colon frame, bladder.
    liver_top = lm["lung_base_right"] - 18.0
    liver_c = (liver_top + 0.045 * body.height_mm, yc - 0.02 * ab, xc - 0.40 * aa)
    liver_s = (0.045 * body.height_mm * u(0.9, 1.1), 0.78 * ab, 0.55 * aa)
    lm["liver_z"], lm["liver_y"], lm["liver_x"] = liver_c
    liver_on = (LUNG, MEDIASTINUM, VISCERAL_FAT)
    add(Solid("liver", LIVER, liver_c, liver_s, power=2.4, only_on=liver_on))
    add(Solid("liver_left", LIVER, (liver_c[0] - 10.0, yc - 0.45 * ab, xc + 0.12 * aa), (32.0, 0.35 * ab, 0.32 * aa),
              only_on=liver_on))
    add(Solid("spleen", SPLEEN, (lm["lung_base_left"] + 35.0, yc + 0.38 * ab, xc + 0.62 * aa),
              (50.0 * k, 0.35 * ab, 0.22 * aa), only_on=liver_on))
    add(Solid("stomach", STOMACH, (lm["lung_base_left"] + 40.0, yc - 0.25 * ab, xc + 0.30 * aa),
              (40.0, 0.32 * ab, 0.25 * aa), only_on=liver_on))
    for side, sign, dz in (("right", -1.0, 12.0), ("left", 1.0, 0.0)):
        kc = (z(0.405) + dz + u(-5, 5), y_sp + 8.0, xc + sign * 62.0 * k**0.5)
        add(Solid(f"kidney_{side}", KIDNEY, kc, (52.0 * k, 28.0, 27.0), only_on=(VISCERAL_FAT, MUSCLE, LIVER, SPLEEN)))
        add(Solid(f"renal_pelvis_{side}", RENAL_PELVIS, (kc[0], kc[1] - 4.0, kc[2] - sign * 9.0), (16.0, 9.0, 8.0),
                  only_on=(KIDNEY,)))
        add(Solid("psoas", MUSCLE, (z(0.44), y_sp + 4.0, xc + sign * 36.0 * k**0.5), (55.0 * k, 18.0, 16.0),
                  only_on=belly))
    add(Solid("small_bowel", BOWEL, (z(0.445), yc - 0.15 * ab, xc), (0.05 * body.height_mm, 0.55 * ab, 0.55 * aa),
              only_on=belly))
    colon = _colon_path(body)
    for point in colon:
        add(Solid("colon", COLON_WALL, point, (19.0, 19.0, 19.0), only_on=(VISCERAL_FAT, BOWEL)))
    for point in colon[::2]:
        add(Solid("colon_gas", BOWEL_GAS, point, (9.0, 9.0, 9.0), only_on=(COLON_WALL,)))
    fill = u(0.6, 1.25)
    add(Solid("bladder", BLADDER, (z(0.505), yc - 0.30 * ab, xc), (34.0 * fill, 32.0 * fill, 40.0 * fill),
              only_on=(VISCERAL_FAT, BOWEL, COLON_WALL)))
    lm["bladder_z"] = z(0.505)

    # Pelvic bones: iliac wings, sacrum, pubis, femoral heads (cortex then marrow).
    bone_on = (VISCERAL_FAT, MUSCLE, BOWEL, COLON_WALL, FAT)
    pel = [
        ("iliac_right", (z(0.468), yc + 0.28 * ab, xc - 0.62 * aa), (45.0 * k, 48.0, 16.0)),
        ("iliac_left", (z(0.468), yc + 0.28 * ab, xc + 0.62 * aa), (45.0 * k, 48.0, 16.0)),
        ("sacrum", (z(0.482), y_sp + 18.0, xc), (34.0 * k, 16.0, 40.0)),
        ("pubis_right", (z(0.522), yc - 0.55 * ab, xc - 32.0), (14.0, 11.0, 26.0)),
        ("pubis_left", (z(0.522), yc - 0.55 * ab, xc + 32.0), (14.0, 11.0, 26.0)),
        ("femoral_head_right", (z(0.515), yc - 0.05 * ab, xc - 0.70 * aa), (24.0, 24.0, 24.0)),
        ("femoral_head_left", (z(0.515), yc - 0.05 * ab, xc + 0.70 * aa), (24.0, 24.0, 24.0)),
    ]
    for name, center, semi in pel:
        add(Solid(name, BONE_CORTEX, center, semi, only_on=bone_on))
        add(Solid(name + "_marrow", BONE_MARROW, center, tuple(max(s - 3.5, 2.0) for s in semi), only_on=(BONE_CORTEX,)))


def _colon_path(body: Body) -> list[tuple[float, float, float]]:
    """Points along the colon frame (ascending, transverse, descending, sigmoid), 20-25 mm apart."""
    lm, xc, yc, z = body.landmarks, body.xc, body.yc, body.z
    aa, ab = lm["abd_a"], lm["abd_b"]
    corners = [
        (z(0.475), yc + 0.05 * ab, xc - 0.62 * aa),  # caecum
        (z(0.395), yc + 0.05 * ab, xc - 0.66 * aa),  # hepatic flexure
        (z(0.405), yc - 0.45 * ab, xc),  # transverse
        (z(0.385), yc + 0.05 * ab, xc + 0.68 * aa),  # splenic flexure
        (z(0.475), yc + 0.10 * ab, xc + 0.64 * aa),  # descending
        (z(0.495), yc - 0.05 * ab, xc + 0.15 * aa),  # sigmoid
    ]
    points: list[tuple[float, float, float]] = []
    for start, stop in zip(corners[:-1], corners[1:]):
        dist = float(np.linalg.norm(np.subtract(stop, start)))
        n = max(int(dist / 22.0), 1)
        for t in np.linspace(0.0, 1.0, n, endpoint=False):
            points.append(tuple(float(s + t * (e - s)) for s, e in zip(start, stop)))  # type: ignore[arg-type]
    points.append(corners[-1])
    return points


@dataclass
class Physiology:
    """Per-patient tissue values: CT numbers (HU) and physiological FDG uptake (SUVbw) per label."""

    hu: np.ndarray  # float32, indexed by label
    suv: np.ndarray  # float32, indexed by label

    def value(self, table: str, label: int) -> float:
        return float(getattr(self, table)[label])


def sample_physiology(rng: np.random.Generator) -> Physiology:
    """Typical values (DOMAIN.md): brain 6-12, myocardium 1-10, liver 2-3, blood 1.5-2, urine hot."""
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    hu = np.zeros(N_LABELS, dtype=np.float32)
    suv = np.zeros(N_LABELS, dtype=np.float32)
    table = {
        AIR: (-1000.0, 0.0), SKIN: (30.0, u(0.5, 0.8)), FAT: (u(-110, -90), u(0.2, 0.4)),
        MUSCLE: (u(45, 58), u(0.5, 0.9)), LUNG: (u(-870, -820), u(0.3, 0.55)),
        MEDIASTINUM: (u(-70, -40), u(0.6, 0.9)), BLOOD: (u(38, 48), u(1.5, 2.0)),
        MYOCARDIUM: (u(40, 50), u(1.5, 3.0) if rng.random() < 0.4 else u(3.0, 10.0)),
        LIVER: (u(50, 65), u(2.0, 3.0)), SPLEEN: (u(42, 52), 0.0), KIDNEY: (u(28, 38), u(2.5, 4.0)),
        RENAL_PELVIS: (u(5, 15), u(8.0, 25.0)), BLADDER: (u(0, 12), u(12.0, 60.0)),
        BRAIN_GM: (u(36, 42), u(6.0, 12.0)), BRAIN_WM: (u(26, 32), 0.0), CSF: (u(4, 12), u(0.2, 0.4)),
        BONE_CORTEX: (u(800, 1100), u(0.4, 0.7)), BONE_MARROW: (u(180, 280), u(1.0, 1.8)),
        DISC: (u(70, 95), u(0.6, 0.9)), AIRWAY: (-1000.0, 0.0), VISCERAL_FAT: (u(-105, -85), u(0.2, 0.4)),
        BOWEL: (u(20, 35), u(1.0, 1.6)), COLON_WALL: (u(30, 40), u(1.4, 3.0)), BOWEL_GAS: (-950.0, 0.1),
        STOMACH: (u(20, 35), u(1.4, 2.6)), TONSIL: (u(45, 55), u(2.6, 4.2)), SOFT_TISSUE: (u(40, 55), u(0.7, 1.1)),
    }
    for label, (h, s) in table.items():
        hu[label], suv[label] = h, s
    suv[SPLEEN] = suv[LIVER] * u(0.75, 0.9)
    suv[BRAIN_WM] = suv[BRAIN_GM] * u(0.45, 0.6)
    return Physiology(hu=hu, suv=suv)
