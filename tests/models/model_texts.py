"""Report sentences the tiny test tokenizers are trained on (shared by the conftest and helpers outside fixtures)."""

TEXTS = [
    "Hình ảnh bắt xạ theo đặc điểm sinh lý ở não.",
    "Nốt mờ thùy trên phổi phải kích thước 18 x 21 mm, tăng chuyển hóa FDG (SUVmax: 5,2).",
    "Hạch trung thất tăng chuyển hoá FDG (SUVmax: 3,1), khả năng di căn.",
    "Không phát hiện tổn thương tăng chuyển hóa FDG bất thường.",
    "Hãy mô tả hình ảnh PET/CT vùng lồng ngực và nêu nhận định. Trả lời:",
    "Có hạch trung thất không? có không",
]
