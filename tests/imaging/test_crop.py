"""Body crop: the box holds the whole body and leaves the couch out."""

from __future__ import annotations

import numpy as np
from phantom import make_phantom

from vipet.imaging.crop import BodyCrop, body_mask, mask_bbox


def test_box_contains_the_body_and_is_square_in_mm():
    study, _ = make_phantom()
    (y0, y1), (x0, x1) = BodyCrop(margin_mm=0.0).box(study.ct.array, study.ct.spacing)
    body = study.ct.array > -500
    ys, xs = np.nonzero(body.any(axis=0))
    assert y0 <= ys.min() and y1 >= ys.max() + 1
    assert x0 <= xs.min() and x1 >= xs.max() + 1
    assert (y1 - y0) == (x1 - x0)  # same spacing in y and x: square in voxels too
    assert (x1 - x0) < study.ct.shape[2]  # tighter than the full field of view


def test_couch_below_the_patient_is_excluded():
    study, _ = make_phantom()
    ct = study.ct.array.copy()
    ct[:, 58:60, :] = 300  # a dense slab across the whole width, clear of the body
    mask, stride = body_mask(ct)
    _, (y0, y1), _ = mask_bbox(mask)
    assert y1 * stride[1] <= 56
