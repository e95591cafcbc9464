"""Fixtures for the review tests: a fresh store, and expert-format lesion lists generated with the
quirks of the official files, so the round trips also run without ../shared."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from vipet.review.store import ReviewStore
from vipet.schema import FDG_KEY, INVASION_KEY, LOCATION_KEY, SIZE_KEY, STAGE_KEY, SUVMAX_KEY, TYPE_KEY, UPTAKE_KEY

_SIZES = ["18 x 21 mm", "đường kính 9 mm", "Vài mm", "Không có", " kích thước 10 x 13 mm"]
_TYPES = ["Hình ảnh hạch", "Hình ảnh khối mờ, bờ tua gai", "Hình ảnh nốt mờ", "Hình ảnh dày màng phổi", "Hạch",
          "Hình ảnh kính mờ"]
_SITES = ["thùy trên phổi phải", "rốn phổi trái", "trước khí quản và carina", "Thượng đòn phải", "màng phổi phải",
          "thùy dưới phổi trái, dính vào rốn phổi trái"]
_UPTAKE = ["Cao", "Không tăng", "Có tăng", "Không đều", "nhẹ", "Không có"]
_STAGES = ["U nguyên phát", "Khả năng di căn", " khả năng do viêm", "nên lưu ý theo dõi", "Di căn xa"]


def generated_lesion(rng: random.Random) -> dict:
    """One lesion in the expert form, with the official files' variations: either spelling of `hoá`,
    SUVmax as int, float or text, and now and then another key order or no invasion/judgement."""
    tone = rng.random() < 0.3
    spell = (lambda key: key.replace("hoá", "hóa")) if tone else (lambda key: key)
    suv = rng.choice([rng.randint(1, 40), round(rng.uniform(0.5, 30), 2), "Không có", "7,4"])
    lesion = {
        SIZE_KEY: rng.choice(_SIZES),
        TYPE_KEY: rng.choice(_TYPES),
        LOCATION_KEY: rng.choice(_SITES),
        FDG_KEY: {SUVMAX_KEY: suv, spell(UPTAKE_KEY): rng.choice(_UPTAKE)},
        INVASION_KEY: rng.choice(["Không có", "Xâm lấn vào thành ngực", "Không xác định"]),
        spell(STAGE_KEY): rng.choice(_STAGES),
    }
    roll = rng.random()
    if roll < 0.1:
        keys = list(lesion)
        lesion = {k: lesion[k] for k in keys[4:] + keys[:4]}
    elif roll < 0.15:
        lesion = {k: v for k, v in lesion.items() if k not in (INVASION_KEY, spell(STAGE_KEY))}
    return lesion


def generated_lists(n: int, seed: int) -> list[list[dict]]:
    """`n` lesion lists of 0-5 lesions each."""
    rng = random.Random(seed)
    return [[generated_lesion(rng) for _ in range(rng.randint(0, 5))] for _ in range(n)]


@pytest.fixture
def store(tmp_path: Path) -> ReviewStore:
    """A fresh store with reviewers `an` and `binh` and no items."""
    review_store = ReviewStore(tmp_path / "reviews.sqlite")
    review_store.add_reviewer("an")
    review_store.add_reviewer("binh", password_hash="pbkdf2_sha256$1$salt$hash")
    return review_store


@pytest.fixture
def expert_dir(real_data: Path) -> Path:
    """The official expert lesion files (skipped without ../shared)."""
    folder = real_data / "expert"
    if not any(folder.glob("*.json")):
        pytest.skip(f"no expert lesion files in {folder}")
    return folder


@pytest.fixture
def make_lesions():
    """`generated_lists(n, seed)`: seeded expert-format lesion lists."""
    return generated_lists
