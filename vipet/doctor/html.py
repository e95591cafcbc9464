"""The doctor's report as one self-contained HTML page: counts, the policy, and one card per flagged
study with its coronal PET MIP (embedded PNG) and every finding, errors first."""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path
from typing import Any

from vipet.doctor.policy import ERROR, POLICY
from vipet.fsutil import atomic_write_text

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
.error{color:#b00020;font-weight:600}.warning{color:#a15c00}
.card{display:flex;gap:1em;border:1px solid #ddd;border-radius:6px;padding:.8em;margin:.8em 0}
.card img{image-rendering:pixelated;border:1px solid #eee;max-height:160px}.card ul{margin:.2em 0}
code{background:#f4f4f4;padding:0 3px}
"""


def doctor_html(report: dict[str, Any]) -> str:
    """The page for a `run_doctor` report."""
    esc = html.escape
    by_study: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for finding in report["findings"]:
        by_study[finding.get("key") or "(table)"].append(finding)
    body = [f"<h1>vipet doctor: {esc(report['root'])}</h1>",
            f"<p>packaging <code>{esc(str(report.get('packaging')))}</code>, {report['studies']} studies"
            f"{' (header-only)' if report.get('header_only') else ''}, {report['seconds']:g} s; "
            f"<span class='error'>{report['counts'][ERROR]} errors</span>, "
            f"<span class='warning'>{report['counts']['warning']} warnings</span> in "
            f"{report['flagged_studies']} studies; exit code {report['exit_code']}.</p>"]
    body.append("<h2>Findings by kind</h2><table><tr><th>kind</th><th>severity</th><th>count</th><th>meaning</th></tr>")
    for kind, (severity, what) in POLICY.items():
        count = report["by_kind"].get(kind, 0)
        if count:
            body.append(f"<tr><td><code>{esc(kind)}</code></td><td class='{severity}'>{severity}</td>"
                        f"<td>{count}</td><td>{esc(what)}</td></tr>")
    body.append("</table><h2>Flagged studies</h2>")
    ordered = sorted(by_study.items(), key=lambda item: (not any(f["severity"] == ERROR for f in item[1]), item[0]))
    for key, findings in ordered:
        thumb = report.get("thumbnails", {}).get(key)
        image = (f"<img alt='coronal PET MIP of {esc(key)}' src='data:image/png;base64,{thumb}'>" if thumb
                 else "<div style='width:60px;color:#999'>no image</div>")
        items = "".join(
            f"<li><span class='{f['severity']}'>{esc(f['kind'])}</span>: {esc(f['message'])}"
            + (f" <small>(with {esc(', '.join(f['related']))})</small>" if f.get("related") else "")
            + (f"<br><small><code>{esc(f['path'])}</code></small>" if f.get("path") else "") + "</li>"
            for f in findings)
        body.append(f"<div class='card'>{image}<div><b>{esc(key)}</b><ul>{items}</ul></div></div>")
    if not by_study:
        body.append("<p>No findings.</p>")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>vipet doctor</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n")


def write_doctor_html(report: dict[str, Any], path: str | Path) -> Path:
    """Write the page atomically."""
    return atomic_write_text(path, doctor_html(report))
