"""Studies full of identifiers for the de-identification tests, and a generator of Vietnamese identifiers."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from vipet.io.dicom_write import write_dicom_study
from vipet.schema import CHEST, HEAD_NECK, Report
from vipet.study import HU, SUV_BW, Patient, Study, Volume

PATIENT_ID = "BN20230417"
PATIENT_NAME = "NGUYEN^VAN^HUNG"
SECRET = b"test-secret-do-not-use"


def deid_study(key: str = "2023_04_17_BN20230417", depth: int = 6, seed: int = 0) -> Study:
    """A tiny PET/CT study (SUV with per-slice maxima, an asymmetric hot spot) and a report."""
    rng = np.random.default_rng(seed)
    ct = rng.integers(-1000, 1500, size=(depth, 16, 16)).astype(np.int16)
    pet = rng.uniform(0.1, 3.0, size=(depth, 8, 8)).astype(np.float32)
    pet[depth // 2, 1, 6] = 12.5
    for z in range(depth):
        pet[z] *= 1.0 + 0.3 * z
    report = Report(
        sections={HEAD_NECK: "Hình ảnh bắt xạ theo đặc điểm sinh lý ở não. BN NGUYỄN VĂN HÙNG, SĐT 0912 345 678.",
                  CHEST: "Nốt mờ phổi phải 9 mm (SUVmax: 5,2). Hạch nhóm 4R 12 mm.",
                  "Ổ bụng - khung chậu": "", "Hệ cơ - xương": "Tổn thương xương đốt sống D8."},
        impression="Nốt phổi phải tăng chuyển hóa FDG, nhiều khả năng ác tính. So với PET/CT ngày 12/03/2022.",
    )
    year, month, day, pid = key.split("_", 3)
    return Study(key=key, ct=Volume(ct, (3.0, 31.25, 31.25), HU), pet=Volume(pet, (3.0, 62.5, 62.5), SUV_BW),
                 patient=Patient(id=pid, sex="F", height_m=1.58, weight_kg=52.0),
                 study_date=dt.date(int(year), int(month), int(day)), report=report, head_first=True)


AFTER_MIDNIGHT = {"series_datetime": dt.datetime(2023, 4, 18, 0, 50), "injection_datetime": dt.datetime(2023, 4, 17, 23, 40)}


def write_identified_dicom(folder: Path, study: Study | None = None, decay: str = "START",
                           start_datetime: bool = True) -> Path:
    """A PET/CT DICOM study (scan after midnight) whose headers carry every kind of identifier."""
    study = study or deid_study()
    tags = {**AFTER_MIDNIGHT, "decay_correction": decay, "write_start_datetime": start_datetime}
    write_dicom_study(study, folder, suv_tags=tags)
    ct_files = sorted((folder / "CT").glob("*.dcm"))
    ct_first = pydicom.dcmread(ct_files[0], stop_before_pixels=True)
    for path in sorted(folder.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.PatientName = PATIENT_NAME
        ds.PatientID = PATIENT_ID
        ds.PatientBirthDate = "19580312"
        ds.PatientAge = "065Y"
        ds.PatientAddress = "so 12 ngo 34 pho Hue, Ha Noi"
        ds.OtherPatientIDs = "001089012345"
        ds.AccessionNumber = "ACC778899"
        ds.InstitutionName = "Benh vien Bach Mai"
        ds.InstitutionAddress = "78 Giai Phong, Ha Noi"
        ds.ReferringPhysicianName = "TRAN^THI^LAN"
        ds.OperatorsName = "LE^VAN^CUONG"
        ds.StationName = "PETCT01"
        ds.DeviceSerialNumber = "SN-445566"
        ds.StudyID = "S778899"
        ds.StudyDescription = "PET/CT toan than NGUYEN VAN HUNG"
        ds.SeriesDescription = f"{ds.Modality} WB BN20230417"
        ds.ProtocolName = "WB FDG"
        ds.InstanceCreationDate = ds.StudyDate
        ds.InstanceCreationTime = "101500"
        ds.ContentDate = ds.SeriesDate
        ds.ContentTime = ds.SeriesTime
        ds.BurnedInAnnotation = "NO"
        block = ds.private_block(0x0009, "VIPET TEST", create=True)
        block.add_new(0x01, "LO", "NGUYEN VAN HUNG private")
        request = Dataset()
        request.RequestedProcedureID = "RP-5566"
        request.ScheduledProcedureStepID = "SPS-5566"
        request.add_new(0x00110010, "LO", "NESTED CREATOR")
        request.add_new(0x00111001, "LO", "nested private value")
        ds.RequestAttributesSequence = Sequence([request])
        if ds.Modality == "PT":
            ref = Dataset()
            ref.ReferencedSOPClassUID = ct_first.SOPClassUID
            ref.ReferencedSOPInstanceUID = ct_first.SOPInstanceUID
            ds.ReferencedImageSequence = Sequence([ref])
            info = ds.RadiopharmaceuticalInformationSequence[0]
            info.add_new(0x00130010, "LO", "RADIO CREATOR")
            info.add_new(0x00131001, "LO", "private in radiopharmaceutical item")
        ds.save_as(path, enforce_file_format=True)
    return folder


# ---- Vietnamese identifiers in many forms -------------------------------------------------------------

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Ngô"]
MIDDLE = ["Văn", "Thị", "Đức", "Minh", "Thanh", "Quốc"]
GIVEN = ["Hùng", "Lan", "Tuấn", "Hương", "Dũng", "Phương", "Khánh Linh", "Bảo"]
PATIENT_CUES = ["BN", "Bệnh nhân", "Họ tên:", "Họ và tên:", "Ông", "Bà", "Người bệnh"]
DOCTOR_CUES = ["BS", "ThS.BS", "TS.BS", "Bác sĩ", "PGS.TS", "BSCKII"]
PLACES = [("Tân Lập", "Đan Phượng", "Hà Nội"), ("Phú Diễn", "Bắc Từ Liêm", "Hà Nội"), ("Hòa Bình", "Kim Bôi", "Hòa Bình")]
HOSPITALS = ["Bệnh viện Bạch Mai", "Bệnh viện K", "BV Đa khoa tỉnh Nam Định", "Bệnh viện Hữu nghị Việt Đức",
             "Bệnh viện 108"]


def _strip(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
                   if unicodedata.category(c) != "Mn")


def identifier_block(rng: random.Random) -> tuple[str, list[str]]:
    """(sentences to put before/after a report, the identifying strings they contain)."""
    name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
    shown = rng.choice([name, name.upper(), _strip(name), _strip(name).upper()])
    doctor = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
    doctor_shown = rng.choice([doctor, _strip(doctor)])
    pid = f"BN{rng.randint(10**6, 10**7 - 1)}"
    cccd = "0" + "".join(str(rng.randint(0, 9)) for _ in range(11))
    cccd_shown = rng.choice([cccd, f"{cccd[:3]} {cccd[3:6]} {cccd[6:9]} {cccd[9:]}"])
    cmnd = "".join(str(rng.randint(0, 9)) for _ in range(9))
    bhyt = rng.choice(["DN", "HT", "GD", "CB"]) + str(rng.randint(1, 5)) + f"{rng.randint(1, 99):02d}" + "".join(
        str(rng.randint(0, 9)) for _ in range(10))
    mobile = "09" + "".join(str(rng.randint(0, 9)) for _ in range(8))
    phone_shown = rng.choice([mobile, f"{mobile[:4]} {mobile[4:7]} {mobile[7:]}", f"{mobile[:4]}.{mobile[4:7]}.{mobile[7:]}",
                              f"+84 {mobile[1:4]} {mobile[4:7]} {mobile[7:]}"])
    landline = f"(024) {rng.randint(3000, 3999)} {rng.randint(1000, 9999)}"
    day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.randint(2015, 2023)
    date_forms = [f"{day:02d}/{month:02d}/{year}", f"{day}-{month}-{year}", f"ngày {day} tháng {month} năm {year}",
                  f"{day:02d}.{month:02d}.{year}"]
    date_shown = rng.choice(date_forms)
    month_year = rng.choice([f"tháng {month}/{year - 1}", f"tháng {month} năm {year - 1}"])
    ward, district, city = rng.choice(PLACES)
    house = rng.randint(2, 150)
    address = rng.choice([f"số nhà {house} ngõ {rng.randint(2, 99)} phố Huế, phường {ward}, quận {district}, {city}",
                          f"xã {ward}, huyện {district}, tỉnh {city}" if city != "Hà Nội" else f"xã {ward}, huyện {district}, thành phố {city}",
                          f"thôn {ward}, xã {ward}, huyện {district}, {city}"])
    hospital = rng.choice(HOSPITALS)
    head = (f"{rng.choice(PATIENT_CUES)} {shown}, mã BN: {pid}, CCCD: {cccd_shown}, CMND {cmnd}, số thẻ BHYT {bhyt}. "
            f"Địa chỉ: {address}. SĐT: {phone_shown}, ĐT cơ quan {landline}. Ngày chụp {date_shown}.")
    tail = (f" Chuyển từ {hospital}. So với PET/CT {month_year}. {rng.choice(DOCTOR_CUES)} {doctor_shown} đọc kết quả.")
    values = [shown, doctor_shown, pid, cccd_shown, cmnd, bhyt, phone_shown, landline, date_shown, month_year,
              address, hospital]
    return head + " " , values + [tail]


def inserted_report(text: str, rng: random.Random) -> tuple[str, list[str]]:
    """`text` with identifiers before and after it; the identifiers (the tail's parts listed apart)."""
    head, values = identifier_block(rng)
    tail = values.pop()
    return head + text + tail, values
