"""Voxel geometry shared by the DICOM and NIfTI readers and writers.

Every reader hands back arrays in the project convention of `vipet.study`: index (z, y, x) with
rows running anterior -> posterior and columns running patient right -> left, and an affine from
(z, y, x, 1) to LPS millimetres. The slice direction is kept as the source stored it (it is
information: `head_first` says which way it runs) while the in-plane axes are flipped into the
convention, so a lesion at array index [z, y, x] means the same place whatever the source.
"""

from __future__ import annotations

import numpy as np

# LPS axis that each array axis must follow after canonicalisation: z -> S/I (2), y -> P (1), x -> L (0).
_TARGET_LPS_AXIS = (2, 1, 0)


def spacing_from_affine(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel size (z, y, x) in mm: the length of each index step in patient space."""
    return tuple(float(np.linalg.norm(affine[:3, k])) for k in range(3))  # type: ignore[return-value]


def head_first_from_affine(affine: np.ndarray) -> bool | None:
    """True when increasing slice index moves toward the feet (LPS z decreases).

    None when the slice axis is not mainly cranio-caudal (a coronal or sagittal acquisition),
    where "head first" would be a guess.
    """
    step = affine[:3, 0]
    norm = float(np.linalg.norm(step))
    if norm == 0.0 or abs(step[2]) / norm < 0.5:
        return None
    return bool(step[2] < 0)


def canonicalize(array: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Permute and flip `array` (indexed by `affine`, index -> LPS) into the project convention.

    Axes are matched to patient axes by their dominant direction (so mildly oblique scans work);
    in-plane axes are flipped to run anterior->posterior and right->left; the slice axis keeps its
    direction. Returns a C-contiguous array and the matching affine.
    """
    if array.ndim != 3:
        raise ValueError(f"expected a 3-D volume, got shape {array.shape}")
    affine = np.asarray(affine, dtype=np.float64)
    dominant = [int(np.argmax(np.abs(affine[:3, k]))) for k in range(3)]
    if sorted(dominant) != [0, 1, 2]:
        raise ValueError("volume axes are too oblique to map onto patient axes")
    order = [dominant.index(target) for target in _TARGET_LPS_AXIS]
    array = np.transpose(array, order)
    new_affine = affine.copy()
    new_affine[:, :3] = affine[:, order]
    for axis in (1, 2):
        lps_axis = _TARGET_LPS_AXIS[axis]
        if new_affine[lps_axis, axis] < 0:
            array = np.flip(array, axis=axis)
            n = array.shape[axis]
            new_affine[:3, 3] = new_affine[:3, 3] + new_affine[:3, axis] * (n - 1)
            new_affine[:3, axis] = -new_affine[:3, axis]
    return np.ascontiguousarray(array), new_affine


def default_affine(
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    head_first: bool | None,
) -> np.ndarray:
    """An axial affine for a volume that has none (ViMed-PET, synthetic studies).

    The grid is centred in-plane on the table axis and its top edge sits at LPS z = 0, so PET and
    CT grids of different matrix size but the same field of view line up exactly. `head_first`
    None is treated as head first, the usual whole-body acquisition.
    """
    nz, ny, nx = shape
    dz, dy, dx = (float(s) for s in spacing)
    affine = np.zeros((4, 4))
    affine[3, 3] = 1.0
    affine[0, 2] = dx  # column index -> patient left (+x)
    affine[1, 1] = dy  # row index -> posterior (+y)
    affine[0, 3] = -(nx - 1) / 2.0 * dx
    affine[1, 3] = -(ny - 1) / 2.0 * dy
    if head_first is False:
        affine[2, 0] = dz
        affine[2, 3] = -nz * dz + dz / 2.0
    else:
        affine[2, 0] = -dz
        affine[2, 3] = -dz / 2.0
    return affine


def lps_to_nifti(array_zyx: np.ndarray, affine_lps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(z, y, x) array + LPS affine -> (i, j, k) = (x, y, z) array + RAS affine, as NIfTI stores them."""
    perm = np.zeros((4, 4))
    perm[0, 2] = perm[1, 1] = perm[2, 0] = perm[3, 3] = 1.0  # (i, j, k) -> (z, y, x)
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine_lps @ perm
    return np.transpose(array_zyx, (2, 1, 0)), ras


def nifti_to_lps(array_ijk: np.ndarray, affine_ras: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `lps_to_nifti` (before canonicalisation): (z, y, x)-ordered view + LPS affine."""
    perm = np.zeros((4, 4))
    perm[0, 2] = perm[1, 1] = perm[2, 0] = perm[3, 3] = 1.0  # (z, y, x) -> (i, j, k)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(affine_ras, dtype=np.float64) @ perm
    return np.transpose(array_ijk, (2, 1, 0)), lps
