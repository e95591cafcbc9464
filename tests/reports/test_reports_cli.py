"""`vipet report parse|extract` and `vipet vqa`: output shapes, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from vipet.cli import app
from vipet.schema import CHEST, LOCATION_KEY, TYPE_KEY

TEXT = (
    "Hình ảnh bắt xạ theo đặc điểm sinh lý ở não. Hình ảnh bắt xạ theo đặc điểm sinh lý ở tim. "
    "Hình ảnh khối mờ, kích thước 43 x 39 mm, tăng chuyển hóa FDG (SUVmax: 8,3) ở thùy dưới phổi trái. "
    "Hình ảnh vài hạch nách nhỏ (10 mm) ở hố nách hai bên, không tăng chuyển hóa FDG."
)
runner = CliRunner()


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_extract_prints_expert_json_for_each_scope(tmp_path: Path) -> None:
    path = write(tmp_path, "r.txt", TEXT)
    thorax = runner.invoke(app, ["report", "extract", str(path)])
    assert thorax.exit_code == 0, thorax.output
    lesions = json.loads(thorax.stdout)
    assert [(l[TYPE_KEY], l[LOCATION_KEY]) for l in lesions] == [("Hình ảnh khối mờ", "thùy dưới phổi trái")]
    assert lesions[0]["Mức độ FDG"]["SUVmax"] == 8.3
    everything = json.loads(runner.invoke(app, ["report", "extract", str(path), "--scope", "all"]).stdout)
    assert len(everything) == 2


def test_parse_prints_sections_and_json(tmp_path: Path) -> None:
    path = write(tmp_path, "r.json", json.dumps({"text": TEXT}, ensure_ascii=False))
    done = runner.invoke(app, ["report", "parse", str(path), "--json"])
    assert done.exit_code == 0
    assert "khối mờ" in json.loads(done.stdout)["Mô tả hình ảnh"][CHEST]
    plain = runner.invoke(app, ["report", "parse", str(path)])
    assert plain.exit_code == 0 and "## Lồng ngực" in plain.stdout


def test_vqa_prints_jsonl_or_llava(tmp_path: Path) -> None:
    path = write(tmp_path, "study7.txt", TEXT)
    flat = runner.invoke(app, ["vqa", str(path)])
    records = [json.loads(line) for line in flat.stdout.splitlines()]
    assert flat.exit_code == 0 and records[0]["id"] == "study7_q000" and records[0]["image"] == "study7.png"
    llava = runner.invoke(app, ["vqa", str(path), "--format", "llava", "--image", "x.png", "--region", "chest"])
    conversations = json.loads(llava.stdout)
    assert conversations[0]["conversations"][0]["value"].startswith("<image>\n")
    assert all(c["image"] == "x.png" for c in conversations)


def test_bad_input_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    for args in (["report", "extract", str(tmp_path / "none.txt")], ["report", "extract", str(write(tmp_path, "a.txt", TEXT)), "--scope", "x"],
                 ["vqa", str(tmp_path / "a.txt"), "--format", "csv"], ["report", "parse", str(write(tmp_path, "b.json", "{bad"))]):
        done = runner.invoke(app, args)
        assert done.exit_code == 1, args
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
