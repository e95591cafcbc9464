"""The metric report card: which injected clinical error each metric sees, and what harmless rewrites cost.

For every reference report of a set (the real reports of ../shared/data/real, synthetic ones from
`vipet.synth`) and every injection kind of `vipet.trust.injection`, the injected report is scored
against the original by every metric, with the same code `vipet evaluate` runs:
- language metrics of the `default` profile (BLEU-4, ROUGE-L, METEOR, CIDEr-D, chrF) and, given an
  embedder, the BERTScore-style embedding F1 (`vipet.eval.nlg.nlg_blocks`);
- clinical F1-T/TP/TF/TPF (`vipet.eval.clinical`) and CRG-T/CRG-TPF (`vipet.eval.crg`) on the
  thorax-scope lesions the extractor reads from both texts (the `--clinical` reference without
  an expert folder).

Per (metric, kind):
- delta: corpus score of the injected reports minus the corpus score of the unchanged reports
  scored against themselves, both over the reports the injection applied to (points, x100 scale);
- detected: the share of injected reports whose own score is lower than the unchanged report's
  (by more than 1e-9). For an error this is the detection rate; for a harmless rewrite it is the
  false-alarm rate (a rewrite that keeps every fact should not lower the score).
Reports without a thoracic finding the injectors can target are skipped (their clinical scores are
undefined), so every kind is measured on the same kind of report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from vipet.eval.base import MetricBlock
from vipet.eval.clinical import CLINICAL_METRICS, clinical_f1
from vipet.eval.crg import crg_block
from vipet.eval.embedding import TokenEmbedder
from vipet.eval.nlg import nlg_blocks
from vipet.eval.profiles import get_profile
from vipet.reports.extract import extract_lesions
from vipet.schema import Lesion
from vipet.trust.injection import ERRORS, HARMLESS, KINDS, inject, targets

NLG_METRICS: dict[str, str] = {
    "BLEU-4": "bleu_4", "ROUGE-L": "rouge_l", "METEOR": "meteor", "CIDEr-D": "cider_d", "chrF": "chrf",
    "embedding": "embedding_f1",
}
CLINICAL_ROWS: tuple[str, ...] = tuple(CLINICAL_METRICS)
CRG_ROWS: tuple[str, ...] = ("CRG-T", "CRG-TPF")
EPSILON = 1e-9
HARMLESS_TOLERANCE = 1.0  # points of clinical F1 a harmless rewrite may move


@dataclass
class Cell:
    """One metric under one injection kind: per-sample scores of the unchanged and injected reports."""

    base: list[float] = field(default_factory=list)
    injected: list[float] = field(default_factory=list)
    base_corpus: float = 0.0
    injected_corpus: float = 0.0

    @property
    def n(self) -> int:
        return len(self.injected)

    @property
    def delta(self) -> float:
        return self.injected_corpus - self.base_corpus

    @property
    def detected(self) -> float:
        if not self.injected:
            return float("nan")
        return sum(i < b - EPSILON for b, i in zip(self.base, self.injected)) / len(self.injected)


def _block_rows(block: MetricBlock, index: int, rows: np.ndarray) -> list[float]:
    return [float(np.atleast_1d(block.reduce(row))[index]) for row in rows]


def _nlg_cells(refs: list[str], cands: list[str], embedder: TokenEmbedder | None) -> dict[str, Cell]:
    """The unchanged and the injected reports scored in two calls, each exactly as `vipet evaluate` would
    (CIDEr-D's document frequencies come from the same references in both)."""
    profile = get_profile("default")
    base_blocks = nlg_blocks(refs, [[r] for r in refs], profile, embedder)
    injected_blocks = nlg_blocks(cands, [[r] for r in refs], profile, embedder)
    cells = {}
    for title, name in NLG_METRICS.items():
        for base, injected in zip(base_blocks, injected_blocks):
            if name in base.names:
                i = base.names.index(name)
                cells[title] = Cell(
                    _block_rows(base, i, base.stats), _block_rows(injected, i, injected.stats),
                    base.value()[name], injected.value()[name],
                )
    return cells


def _f1(correct: int, n_pred: int, n_ref: int) -> float:
    p = correct / n_pred if n_pred else 0.0
    r = correct / n_ref if n_ref else 0.0
    return 200 * p * r / (p + r) if p + r else 0.0


def _clinical_cells(ref_lesions: list[list[Lesion]], cand_lesions: list[list[Lesion]]) -> dict[str, Cell]:
    base, injected = clinical_f1(ref_lesions, ref_lesions), clinical_f1(cand_lesions, ref_lesions)
    cells = {}
    for name in CLINICAL_ROWS:
        cells[name] = Cell(
            [_f1(p["correct"][name], p["n_pred"], p["n_ref"]) for p in base["per_patient"]],
            [_f1(p["correct"][name], p["n_pred"], p["n_ref"]) for p in injected["per_patient"]],
            base[name]["f1"], injected[name]["f1"],
        )
    base_crg, injected_crg = crg_block(ref_lesions, ref_lesions), crg_block(cand_lesions, ref_lesions)
    for name in CRG_ROWS:
        i = base_crg.names.index(name)
        per_base, per_injected = _block_rows(base_crg, i, base_crg.stats), _block_rows(injected_crg, i, injected_crg.stats)
        corpus_base, corpus_injected = base_crg.value()[name], injected_crg.value()[name]
        cells[name] = Cell(  # undefined CRG (no abnormality in the reference) counts as 0
            [0.0 if np.isnan(v) else v for v in per_base], [0.0 if np.isnan(v) else v for v in per_injected],
            0.0 if np.isnan(corpus_base) else corpus_base, 0.0 if np.isnan(corpus_injected) else corpus_injected,
        )
    return cells


class _Memo:
    """An embedder that embeds each distinct text once: the references recur in every injection kind."""

    def __init__(self, embedder: TokenEmbedder):
        self.embedder, self.cache = embedder, {}

    def __call__(self, texts: Sequence[str]) -> list[np.ndarray]:
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            self.cache.update(zip(missing, self.embedder(missing)))
        return [self.cache[t] for t in texts]


@dataclass
class Card:
    """cells[source][kind][metric], and the reports each source used."""

    cells: dict[str, dict[str, dict[str, Cell]]]
    n_reports: dict[str, int]
    metrics: list[str]
    notes: list[str] = field(default_factory=list)


def score_set(
    texts: Sequence[str], embedder: TokenEmbedder | None = None, seed: int = 0,
    kinds: Sequence[str] = KINDS, progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, dict[str, Cell]], int]:
    """Cells per kind and metric for one set of reference reports, and how many reports it used."""
    embedder = _Memo(embedder) if embedder is not None else None
    usable = [t for t in texts if targets(t)]
    lesions = {t: extract_lesions(t, scope="thorax") for t in usable}
    out: dict[str, dict[str, Cell]] = {}
    for kind in kinds:
        if progress:
            progress(kind)
        pairs = [(t, inject(t, kind, seed + i)) for i, t in enumerate(usable)]
        pairs = [(t, c) for t, c in pairs if c is not None]
        if not pairs:
            continue
        refs, cands = [t for t, _ in pairs], [c for _, c in pairs]
        cells = _nlg_cells(refs, cands, embedder)
        cells.update(_clinical_cells([lesions[t] for t in refs], [extract_lesions(c, scope="thorax") for c in cands]))
        out[kind] = cells
    return out, len(usable)


