"""Augmentation keeps every extracted fact; each rewrite on its own; the fact check itself."""

from __future__ import annotations

import random

from vipet.reports.augment import augment_report, facts_preserved, report_facts
from vipet.reports.lexicon import load_lexicon
from vipet.reports.augment import _move_location, _swap_synonym, _vary_numbers
from vipet.reports.parse import parse_report
from vipet.reports.segment import split_sentences

TEXT = (
    "Hình ảnh bắt xạ theo đặc điểm sinh lý ở não. Hình ảnh bắt xạ theo đặc điểm sinh lý ở tim. "
    "Hình ảnh khối mờ, bờ tua gai, kích thước 46 x 29 mm, tăng chuyển hóa FDG (SUVmax: 12,4) ở thùy dưới phổi phải. "
    "Hình ảnh vài hạch ở rốn phổi hai bên. Hạch lớn nhất có kích thước 11 x 13 mm, tăng chuyển hóa FDG (SUVmax: 7,6). "
    "Hình ảnh vài hạch nách, kích thước 10 mm, không tăng chuyển hóa FDG ở hố nách hai bên. "
    "Hình ảnh bắt xạ theo đặc điểm sinh lý ở gan, lách, thượng thận và đài bể thận 2 bên. "
    "Hình ảnh vài hạch bẹn, kích thước 10 mm, không tăng chuyển hóa FDG ở hố bẹn hai bên. "
    "Chưa phát hiện hình ảnh tăng chuyển hóa FDG bất thường ở hệ thống cơ xương. "
    "Hình ảnh khối mờ, bờ tua gai, kích thước 46 x 29 mm, tăng chuyển hóa FDG ở thùy dưới phổi phải tương ứng với "
    "tổn thương ác tính nguyên phát. Cần lưu ý theo dõi. "
    "Chưa phát hiện hình ảnh tăng chuyển hóa FDG khu trú, bất thường tại các vị trí khác trên xạ hình PET/CT toàn thân."
)


def test_the_fact_check_sees_a_changed_suvmax_side_size_or_lost_lesion() -> None:
    assert facts_preserved(TEXT, TEXT)
    assert not facts_preserved(TEXT, TEXT.replace("12,4", "12,5"))
    assert not facts_preserved(TEXT, TEXT.replace("thùy dưới phổi phải.", "thùy dưới phổi trái."))
    assert not facts_preserved(TEXT, TEXT.replace("11 x 13 mm", "11 x 14 mm"))
    assert not facts_preserved(TEXT, TEXT.replace("Hình ảnh vài hạch bẹn, kích thước 10 mm, không tăng chuyển hóa FDG ở hố bẹn hai bên. ", ""))
    assert not facts_preserved(TEXT, TEXT.replace("không tăng chuyển hóa FDG ở hố nách", "tăng chuyển hóa FDG ở hố nách"))
    # spelling variants of the same facts are the same facts
    assert facts_preserved(TEXT, TEXT.replace("SUVmax: 12,4", "SUVmax:12.4").replace("hai bên", "2 bên"))
    assert len(report_facts(TEXT)) == 4


def test_each_rewrite_on_its_own() -> None:
    lex, rng = load_lexicon(), random.Random(0)
    moved = _move_location("Hình ảnh vài hạch bẹn, kích thước 10 mm, không tăng chuyển hóa FDG ở hố bẹn hai bên.", rng, lex)
    assert moved == "Hình ảnh vài hạch bẹn ở hố bẹn hai bên, kích thước 10 mm, không tăng chuyển hóa FDG."
    assert _move_location(moved, rng, lex) == "Hình ảnh vài hạch bẹn, kích thước 10 mm, không tăng chuyển hóa FDG ở hố bẹn hai bên."
    swapped = _swap_synonym("Hình ảnh hạch có kích thước 5 x 3 mm ở hố bẹn hai bên.", random.Random(1), lex)
    assert swapped in {"Hình ảnh hạch kích thước 5 x 3 mm ở hố bẹn hai bên.", "Hình ảnh hạch có kích thước 5 x 3 mm ở hố bẹn 2 bên."}
    variants = {_vary_numbers("tăng (SUVmax: 5,2), kích thước 18 x 21 mm.", random.Random(s), lex) for s in range(40)}
    assert variants == {
        "tăng (SUVmax 5.2), kích thước 18 x 21 mm.",
        "tăng (SUVmax:5,2), kích thước 18 x 21 mm.",
        "tăng (SUVmax: 5,2), kích thước 18 x 21mm.",
        "tăng (SUVmax: 5,2), kích thước 18x21 mm.",
    }


def test_reordering_stays_within_sections_and_keeps_continuations_attached() -> None:
    for seed in range(10):
        out = augment_report(TEXT, seed, operations=("reorder",))
        assert facts_preserved(TEXT, out)
        sentences = split_sentences(out)
        i = next(k for k, s in enumerate(sentences) if s.startswith("Hạch lớn nhất"))
        assert "rốn phổi" in sentences[i - 1]
        report = parse_report(out)
        assert "ở não" in report.sections["Đầu - cổ"] and "cơ xương" in report.sections["Hệ cơ - xương"]


def test_augmentation_is_seeded() -> None:
    assert augment_report(TEXT, 3) == augment_report(TEXT, 3)
    assert len({augment_report(TEXT, s) for s in range(6)}) > 1
    assert augment_report(TEXT, 3, rate=0.0, operations=("synonym",)) == parse_report(TEXT).full_text()


def test_augmentation_never_changes_the_lesions_of_a_real_report(real_reports: list[dict]) -> None:
    changed = 0
    for i, record in enumerate(real_reports):
        out = augment_report(record, seed=i)
        assert facts_preserved(record, out), record["patient_id"]
        changed += out != parse_report(record).full_text()
    assert changed >= 0.95 * len(real_reports)
