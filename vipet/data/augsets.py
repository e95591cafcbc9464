"""The paper's augmentation sets, from a build: comparison pairs, LLM paraphrases, VQA, augmented images.

`vipet augment BUILD OUT --sets comparison,paraphrase,vqa,image` writes one folder per set,
`OUT/<set>/`, holding the set as a Hugging Face dataset (`hf/`, `datasets.Dataset.save_to_disk`)
and as LLaVA JSON (`llava.json`: id, image (a path or a list of paths, relative to the build, or
to OUT for augmented arrays), human/gpt conversations), plus `set.json` (its settings and counts).

- comparison: pairs of studies, every pair of consecutive visits of one person (the build's
  `person_id`, which the leakage check links by id, sex, height and weight; ordered by date) and
  seeded pairs of different persons; the question asks what changed, the answer is built from
  the lesions the offline extractor reads in both reports (kept, new, no longer seen, SUVmax change).
- paraphrase: each report rewritten by an OpenAI-compatible endpoint (`vipet.reports.paraphrase`),
  kept only when the rewrite states the same lesions (`paraphrase_checked`); a run is resumable
  item by item (`paraphrase.partial.jsonl`), and an endpoint error drops that item, never the set.
- vqa: the question/answer pairs `vipet.data.tasks.qa_pairs` makes for each sample.
- image: `copies` augmented copies of each sample volume (`vipet.data.augment`: crop, affine, noise,
  intensity, left/right mirror with the text's sides swapped), saved as `.npy` under the set.

Everything is a function of (build, settings, seed): the same call writes the same records. A set
is written in a temporary folder and renamed into place when complete, so a killed run leaves no
half set, and a rerun skips a set whose `set.json` holds the same settings.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from vipet.errors import BuildError, VipetError
from vipet.fsutil import atomic_dir, atomic_write_json, inside, safe_name
from vipet.schema import WHOLE

SETS: tuple[str, ...] = ("comparison", "paraphrase", "vqa", "image")
SET_INFO = "set.json"
LLAVA_FILE = "llava.json"
HF_DIR = "hf"
PARTIAL = "paraphrase.partial.jsonl"
AUGSETS_VERSION = 1
COMPARE_SAME_PERSON = ("<image>\n<image>\nĐây là hai lần chụp PET/CT của cùng một người bệnh ({first} và {second}). "
                       "Hãy so sánh hai lần chụp và nêu các thay đổi.")
COMPARE_TWO_STUDIES = ("<image>\n<image>\nĐây là hai phim PET/CT ({first} và {second}). "
                       "Hãy so sánh hai phim và nêu các khác biệt.")


@dataclass(frozen=True)
class ParaphraseSettings:
    """Where the paraphrase set's rewrites come from: an OpenAI-compatible endpoint, the model, and
    the environment variable holding the key (never the key itself, so a config can be shared)."""

    endpoint: str
    model: str
    api_key_env: str | None = None
    timeout_s: float = 60.0
    temperature: float = 0.7

    @classmethod
    def from_mapping(cls, values: dict[str, Any], path: str | Path | None = None) -> "ParaphraseSettings":
        from vipet.typed_config import from_mapping

        return from_mapping(cls, values, path, error=BuildError)

    def paraphraser(self):
        import os

        from vipet.reports.paraphrase import LLMParaphraser

        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if self.api_key_env and not key:
            raise BuildError(f"paraphrase: environment variable {self.api_key_env} (api_key_env) is not set")
        return LLMParaphraser(base_url=self.endpoint, model=self.model, api_key=key, timeout_s=self.timeout_s,
                              temperature=self.temperature)


@dataclass(frozen=True)
class AugmentSetsConfig:
    """The settings a set depends on (its `set.json` keys a rerun)."""

    seed: int = 0
    split: str = "train"
    regions: tuple[str, ...] = (WHOLE,)
    max_pairs: int = 200  # different-person comparison pairs (every same-person pair is kept)
    copies: int = 1  # augmented copies per sample in the image set
    paraphrase: ParaphraseSettings | None = None
    max_paraphrases: int | None = None


@dataclass
class SetResult:
    name: str
    records: int
    skipped: list[dict[str, Any]] = field(default_factory=list)
    cached: bool = False


def _rows(build: Path, config: AugmentSetsConfig, regions: Iterable[str] | None = None) -> list[dict[str, Any]]:
    from vipet.data.manifest import read_manifest

    wanted = set(regions if regions is not None else config.regions)
    rows = [r for r in read_manifest(build) if r["split"] == config.split and r["region"] in wanted
            and (r["report_text"] or "").strip()]
    return sorted(rows, key=lambda r: r["sample_id"])


def _llava(record_id: str, image: str | list[str], question: str, answer: str) -> dict[str, Any]:
    question = question if question.startswith("<image>") else f"<image>\n{question}"
    return {"id": record_id, "image": image,
            "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]}


# --- comparison -----------------------------------------------------------------------------------
def _date(row: dict[str, Any]) -> str:
    if row.get("year") and row.get("month") and row.get("day"):
        return f"{int(row['day']):02d}/{int(row['month']):02d}/{int(row['year'])}"
    return row["study_key"]


def _date_key(row: dict[str, Any]) -> tuple[int, int, int, str]:
    return (int(row.get("year") or 0), int(row.get("month") or 0), int(row.get("day") or 0), row["study_key"])


def study_pairs(rows: list[dict[str, Any]], max_pairs: int, seed: int) -> list[tuple[dict[str, Any], dict[str, Any], bool]]:
    """(earlier, later, same person) pairs: consecutive visits of each person, then up to `max_pairs`
    seeded pairs of studies of different persons (each unordered pair once)."""
    by_person: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_person.setdefault(row["person_id"] or row["study_key"], []).append(row)
    pairs = []
    for person in sorted(by_person):
        visits = sorted(by_person[person], key=_date_key)
        pairs += [(a, b, True) for a, b in zip(visits, visits[1:])]
    ordered = sorted(rows, key=_date_key)
    candidates = [(i, j) for i in range(len(ordered)) for j in range(i + 1, len(ordered))
                  if (ordered[i]["person_id"] or ordered[i]["study_key"]) != (ordered[j]["person_id"] or ordered[j]["study_key"])]
    if candidates and max_pairs > 0:
        rng = np.random.default_rng([int(seed), 1])
        picked = rng.choice(len(candidates), size=min(max_pairs, len(candidates)), replace=False)
        pairs += [(ordered[candidates[k][0]], ordered[candidates[k][1]], False) for k in sorted(int(p) for p in picked)]
    return pairs


def _suv(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


def _describe(lesion: Any) -> str:
    parts = [f"{lesion.type} ở {lesion.location}"]
    if lesion.size and lesion.size != "Không có":
        parts.append(lesion.size)
    if lesion.suv_max is not None:
        parts.append(f"SUVmax {_suv(lesion.suv_max)}")
    return ", ".join(parts)


def comparison_answer(first_text: str, second_text: str, first_label: str, second_label: str) -> str:
    """What changed between two reports, from the lesions the offline extractor reads in each."""
    from vipet.reports.extract import extract_lesions

    first, second = extract_lesions(first_text, scope="all"), extract_lesions(second_text, scope="all")

    def listing(label: str, lesions: list) -> str:
        if not lesions:
            return f"{label}: không phát hiện tổn thương bất thường."
        return f"{label}: " + "; ".join(_describe(x) for x in lesions) + "."

    parts = [listing(first_label, first), listing(second_label, second)]
    if not first and not second:
        parts.append("So sánh: cả hai phim không phát hiện tổn thương bất thường.")
        return " ".join(parts)
    remaining = list(second)
    changes = []
    for lesion in first:
        match = next((x for x in remaining if (x.type, x.location) == (lesion.type, lesion.location)), None)
        if match is None:
            changes.append(f"không còn thấy {_describe(lesion)}")
            continue
        remaining.remove(match)
        if lesion.suv_max is not None and match.suv_max is not None and lesion.suv_max != match.suv_max:
            trend = "tăng từ {} lên {}" if match.suv_max > lesion.suv_max else "giảm từ {} xuống {}"
            changes.append(f"{lesion.type} ở {lesion.location}: SUVmax "
                           + trend.format(_suv(lesion.suv_max), _suv(match.suv_max)))
        else:
            changes.append(f"{lesion.type} ở {lesion.location}: không thay đổi")
    changes += [f"tổn thương mới: {_describe(x)}" for x in remaining]
    parts.append("So sánh: " + "; ".join(changes) + ".")
    return " ".join(parts)


def comparison_records(build: Path, config: AugmentSetsConfig, out: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = _rows(build, config)
    records = []
    for region in config.regions:
        region_rows = [r for r in rows if r["region"] == region]
        for a, b, same in study_pairs(region_rows, config.max_pairs, config.seed):
            labels = (f"Phim 1 ({_date(a)})", f"Phim 2 ({_date(b)})")
            template = COMPARE_SAME_PERSON if same else COMPARE_TWO_STUDIES
            records.append({
                "id": f"{a['sample_id']}|{b['sample_id']}", "images": [a["image_path"], b["image_path"]],
                "question": template.format(first=_date(a), second=_date(b)),
                "answer": comparison_answer(a["report_text"], b["report_text"], *labels),
                "region": region, "study_keys": [a["study_key"], b["study_key"]], "same_person": same,
            })
    return records, []


# --- paraphrase -------------------------------------------------------------------------------------
def paraphrase_records(build: Path, config: AugmentSetsConfig, out: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Checked paraphrases; responses already obtained (`OUT/paraphrase.partial.jsonl`) are reused."""
    from vipet.data.tasks import report_prompt
    from vipet.reports.paraphrase import paraphrase_checked

    if config.paraphrase is None:
        raise BuildError("the paraphrase set needs an endpoint: pass --paraphrase-config FILE "
                         "(endpoint, model, api_key_env)")
    paraphraser = config.paraphrase.paraphraser()
    rows = _rows(build, config)[: config.max_paraphrases]
    partial = inside(out, PARTIAL)
    done: dict[str, dict[str, Any]] = {}
    if partial.is_file():
        for line in partial.read_text(encoding="utf-8").splitlines():
            try:
                item = json.loads(line)
                done[item["id"]] = item
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line cut by a kill: that item is asked again
    records, skipped = [], []
    with partial.open("a", encoding="utf-8") as log:
        for row in rows:
            item = done.get(row["sample_id"])
            if item is None:
                try:
                    rewritten = paraphrase_checked(row["report_text"], paraphraser)
                    item = {"id": row["sample_id"], "paraphrase": rewritten, "reason": None if rewritten else
                            "the rewrite does not state the same lesions"}
                except VipetError as exc:  # transport or protocol: this item is dropped and asked again next run
                    skipped.append({"id": row["sample_id"], "reason": str(exc)})
                    continue
                log.write(json.dumps(item, ensure_ascii=False) + "\n")
                log.flush()
            if item["paraphrase"] is None:
                skipped.append({"id": row["sample_id"], "reason": item["reason"]})
                continue
            records.append({"id": f"{row['sample_id']}:paraphrase", "images": [row["image_path"]],
                            "question": report_prompt(row["region"]), "answer": item["paraphrase"],
                            "region": row["region"], "study_keys": [row["study_key"]], "original": row["report_text"]})
    return records, skipped