def pooled(card: Card) -> dict[str, dict[str, Cell]]:
    """All sources together per kind and metric: per-sample scores concatenated (detection share over
    every injected report), and the delta the mean of the sources' deltas weighted by their counts."""
    out: dict[str, dict[str, Cell]] = {}
    for kind in KINDS:
        for metric in card.metrics:
            parts = [card.cells[s][kind][metric] for s in card.cells if kind in card.cells[s] and metric in card.cells[s][kind]]
            if not parts:
                continue
            total = sum(p.n for p in parts)
            cell = Cell(
                [v for p in parts for v in p.base], [v for p in parts for v in p.injected],
                sum(p.base_corpus * p.n for p in parts) / total, sum(p.injected_corpus * p.n for p in parts) / total,
            )
            out.setdefault(kind, {})[metric] = cell
    return out


def build_card(sets: dict[str, Sequence[str]], embedder: TokenEmbedder | None = None, seed: int = 0,
               notes: Sequence[str] = (), progress: Callable[[str], None] | None = None) -> Card:
    """The card over named sets of reference reports (e.g. {"real": [...], "synthetic": [...]})."""
    cells, counts = {}, {}
    for name, texts in sets.items():
        cells[name], counts[name] = score_set(texts, embedder, seed,
                                              progress=(lambda k, n=name: progress(f"{n}: {k}")) if progress else None)
    metrics = [m for m in NLG_METRICS if embedder is not None or m != "embedding"] + list(CLINICAL_ROWS) + list(CRG_ROWS)
    return Card(cells, counts, metrics, list(notes))


