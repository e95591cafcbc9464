"""The same tiny LMs and fake items as tests/models (loaded from there, not copied)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("vipet_tests_model_fixtures", Path(__file__).parents[1] / "models" / "conftest.py")
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

one_torch_thread = _fixtures.one_torch_thread
tiny_lms = _fixtures.tiny_lms
make_items = _fixtures.make_items
texts = _fixtures.texts

