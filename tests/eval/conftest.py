"""Fixtures for the metric tests: real and synthetic report texts paired with each other and with perturbed copies."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest


def perturb(words: list[str], rng: random.Random, pool: list[str], edits: int) -> list[str]:
    """A copy with `edits` random substitutions, deletions and insertions drawn from `pool`."""
    out = list(words)
    for _ in range(edits):
        action = rng.random()
        if action < 0.4 and out:
            out[rng.randrange(len(out))] = rng.choice(pool)
        elif action < 0.7 and len(out) > 1:
            del out[rng.randrange(len(out))]
        else:
            out.insert(rng.randrange(len(out) + 1), rng.choice(pool))
    return out


@pytest.fixture(scope="session")
def real_texts(real_data: Path) -> list[str]:
    return [json.loads(line)["text"] for line in (real_data / "reports.jsonl").read_text(encoding="utf-8").splitlines()]


def make_pairs(texts: list[str], rng: random.Random) -> tuple[list[str], list[list[str]]]:
    """30 (prediction, references) pairs from `texts`: perturbed copies, other reports, truncations,
    an empty prediction, and a few samples with two references."""
    pool = " ".join(texts[:40]).split()
    predictions, references = [], []
    for i in range(30):
        ref = texts[i]
        kind = i % 5
        if kind == 0:
            pred = " ".join(perturb(ref.split(), rng, pool, 15))
        elif kind == 1:
            pred = texts[(i * 7 + 3) % len(texts)]
        elif kind == 2:
            pred = " ".join(ref.split()[: rng.randrange(3, 40)])
        elif kind == 3:
            pred = " ".join(perturb(ref.split(), rng, pool, 120))
        else:
            pred = ref
        refs = [ref] if i % 4 else [ref, texts[(i + 11) % len(texts)]]
        predictions.append(pred)
        references.append(refs)
    predictions[7] = ""
    return predictions, references


@pytest.fixture(scope="session")
def real_pairs(real_texts: list[str]) -> tuple[list[str], list[list[str]]]:
    """30 pairs from real reports (see `make_pairs`)."""
    return make_pairs(real_texts, random.Random(20261123))


# A seeded generator of report-like Vietnamese text, so the oracle comparisons also run in a fresh
# clone without ../shared: templated sentences with the forms real reports carry (decimal commas,
# SUVmax in brackets, sizes, slashes, hyphenated levels, quotes, semicolons), then random edits.
_SITES = ["thùy trên phổi phải", "thùy dưới phổi trái", "trung thất", "rốn phổi 2 bên", "hạch cổ nhóm II-III trái",
          "gan hạ phân thùy VI", "tuyến giáp thùy phải", "đốt sống D8-D9", "xương chậu phải", "thượng đòn trái",
          "vòm họng", "dạ dày", "đại tràng sigma", "hạch ổ bụng/sau phúc mạc"]
_OBJECTS = ["Nốt mờ", "Khối mờ", "Hạch", "Tổn thương tiêu xương", "Đám kính mờ", "Nốt đặc", "Dày thành"]
_TEMPLATES = [
    "{obj} {site} kích thước {a} x {b}mm, tăng chuyển hóa FDG (SUVmax: {suv}).",
    "{obj} ở {site}, KT {a}x{b} mm, tăng chuyển hoá FDG mạnh (SUVmax {suv}) - khả năng di căn.",
    "Hình ảnh {obj_lower} {site} không tăng chuyển hóa FDG; theo dõi trên PET/CT.",
    "Tăng nhẹ chuyển hóa FDG ở {site} (SUVmax: {suv}), nghĩ đến viêm/phản ứng.",
    "{obj} {site} đường kính ~{a}mm, tỷ trọng {hu}HU, không tăng chuyển hóa FDG.",
    "Không phát hiện hình ảnh tràn dịch màng phổi hai bên và tràn dịch màng tim.",
    "Hình ảnh bắt xạ theo đặc điểm sinh lý ở não, tim, gan, lách, thượng thận và đài bể thận 2 bên.",
    "Chưa phát hiện hình ảnh tăng chuyển hóa FDG khu trú, bất thường ở hệ thống cơ xương.",
    "So với phim cũ ngày {day}/{month}/2024: {obj_lower} {site} giảm kích thước ({a} -> {b}mm).",
    "Kết luận: \"{obj} {site}\" tăng chuyển hóa FDG, theo dõi u nguyên phát; đề nghị sinh thiết.",
]


def _sentence(rng: random.Random) -> str:
    obj = rng.choice(_OBJECTS)
    return rng.choice(_TEMPLATES).format(
        obj=obj, obj_lower=obj.lower(), site=rng.choice(_SITES), a=rng.randint(3, 60), b=rng.randint(3, 60),
        suv=f"{rng.randint(1, 25)},{rng.randint(0, 9)}", hu=rng.choice(["-82", "45", "-5", "120"]),
        day=rng.randint(1, 28), month=rng.randint(1, 12))


def _change_numbers(text: str, rng: random.Random) -> str:
    """Each digit run changed with probability 0.3 (a wrong size or SUVmax in a prediction)."""
    return re.sub(r"\d+", lambda m: str(rng.randint(0, 99)) if rng.random() < 0.3 else m.group(0), text)


def synthetic_reports(n: int, seed: int) -> list[str]:
    """`n` report-like texts of 3-12 templated sentences; every third has its numbers changed."""
    rng = random.Random(seed)
    texts = [" ".join(_sentence(rng) for _ in range(rng.randint(3, 12))) for _ in range(n)]
    return [_change_numbers(t, rng) if i % 3 == 2 else t for i, t in enumerate(texts)]


@pytest.fixture(scope="session")
def synthetic_texts() -> list[str]:
    return synthetic_reports(60, seed=7)


@pytest.fixture(scope="session", params=["real", "synthetic"])
def corpus_pairs(request) -> tuple[list[str], list[list[str]]]:
    """The oracle comparisons' 30 pairs, from the real reports (skipped without ../shared) and from the
    synthetic generator (always available), built by the same `make_pairs`."""
    if request.param == "real":
        return request.getfixturevalue("real_pairs")
    return make_pairs(request.getfixturevalue("synthetic_texts"), random.Random(20261124))
