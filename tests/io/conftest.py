"""Fixtures of the io tests: studies written and read back by the tests themselves."""

from __future__ import annotations

import pytest
from io_factories import make_study

from vipet.study import Study


@pytest.fixture
def study() -> Study:
    return make_study()