# --- vqa --------------------------------------------------------------------------------------------
def vqa_records(build: Path, config: AugmentSetsConfig, out: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from vipet.data.manifest import read_manifest
    from vipet.data.tasks import qa_pairs

    full = {r["study_key"]: r["report_text"] for r in read_manifest(build) if r["region"] == WHOLE}
    records = []
    for row in _rows(build, config):
        for i, pair in enumerate(qa_pairs(full.get(row["study_key"], row["report_text"]), row["region"])):
            records.append({"id": f"{row['sample_id']}:q{i}", "images": [row["image_path"]],
                            "question": pair["question"], "answer": pair["answer"], "region": row["region"],
                            "study_keys": [row["study_key"]], "type": pair.get("type"), "closed": pair.get("closed")})
    return records, []


# --- image ------------------------------------------------------------------------------------------
def image_records(build: Path, config: AugmentSetsConfig, out: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Augmented copies written into `out` (the set's temporary folder, renamed when complete)."""
    from vipet.data.augment import AugmentConfig, augment, rng_for
    from vipet.data.cache import open_array
    from vipet.data.tasks import report_prompt
    from vipet.fsutil import atomic_write_bytes

    records, skipped = [], []
    augment_config = AugmentConfig()
    for index, row in enumerate(_rows(build, config)):
        try:
            volume = np.asarray(open_array(build / row["image_path"]), dtype=np.float32)
        except VipetError as exc:
            skipped.append({"id": row["sample_id"], "reason": str(exc)})
            continue
        for copy in range(config.copies):
            image, texts, applied = augment(volume, [row["report_text"]], rng_for(config.seed, copy, index), augment_config)
            relative = f"arrays/{safe_name(row['sample_id'].replace(':', '_'))}_{copy}.npy"
            buffer = io.BytesIO()
            np.save(buffer, image.astype(np.float16), allow_pickle=False)
            atomic_write_bytes(out / relative, buffer.getvalue(), root=out)
            records.append({"id": f"{row['sample_id']}:aug{copy}", "images": [f"image/{relative}"],
                            "question": report_prompt(row["region"]), "answer": texts[0], "region": row["region"],
                            "study_keys": [row["study_key"]], "applied": json.dumps(applied, sort_keys=True, default=str)})
    return records, skipped


MAKERS: dict[str, Callable[[Path, AugmentSetsConfig, Path], tuple[list[dict[str, Any]], list[dict[str, Any]]]]] = {
    "comparison": comparison_records, "paraphrase": paraphrase_records, "vqa": vqa_records, "image": image_records,
}


def _settings(name: str, config: AugmentSetsConfig, manifest_sha: str) -> dict[str, Any]:
    values = asdict(config)
    values["regions"] = list(config.regions)
    if name != "paraphrase":
        values.pop("paraphrase"), values.pop("max_paraphrases")
    if name != "comparison":
        values.pop("max_pairs")
    if name != "image":
        values.pop("copies")
    return {"set": name, "version": AUGSETS_VERSION, "manifest_sha256": manifest_sha, **values}


def _save_hf(records: list[dict[str, Any]], folder: Path, fingerprint: str) -> None:
    import datasets
    import pyarrow as pa

    columns = sorted({k for r in records for k in r})
    table = pa.Table.from_pylist([{k: r.get(k) for k in columns} for r in records]) if records else pa.table(
        {"id": pa.array([], pa.string())})
    quiet = datasets.utils.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # the set's own log line says what was written
    try:
        datasets.Dataset(datasets.table.InMemoryTable(table), fingerprint=fingerprint).save_to_disk(str(folder))
    finally:
        if not quiet:
            datasets.enable_progress_bars()


def write_set(name: str, build: str | Path, out: str | Path, config: AugmentSetsConfig) -> SetResult:
    """Write set `name` into `out/<name>/` (skipped when its `set.json` has the same settings)."""
    from vipet.hashing import sha256_file, sha256_json

    if name not in MAKERS:
        raise BuildError(f"unknown augmentation set {name!r}; known: {', '.join(SETS)}")
    build, out = Path(build), Path(out)
    manifest = build / "manifest.parquet"
    if not manifest.is_file():
        raise BuildError("not a build folder (no manifest.parquet); run `vipet build DATA OUT` first", build)
    settings = _settings(name, config, sha256_file(manifest))
    target = inside(out, name)
    info_path = target / SET_INFO
    if info_path.is_file():
        try:
            previous = json.loads(info_path.read_text(encoding="utf-8"))
            if previous.get("settings") == settings:
                return SetResult(name, int(previous.get("records", 0)), previous.get("skipped", []), cached=True)
        except (OSError, json.JSONDecodeError):
            pass  # unreadable: written again
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(f".{name}.*.tmp"):  # left by a killed run (atomic_dir's temporary names)
        if stale.is_dir():
            shutil.rmtree(inside(out, stale.name))
    with atomic_dir(target, root=out) as folder:
        records, skipped = MAKERS[name](build, config, folder if name == "image" else out)
        llava = [_llava(r["id"], r["images"][0] if len(r["images"]) == 1 else r["images"], r["question"], r["answer"])
                 for r in records]
        atomic_write_json(folder / LLAVA_FILE, llava, root=folder)
        fingerprint = hashlib.sha256(sha256_json(records).encode()).hexdigest()[:16]
        _save_hf(records, folder / HF_DIR, fingerprint)
        atomic_write_json(folder / SET_INFO, {"settings": settings, "records": len(records), "skipped": skipped,
                                              "image_paths_relative_to": "OUT" if name == "image" else "BUILD"},
                          root=folder)
    if name == "paraphrase" and not skipped:
        (out / PARTIAL).unlink(missing_ok=True)  # complete: every answer is in the set
    return SetResult(name, len(records), skipped)


def write_sets(build: str | Path, out: str | Path, sets: Iterable[str], config: AugmentSetsConfig,
               log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every set in `sets` (in that order); one set's failure is reported and the others still run.
    Returns (and writes to `out/augment.json`) the per-set counts."""
    names = list(dict.fromkeys(sets))
    unknown = [n for n in names if n not in SETS]
    if unknown or not names:
        raise BuildError(f"unknown augmentation set(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
                         f"known: {', '.join(SETS)}")
    summary: dict[str, Any] = {"seed": config.seed, "split": config.split, "regions": list(config.regions), "sets": {}}
    for name in names:
        try:
            result = write_set(name, build, out, config)
            summary["sets"][name] = {"records": result.records, "skipped": len(result.skipped), "cached": result.cached}
            if log:
                log(f"{name}: {result.records} records" + (" (cached)" if result.cached else "")
                    + (f", {len(result.skipped)} skipped" if result.skipped else ""))
        except VipetError as exc:
            summary["sets"][name] = {"error": str(exc)}
            if log:
                log(f"{name}: failed ({exc})")
    stable = {**summary, "sets": {k: {kk: vv for kk, vv in v.items() if kk != "cached"} for k, v in summary["sets"].items()}}
    atomic_write_json(Path(out) / "augment.json", stable)  # the same bytes whether a set was cached or not
    return summary
