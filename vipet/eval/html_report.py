"""A single self-contained HTML report: leaderboard, per-type recall, training curves, case studies.

Self-contained (images inlined as base64 PNG, no scripts, no network) so it can be mailed,
archived beside the run folder, and opened offline. Case studies colour each sentence by what
the clinical metric saw in it: green when its lesions match the other side (type + position),
red for a predicted lesion the reference does not have (hallucinated), orange for a reference
lesion the model missed.
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from vipet.eval.leaderboard import task_tables

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
thead{background:#f0f0f0}
table.published{color:#666;font-style:italic}
.case{display:flex;gap:1em;border-top:2px solid #ddd;padding-top:1em;margin-top:1em}
.case img{height:360px;image-rendering:pixelated;border:1px solid #ccc}
.texts{flex:1;font-size:13px}
.matched{background:#d4f4d4}.hallucinated{background:#ffd0d0}.missed{background:#ffe2b0}
.legend span{padding:2px 6px;margin-right:8px}
.contradicted{background:#ff8080;border-bottom:2px solid #b00;font-weight:bold}
"""


@dataclass
class CaseStudy:
    """One test study shown beside its images: the reference and each model's report."""

    key: str
    reference: str
    predictions: dict[str, str]
    images: dict[str, Path] = field(default_factory=dict)  # caption -> PNG path
    # model -> (sentence, phrase of it, evidence) for each number the image contradicts (vipet.trust.grounding,
    # passed in as plain data by the bench: eval does not import trust); sentences as the report parser normalises them
    contradicted: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)


