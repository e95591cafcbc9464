"""The same tiny LMs and fake items as tests/models (loaded from there, not copied)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_MODELS = Path(__file__).parents[1] / "models"
# That conftest imports its neighbour `model_texts`; pytest puts tests/models on sys.path only when
# it collects that folder, so `pytest tests/train` alone needs it here.
if str(_MODELS) not in sys.path:
    sys.path.insert(0, str(_MODELS))
_spec = importlib.util.spec_from_file_location("vipet_tests_model_fixtures", _MODELS / "conftest.py")
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

one_torch_thread = _fixtures.one_torch_thread
tiny_lms = _fixtures.tiny_lms
make_items = _fixtures.make_items
texts = _fixtures.texts

