"""Clinical errors and harmless rewrites injected into a report text, for the metric report card.

Every injector takes a report text and a seed and returns the changed text, or None when the report
offers nothing to change that way (no side word, no SUVmax...). An error changes ONE thoracic
lesion (a finding the thorax-scope extractor reads, `vipet.reports.extract`) in every sentence that
states it, description and impression alike, so the report stays self-consistent: a reader sees a
different lesion, not a contradiction. Lesions stated in a sentence shared with another lesion are
never targets (an edit there could touch the wrong one).

Errors:
- negation_flip: its uptake polarity ("tăng chuyển hóa" <-> "không tăng chuyển hóa");
- side_swap: phải <-> trái in its sentences (`vipet.reports.sides`);
- suv_change: each stated SUVmax doubled;
- size_change: each stated size in mm doubled;
- lesion_omitted: its sentences removed;
- lesion_hallucinated: a sentence stating a thoracic lesion of a type the report does not have;
- location_moved: its location replaced by one in another position category (lung <-> mediastinum);
- judgement_flipped: its judgement made the opposite (malignant <-> benign).
Harmless rewrites (the facts stay; `vipet.reports.augment` checks they read back the same):
- sentence_order: findings sentences shuffled within their section;
- synonyms: lexicon synonyms swapped ("hai bên" <-> "2 bên");
- number_format: decimal comma <-> decimal point (8,5 <-> 8.5).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from vipet.reports.augment import augment_report
from vipet.reports.categories import lesion_categories
from vipet.reports.extract import Finding, analyze_report
from vipet.reports.lexicon import load_lexicon
from vipet.reports.segment import split_sentences
from vipet.reports.sides import swap_left_right

ERRORS: tuple[str, ...] = (
    "negation_flip", "side_swap", "suv_change", "size_change", "lesion_omitted", "lesion_hallucinated",
    "location_moved", "judgement_flipped",
)
HARMLESS: tuple[str, ...] = ("sentence_order", "synonyms", "number_format")
KINDS: tuple[str, ...] = ERRORS + HARMLESS

_POLARITY = re.compile(r"(?P<neg>không\s+)?tăng(?:\s+nhẹ)?\s+(?P<noun>chuyển\s+h(?:óa|oá))", re.IGNORECASE)
_SUV = re.compile(r"(SUVmax\s*[:;]?\s*)(\d+(?:[.,]\d+)?)")
_MM = re.compile(r"\d+(?:[.,]\d+)?(?=(?:\s*x\s*\d+(?:[.,]\d+)?)*\s*mm\b)")
_DECIMAL = re.compile(r"(?<=\d)([.,])(?=\d)")
_MALIGNANT = ("nguyên phát", "ác tính", "di căn", "chưa loại trừ", "đã điều trị")
# A replacement location per position category: another category, same wording style.
_MOVED_TO = {"phổi": "dưới carina", "trung thất": "thùy dưới phổi phải", "cổ": "dưới carina"}
_DEFAULT_MOVE = "thùy trên phổi trái"
# Hallucinated lesions: (type category, sentence). Numbers fixed so the card is reproducible.
_HALLUCINATIONS: tuple[tuple[str, str], ...] = (
    ("nốt mờ", "Hình ảnh nốt mờ có đường kính 8 mm ở thùy dưới phổi trái, tăng chuyển hóa FDG (SUVmax: 4,2)."),
    ("hạch", "Hình ảnh hạch dưới carina, kích thước 14 x 12 mm, tăng chuyển hóa FDG (SUVmax: 6,1)."),
    ("tràn dịch", "Hình ảnh tràn dịch màng phổi phải, lớp dịch dày 12 mm, không tăng chuyển hóa FDG."),
    ("khối mờ", "Hình ảnh khối mờ bờ tua gai, kích thước 32 x 28 mm, tăng chuyển hóa FDG (SUVmax: 9,4) ở thùy trên phổi phải."),
)


@dataclass(frozen=True)
class Target:
    """A thoracic finding whose every mention is a whole sentence of the text, stating it alone."""

    finding: Finding
    sentences: tuple[str, ...]


def targets(text: str) -> list[Target]:
    """The lesions an error may be injected into, in report order."""
    findings = analyze_report(text).findings
    per_sentence = Counter(m.text for f in findings for m in f.mentions)
    whole = {s.strip().rstrip(".") for s in split_sentences(text)}
    found = []
    for finding in findings:
        sentences = tuple(dict.fromkeys(m.text for m in finding.mentions))
        if finding.in_thorax() and all(per_sentence[s] == 1 and s in text and s.strip().rstrip(".") in whole
                                       for s in sentences):
            found.append(Target(finding, sentences))
    return found


def _edit_target(text: str, rng: random.Random, edit: Callable[[Target, str], str | None]) -> str | None:
    """Apply `edit` to every sentence of one random target that `edit` accepts; None when none does."""
    candidates = []
    for target in targets(text):
        edited = {s: edit(target, s) for s in target.sentences}
        if any(new is not None and new != old for old, new in edited.items()):
            candidates.append(edited)
    if not candidates:
        return None
    out = text
    for old, new in rng.choice(candidates).items():
        if new is not None and new != old:
            out = out.replace(old, new, 1)
    return out


def _flip_polarity(target: Target, sentence: str) -> str | None:
    match = _POLARITY.search(sentence)
    if match is None:
        return None
    flipped = ("tăng " if match.group("neg") else "không tăng ") + match.group("noun")
    if match.group(0)[:1].isupper():
        flipped = flipped[:1].upper() + flipped[1:]
    return sentence[: match.start()] + flipped + sentence[match.end() :]


def _scale_number(text: str, factor: float) -> str:
    """A number of the text scaled, written with its own decimal separator (a comma by default)."""
    separator = "," if "," in text else ("." if "." in text else None)
    value = float(text.replace(",", ".")) * factor
    if separator is None and value == int(value):
        return str(int(value))
    return f"{value:.1f}".replace(".", separator or ",")


def _double_suv(target: Target, sentence: str) -> str | None:
    if not _SUV.search(sentence):
        return None
    return _SUV.sub(lambda m: m.group(1) + _scale_number(m.group(2), 2.0), sentence)


def _double_size(target: Target, sentence: str) -> str | None:
    if not _MM.search(sentence):
        return None
    return _MM.sub(lambda m: _scale_number(m.group(0), 2.0), sentence)


def _swap_side(target: Target, sentence: str) -> str | None:
    swapped = swap_left_right(sentence)
    return swapped if swapped != sentence else None


def _move(target: Target, sentence: str) -> str | None:
    location = target.finding.location
    if not location or location not in sentence:
        return None
    category = lesion_categories(target.finding.to_lesion())[0][1]
    return sentence.replace(location, _MOVED_TO.get(category, _DEFAULT_MOVE), 1)


def _flip_judgement(target: Target, sentence: str) -> str | None:
    lex = load_lexicon()
    found = lex.judgement(sentence.lower())
    if found is None:
        return None
    label = found.value.lower()
    opposite = "khả năng lành tính" if any(word in label for word in _MALIGNANT) else "nhiều khả năng ác tính"
    return sentence[: found.start] + opposite + sentence[found.end :]


def _omit(text: str, rng: random.Random) -> str | None:
    found = targets(text)
    if not found:
        return None
    out = text
    for sentence in rng.choice(found).sentences:
        out = re.sub(r"\s*" + re.escape(sentence), "", out, count=1)
    return out.strip()


def _hallucinate(text: str, rng: random.Random) -> str | None:
    found = targets(text)
    if not found:
        return None
    present = {unit[0] for f in analyze_report(text).findings if f.in_thorax() for unit in lesion_categories(f.to_lesion())}
    options = [sentence for category, sentence in _HALLUCINATIONS if category not in present]
    if not options:
        return None
    anchor = found[0].sentences[0]
    return text.replace(anchor, anchor + " " + rng.choice(options), 1)


def _augmented(operation: str) -> Callable[[str, random.Random], str | None]:
    def rewrite(text: str, rng: random.Random) -> str | None:
        out = augment_report(text, seed=rng.randrange(2**31), operations=(operation,), rate=1.0)
        return out if out != text else None

    return rewrite


def _number_format(text: str, rng: random.Random) -> str | None:
    out = _DECIMAL.sub(lambda m: "." if m.group(1) == "," else ",", text)
    return out if out != text else None


_INJECTORS: dict[str, Callable[[str, random.Random], str | None]] = {
    "negation_flip": lambda t, r: _edit_target(t, r, _flip_polarity),
    "side_swap": lambda t, r: _edit_target(t, r, _swap_side),
    "suv_change": lambda t, r: _edit_target(t, r, _double_suv),
    "size_change": lambda t, r: _edit_target(t, r, _double_size),
    "lesion_omitted": _omit,
    "lesion_hallucinated": _hallucinate,
    "location_moved": lambda t, r: _edit_target(t, r, _move),
    "judgement_flipped": lambda t, r: _edit_target(t, r, _flip_judgement),
    "sentence_order": _augmented("reorder"),
    "synonyms": _augmented("synonym"),
    "number_format": _number_format,
}


def inject(text: str, kind: str, seed: int = 0) -> str | None:
    """`text` with one injection of `kind` (module docstring), or None when it cannot be applied."""
    if kind not in _INJECTORS:
        raise ValueError(f"unknown injection {kind!r}; expected one of {', '.join(KINDS)}")
    return _INJECTORS[kind](text, random.Random(seed))