@dataclass
class ExtraSection:
    """A titled block of the report built elsewhere (stress curves, seed spread): text, PNGs, one table."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    images: list[tuple[str, bytes]] = field(default_factory=list)  # (caption, PNG bytes)
    table: list[list[str]] = field(default_factory=list)  # header row first


def extra_section_html(section: ExtraSection) -> str:
    parts = [f"<h2>{html.escape(section.title)}</h2>"] + [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
    if section.table:
        head, *rows = section.table
        parts.append("<table><thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr></thead><tbody>"
                     + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
                     + "</tbody></table>")
    parts += [f'<figure><img alt="{html.escape(c)}" src="{_png_data_uri(png)}"><figcaption>{html.escape(c)}</figcaption></figure>'
              for c, png in section.images]
    return "".join(parts)


def mark_contradicted(escaped: str, flags: Sequence[tuple[str, str]]) -> str:
    """`escaped` (HTML-escaped text) with each flagged phrase wrapped in a span whose title is the evidence."""
    for phrase, evidence in flags:
        for variant in dict.fromkeys((phrase, phrase.replace(",", "."))):
            target = html.escape(variant)
            if target and target in escaped:
                span = f'<span class="contradicted" title="{html.escape(evidence, quote=True)}">{target}</span>'
                escaped = escaped.replace(target, span, 1)
                break
    return escaped


def _png_data_uri(payload: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(payload).decode("ascii")


def _img(path: Path, alt: str) -> str:
    return f'<figure><img alt="{html.escape(alt)}" src="{_png_data_uri(Path(path).read_bytes())}"><figcaption>{html.escape(alt)}</figcaption></figure>'


def _table(rows: list[dict[str, Any]], titles: list[str], css: str, with_ci: bool) -> str:
    head = "<tr><th>model</th>" + "".join(f"<th>{html.escape(t)}</th>" for t in titles) + "</tr>"
    body = "".join(
        "<tr><td>" + html.escape(row["model"]) + "</td>" + "".join(f"<td>{html.escape(row[t].text(with_ci))}</td>" for t in titles) + "</tr>"
        for row in rows
    )
    return f'<table class="{css}"><thead>{head}</thead><tbody>{body}</tbody></table>'


def leaderboard_html(metrics: dict[str, Any]) -> str:
    parts = []
    for table in task_tables(metrics):
        parts.append(f'<h3>{table.label} — measured in this run (value [95% CI])</h3>{_table(table.measured, table.titles, "leaderboard", True)}')
        if table.published:
            parts.append("<h4>Published reference rows (ViMed-PET paper, real cohort; not measured here)</h4>"
                         + _table(table.published, table.titles, "published", False))
    return "\n".join(parts)


def type_recall_png(metrics: dict[str, Any]) -> bytes | None:
    """Grouped bars: recall per lesion type (clinical metric) for every model."""
    recalls: dict[str, dict[str, float]] = {}
    for model, results in sorted(metrics.get("results", {}).items()):
        scores = results.get("report", {}).get("clinical", {}).get("scores", {})
        counts = results.get("report", {}).get("clinical", {}).get("type_recall_counts", {})
        for name, entry in scores.items():
            if name.startswith("recall[") and counts.get(name[7:-1], {}).get("n_ref", 1) > 0:
                recalls.setdefault(model, {})[name[7:-1]] = float(entry["value"])
    if not recalls:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    types = sorted({t for per in recalls.values() for t in per})
    width = 0.8 / len(recalls)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(types)), 3.6), dpi=110)
    for i, (model, per) in enumerate(recalls.items()):
        ax.bar([x + i * width for x in range(len(types))], [per.get(t, 0.0) for t in types], width, label=model)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(types))], types, rotation=30, ha="right")
    ax.set_ylabel("recall (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Per-lesion-type recall (clinical metric, type matching)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def thorax_lesion_units(text: str) -> Counter:
    """(type, position) units of the clinical metric in `text`, counted; what the highlighting compares."""
    from vipet.eval.clinical import lesion_units
    from vipet.reports.extract import extract_lesions

    return Counter(unit[:2] for _, unit in lesion_units(extract_lesions(text, scope="thorax")))


def highlighted_sentences(text: str, other_side: str, unmatched_class: str,
                          contradicted: Sequence[tuple[str, str, str]] = ()) -> str:
    """The text with each lesion-bearing sentence coloured by whether the other side has its lesions,
    and the numbers of `contradicted` (sentence, phrase, evidence) marked in their sentence."""
    from vipet.reports.normalize import normalize_text
    from vipet.reports.segment import split_sentences

    available = thorax_lesion_units(other_side)
    pieces = []
    for sentence in split_sentences(text):
        units = thorax_lesion_units(sentence)
        css = ""
        if units:
            css = "matched" if all(available[u] >= n for u, n in units.items()) else unmatched_class
        flags = [(phrase, why) for said, phrase, why in contradicted if said.strip() == normalize_text(sentence).strip()] if contradicted else []
        escaped = mark_contradicted(html.escape(sentence), flags)
        pieces.append(f'<span class="{css}">{escaped}</span>' if css else escaped)
    return " ".join(pieces)


def case_html(case: CaseStudy) -> str:
    images = "".join(_img(path, caption) for caption, path in case.images.items())
    texts = [f"<h4>Reference</h4><p>{highlighted_sentences(case.reference, ' '.join(case.predictions.values()), 'missed')}</p>"]
    for model, prediction in sorted(case.predictions.items()):
        flags = case.contradicted.get(model, [])
        texts.append(f"<h4>{html.escape(model)}</h4><p>{highlighted_sentences(prediction, case.reference, 'hallucinated', flags)}</p>")
    return f'<div class="case"><div>{images}</div><div class="texts"><h3>{html.escape(case.key)}</h3>{"".join(texts)}</div></div>'


def render_html_report(
    metrics: dict[str, Any],
    title: str,
    curves: Sequence[Path] = (),
    cases: Sequence[CaseStudy] = (),
    notes: Sequence[str] = (),
    sections: Sequence[ExtraSection] = (),
) -> str:
    """The whole report as one HTML string (write it with `vipet.fsutil.atomic_write_text`)."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    body += [f"<p>{html.escape(n)}</p>" for n in notes]
    body.append("<h2>Leaderboard</h2>" + leaderboard_html(metrics))
    bars = type_recall_png(metrics)
    if bars:
        body.append(f'<h2>Per-lesion-type recall</h2><img alt="per-lesion-type recall" src="{_png_data_uri(bars)}">')
    if curves:
        body.append("<h2>Training curves</h2>" + "".join(_img(p, Path(p).parent.name) for p in curves))
    if cases:
        legend = ('<p class="legend"><span class="matched">matched lesion</span><span class="hallucinated">'
                  'hallucinated (not in reference)</span><span class="missed">missed (reference only)</span></p>')
        if any(c.contradicted for c in cases):
            legend = legend.replace("</p>", '<span class="contradicted">number the image contradicts (hover: evidence)</span></p>')
        body.append("<h2>Test studies</h2>" + legend + "".join(case_html(c) for c in cases))
    body += [extra_section_html(s) for s in sections]
    return f'<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style></head><body>{"".join(body)}</body></html>\n'
