"""CT windows and PET scaling against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from vipet.errors import ImagingError
from vipet.imaging.pet import PercentileScale, RawScale, SUVScale, pet_normaliser
from vipet.imaging.windows import WINDOWS, HUWindow, MultiWindow, window_bounds


def test_named_windows_follow_width_level():
    assert window_bounds(*WINDOWS["soft_tissue"]) == (-160.0, 240.0)
    assert window_bounds(*WINDOWS["lung"]) == (-1350.0, 150.0)
    hu = np.array([-2000, -160, 40, 240, 3000], dtype=np.int16)
    np.testing.assert_allclose(HUWindow.named("soft_tissue")(hu), [0, 0, 0.5, 1, 1])
    np.testing.assert_allclose(HUWindow.named("wide")(np.array([-1000, 0, 500])), [0, 0.5, 0.75])


def test_multiwindow_stacks_channels_in_order():
    hu = np.array([[-600.0, 40.0]])
    stacked = MultiWindow(("lung", "soft_tissue"))(hu)
    assert stacked.shape == (2, 1, 2)
    np.testing.assert_allclose(stacked[:, 0, 0], [0.5, 0.0])
    np.testing.assert_allclose(stacked[:, 0, 1], [(40 + 1350) / 1500, 0.5])


def test_unknown_window_and_bad_width_fail():
    with pytest.raises(ImagingError, match="unknown CT window"):
        MultiWindow(("nope",))
    with pytest.raises(ImagingError):
        HUWindow(width=0)(np.zeros(2))


def test_suv_and_raw_scales():
    np.testing.assert_allclose(SUVScale(10.0)(np.array([-1.0, 2.5, 10.0, 40.0])), [0, 0.25, 1, 1])
    np.testing.assert_allclose(RawScale()(np.array([0, 32767, 16383.5])), [0, 1, 0.5])


def test_percentile_scale_is_fitted_once_and_reused():
    rng = np.random.default_rng(0)
    vol = rng.uniform(0, 100, size=(20, 20, 20)).astype(np.float32)
    fitted = PercentileScale(50.0).fitted(vol)
    assert fitted.reference == pytest.approx(50.0, abs=3.0)
    np.testing.assert_allclose(fitted(np.array([0.0, fitted.reference, 1e6])), [0, 1, 1])


def test_normaliser_choice_by_unit():
    assert isinstance(pet_normaliser("SUVbw"), SUVScale)
    assert isinstance(pet_normaliser("VIMED_RAW"), RawScale)
    assert isinstance(pet_normaliser("BQML"), PercentileScale)
    assert isinstance(pet_normaliser("SUVbw", "raw"), RawScale)
    with pytest.raises(ImagingError, match="needs PET in SUVbw"):
        pet_normaliser("VIMED_RAW", "suv")
