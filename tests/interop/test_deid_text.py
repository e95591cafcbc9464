"""Vietnamese report de-identification: every inserted identifier goes, clinical content stays."""

from __future__ import annotations

import json
import random
import unicodedata

import pytest
from deid_factories import inserted_report

from vipet.interop.deid_keys import DeidKeys
from vipet.interop.deid_text import deidentify_text, fold
from vipet.reports.extract import extract_lesions

OFFSET = DeidKeys(b"text-tests").day_offset("BN1")


def _real_texts(real_data) -> list[str]:
    path = real_data / "reports.jsonl"
    if not path.is_file():
        pytest.skip(f"{path.name} not found in ../shared/data/real")
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def synthetic_texts() -> list[str]:
    from vipet.synth.cohort import generate_study

    return [generate_study(i, seed=3)[0].report.full_text() for i in range(3)]


def _lesions(text: str) -> list[dict]:
    return [lesion.to_expert() for lesion in extract_lesions(text, scope="all")]


def _assert_gone(output: str, values: list[str]) -> None:
    folded = fold(output)
    for value in values:
        assert value not in output, value
        assert fold(value) not in folded, value


def _check(texts: list[str], seed: int) -> None:
    rng = random.Random(seed)
    for text in texts:
        assert _lesions(deidentify_text(text, day_offset=OFFSET).text) == _lesions(text)
        for round_ in range(3):
            marked, values = inserted_report(text, rng)
            result = deidentify_text(marked, day_offset=OFFSET)
            _assert_gone(result.text, values)
            assert {"name", "id", "phone", "date", "address", "hospital"} <= set(result.counts)


def test_real_reports_lose_every_inserted_identifier_and_keep_their_lesions(real_data):
    _check(_real_texts(real_data), seed=1)


def test_synthetic_reports_lose_every_inserted_identifier_and_keep_their_lesions(synthetic_texts):
    _check(synthetic_texts, seed=2)


def test_clinical_strings_survive_byte_for_byte():
    text = ("Hình ảnh hạch nhóm IIB, nhóm II và nhóm 4R, 10L; tổn thương đốt sống D8, L3, C2, T12 và S1. "
            "Khối kích thước 2,5 x 3 cm (SUVmax: 5,2), nốt 18 x 21 mm (SUVmax:6,0; SUVmax; 4,6). "
            "Thực quản đoạn 1/3 giữa. Xương sườn số 5 bên phải. Đường kính 9 mm. Tổ chức mỡ. "
            "Hình ảnh tăng chuyển hóa FDG lan tỏa ở gan, lách; nhiều khả năng ác tính.")
    result = deidentify_text(text, day_offset=OFFSET)
    assert result.text == text
    assert result.counts == {}


def test_dates_move_by_the_offset_in_the_form_they_were_written():
    result = deidentify_text("Chụp 12/03/2023, ngày 5 tháng 7 năm 2021, PET/CT 9/2018, 2023-01-05.", day_offset=-400)
    # hand-computed: 2023-03-12 - 400 d = 2022-02-05; 2021-07-05 -> 2020-05-31; mid 2018-09 -> 2017-08; 2023-01-05 -> 2021-12-01
    assert result.text == "Chụp 05/02/2022, ngày 31 tháng 5 năm 2020, PET/CT 8/2017, 2021-12-01."
    assert result.counts == {"date": 4}
    assert deidentify_text("Chụp 12/03/2023.").text == "Chụp [NGÀY]."


def test_typed_surrogates_and_counts_never_values():
    text = ("Họ tên: NGUYỄN VĂN AN. SĐT: 0912 345 678. CCCD 001089012345. Địa chỉ: xã Tân Lập, huyện Đan Phượng, "
            "Hà Nội. Chuyển từ Bệnh viện Bạch Mai. ThS.BS Lê Văn Cường.")
    result = deidentify_text(text)
    assert result.text == ("Họ tên: [TÊN]. SĐT: [SĐT]. CCCD [MÃ]. Địa chỉ: [ĐỊA CHỈ]. Chuyển từ [BỆNH VIỆN]. "
                           "ThS.BS [TÊN].")
    assert result.counts == {"name": 2, "phone": 1, "id": 1, "address": 1, "hospital": 1}
    assert all(isinstance(v, int) for v in result.counts.values())


def test_known_names_are_found_without_diacritics_or_case():
    result = deidentify_text("Kết quả của nguyễn văn hùng đã gửi.", known_names=["NGUYEN^VAN^HUNG"])
    assert result.text == "Kết quả của [TÊN] đã gửi."


def test_decomposed_unicode_is_read_as_composed():
    text = unicodedata.normalize("NFD", "Bệnh nhân Trần Thị Lan")
    assert deidentify_text(text).text == "Bệnh nhân [TÊN]"


@pytest.mark.parametrize("written,moved", [
    # offset -400 days, hand-computed
    ("12/03/2023", "05/02/2022"),
    ("12-3-2023", "5-2-2022"),
    ("12.03.2023", "05.02.2022"),
    ("12/03/23", "05/02/22"),
    ("2023-03-12", "2022-02-05"),
    ("20230312", "20220205"),
    ("ngày 12 tháng 3 năm 2023", "ngày 5 tháng 2 năm 2022"),
    ("ngày 12/3/2023", "ngày 5/2/2022"),
    ("ngày 12/03/2023", "ngày 05/02/2022"),
    ("Ngay 12 thang 3 nam 2023", "Ngay 5 thang 2 nam 2022"),
    ("tháng 3/2023", "tháng 2/2022"),  # 15 March 2023 - 400 d = 8 February 2022
    ("tháng 3 năm 2023", "tháng 2 năm 2022"),
    ("03/2023", "02/2022"),
    ("ngày 12 tháng 3", "ngày 6 tháng 2"),  # read in a leap year (2000): 12 March - 400 d = 6 February 1999
    ("năm 2023", "năm 2022"),
])
def test_every_date_form_moves_in_its_own_form(written, moved):
    result = deidentify_text(f"Chụp {written}.", day_offset=-400)
    assert result.text == f"Chụp {moved}." and result.counts == {"date": 1}


@pytest.mark.parametrize("text", ["Bệnh nhân nằm 2019 phút.", "Thực quản 1/3 giữa.", "Đốt sống số 12/3 trái."])
def test_look_alikes_of_dates_are_not_dates(text):
    assert "date" not in deidentify_text(text, day_offset=-400).counts