def harmless_check(table: dict[str, dict[str, Cell]]) -> dict[str, Any]:
    """Largest |delta| of clinical F1 over the harmless rewrites, and whether it is within 1 point."""
    worst = max((abs(table[k][m].delta) for k in HARMLESS if k in table for m in CLINICAL_ROWS), default=0.0)
    return {"max_abs_clinical_f1_delta": worst, "tolerance": HARMLESS_TOLERANCE, "within": worst <= HARMLESS_TOLERANCE}


def card_json(card: Card) -> dict[str, Any]:
    """Everything the card shows, per source and pooled."""
    def table(cells: dict[str, dict[str, Cell]]) -> dict[str, Any]:
        return {kind: {m: {"n": c.n, "delta": c.delta, "detected": c.detected, "base": c.base_corpus,
                           "injected": c.injected_corpus} for m, c in metrics.items()} for kind, metrics in cells.items()}

    pool = pooled(card)
    return {
        "errors": list(ERRORS), "harmless": list(HARMLESS), "metrics": card.metrics,
        "n_reports": card.n_reports, "detection_rule": "per-sample score of the injected report < the unchanged report's - 1e-9",
        "delta": "corpus score of injected reports minus that of the unchanged reports against themselves (points)",
        "pooled": table(pool), "by_source": {s: table(c) for s, c in card.cells.items()},
        "harmless_clinical_f1": harmless_check(pool), "notes": card.notes,
    }


def card_markdown(card: Card) -> str:
    """One table: metrics as rows, injection kinds as columns, "delta / detected %" in each cell."""
    pool = pooled(card)
    kinds = [k for k in KINDS if k in pool]
    lines = ["| metric | " + " | ".join(k.replace("_", " ") for k in kinds) + " |", "|---|" + "---:|" * len(kinds)]
    for metric in card.metrics:
        cells = []
        for kind in kinds:
            cell = pool[kind].get(metric)
            cells.append("–" if cell is None else f"{cell.delta:+.1f} / {100 * cell.detected:.0f}%")
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    n = " + ".join(f"{v} {k}" for k, v in card.n_reports.items())
    check = harmless_check(pool)
    head = (f"Reports: {n}. Each cell: score change in points (injected minus unchanged, corpus level) / share of "
            "injected reports whose own score dropped. Errors should drop (high share); the last three columns are "
            "harmless rewrites and should not.")
    foot = (f"Harmless rewrites move clinical F1 by at most {check['max_abs_clinical_f1_delta']:.2f} points "
            f"({'within' if check['within'] else 'NOT within'} {HARMLESS_TOLERANCE:g}).")
    return "\n".join([head, "", *lines, "", foot, *[f"- {note}" for note in card.notes]]) + "\n"


def card_csv(card: Card) -> str:
    """Long CSV: source (each set, then pooled), kind, metric, n, delta, detected, base, injected."""
    rows = ["source,kind,metric,n,delta,detected,base,injected"]
    tables = dict(card.cells)
    tables["pooled"] = pooled(card)
    for source, cells in tables.items():
        for kind in KINDS:
            for metric in card.metrics:
                cell = cells.get(kind, {}).get(metric)
                if cell is not None:
                    rows.append(f"{source},{kind},{metric},{cell.n},{cell.delta:.6f},{cell.detected:.6f},"
                                f"{cell.base_corpus:.6f},{cell.injected_corpus:.6f}")
    return "\n".join(rows) + "\n"


