"""The report layer stays light: importing every module of vipet.reports never loads torch."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import vipet.reports


def test_no_report_module_pulls_in_torch() -> None:
    modules = [f"vipet.reports.{m.name}" for m in pkgutil.iter_modules(vipet.reports.__path__)]
    assert {"vipet.reports.extract", "vipet.reports.tokenize", "vipet.reports.vqa", "vipet.reports.augment"} <= set(modules)
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "from vipet.reports.tokenize import tokenize\n"
        "tokenize('Hình ảnh khối mờ.', mode='word')\n"
        "from vipet.reports.extract import extract_lesions\n"
        "extract_lesions('Hình ảnh khối mờ ở thùy trên phổi phải.')\n"
        "loaded = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "print(loaded)\n"
        "sys.exit(1 if loaded else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
