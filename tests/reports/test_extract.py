"""Offline lesion extraction on hand-written sentences, one pattern per test."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vipet.errors import ReportError
from vipet.reports.extract import analyze_report, extract_findings, extract_lesions
from vipet.schema import ABSENT, CHEST, HEAD_NECK, Report


def chest(*sentences: str, impression: str = "", head_neck: str = "") -> Report:
    return Report(sections={HEAD_NECK: head_neck, CHEST: " ".join(sentences)}, impression=impression)


def only(report: Report, scope: str = "all"):
    lesions = extract_lesions(report, scope=scope)
    assert len(lesions) == 1, lesions
    return lesions[0]


def test_a_lung_mass_gives_all_six_fields() -> None:
    lesion = only(chest(
        "Hình ảnh khối mờ, bờ đa cung, tua gai, kích thước 43 x 39 mm, tăng chuyển hóa FDG không đều "
        "(SUVmax: 8,3) ở thùy dưới phổi trái, dính vào màng phổi thành sau, khả năng ác tính."
    ))
    assert lesion.type == "Hình ảnh khối mờ, bờ đa cung, tua gai"
    assert lesion.size == "43 x 39 mm"
    assert lesion.location == "thùy dưới phổi trái"
    assert lesion.suv_max == 8.3 and lesion.uptake == "Không đều"
    assert lesion.invasion == "dính vào màng phổi thành sau"
    assert lesion.stage == "Khả năng ác tính"
    expert = lesion.to_expert()
    assert expert["Mức độ FDG"] == {"SUVmax": 8.3, "Tăng chuyển hoá FDG": "Không đều"}


@pytest.mark.parametrize(
    "sentence",
    [
        "Không phát hiện hình ảnh tràn dịch màng phổi hai bên và tràn dịch màng tim.",
        "Chưa phát hiện hình ảnh tăng chuyển hóa FDG khu trú, bất thường tại nhu mô hai phổi.",
        "Không thấy hạch trung thất tăng chuyển hóa FDG.",
        "Chưa thấy nốt mờ ở thùy trên phổi phải.",
        "Không ghi nhận tổn thương ở màng phổi.",
    ],
)
def test_negated_statements_are_not_lesions(sentence: str) -> None:
    analysis = analyze_report(chest(sentence))
    assert analysis.findings == []
    assert [s.polarity for s in analysis.statements] == ["negative"]


@pytest.mark.parametrize(
    "sentence",
    [
        "Hình ảnh bắt xạ theo đặc điểm sinh lý ở tim.",
        "Hình ảnh tăng chuyển hóa FDG ở khung đại tràng theo đặc điểm sinh lý.",
        "Hình ảnh tăng chuyển hóa FDG lan tỏa ở vùng cổ - ngực hai bên (SUVmax: 11,7) khả năng là mỡ nâu.",
    ],
)
def test_physiological_uptake_is_not_a_lesion(sentence: str) -> None:
    analysis = analyze_report(chest(sentence))
    assert analysis.findings == [] and analysis.statements[0].polarity == "physiological"


def test_a_negation_after_a_finding_keeps_the_finding() -> None:
    lesion = only(chest("Hình ảnh nốt mờ ở thùy trên phổi phải, chưa phát hiện tăng chuyển hóa FDG khu trú ở phổi trái."))
    assert lesion.location == "thùy trên phổi phải" and lesion.uptake == ABSENT


@pytest.mark.parametrize(
    "phrase, suv, uptake",
    [
        ("không tăng chuyển hóa FDG", None, "Không tăng"),
        ("tăng nhẹ chuyển hóa FDG (SUVmax: 2,6)", 2.6, "Tăng nhẹ"),
        ("tăng nhẹ, không đều chuyển hóa FDG (SUVmax: 3.6)", 3.6, "Tăng nhẹ, không đều"),
        ("tăng chuyển hóa FDG không đều (SUVmax: 8,3)", 8.3, "Không đều"),
        ("tăng chuyển hóa FDG (SUVmax: 3,4)", 3.4, "Có tăng"),
        ("tăng chuyển hóa FDG (SUVmax:17,9)", 17.9, "Cao"),
        ("tăng chuyển hóa FDG (SUVmax; 5,0)", 5.0, "Cao"),
        ("giảm chuyển hóa FDG", None, "Giảm"),
    ],
)
def test_uptake_wording_follows_the_experts(phrase: str, suv: float | None, uptake: str) -> None:
    lesion = only(chest(f"Hình ảnh hạch trước carina, đường kính 6 mm, {phrase}."))
    assert lesion.suv_max == suv and lesion.uptake == uptake
    assert lesion.location == "trước carina" and lesion.size == "đường kính 6 mm"


@pytest.mark.parametrize(
    "sentence, size",
    [
        ("Hình ảnh nốt mờ, kích thước 18x21mm, không tăng chuyển hóa FDG ở thùy trên phổi phải.", "18 x 21 mm"),
        ("Hình ảnh nốt mờ có đường kính 9 mm ở thùy trên phổi phải.", "đường kính 9 mm"),
        ("Hình ảnh vài nốt mờ, kích thước vài mm ở thùy trên phổi phải.", "vài mm"),
        ("Hình ảnh vài nốt mờ ở thùy trên phổi phải (nốt lớn nhất có đường kính 9 mm).", "nốt lớn nhất có đường kính 9 mm"),
        ("Hình ảnh nốt mờ có kích thước 7 x 4 mm và đường kính 4 mm ở thùy trên phổi phải.", "7 x 4 mm và đường kính 4 mm"),
    ],
)
def test_size_phrases(sentence: str, size: str) -> None:
    assert only(chest(sentence)).size == size


def test_location_without_o_is_read_from_the_head() -> None:
    lesion = only(chest("Hình ảnh hạch rốn phổi phải có kích thước 17 x 19 mm, tăng chuyển hóa FDG (SUVmax: 11,8)."))
    assert (lesion.type, lesion.location, lesion.size) == ("Hình ảnh hạch", "rốn phổi phải", "17 x 19 mm")
    lesion = only(chest("Hình ảnh hạch trước khí quản đoạn cao, thấp, đường kính 10 mm, không tăng chuyển hóa FDG."))
    assert lesion.location == "trước khí quản đoạn cao, thấp"
    lesion = only(chest("Hình ảnh tăng chuyển hóa FDG rốn phổi hai bên (SUVmax: 4,6)."))
    assert (lesion.type, lesion.location, lesion.suv_max) == ("Tăng chuyển hóa FDG", "rốn phổi hai bên", 4.6)


def test_uptake_only_findings_are_lesions_of_their_own() -> None:
    lesions = extract_lesions(chest(
        "Hình ảnh đám mờ, kích thước 26 x 41 mm, tăng chuyển hóa FDG (SUVmax: 14,3) ở thùy trên phổi trái.",
        "Hình ảnh tăng nhẹ chuyển hóa FDG ở nhu mô thùy trên phổi trái khả năng do viêm.",
    ))
    assert [l.type for l in lesions] == ["Hình ảnh đám mờ", "Tăng nhẹ chuyển hóa FDG"]
    assert lesions[1].uptake == "Tăng nhẹ" and lesions[1].stage == "Khả năng do viêm"


def test_two_lesions_in_one_sentence_are_split_and_share_the_tail() -> None:
    lesions = extract_lesions(chest(
        "Hình ảnh vài nốt kính mờ ở thùy giữa phổi phải, không tăng chuyển hóa FDG và tổn thương dạng thâm nhiễm "
        "ở thùy dưới phổi trái, tăng nhẹ chuyển hóa FDG có thể do viêm."
    ))
    assert [(l.type, l.location, l.uptake, l.stage) for l in lesions] == [
        ("Hình ảnh vài nốt kính mờ", "thùy giữa phổi phải", "Không tăng", "Khả năng do viêm"),
        ("Tổn thương dạng thâm nhiễm", "thùy dưới phổi trái", "Tăng nhẹ", "Khả năng do viêm"),
    ]


def test_coordinated_sites_of_one_lesion_stay_one_lesion() -> None:
    lesion = only(chest(
        "Hình ảnh dải mờ và nốt mờ ở ngoại vi thùy trên phổi phải, kích thước vài mm, không tăng chuyển hóa FDG.",
    ))
    assert lesion.type == "Hình ảnh dải mờ và nốt mờ"
    lesion = only(chest(
        "Hình ảnh vài hạch trung thất ở trước carina và hạch cạnh phế quản gốc phải (hạch lớn nhất có đường kính 7 mm), "
        "tăng chuyển hóa FDG (SUVmax: 4,4)."
    ))
    assert lesion.location == "trước carina và hạch cạnh phế quản gốc phải" and lesion.suv_max == 4.4


def test_description_and_impression_mentions_merge() -> None:
    report = chest(
        "Hình ảnh khối mờ có kích thước 37 x 38 mm ở thùy dưới phổi trái, bờ tua gai, tăng chuyển hóa FDG (SUVmax: 3.9).",
        "Hình ảnh hạch dưới quai động mạch chủ, kích thước 14 x 5 mm, không tăng chuyển hóa FDG.",
        impression=(
            "Hình ảnh khối mờ có kích thước 37 x 38 mm ở thùy dưới phổi trái, bờ tua gai, tăng chuyển hóa FDG tương ứng "
            "tổn thương ác tính nguyên phát. Hình ảnh hạch dưới quai động mạch chủ, kích thước 14 x 5 mm, không tăng "
            "chuyển hóa FDG khả năng do viêm. Cần lưu ý theo dõi."
        ),
    )
    lesions = extract_lesions(report)
    assert [(l.type, l.suv_max, l.stage) for l in lesions] == [
        ("Hình ảnh khối mờ, bờ tua gai", 3.9, "U nguyên phát"),
        ("Hình ảnh hạch", None, "Khả năng do viêm"),
    ]


def test_different_lesions_of_one_kind_do_not_merge() -> None:
    lesions = extract_lesions(chest(
        "Hình ảnh nốt mờ, kích thước 10 x 8 mm ở thùy trên phổi phải, không tăng chuyển hóa FDG.",
        "Hình ảnh nốt mờ, kích thước 6 x 5 mm ở thùy trên phổi phải, không tăng chuyển hóa FDG.",
        impression="Hình ảnh nốt mờ ở thùy dưới phổi trái, không tăng chuyển hóa FDG.",
    ))
    assert [l.size for l in lesions] == ["10 x 8 mm", "6 x 5 mm", ABSENT]


def test_a_largest_node_sentence_completes_the_finding_before_it() -> None:
    lesion = only(chest(
        "Hình ảnh vài hạch ở cạnh bên phải và trước khí quản, trước carina.",
        "Hạch lớn nhất có kích thước 10 x 16 mm, tăng chuyển hóa FDG (SUVmax: 4,0) ở trước carina.",
    ))
    assert (lesion.size, lesion.suv_max, lesion.location) == ("Hạch lớn nhất có kích thước 10 x 16 mm", 4.0, "trước carina")


def test_thorax_scope_keeps_what_the_expert_set_keeps() -> None:
    report = chest(
        "Hình ảnh vài hạch nách nhỏ (10 mm) ở hố nách hai bên, không tăng chuyển hóa FDG.",
        "Hình ảnh hạch thượng đòn trái có kích thước 5 x 3 mm, tăng nhẹ chuyển hóa FDG (SUVmax: 2,6).",
        "Hình ảnh dày màng phổi trung thất bên trái, tăng chuyển hóa FDG (SUVmax: 4,1).",
        "Tràn dịch màng phổi bên phải số lượng ít.",
        head_neck="Hình ảnh nhân giảm tỉ trọng ở thùy phải tuyến giáp có kích thước 11 x 14 mm, tăng chuyển hóa FDG.",
    )
    thorax = extract_lesions(report, scope="thorax")
    assert [(l.type, l.location) for l in thorax] == [
        ("Hình ảnh hạch", "thượng đòn trái"),
        ("Hình ảnh dày màng phổi trung thất", "bên trái"),
        ("Tràn dịch màng phổi", "bên phải"),
    ]
    everything = extract_lesions(report, scope="all")
    assert len(everything) == 5 and {l.location for l in everything} >= {"hố nách hai bên", "thùy phải tuyến giáp"}


def test_findings_carry_kinds_sites_and_millimetres() -> None:
    (finding,) = extract_findings(chest("Hình ảnh khối mờ, kích thước 2,5 x 3 cm ở thùy trên phổi phải."))
    assert finding.kind == "khối mờ" and finding.sizes_mm == ((25.0, 30.0),)
    assert [s.group for s in finding.sites] == ["phổi"] and finding.in_thorax()


def test_plain_text_and_typos() -> None:
    lesion = only("Hình anh dải mờ ơ nên phổi trái, không tăng chuyển hóa FDG khả năng do xơ hóa.")
    assert (lesion.location, lesion.stage) == ("nền phổi trái", "Khả năng xơ hóa")


def test_unknown_scope_is_an_error() -> None:
    with pytest.raises(ReportError, match="unknown scope"):
        extract_lesions("x", scope="lung")


_WORDS = (
    "Hình ảnh khối mờ nốt hạch kính mờ dải mờ tràn dịch màng phổi ở tại thùy trên dưới phổi phải trái rốn carina "
    "khí quản kích thước đường kính 12 x 9 mm vài tăng không nhẹ chuyển hóa FDG SUVmax: 5,2 ( ) , . và khả năng do "
    "viêm di căn Chưa phát hiện Không sinh lý Hạch lớn nhất bờ tua gai dính vào xâm lấn Cần lưu ý theo dõi"
).split()


@given(st.lists(st.sampled_from(_WORDS), max_size=60))
@settings(max_examples=200, deadline=None)
def test_any_word_salad_reads_without_error(words: list[str]) -> None:
    text = " ".join(words)
    for lesion in extract_lesions(text, scope="all"):
        assert lesion.type != ABSENT
        # an SUVmax is one of the salad's numbers ("SUVmax: 12" is read as 12), never an invented one
        assert lesion.suv_max is None or lesion.suv_max in (5.2, 12.0, 9.0)
