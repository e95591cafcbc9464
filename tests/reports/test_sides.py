"""Side words mirrored for a left/right image flip, with the "must" senses of "phải" spared."""

from __future__ import annotations

from pathlib import Path

from vipet.reports.lexicon import LEXICON_PATH, load_lexicon
from vipet.reports.sides import swap_left_right


def test_side_words_swap_with_case_and_spare_must():
    assert swap_left_right("Nốt phổi phải, hạch nách trái.") == "Nốt phổi trái, hạch nách phải."
    assert swap_left_right("Phải: 2 nốt. Trái: không.") == "Trái: 2 nốt. Phải: không."
    assert swap_left_right("Cần phải theo dõi tổn thương thận phải.") == "Cần phải theo dõi tổn thương thận trái."
    assert swap_left_right("không phải ác tính") == "không phải ác tính"
    assert swap_left_right("right upper lobe, LEFT hilum") == "left upper lobe, RIGHT hilum"
    assert swap_left_right(swap_left_right("u phổi phải và trái")) == "u phổi phải và trái"


def test_the_words_that_keep_must_come_from_the_lexicon(tmp_path: Path) -> None:
    text = LEXICON_PATH.read_text(encoding="utf-8").replace("must_before: [cần,", "must_before: [nhất thiết, cần,")
    custom = tmp_path / "lexicon.yaml"
    custom.write_text(text, encoding="utf-8")
    assert swap_left_right("nhất thiết phải sinh thiết") == "nhất thiết trái sinh thiết"
    assert swap_left_right("nhất thiết phải sinh thiết", load_lexicon(custom)) == "nhất thiết phải sinh thiết"


def test_a_side_after_a_site_is_mirrored_even_before_la() -> None:
    question = "SUVmax của khối mờ ở thùy dưới phổi phải là bao nhiêu?"
    assert swap_left_right(question) == "SUVmax của khối mờ ở thùy dưới phổi trái là bao nhiêu?"
    assert swap_left_right("Tổn thương bên phải có kích thước 5 mm.") == "Tổn thương bên trái có kích thước 5 mm."
    assert swap_left_right("Tổn thương này phải là ác tính.") == "Tổn thương này phải là ác tính."
