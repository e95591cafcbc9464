"""The grounding check: every lesion a report states with a location, a size or an SUVmax, looked up
in the image of that study.

For each sentence the report toolkit reads lesions from (`vipet.reports.sentences`), each lesion
that states increased uptake is compared with the hot spots of the study (`grounding_image`) in
the image region of its named site (the lexicon's site -> region map, the build's region slice
ranges): is there a hot spot there whose SUVmax, axial size and side agree with what is stated?

- supported: at least one hot spot in the named region agrees with every stated, checkable fact;
- contradicted: none does; the evidence is the closest hot spot (or "none in the region") and the
  facts it disagrees with, so a reader sees "stated SUVmax 18.0, the hottest spot on the left in
  the chest measures 9.0";
- not checkable: nothing is stated that the image can confirm here (no uptake stated, a
  non-avid lesion the PET cannot see, an unreadable location).

Tolerances, and why:
- SUVmax: relative `SUV_TOLERANCE` = 25%. A stated SUVmax is read on the scanner's native grid; the
  cache holds PET after area-averaging onto the whole grid (a hot voxel loses part of its peak to
  its neighbours, about 10-20% for a lesion near the resolution) and in float16 (0.05%), and readers
  round to one decimal. 25% keeps those apart from the errors that matter (half or twice the value).
- size: the half-maximum outline of a blurred lesion on its peak slice is counted in whole voxels,
  and a lesion below the scanner resolution spreads to about two voxels whatever its true size.
  A stated size S (its largest axial diameter) is contradicted when the measured extent e lies
  outside [SIZE_LOW * S - v, max(S, 2 v) * SIZE_HIGH + v], v the in-plane voxel size: 20% below
  allows the peak slice not to pass through the widest part (and a non-round lesion), 25% above
  allows blur; one voxel each way is the counting quantum.
- side: a hot spot closer than `MIDLINE_MM` (15 mm, about two PET voxels at 7.8 mm) to the body's
  midline has no side; sites on the midline (mediastinum, heart, bowel...) are not side-checked
  (their side words name a relation to the trachea or aorta, not the body half).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from vipet.reports.clauses import Mention
from vipet.reports.lexicon import Lexicon, load_lexicon
from vipet.reports.normalize import normalize_text
from vipet.reports.parse import parse_report
from vipet.reports.sections import IMPRESSION, SECTION_TO_REGION
from vipet.reports.segment import split_sentences
from vipet.reports.sentences import analyze_sentence
from vipet.schema import IMAGE_REGIONS, SECTION_KEYS
from vipet.trust.grounding_image import HotSpot, StudyImage
from vipet.trust.grounding_sites import in_site

SUPPORTED, CONTRADICTED, NOT_CHECKABLE = "supported", "contradicted", "not checkable"
STATUSES = (SUPPORTED, CONTRADICTED, NOT_CHECKABLE)
SUV_TOLERANCE = 0.25
SIZE_LOW, SIZE_HIGH = 0.8, 1.25
MIDLINE_MM = 15.0
# Sites whose side words do not name a body half (mediastinal stations, midline organs).
MIDLINE_GROUPS = frozenset({"trung thất", "thực quản", "tim", "dạ dày", "ruột", "bụng", "tụy",
                            "tiết niệu sinh dục", "túi mật"})
# Sites that may lie close to the midline although their side word names a body half (the liver's
# left lobe, thyroid lobes, tonsils, bones): a hot spot on the midline does not contradict their side.
NEAR_MIDLINE_GROUPS = frozenset({"gan", "tuyến giáp", "họng", "xương", "phần mềm"})
# A lesion-like hot spot stands out from its surroundings: peak at least twice the local median
# uptake. Noise maxima inside a hot organ (liver, heart, brain) sit within ~20% of it.
MIN_CONTRAST = 2.0
_SIDE_WORDS = {"phải": "right", "trái": "left"}
_BOTH_SIDES = re.compile(r"(?<!\w)(?:hai|2) (?:bên|phổi)(?!\w)")
_NO_MATCH = 1e9
_SUV_TEXT = re.compile(r"SUV\s*max\s*[:;=]?\s*\d+(?:[.,]\d+)?", re.IGNORECASE)


@dataclass
class Stated:
    """What one lesion mention states that the image can be asked about."""

    regions: tuple[str, ...]
    groups: tuple[str, ...]
    suv_max: float | None
    size_mm: float | None
    sides: frozenset[str]
    increased: bool | None
    location: str
    suv_text: str = ""
    size_text: str = ""

    def side_checked(self) -> bool:
        return bool(self.sides) and len(self.sides) == 1 and not (set(self.groups) & MIDLINE_GROUPS)


@dataclass
class Check:
    """One lesion mention against the image: status, the facts that failed, the evidence."""

    status: str
    stated: Stated
    failed: tuple[str, ...] = ()  # "suv_max" | "size" | "side" | "location"
    evidence: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        stated = self.stated
        return {"status": self.status, "failed": list(self.failed), "reason": self.reason,
                "stated": {"location": stated.location, "regions": list(stated.regions), "suv_max": stated.suv_max,
                           "size_mm": stated.size_mm, "side": sorted(stated.sides), "suv_text": stated.suv_text,
                           "size_text": stated.size_text},
                "evidence": self.evidence}


def stated_sides(location: str) -> frozenset[str]:
    """Body sides a location names: "phải" right, "trái" left, "hai bên" both."""
    low = location.lower()
    sides = {side for word, side in _SIDE_WORDS.items() if re.search(rf"(?<!\w){word}(?!\w)", low)}
    if _BOTH_SIDES.search(low):
        sides |= {"right", "left"}
    return frozenset(sides)


def stated_facts(mention: Mention, sentence: str) -> Stated:
    """The checkable facts of one mention (regions from its sites, else from its section)."""
    regions = tuple(dict.fromkeys(s.region for s in mention.sites))
    if not regions:
        region = SECTION_TO_REGION.get(mention.section)
        regions = (region,) if region else ()
    if any(r not in IMAGE_REGIONS for r in regions):  # bone, soft tissue: anywhere in the scan
        regions = IMAGE_REGIONS
    sizes = [max(dims) for dims in mention.sizes_mm if dims]
    suv_match = _SUV_TEXT.search(sentence) if mention.suv_max is not None else None
    return Stated(
        regions=regions, groups=tuple(dict.fromkeys(s.group for s in mention.sites)),
        suv_max=mention.suv_max, size_mm=float(max(sizes)) if sizes else None,
        sides=stated_sides(mention.location), increased=mention.increased, location=mention.location,
        suv_text=suv_match.group(0) if suv_match else "", size_text=_size_phrase(mention.size_text, sentence),
    )


def _size_phrase(size_text: str, sentence: str) -> str:
    """The part of the sentence that states the size ("16 x 13 mm"), for highlighting."""
    match = re.search(r"\d+(?:[.,]\d+)?(?:\s*[x×]\s*\d+(?:[.,]\d+)?)*\s*(?:mm|cm)", size_text)
    return match.group(0) if match and match.group(0) in sentence else ""


def size_band(size_mm: float, voxel_mm: float) -> tuple[float, float]:
    """[low, high] of the measured half-maximum extent that agrees with a stated size (module doc)."""
    return SIZE_LOW * size_mm - voxel_mm, max(size_mm, 2.0 * voxel_mm) * SIZE_HIGH + voxel_mm


def _disagreements(spot: HotSpot, stated: Stated, voxel_mm: float) -> tuple[list[str], float]:
    """The stated facts `spot` disagrees with, and how far off it is (for choosing the evidence)."""
    failed, cost = [], 0.0
    if stated.suv_max is not None and stated.suv_max > 0:
        ratio = spot.peak_suv / stated.suv_max
        if abs(ratio - 1.0) > SUV_TOLERANCE:
            failed.append("suv_max")
        cost += abs(math.log(max(ratio, 1e-6))) / math.log(1.0 + SUV_TOLERANCE)
    if stated.size_mm is not None:
        low, high = size_band(stated.size_mm, voxel_mm)
        extent = max(spot.extent_mm)
        if not low <= extent <= high:
            failed.append("size")
        cost += abs(math.log(max(extent, 1e-3) / max(stated.size_mm, 1e-3))) / math.log(2.0)
    if stated.side_checked() and spot.side is not None:
        lateral_only = not set(stated.groups) & NEAR_MIDLINE_GROUPS
        if (spot.side == "midline" and lateral_only) or spot.side not in (*stated.sides, "midline"):
            failed.append("side")
            cost += 1.0
    return failed, cost


def candidate_spots(image: StudyImage, stated: Stated) -> list[HotSpot]:
    """Lesion-like hot spots (contrast at least `MIN_CONTRAST`) in the image regions `stated` names and,
    for sites with a landmark band (`grounding_sites`), inside that band."""
    return [s for s in image.hot_spots() if set(s.regions) & set(stated.regions) and s.contrast >= MIN_CONTRAST
            and in_site(stated.groups, s.index[0], s.offset_mm, image.landmarks, image.spacing[0])]


def _unchecked(stated: Stated) -> Check | None:
    if stated.increased is not True:
        why = "no increased uptake stated" if stated.increased is None else "stated as not avid: PET cannot confirm it"
        return Check(NOT_CHECKABLE, stated, reason=why)
    if not stated.regions:
        return Check(NOT_CHECKABLE, stated, reason="no image region for the stated location")
    return None


def agreeing_spots(image: StudyImage, stated: Stated) -> list[tuple[float, int]]:
    """(cost, index into `image.hot_spots()`) of every candidate spot that agrees with all stated facts."""
    voxel = max(image.spacing[1:])
    index = {id(s): i for i, s in enumerate(image.hot_spots())}
    return sorted((cost, index[id(s)]) for s in candidate_spots(image, stated)
                  for failed, cost in [_disagreements(s, stated, voxel)] if not failed)


def check_mention(image: StudyImage, stated: Stated, chosen: int | None = None, taken: frozenset[int] = frozenset()) -> Check:
    """One lesion mention against the hot spots of the study (see the module docstring).

    `chosen` is the agreeing spot the whole-report assignment gave this mention; `taken` the spots
    other sentences of the report were given (one hot spot is one lesion: it cannot support two
    different lesion statements). Without them, any agreeing spot supports the mention.
    """
    unchecked = _unchecked(stated)
    if unchecked is not None:
        return unchecked
    spots = image.hot_spots()
    voxel = max(image.spacing[1:])
    candidates = candidate_spots(image, stated)
    where = "/".join(stated.regions)
    if not candidates:
        return Check(CONTRADICTED, stated, ("location",), {"hot_spots_in_region": 0},
                     f"no lesion-like hot spot in the {where} region")
    agreeing = [(cost, i) for cost, i in agreeing_spots(image, stated) if i not in taken]
    if chosen is not None or agreeing:
        spot = spots[chosen] if chosen is not None else spots[agreeing[0][1]]
        return Check(SUPPORTED, stated, (), _evidence(spot, len(candidates), stated, voxel),
                     f"agrees with a hot spot in the {where} region")
    judged = [(_disagreements(s, stated, voxel), s) for s in candidates]
    (failed, cost), spot = min(judged, key=lambda item: (len(item[0][0]) or 9, item[0][1]))
    if not failed:  # every agreeing spot is another sentence's lesion
        return Check(CONTRADICTED, stated, ("location",), _evidence(spot, len(candidates), stated, voxel),
                     f"the only hot spots in the {where} region that agree are lesions other sentences state")
    return Check(CONTRADICTED, stated, tuple(failed), _evidence(spot, len(candidates), stated, voxel),
                 f"no hot spot in the {where} region agrees; the closest differs in {', '.join(failed)}")


def _evidence(spot: HotSpot, n_spots: int, stated: Stated, voxel: float) -> dict[str, Any]:
    evidence = {"hot_spot": spot.to_json(), "hot_spots_in_region": n_spots}
    if stated.size_mm is not None:
        evidence["size_band_mm"] = [round(v, 1) for v in size_band(stated.size_mm, voxel)]
    return evidence


@dataclass
class SentenceCheck:
    """A sentence of a report and the checks of the lesions it states."""

    section: str
    text: str
    checks: list[Check]

    @property
    def status(self) -> str:
        statuses = {c.status for c in self.checks}
        if CONTRADICTED in statuses:
            return CONTRADICTED
        return SUPPORTED if SUPPORTED in statuses else NOT_CHECKABLE

    def contradicted_texts(self) -> list[tuple[str, str]]:
        """(phrase of the sentence, evidence line) for each contradicted number, for highlighting."""
        out = []
        for check in self.checks:
            if check.status != CONTRADICTED:
                continue
            line = evidence_line(check)
            for fact, text in (("suv_max", check.stated.suv_text), ("size", check.stated.size_text)):
                if fact in check.failed and text:
                    out.append((text, line))
            if not any(f in check.failed for f in ("suv_max", "size")) or not out:
                out.append((check.stated.location.split(" ")[-1] if "side" in check.failed else check.stated.location, line))
        return [(t, line) for t, line in out if t and t in self.text]

    def to_json(self) -> dict[str, Any]:
        return {"section": self.section, "text": self.text, "status": self.status,
                "lesions": [c.to_json() for c in self.checks]}


def evidence_line(check: Check) -> str:
    """One line a reader can check: what is stated and what the image measures."""
    spot = check.evidence.get("hot_spot")
    if spot is None:
        return check.reason
    bits = [f"measured SUVmax {spot['suv_max']:.1f}", f"size {spot['size_mm'][0]:.0f} x {spot['size_mm'][1]:.0f} mm",
            f"side {spot['side'] or 'unknown'}", f"at z/y/x {'/'.join(f'{v:.0f}' for v in spot['position_mm'])} mm"]
    return f"{check.reason}: " + ", ".join(bits)


def report_sentences(report_or_text: Any) -> list[tuple[str, str]]:
    """(section key, sentence) of a report (any form `parse_report` reads) in reading order, impression last."""
    report = parse_report(report_or_text)
    pairs = [(key, s) for key in SECTION_KEYS for s in split_sentences(report.sections.get(key, ""))]
    return pairs + [(IMPRESSION, s) for s in split_sentences(report.impression)]


def ground_sentence(image: StudyImage, section: str, sentence: str, order: int = 0,
                    lexicon: Lexicon | None = None) -> SentenceCheck | None:
    """The checks of one sentence; None when it states no lesion."""
    lex = lexicon or load_lexicon()
    sentence = normalize_text(sentence)  # one spelling (hóa/hoá, decimal comma), as the extractor expects
    mentions = analyze_sentence(sentence, section, order, lex).mentions
    if not mentions:
        return None
    return SentenceCheck(section, sentence, [check_mention(image, stated_facts(m, sentence)) for m in mentions])


def ground_report(image: StudyImage, text: Any, lexicon: Lexicon | None = None) -> list[SentenceCheck]:
    """Every lesion-stating sentence of `text` (plain text, ViMed JSON dict or `Report`), checked against `image`.

    The description sections state each lesion once, so their mentions are given hot spots one to
    one (a minimum-cost matching over the agreeing pairs, `scipy.optimize.linear_sum_assignment`):
    a hot spot another sentence describes cannot also support a wrong number elsewhere. The
    impression restates lesions, so its sentences may use any agreeing spot.
    """
    from scipy.optimize import linear_sum_assignment

    lex = lexicon or load_lexicon()
    sentences: list[tuple[str, str, list[Stated]]] = []
    for order, (section, sentence) in enumerate(report_sentences(text)):
        mentions = analyze_sentence(sentence, section, order, lex).mentions
        if mentions:
            sentences.append((section, sentence, [stated_facts(m, sentence) for m in mentions]))
    exclusive = [(i, j) for i, (section, _, facts) in enumerate(sentences) if section != IMPRESSION
                 for j, stated in enumerate(facts) if _unchecked(stated) is None]
    options = {pair: agreeing_spots(image, sentences[pair[0]][2][pair[1]]) for pair in exclusive}
    chosen: dict[tuple[int, int], int] = {}
    spot_ids = sorted({i for found in options.values() for _, i in found})
    if spot_ids:
        column = {spot: c for c, spot in enumerate(spot_ids)}
        cost = np.full((len(exclusive), len(spot_ids)), _NO_MATCH)
        for r, pair in enumerate(exclusive):
            for value, spot in options[pair]:
                cost[r, column[spot]] = value
        rows, cols = linear_sum_assignment(cost)
        chosen = {exclusive[r]: spot_ids[c] for r, c in zip(rows, cols) if cost[r, c] < _NO_MATCH}
    taken = frozenset(chosen.values())
    out = []
    for i, (section, sentence, facts) in enumerate(sentences):
        checks = []
        for j, stated in enumerate(facts):
            if section == IMPRESSION:
                checks.append(check_mention(image, stated))
            else:
                mine = chosen.get((i, j))
                checks.append(check_mention(image, stated, mine, taken - {mine} if mine is not None else taken))
        out.append(SentenceCheck(section, sentence, checks))
    return out


def summarize(sentences: Iterable[SentenceCheck]) -> dict[str, Any]:
    """Counts of sentences per status and of the contradicted facts."""
    counts = {status: 0 for status in STATUSES}
    failed: dict[str, int] = {}
    for sentence in sentences:
        counts[sentence.status] += 1
        for check in sentence.checks:
            for fact in check.failed:
                failed[fact] = failed.get(fact, 0) + 1
    total = sum(counts.values())
    checkable = counts[SUPPORTED] + counts[CONTRADICTED]
    return {"sentences": total, **counts, "contradicted_facts": dict(sorted(failed.items())),
            "contradicted_share_of_checkable": round(counts[CONTRADICTED] / checkable, 4) if checkable else None}


def ground_predictions(predictions: str | Path, build: str | Path, *, task: str = "report", progress: bool = False,
                       images: dict[str, StudyImage | str] | None = None) -> dict[str, Any]:
    """Ground every report prediction of a predictions JSONL against its study in the build.

    One record per sample (model, id, study, sentences); a study whose image cannot be read (not in
    the build, PET not in SUV) is listed under `skipped` with the reason, never aborting the rest.
    `images` caches the studies read (and their hot spots) across calls on the same build.
    """
    from vipet.errors import VipetError
    from vipet.eval.io import load_predictions
    from vipet.progress import progress_bar
    from vipet.trust.grounding_image import load_study_image

    records = [r for r in load_predictions(Path(predictions)) if r.task == task]
    lex = load_lexicon()
    images = {} if images is None else images
    samples, skipped, every = [], [], []
    with progress_bar("ground", len(records), enabled=progress) as advance:
        for record in records:
            key = record.cluster
            if key not in images:
                try:
                    images[key] = load_study_image(build, key).without_arrays()
                except VipetError as exc:
                    images[key] = str(exc)
            image = images[key]
            if isinstance(image, str):
                skipped.append({"id": record.id, "study": key, "reason": image})
            else:
                checked = ground_report(image, record.prediction, lex)
                every.extend(checked)
                samples.append({"id": record.id, "study": key, "model": record.model,
                                "orientation": image.orientation_source, "summary": summarize(checked),
                                "sentences": [s.to_json() for s in checked],
                                # (sentence, phrase, evidence) per contradicted number, for highlighting
                                "contradicted": [[s.text, phrase, line] for s in checked
                                                 for phrase, line in s.contradicted_texts()]})
            advance()
    # File names, not paths: the bench keys its report step on this content, and a copied run
    # folder must not look changed.
    return {"predictions": Path(predictions).name, "build": Path(build).name, "summary": summarize(every),
            "samples": samples, "skipped": skipped}