def heatmap_png(card: Card, path) -> None:
    """The card as an image: detection share and delta written in each cell, coloured by how right it is."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pool = pooled(card)
    kinds = [k for k in KINDS if k in pool]
    # colour = share of the right behaviour: detected for an error, not penalised for a harmless rewrite
    good = np.array([[np.nan if m not in pool[k] else
                      (pool[k][m].detected if k in ERRORS else 1 - pool[k][m].detected) for k in kinds]
                     for m in card.metrics])
    fig, ax = plt.subplots(figsize=(1.05 * len(kinds) + 2.5, 0.45 * len(card.metrics) + 1.8), dpi=110)
    ax.imshow(good, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    for i, metric in enumerate(card.metrics):
        for j, kind in enumerate(kinds):
            cell = pool[kind].get(metric)
            if cell is not None:
                ax.text(j, i, f"{100 * cell.detected:.0f}%\n{cell.delta:+.1f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(kinds)), [k.replace("_", "\n") for k in kinds], fontsize=8)
    ax.set_yticks(range(len(card.metrics)), card.metrics, fontsize=8)
    ax.axvline(len([k for k in kinds if k in ERRORS]) - 0.5, color="black", linewidth=1.5)
    ax.set_title("Share of injected reports scored lower, and score change (points). Left: clinical errors\n"
                 "(green: detected); right: harmless rewrites (green: not penalised)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# Report sets, the embedder, and the files the command writes
# ---------------------------------------------------------------------------------------------

def real_reports(folder) -> list[str]:
    """The texts of `folder/reports.jsonl` ({"patient_id", "text"} per line); a bad line is an error naming it."""
    import json
    from pathlib import Path

    from vipet.errors import ReportError

    path = Path(folder) / "reports.jsonl"
    if not path.is_file():
        raise ReportError("reports.jsonl not found (the real-report folder holds it)", path)
    texts = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            texts.append(str(record["text"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ReportError(f"line {number} is not a JSON object with a 'text'", path) from None
    return texts


def synthetic_reports(n: int, seed: int = 0, max_tries: int = 200) -> list[str]:
    """`n` reports of the synthetic cohort (`vipet.synth`, small size) that state a thoracic lesion.

    Studies whose planned diagnosis is "normal" are skipped before their images are made; the rest
    are generated in index order until `n` have a finding the injectors can target.
    """
    from vipet.synth.cohort import generate_study
    from vipet.synth.population import plan_study

    texts: list[str] = []
    for index in range(max_tries):
        if len(texts) >= n:
            break
        if plan_study(seed, index).person.diagnosis == "normal":
            continue
        study, _ = generate_study(index, seed, "small")
        text = study.report.full_text()
        if targets(text):
            texts.append(text)
    return texts


def random_encoder_embedder(texts: Sequence[str], folder, seed: int = 0) -> TokenEmbedder:
    """A BERTScore-style embedder over an UNTRAINED tiny BERT (seeded) whose vocabulary is the texts' syllables.

    No trained Vietnamese encoder ships with vipet and nothing is downloaded; this one turns the
    embedding score into a contextual soft-overlap measure, reproducible to the digit. Pass a real
    encoder folder (`--embedding-model`) for the score a trained model gives.
    """
    from pathlib import Path

    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    from vipet.models.token_embeddings import LocalTokenEmbedder

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # BERT's pre-tokenizer splits on whitespace and each punctuation mark, after lower-casing
    vocab = sorted({token for text in texts for token in re.findall(r"\w+|[^\w\s]", text.lower())})
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    (folder / "vocab.txt").write_text("\n".join(special + vocab) + "\n", encoding="utf-8")
    BertTokenizer(str(folder / "vocab.txt"), do_lower_case=True, strip_accents=False).save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(special) + len(vocab), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=1024)
    BertModel(config).eval().save_pretrained(folder)
    return LocalTokenEmbedder(folder, max_length=1024, batch_size=32)


def write_card(card: Card, out) -> dict[str, str]:
    """card.md, card.csv, card.json and card.png in `out` (atomic writes, nothing outside it)."""
    import io
    import json
    from pathlib import Path

    from vipet.fsutil import atomic_write_bytes, atomic_write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {
        "md": atomic_write_text(out / "card.md", card_markdown(card), root=out),
        "csv": atomic_write_text(out / "card.csv", card_csv(card), root=out),
        "json": atomic_write_text(out / "card.json", json.dumps(_finite(card_json(card)), ensure_ascii=False, indent=1,
                                                                   sort_keys=True) + "\n", root=out),
    }
    buffer = io.BytesIO()
    heatmap_png(card, buffer)
    written["png"] = atomic_write_bytes(out / "card.png", buffer.getvalue(), root=out)
    return {k: str(v) for k, v in written.items()}


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return round(obj, 6) if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj
