"""Tissue-label volumes of a `Body` on any grid (CT or PET), built slab by slab.

The body outline, its skin/fat/muscle layers and the long vertical structures (spine, ribs,
sternum, femurs) are stacks of ellipses whose size varies with z, evaluated with broadcasting on
a few slices at a time (bounded memory at 512 x 512 x 300); organs are then painted as solids on
their bounding boxes. Painting the same analytic body on the CT and on the PET grid keeps the two
modalities registered exactly without resampling either one.
"""

from __future__ import annotations

import numpy as np

from vipet.synth.anatomy import (
    AIR, BONE_CORTEX, BONE_MARROW, CSF, DISC, FAT, MEDIASTINUM, MUSCLE, SKIN, SOFT_TISSUE, VISCERAL_FAT, Body,
)
from vipet.synth.shapes import Grid, label_mask, paint

_SLAB = 12  # slices per broadcast slab: 12 x 512 x 512 float32 temporaries are 12 MB each


def label_volume(body: Body, grid: Grid) -> np.ndarray:
    """uint8 tissue labels of `body` sampled at the voxel centres of `grid` (head-first order)."""
    labels = np.zeros(grid.shape, dtype=np.uint8)
    _paint_outline(labels, body, grid)
    _paint_spine(labels, body, grid)
    _paint_ribs_and_sternum(labels, body, grid)
    _paint_femurs(labels, body, grid)
    for solid in body.solids:
        paint(labels, grid, solid.center, solid.semi, solid.label, solid.power, solid.only_on)
    return labels


def _layers(dy: np.ndarray, dx: np.ndarray, a: np.ndarray, b: np.ndarray, depths: list[np.ndarray]) -> np.ndarray:
    """How many nested ellipses (outer surface shrunk by each depth) contain each voxel: 0 = outside,
    1 = skin, 2 = fat, 3 = muscle, 4 = inner cavity."""
    count = np.zeros(np.broadcast_shapes(dy.shape, dx.shape, a.shape), dtype=np.uint8)
    for depth in depths:
        ai = np.maximum(a - depth, 1e-3)
        bi = np.maximum(b - depth, 1e-3)
        count += ((dx / ai) ** 2 + (dy / bi) ** 2 <= 1.0).astype(np.uint8)
    return count


def _paint_outline(labels: np.ndarray, body: Body, grid: Grid) -> None:
    z = grid.centres(0)
    y = grid.centres(1)
    x = grid.centres(2)
    a_out, b_out = body.outer_profile(z)
    neck_end = body.z(0.185)
    fat = np.where(z < neck_end, 0.5 * body.t_fat, body.t_fat).astype(np.float32)
    muscle = np.where(z < neck_end, 0.5 * body.t_muscle, body.t_muscle).astype(np.float32)
    cavity = np.where(z < neck_end, SOFT_TISSUE, np.where(z < body.landmarks["diaphragm"], MEDIASTINUM, VISCERAL_FAT))
    legs = body.legs()
    leg_a = legs["a"] + body.t_fat * 1.1 + body.t_skin
    leg_b = legs["b"] + body.t_fat * 1.1 + body.t_skin
    table = np.array([AIR, SKIN, FAT, MUSCLE, MUSCLE], dtype=np.uint8)
    for start in range(0, grid.shape[0], _SLAB):
        sl = slice(start, min(start + _SLAB, grid.shape[0]))
        zs = z[sl]
        extent_a = max(float(a_out[sl].max()), legs["offset"] + leg_a if zs[-1] >= legs["z_top"] else 0.0)
        extent_b = max(float(b_out[sl].max()), leg_b if zs[-1] >= legs["z_top"] else 0.0)
        if extent_a <= 0:
            continue
        ys = _window(y, body.yc, extent_b)
        xs = _window(x, body.xc, extent_a)
        dy = (y[ys] - body.yc)[None, :, None]
        dx = (x[xs] - body.xc)[None, None, :]
        col = lambda v: np.asarray(v, dtype=np.float32)[:, None, None]  # noqa: E731
        skin_d = np.zeros_like(fat[sl])
        depths = [skin_d, skin_d + body.t_skin, body.t_skin + fat[sl], body.t_skin + fat[sl] + muscle[sl]]
        torso = _layers(dy, dx, col(a_out[sl]), col(b_out[sl]), [col(d) for d in depths])
        torso[np.broadcast_to(col(a_out[sl]) <= 0, torso.shape)] = 0
        slab = table[torso]
        slab = np.where(torso == 4, cavity[sl][:, None, None].astype(np.uint8), slab)
        on_legs = zs >= legs["z_top"]
        if on_legs.any():
            leg_depths = [np.float32(0.0), np.float32(body.t_skin), np.float32(body.t_skin + body.t_fat * 1.1)]
            for sign in (-1.0, 1.0):
                shell = _layers(dy, dx - sign * legs["offset"], np.float32(leg_a), np.float32(leg_b), leg_depths)
                shell = np.where(on_legs[:, None, None], shell, 0).astype(np.uint8)
                leg_labels = table[shell]
                slab = np.where(shell > 0, leg_labels, slab)
        labels[sl, ys, xs] = slab


def _window(coords: np.ndarray, center: float, half: float) -> slice:
    """Index range of `coords` within `center +- half` (plus one voxel)."""
    lo = int(np.searchsorted(coords, center - half - 1.0))
    hi = int(np.searchsorted(coords, center + half + 1.0))
    return slice(max(lo - 1, 0), min(hi + 1, coords.size))


def _paint_ellipse_stack(
    labels: np.ndarray,
    grid: Grid,
    z_index: np.ndarray,
    cy: np.ndarray,
    cx: np.ndarray,
    ry: np.ndarray,
    rx: np.ndarray,
    values: np.ndarray,
    only_on: tuple[int, ...],
    inner: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Paint one axial ellipse per listed slice (centre, radii and label may change with z); with
    `inner` radii only the ring between inner and outer is painted (ribs)."""
    if z_index.size == 0:
        return
    y = grid.centres(1)
    x = grid.centres(2)
    for start in range(0, z_index.size, _SLAB):
        part = slice(start, min(start + _SLAB, z_index.size))
        zi = z_index[part]
        ys = slice(max(int(((cy[part] - ry[part]).min()) / grid.spacing[1]) - 1, 0),
                   min(int(((cy[part] + ry[part]).max()) / grid.spacing[1]) + 2, grid.shape[1]))
        xs = slice(max(int(((cx[part] - rx[part]).min()) / grid.spacing[2]) - 1, 0),
                   min(int(((cx[part] + rx[part]).max()) / grid.spacing[2]) + 2, grid.shape[2]))
        col = lambda v: np.asarray(v, dtype=np.float32)[:, None, None]  # noqa: E731
        dy = y[ys][None, :, None] - col(cy[part])
        dx = x[xs][None, None, :] - col(cx[part])
        inside = (dx / col(rx[part])) ** 2 + (dy / col(ry[part])) ** 2 <= 1.0
        if inner is not None:
            iry, irx = inner
            inside &= (dx / col(irx[part])) ** 2 + (dy / col(iry[part])) ** 2 > 1.0
        view = labels[zi, ys, xs]  # a copy (fancy z index): written back below
        inside &= label_mask(view, only_on)
        view[inside] = np.broadcast_to(col(values[part]).astype(np.uint8), inside.shape)[inside]
        labels[zi, ys, xs] = view


def _paint_spine(labels: np.ndarray, body: Body, grid: Grid) -> None:
    """Vertebral bodies (cortex, marrow, discs), spinal canal and posterior arches from C1 to L5."""
    z = grid.centres(0)
    top, bottom = body.vertebrae[0][1], body.vertebrae[-1][2]
    idx = np.nonzero((z >= top) & (z < bottom))[0]
    if idx.size == 0:
        return
    zs = z[idx]
    k = body.height_mm / 1700.0
    radius = np.empty(zs.size, dtype=np.float32)
    is_disc = np.zeros(zs.size, dtype=bool)
    for i, zz in enumerate(zs):
        for name, v_top, v_bottom in body.vertebrae:
            if v_top <= zz < v_bottom:
                frac = (zz - v_top) / (v_bottom - v_top)
                is_disc[i] = frac > 0.8
                level = {"C": 10.0, "D": 13.0 + 0.25 * int(name[1:]), "L": 18.0}[name[0]]
                radius[i] = level * k**0.5
                break
    cy = body.spine_y(zs).astype(np.float32)
    cx = np.full(zs.size, body.xc, dtype=np.float32)
    allowed = (SOFT_TISSUE, MEDIASTINUM, MUSCLE, VISCERAL_FAT, FAT)
    outer_value = np.where(is_disc, DISC, BONE_CORTEX)
    _paint_ellipse_stack(labels, grid, idx, cy, cx, radius, radius * 1.2, outer_value, allowed)
    body_idx = ~is_disc
    inner_r = np.maximum(radius - 2.5, 1.0)
    _paint_ellipse_stack(labels, grid, idx[body_idx], cy[body_idx], cx[body_idx], inner_r[body_idx],
                         inner_r[body_idx] * 1.2, np.full(body_idx.sum(), BONE_MARROW), (BONE_CORTEX,))
    arch_y = cy + radius + 14.0
    _paint_ellipse_stack(labels, grid, idx[body_idx], arch_y[body_idx], cx[body_idx],
                         np.full(body_idx.sum(), 8.0), np.full(body_idx.sum(), 14.0),
                         np.full(body_idx.sum(), BONE_CORTEX), allowed)
    canal_y = cy + radius + 7.5
    _paint_ellipse_stack(labels, grid, idx, canal_y, cx, np.full(idx.size, 6.5), np.full(idx.size, 7.0),
                         np.full(idx.size, CSF), allowed + (BONE_CORTEX, DISC))


def _paint_ribs_and_sternum(labels: np.ndarray, body: Body, grid: Grid) -> None:
    """Rib rings in the chest wall every vertebral level, and the sternum in front."""
    z = grid.centres(0)
    k = body.height_mm / 1700.0
    thoracic = [(top, bottom) for name, top, bottom in body.vertebrae if name.startswith("D")][:10]
    if not thoracic:
        return
    pitch = thoracic[0][1] - thoracic[0][0]
    in_band = np.zeros(z.size, dtype=bool)
    for top, _ in thoracic:
        in_band |= (z >= top + 0.3 * pitch) & (z < top + 0.3 * pitch + 9.0 * k)
    idx = np.nonzero(in_band)[0]
    a, b = body.lean_profile(z[idx])
    a_c = (a - body.t_muscle).astype(np.float32)
    b_c = (b - body.t_muscle).astype(np.float32)
    yc = np.full(idx.size, body.yc, dtype=np.float32)
    xc = np.full(idx.size, body.xc, dtype=np.float32)
    _paint_ellipse_stack(labels, grid, idx, yc, xc, b_c + 8.0, a_c + 8.0, np.full(idx.size, BONE_CORTEX),
                         (MUSCLE,), inner=(b_c + 1.0, a_c + 1.0))
    s_idx = np.nonzero((z >= body.z(0.200)) & (z < body.z(0.290)))[0]
    if s_idx.size:
        _, b_s = body.lean_profile(z[s_idx])
        cy = (body.yc - (b_s - body.t_muscle) - 5.0).astype(np.float32)
        cx = np.full(s_idx.size, body.xc, dtype=np.float32)
        _paint_ellipse_stack(labels, grid, s_idx, cy, cx, np.full(s_idx.size, 6.0), np.full(s_idx.size, 15.0),
                             np.full(s_idx.size, BONE_CORTEX), (MUSCLE, MEDIASTINUM, FAT))
        _paint_ellipse_stack(labels, grid, s_idx, cy, cx, np.full(s_idx.size, 3.5), np.full(s_idx.size, 12.0),
                             np.full(s_idx.size, BONE_MARROW), (BONE_CORTEX,))


def _paint_femurs(labels: np.ndarray, body: Body, grid: Grid) -> None:
    z = grid.centres(0)
    idx = np.nonzero(z >= body.z(0.525))[0]
    if idx.size == 0:
        return
    legs = body.legs()
    k = body.height_mm / 1700.0
    for sign in (-1.0, 1.0):
        cy = np.full(idx.size, body.yc + 4.0, dtype=np.float32)
        cx = np.full(idx.size, body.xc + sign * legs["offset"], dtype=np.float32)
        r = np.full(idx.size, 14.0 * k**0.5, dtype=np.float32)
        _paint_ellipse_stack(labels, grid, idx, cy, cx, r, r, np.full(idx.size, BONE_CORTEX),
                             (MUSCLE, FAT, VISCERAL_FAT))
        _paint_ellipse_stack(labels, grid, idx, cy, cx, r - 5.0, r - 5.0, np.full(idx.size, BONE_MARROW),
                             (BONE_CORTEX,))
