"""Clinical categories of a lesion: the vocabulary the clinical F1 compares, shared with the report toolkit.

The clinical metric (DOMAIN.md) does not compare free text: every lesion is mapped to a type
category, one position category per listed site, and an FDG category, and lesions match when
their categories are equal. The mapping below was written against every value of the 80 expert
files (304 lesions, 107 distinct type strings, 201 locations, 17 uptake wordings); the tests pin
each of those values. The rules, and why:

Type (`type_category`): the category whose keyword starts EARLIEST in the type text wins, since
the experts name the main finding first ("Dải mờ kèm nốt vôi hóa" is a band, "Hình ảnh vài hạch
trung thất có vôi hoá" a node). Inside the clause of a nodule, a ground-glass or calcification
word refines it ("Nốt mờ vôi hóa" -> nốt vôi hoá, "nốt mờ kính" -> kính mờ, "nốt dày kẽ" ->
dày tổ chức kẽ). "đám mờ" (a patchy opacity, used by the experts for primary tumours) counts as
khối mờ; "đám đông đặc", "thâm nhiễm" as đông đặc; a cavity ("tổn thương dạng hang") as khối mờ;
"tổn thương dày" (mucosal thickening) as dày thành. Uptake-only wording ("Tăng chuyển hóa FDG
không đặc hiệu", "Không đặc hiệu") is tăng chuyển hoá, used only when no morphology is named.
Anything else (bone lysis, unknown text) is "khác", which never matches.

Position (`position_categories`, `split_sites`): a location listing several sites counts once per
site. Sites are split on ";" "," and " và "; a parenthesised list after a bare region word
("Trung thất (trước khí quản, dưới carina)") lists the sites; a station list in parentheses or
after "thuộc nhóm" restates sites already named and is dropped; a segment that starts describing
invasion ("dính vào", "xâm lấn", "nghi ngờ", "sát", "gây") or a remark ("hạch lớn nhất ở") ends
the site list. Bilateral wording ("hai bên", "hai phổi") is ONE site: it is not a listing. A site
without its own anatomical word ("trước và dưới carina", "đoạn cao, thấp") takes the category of
the next site of its " và " group, else the next site, else the previous one, else the head of a
parenthesised list, else the position words of the type text ("Hình ảnh dày màng phổi" for a
location "thành sau bên trái"), else "khác". Hilum ("rốn phổi"), pleura ("màng phổi", including
the mediastinal pleura) and lung parenchyma are "phổi"; aorto-pulmonary window, trachea, carina,
aortic arch, prevascular space, main bronchi, oesophagus and cardiophrenic angle are "trung
thất"; supraclavicular fossa and all head-neck structures are "cổ"; infraclavicular nodes
(axillary level III) are "nách"; adrenal, diaphragmatic crus and abdominal organs are "bụng";
bone, breast and anything unnamed are "khác".

FDG (`fdg_category`): "không tăng" when the wording negates uptake ("Không tăng", "không tăng
chuyển hóa"), "có tăng" for any positive wording ("Cao", "Tăng nhẹ", "Không đều" = uneven uptake,
"nhẹ"); an absent wording ("Không có", empty) falls back on SUVmax: a reported value means the
lesion was measured as uptake, so "có tăng", none means "không tăng".

Judgement (`judgement_category`): the stage/judgement field mapped to primary, metastasis,
malignant, uncertain-malignant, inflammation, fibrosis, benign, follow-up or other; the study-level
primary-malignancy agreement of `vipet.eval.clinical` reads it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable

from vipet.schema import ABSENT, Lesion

TYPE_CATEGORIES: tuple[str, ...] = (
    "hạch", "nốt mờ", "kính mờ", "khối mờ", "dày màng phổi", "dày tổ chức kẽ", "dải mờ", "đông đặc",
    "tràn dịch", "mô mềm", "dày thành", "nốt vôi hoá", "tăng chuyển hoá", "khác",
)
POSITION_CATEGORIES: tuple[str, ...] = ("trung thất", "phổi", "bụng", "cổ", "nách", "khác")
FDG_CATEGORIES: tuple[str, ...] = ("có tăng", "không tăng")
JUDGEMENT_CATEGORIES: tuple[str, ...] = (
    "nguyên phát", "di căn", "ác tính", "chưa loại trừ", "viêm", "xơ hoá", "lành tính", "theo dõi", "khác",
)
OTHER = "khác"

_OLD_STYLE_TONES = {
    "óa": "oá", "òa": "oà", "ỏa": "oả", "õa": "oã", "ọa": "oạ",
    "óe": "oé", "òe": "oè", "ỏe": "oẻ", "õe": "oẽ", "ọe": "oẹ",
    "úy": "uý", "ùy": "uỳ", "ủy": "uỷ", "ũy": "uỹ", "ụy": "uỵ",
}
_OLD_STYLE_RE = re.compile("(" + "|".join(_OLD_STYLE_TONES) + r")(?![^\W\d_])")


def fold(text: str) -> str:
    """NFC, lower case, one tone-mark placement (`hóa` -> `hoá`, `thùy` -> `thuỳ`), single spaces.

    Both placements occur in the real reports and expert files; keywords and texts are folded the
    same way so a match never depends on the typist's keyboard.
    """
    text = unicodedata.normalize("NFC", str(text)).lower()
    text = _OLD_STYLE_RE.sub(lambda m: _OLD_STYLE_TONES[m.group(1)], text)
    return " ".join(text.split())


def _compile(patterns: Iterable[str]) -> re.Pattern[str]:
    """One regex from keyword patterns written in natural spelling (folded like the texts)."""
    return re.compile("|".join(f"(?:{fold(p)})" for p in patterns))


# ---------------------------------------------------------------------------------------------
# Type
# ---------------------------------------------------------------------------------------------

# (category, keyword patterns). Order only breaks ties between matches starting at the same place.
_TYPE_KEYWORDS: list[tuple[str, re.Pattern[str]]] = [
    ("hạch", _compile([r"\bhạch\b"])),
    ("dày màng phổi", _compile([r"dày (?:dính |khu trú )*(?:và \w+ )?màng phổi", r"dày dính", r"dày khu trú màng phổi",
                                r"vôi hoá màng phổi"])),
    ("dày tổ chức kẽ", _compile([r"dày (?:tổ chức )?kẽ", r"tổ chức kẽ", r"nụ cành", r"chổi cây", r"chồi cây", r"tree-in-bud"])),
    ("kính mờ", _compile([r"kính mờ", r"mờ kính"])),
    ("đông đặc", _compile([r"đông đặc", r"thâm nhiễm"])),
    ("khối mờ", _compile([r"\bkhối\b", r"đám mờ", r"tổn thương dạng hang", r"\bhang\b(?! vị)"])),
    ("dải mờ", _compile([r"\bdải\b", r"tổn thương dạng xơ\b"])),
    ("tràn dịch", _compile([r"tràn dịch"])),
    ("nốt vôi hoá", _compile([r"nốt vôi hoá"])),
    ("nốt mờ", _compile([r"\bnốt\b"])),
    ("dày thành", _compile([r"dày thành", r"thành dày", r"tổn thương dày\b(?! (?:tổ chức|kẽ|màng))", r"dày niêm mạc",
                            r"dày không đều thành"])),
    ("mô mềm", _compile([r"mô mềm", r"tỉ trọng tổ chức", r"tỷ trọng tổ chức"])),
]
# Findings the official categories have no type for, "khác" by rule rather than by ignorance (the
# extraction coverage benchmark counts them as mapped): cysts, stones, polyps, thyroid nodules
# ("nhân"), hypodense organ lesions, bone lesions, bullae, fibroids, organ calcification.
_DECLARED_OTHER_TYPE = _compile([
    r"\bnang\b", r"\bsỏi\b", r"polyp", r"\bnhân\b", r"giảm t[ỉỷ] trọng", r"xương", r"kén khí", r"\bu xơ\b",
    r"tiền liệt tuyến vôi hoá",
])
_UPTAKE_ONLY = _compile([r"chuyển hoá", r"hấp thu", r"bắt xạ", r"không đặc hiệu", r"\bfdg\b"])
_CLAUSE_END = re.compile(r",|;|\bvà\b|\bkèm\b|\bcó kèm\b")
_NODULE_REFINEMENTS: list[tuple[str, re.Pattern[str]]] = [
    ("kính mờ", _compile([r"\bkính\b"])),
    ("nốt vôi hoá", _compile([r"vôi hoá"])),
    ("dày tổ chức kẽ", _compile([r"\bkẽ\b"])),
]


def type_category_text(type_text: str) -> str:
    """Type category of a type/appearance description (see the module docstring for the rules)."""
    text = fold(type_text)
    if not text or text == fold(ABSENT):
        return OTHER
    best: tuple[int, int, str] | None = None
    for rank, (category, pattern) in enumerate(_TYPE_KEYWORDS):
        match = pattern.search(text)
        if match and (best is None or (match.start(), rank) < best[:2]):
            best = (match.start(), rank, category)
    if best is None:
        return "tăng chuyển hoá" if _UPTAKE_ONLY.search(text) else OTHER
    start, _, category = best
    if category == "nốt mờ":
        end = _CLAUSE_END.search(text, start)
        clause = text[start : end.start() if end else len(text)]
        for refined, pattern in _NODULE_REFINEMENTS:
            if pattern.search(clause):
                return refined
    return category


def declared_other_type(type_text: str) -> bool:
    """Whether a type text names a finding the categories deliberately put in "khác" (see above)."""
    return type_category_text(type_text) == OTHER and _DECLARED_OTHER_TYPE.search(fold(type_text)) is not None


def type_category(lesion: Lesion | str) -> str:
    """Type category of a lesion (or of its type text)."""
    return type_category_text(lesion if isinstance(lesion, str) else lesion.type)


# ---------------------------------------------------------------------------------------------
# Position
# ---------------------------------------------------------------------------------------------

_POSITION_KEYWORDS: list[tuple[str, re.Pattern[str]]] = [
    # Bone and breast first: "xương sườn" must not read as anything thoracic.
    (OTHER, _compile([r"xương", r"đốt sống", r"\bđốt [cdtls]\d", r"cột sống", r"cuống sống", r"\bsườn\b", r"bả vai",
                      r"ổ cối", r"\bvú\b", r"phần mềm", r"dưới da", r"\bda\b", r"\bmông\b", r"\bkhớp\b", r"cơ vùng vai",
                      r"ụ ngồi", r"\bđùi\b", r"thành ngực"])),
    ("phổi", _compile([r"màng phổi", r"rốn phổi", r"thuỳ lưỡi", r"phân thuỳ lưỡi"])),
    ("trung thất", _compile([
        r"trung thất", r"cửa sổ chủ", r"khí quản", r"carina", r"quai động mạch chủ", r"động mạch chủ ngực",
        r"mạch máu", r"phế quản gốc", r"thực quản", r"tâm hoành", r"cạnh tim", r"màng tim", r"màng ngoài tim", r"tuyến ức",
        r"động mạch phổi", r"\bnhóm \d{1,2}[rl]?\b", r"\b\d{1,2}[rl]\b",
    ])),
    ("phổi", _compile([
        r"phổi", r"nhu mô", r"\bthuỳ\b", r"phân thuỳ", r"rãnh liên thuỳ", r"phế nang", r"phế quản",
    ])),
    ("cổ", _compile([
        r"\bcổ\b", r"thượng đòn", r"dưới hàm", r"góc hàm", r"dưới cằm", r"\bhầu\b", r"họng", r"thanh quản",
        r"thanh thiệt", r"amydal", r"amidan", r"\blưỡi\b", r"xoang lê", r"rosenmuller", r"\bvòm\b",
        r"[ứú]c đòn chũm", r"tuyến giáp", r"mang tai", r"\bnhóm (?:i{1,3}|iv|v|vi|vii)[ab]?\b",
        r"\bxoang\b", r"dây thanh", r"thanh môn", r"khẩu cái", r"dốc nền", r"rossenmul", r"hố yên", r"\bcơ cắn\b",
        r"\bnão\b", r"\bchẩm\b", r"thái dương", r"niêm mạc má",
    ])),
    ("nách", _compile([r"\bnách\b", r"hạ đòn", r"dưới đòn"])),
    ("bụng", _compile([
        r"bụng", r"thượng thận", r"chân hoành", r"\bgan\b", r"\blách\b", r"\btuỵ\b", r"\btụy\b", r"\bthận\b",
        r"dạ dày", r"đại tràng", r"\bruột\b", r"mạc treo", r"phúc mạc", r"tiểu khung", r"\bchậu\b",
        r"\bbẹn\b", r"trực tràng", r"tiểu tràng", r"manh tràng", r"hậu môn", r"túi mật", r"buồng trứng", r"tử cung",
        r"tiền liệt tuyến", r"bàng quang", r"bờ cong", r"tâm vị", r"môn vị", r"miệng nối", r"đường trắng giữa",
        r"tinh hoàn",
    ])),
]
_SITE_PREFIX = re.compile(
    r"^(?:(?:ở|tại|vùng|tập trung ở|nhiều vị trí ở|rải rác)\s+|(?:nhiều |vài |các |một )?hạch\s+)+"
)
_SITE_STOP = re.compile(
    r"^(?:dính|xâm lấn|nghi ngờ|sát|gây|phá huỷ|hạch lớn nhất|lớn nhất|kích thước|đè đẩy|chèn ép|cạnh rãnh)\b"
)
_STATION = r"(?:\d{1,2}[rl]?|(?:i{1,3}|iv|v|vi)[ab]?)\b"
_STATION_LIST = re.compile(rf"^\s*(?:nhóm\b|{_STATION})")
_THUOC_NHOM = re.compile(rf"\s*\bthuộc nhóm\s+{_STATION}(?:\s*,\s*{_STATION})*")


def site_category(site_text: str) -> str | None:
    """Position category named by one site text, or None when it names no anatomy of its own.

    The keyword that starts earliest wins ("dưới màng phổi ở hạ phân thuỳ VI" is lung); bone and
    breast words win over everything so a rib lesion is never "phổi".
    """
    text = fold(site_text)
    if _POSITION_KEYWORDS[0][1].search(text):
        return OTHER
    best: tuple[int, int, str] | None = None
    for rank, (category, pattern) in enumerate(_POSITION_KEYWORDS[1:]):
        match = pattern.search(text)
        if match and (best is None or (match.start(), rank) < best[:2]):
            best = (match.start(), rank, category)
    return None if best is None else best[2]


def _strip_site(text: str) -> str:
    return _SITE_PREFIX.sub("", text.strip(" .:-")).strip(" .:-")


def split_sites(location: str) -> tuple[list[list[str]], str | None]:
    """The sites a location lists, grouped by the " và " group they came from, plus a head site.

    The head is the bare region word before a parenthesised site list ("Trung thất (...)"), which
    gives its category to sites that name no anatomy of their own.
    """
    text = fold(location)
    if not text or text == fold(ABSENT):
        return [], None
    text = _THUOC_NHOM.sub("", text)
    head: str | None = None
    while "(" in text:
        open_at = text.index("(")
        close_at = text.find(")", open_at)
        inner = text[open_at + 1 : close_at if close_at >= 0 else len(text)]
        after = text[close_at + 1 :] if close_at >= 0 else ""
        before = text[:open_at]
        if _STATION_LIST.match(inner) or not inner.strip():
            text = before + after
        elif not re.search(r"[,;]", before) and not after.strip(" .") and head is None:
            head, text = before.strip(), inner
        else:
            text = before + after
    groups: list[list[str]] = []
    for segment in re.split(r"[;,]", text):
        segment = segment.strip(" .:-")
        if not segment:
            continue
        if _SITE_STOP.match(segment):
            break
        parts = [_strip_site(p) for p in re.split(r"\s+và\s+", segment)]
        parts = [p for p in parts if p]
        if parts:
            groups.append(parts)
    return groups, head


def _distributed_category(parts: list[str], index: int) -> str | None:
    """Category of site `index` of a " và " group, completing a bare modifier from the next site.

    "thượng và hạ đòn" lists "thượng đòn" and "hạ đòn"; "trước và dưới carina" lists "trước
    carina" and "dưới carina": a part naming no anatomy borrows the words after the first word of
    the part that follows it.
    """
    own = site_category(parts[index])
    if own is not None or index + 1 >= len(parts):
        return own
    following = parts[index + 1].split(" ", 1)
    if len(following) < 2:
        return None
    return site_category(f"{parts[index]} {following[1]}")


def position_categories(lesion: Lesion | str, type_text: str | None = None) -> list[str]:
    """One position category per site the location lists (multi-site expansion), never empty.

    `lesion` may be a Lesion (its location and type are read) or a location string with an
    optional `type_text` used as the last fallback for sites naming no anatomy.
    """
    if isinstance(lesion, Lesion):
        location, type_text = lesion.location, lesion.type
    else:
        location = lesion
    groups, head = split_sites(location)
    fallback = site_category(head) if head else None
    if fallback is None and type_text:
        fallback = site_category(type_text)
    if not groups:
        return [fallback or OTHER]
    flat = [(g, _distributed_category(parts, i)) for g, parts in enumerate(groups) for i in range(len(parts))]
    resolved: list[str] = []
    for index, (group, own) in enumerate(flat):
        if own is not None:
            resolved.append(own)
            continue
        later_same_group = [c for g, c in flat[index + 1 :] if g == group and c is not None]
        later = [c for _, c in flat[index + 1 :] if c is not None]
        earlier = [c for _, c in flat[:index] if c is not None]
        chosen = (later_same_group or later or earlier[-1:] or [fallback or OTHER])[0]
        resolved.append(chosen)
    return resolved


# ---------------------------------------------------------------------------------------------
# FDG uptake
# ---------------------------------------------------------------------------------------------

_NO_UPTAKE = _compile([r"^không$", r"không tăng", r"không (?:có|thấy) tăng", r"chưa (?:thấy )?tăng", r"không hấp thu", r"không bắt xạ", r"âm tính", r"bình thường"])
_UPTAKE = _compile([r"tăng", r"\bcao\b", r"nhẹ", r"không đều", r"\bcó\b", r"hấp thu", r"bắt xạ", r"mạnh", r"\bít\b"])


def fdg_category_text(uptake_text: str, suv_max: float | None = None) -> str:
    """FDG category of an uptake wording, SUVmax deciding only when the wording says nothing."""
    text = fold(uptake_text)
    if text and text != fold(ABSENT):
        if _NO_UPTAKE.search(text):
            return "không tăng"
        if _UPTAKE.search(text):
            return "có tăng"
    return "có tăng" if suv_max is not None and suv_max > 0 else "không tăng"


def fdg_category(lesion: Lesion) -> str:
    """FDG category of a lesion (uptake wording, else whether an SUVmax was reported)."""
    return fdg_category_text(lesion.uptake, lesion.suv_max)


# ---------------------------------------------------------------------------------------------
# Judgement
# ---------------------------------------------------------------------------------------------

_JUDGEMENT_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("chưa loại trừ", _compile([r"chưa loại\s+trừ", r"phân biệt", r"không loại trừ"])),
    ("nguyên phát", _compile([r"(?<!không phải )(?:u|tổn thương(?: ác tính)?) nguyên phát", r"nguyên phát"])),
    ("di căn", _compile([r"di căn", r"metastas", r"\bdi\b"])),
    ("ác tính", _compile([r"(?<!không )ác tính"])),
    ("viêm", _compile([r"viêm"])),
    ("xơ hoá", _compile([r"xơ hoá"])),
    ("lành tính", _compile([r"lành"])),
    ("theo dõi", _compile([r"theo dõi", r"lưu ý", r"đối chiếu"])),
]


def judgement_category(lesion: Lesion | str) -> str:
    """Category of the stage/judgement field; the first rule that matches wins.

    "Chưa loại trừ ... di căn" (cannot exclude) is uncertain, not a call; "Khả năng ác tính tái
    phát" is malignant; "Khả năng u nguyên phát đáp ứng với điều trị" is primary.
    """
    text = fold(lesion if isinstance(lesion, str) else lesion.stage)
    if not text or text in (fold(ABSENT), "."):
        return OTHER
    for category, pattern in _JUDGEMENT_RULES:
        if pattern.search(text):
            return category
    return OTHER


def lesion_categories(lesion: Lesion) -> list[tuple[str, str, str]]:
    """(type, position, fdg) once per listed site: the units the clinical F1 counts and matches."""
    kind, uptake = type_category(lesion), fdg_category(lesion)
    return [(kind, position, uptake) for position in position_categories(lesion)]
