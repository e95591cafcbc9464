"""Ranges for physical numbers: each unit error is named, plausible values pass."""

from __future__ import annotations

import math

import pytest

from vipet.io import plausibility as p


@pytest.mark.parametrize("check, value, expected", [
    (p.weight_problem, 65.0, None), (p.weight_problem, 65000.0, "likely grams"), (p.weight_problem, 53000.0, "likely grams"),
    (p.weight_problem, 0.0, "not a positive"), (p.weight_problem, math.inf, "not a positive"),
    (p.height_problem, 1.61, None), (p.height_problem, 161.0, "likely centimetres"), (p.height_problem, 1610.0, "likely millimetres"),
    (p.dose_problem, 3.7e8, None), (p.dose_problem, 370.0, "likely MBq"), (p.dose_problem, 370000.0, "likely kBq"),
    (p.half_life_problem, 6586.2, None), (p.half_life_problem, 109.77, "likely minutes"), (p.half_life_problem, -1.0, "not a positive"),
    (p.uptake_problem, 3600.0, None), (p.uptake_problem, -600.0, "must precede"), (p.uptake_problem, 86000.0, "exceeds 6 h"),
    (p.suv_max_problem, 12.5, None), (p.suv_max_problem, 3e4, "check the weight"),
    (p.slope_problem, "0.5", None), (p.slope_problem, 0, "positive finite"), (p.slope_problem, -2.0, "positive finite"),
    (p.slope_problem, "abc", "not a number"), (p.slope_problem, "nan", "positive finite"),
])
def test_each_number_is_checked_and_the_likely_unit_named(check, value, expected):
    problem = check(value)
    assert problem is None if expected is None else (problem is not None and expected in problem)


def test_spacings_must_be_positive_finite_millimetres():
    assert p.spacing_problem((3.0, 4.0, 4.0)) is None
    for bad in ((0.0, 1.0, 1.0), (-1.0, 1.0, 1.0), (math.inf, 1.0, 1.0), (1.0, 1.0, 500.0)):
        assert "outside" in p.spacing_problem(bad)
