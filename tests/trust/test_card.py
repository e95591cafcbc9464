"""The metric report card: injectors do what they say, card numbers equal directly computed metric
differences, the files and the command, and harmless rewrites on the real reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vipet.cli import app
from vipet.eval.clinical import clinical_f1
from vipet.eval.crg import crg_score
from vipet.eval.nlg import score_nlg
from vipet.reports.augment import facts_preserved
from vipet.reports.categories import fdg_category, judgement_category, position_categories, type_category
from vipet.reports.extract import extract_lesions
from vipet.trust.card import CLINICAL_ROWS, build_card, card_csv, card_json, card_markdown, score_set, write_card
from vipet.trust.injection import ERRORS, HARMLESS, KINDS, inject, targets

MASS = ("Hình ảnh khối mờ bờ tua gai, kích thước 30 x 25 mm, tăng chuyển hóa FDG (SUVmax: 8,5) ở thùy trên phổi phải.")
NODE = "Hình ảnh hạch dưới carina, kích thước 12 x 10 mm, tăng chuyển hóa FDG (SUVmax: 4,1)."
IMPRESSION = ("Hình ảnh khối mờ bờ tua gai, kích thước 30 x 25 mm, tăng chuyển hóa FDG ở thùy trên phổi phải tương ứng "
              "với tổn thương ác tính nguyên phát.")
REPORT = " ".join([
    "Hình ảnh bắt xạ theo đặc điểm sinh lý ở não.", "Không phát hiện hình ảnh tràn dịch màng phổi hai bên.",
    MASS, NODE, "Hình ảnh bắt xạ theo đặc điểm sinh lý ở gan.", IMPRESSION,
])
NODULE_REPORT = ("Hình ảnh bắt xạ theo đặc điểm sinh lý ở não. Hình ảnh nốt mờ có đường kính 9 mm ở thùy dưới phổi trái, "
                 "không tăng chuyển hóa FDG. Hình ảnh bắt xạ theo đặc điểm sinh lý ở gan.")
NORMAL = "Hình ảnh bắt xạ theo đặc điểm sinh lý ở não. Không phát hiện hình ảnh tràn dịch màng phổi hai bên."


def lesions(text):
    return extract_lesions(text, scope="thorax")


def changed(before, after):
    """Lesions of `before` not in `after` and of `after` not in `before` (multisets)."""
    gone, new = list(before), []
    for lesion in after:
        if lesion in gone:
            gone.remove(lesion)
        else:
            new.append(lesion)
    return gone, new


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_error_changes_exactly_what_it_says(seed):
    original = lesions(REPORT)
    assert len(original) == 2
    for kind in ERRORS:
        out = inject(REPORT, kind, seed)
        assert out is not None and out != REPORT, kind
        gone, new = changed(original, lesions(out))
        if kind == "lesion_omitted":
            assert len(gone) == 1 and not new and len(lesions(out)) == 1
            continue
        if kind == "lesion_hallucinated":
            assert not gone and len(new) == 1
            assert type_category(new[0]) not in {type_category(x) for x in original}
            continue
        assert len(gone) == len(new) == 1, kind
        old, cur = gone[0], new[0]
        if kind == "negation_flip":
            assert fdg_category(old) != fdg_category(cur) and (old.type, old.location) == (cur.type, cur.location)
        elif kind == "side_swap":
            assert {"phải", "trái"} & set(old.location.split()) and old.location != cur.location
            assert old.location.replace("phải", "trái") == cur.location or old.location.replace("trái", "phải") == cur.location
        elif kind == "suv_change":
            assert cur.suv_max == pytest.approx(2 * old.suv_max) and (old.size, old.location) == (cur.size, cur.location)
        elif kind == "size_change":
            assert (old.size, cur.size) in {("30 x 25 mm", "60 x 50 mm"), ("12 x 10 mm", "24 x 20 mm")}
            assert cur.suv_max == old.suv_max
        elif kind == "location_moved":
            assert position_categories(old) != position_categories(cur) and type_category(old) == type_category(cur)
        elif kind == "judgement_flipped":
            assert judgement_category(old) in ("nguyên phát", "ác tính") and judgement_category(cur) == "lành tính"


def test_judgement_flips_benign_to_malignant_and_negation_both_ways():
    text = NODULE_REPORT.replace("không tăng chuyển hóa FDG.", "không tăng chuyển hóa FDG khả năng do viêm.")
    flipped = lesions(inject(text, "judgement_flipped", 0))
    assert judgement_category(lesions(text)[0]) == "viêm" and judgement_category(flipped[0]) == "ác tính"
    assert fdg_category(lesions(inject(NODULE_REPORT, "negation_flip", 0))[0]) == "có tăng"


def test_an_error_edits_every_sentence_of_its_lesion_and_nothing_else():
    out = inject(REPORT, "side_swap", 0)  # only the mass has a side: its description and impression both change
    assert out == REPORT.replace("thùy trên phổi phải", "thùy trên phổi trái")


def test_injections_that_do_not_apply_give_none():
    assert all(inject(NORMAL, kind, 0) is None for kind in ERRORS)  # no thoracic lesion to target
    assert inject(NODE.replace("(SUVmax: 4,1)", ""), "suv_change", 0) is None
    assert inject("Hình ảnh hạch dưới carina, không tăng chuyển hóa FDG.", "side_swap", 0) is None
    with pytest.raises(ValueError, match="unknown injection"):
        inject(REPORT, "typo", 0)


def test_a_sentence_stating_two_lesions_is_never_a_target():
    text = ("Hình ảnh vài nốt kính mờ ở thùy giữa phổi phải, không tăng chuyển hóa FDG và tổn thương dạng thâm nhiễm "
            "ở thùy dưới phổi trái, tăng nhẹ chuyển hóa FDG.")
    assert len(lesions(text)) == 2 and targets(text) == []


@pytest.mark.parametrize("kind", HARMLESS)
def test_harmless_rewrites_keep_every_fact(kind):
    out = inject(REPORT, kind, 3)
    assert out is not None and out != REPORT
    assert facts_preserved(REPORT, out)
    assert changed(lesions(REPORT), lesions(out)) == ([], [])


def test_number_format_swaps_decimal_separators_only():
    assert inject(REPORT, "number_format", 0) == REPORT.replace("8,5", "8.5").replace("4,1", "4.1")


def test_card_numbers_equal_directly_computed_metric_differences():
    texts = [REPORT, NODULE_REPORT, NORMAL]
    cells, used = score_set(texts, kinds=("suv_change", "lesion_omitted", "number_format"))
    assert used == 2  # the normal report has nothing to inject into
    for kind, cell_set in cells.items():
        refs = [t for t in (REPORT, NODULE_REPORT) if inject(t, kind, [REPORT, NODULE_REPORT].index(t)) is not None]
        cands = [inject(t, kind, [REPORT, NODULE_REPORT].index(t)) for t in refs]
        direct = score_nlg(cands, [[r] for r in refs])
        identity = score_nlg(refs, [[r] for r in refs])
        for title, name in (("BLEU-4", "bleu_4"), ("ROUGE-L", "rouge_l"), ("METEOR", "meteor"), ("CIDEr-D", "cider_d"),
                            ("chrF", "chrf")):
            assert cell_set[title].delta == pytest.approx(direct[name] - identity[name], abs=1e-9), (kind, title)
            per_sample = [score_nlg([c], [[r]])[name] < score_nlg([r], [[r]])[name] - 1e-9 for c, r in zip(cands, refs)]
            if title != "CIDEr-D":  # CIDEr-D's idf is a corpus statistic: one-sample scores differ by design
                assert cell_set[title].detected == pytest.approx(np.mean(per_sample)), (kind, title)
        pred, ref = [lesions(c) for c in cands], [lesions(r) for r in refs]
        for name in CLINICAL_ROWS:
            expected = clinical_f1(pred, ref)[name]["f1"] - clinical_f1(ref, ref)[name]["f1"]
            assert cell_set[name].delta == pytest.approx(expected, abs=1e-9), (kind, name)
        assert cell_set["CRG-TPF"].delta == pytest.approx(
            crg_score(pred, ref)["CRG-TPF"]["value"] - crg_score(ref, ref)["CRG-TPF"]["value"], abs=1e-9)
    # omitting a lesion always lowers F1-T: one of REPORT's two lesions, NODULE_REPORT's only one
    omitted = cells["lesion_omitted"]["F1-T"]
    assert omitted.detected == 1.0 and omitted.delta < 0
    assert cells["number_format"]["F1-TPF"].delta == 0.0 and cells["number_format"]["BLEU-4"].delta == 0.0
    assert cells["number_format"]["chrF"].delta < 0  # chrF reads characters: 8,5 and 8.5 differ


def _embedder(texts):
    """Deterministic toy unit vectors (an angle from each lower-cased word's characters), enough to exercise the row."""
    out = []
    for text in texts:
        angles = [sum(map(ord, w)) % 97 for w in text.lower().split()]
        out.append(np.array([[np.cos(a), np.sin(a)] for a in angles]).reshape(-1, 2))
    return out


def test_card_files_from_a_tiny_set(tmp_path):
    card = build_card({"real": [REPORT], "synthetic": [NODULE_REPORT, NORMAL]}, embedder=_embedder, notes=["a note"])
    assert card.n_reports == {"real": 1, "synthetic": 1}
    assert card.metrics[:6] == ["BLEU-4", "ROUGE-L", "METEOR", "CIDEr-D", "chrF", "embedding"]
    written = write_card(card, tmp_path / "card")
    assert sorted(Path(p).name for p in written.values()) == ["card.csv", "card.json", "card.md", "card.png"]
    assert Path(written["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(Path(written["json"]).read_text(encoding="utf-8"))
    assert data["harmless_clinical_f1"]["within"] is True and data["notes"] == ["a note"]
    assert set(data["by_source"]) == {"real", "synthetic"}
    md = card_markdown(card)
    assert md.count("\n| ") == len(card.metrics) + 1 and "| F1-TPF |" in md and "within 1" in md
    rows = card_csv(card).splitlines()
    assert rows[0] == "source,kind,metric,n,delta,detected,base,injected"
    assert {r.split(",")[0] for r in rows[1:]} == {"real", "synthetic", "pooled"}
    # the pooled omission share over both sets: both reports lose a lesion, F1-T sees both
    assert card_json(card)["pooled"]["lesion_omitted"]["F1-T"]["detected"] == 1.0


def test_metrics_card_command(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "reports.jsonl").write_text("\n".join(json.dumps({"patient_id": f"p{i}", "text": t}, ensure_ascii=False)
                                                  for i, t in enumerate([REPORT, NODULE_REPORT])) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["metrics-card", "--real", str(real), "--synthetic", "0", "--no-embedding", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "card.md").is_file() and "| BLEU-4 |" in result.output and "embedding" not in (out / "card.md").read_text()
    (real / "reports.jsonl").write_text("{not json\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["metrics-card", "--real", str(real), "--synthetic", "0", "--no-embedding", "--out", str(out)])
    assert result.exit_code == 1 and "error:" in result.output and "line 1" in result.output
    missing = CliRunner().invoke(app, ["metrics-card", "--real", str(tmp_path / "none"), "--synthetic", "0", "--out", str(out)])
    assert missing.exit_code == 1 and "reports.jsonl not found" in missing.output


def test_harmless_rewrites_keep_clinical_f1_within_one_point_on_the_real_reports(real_data):
    texts = [json.loads(line)["text"] for line in (real_data / "reports.jsonl").read_text(encoding="utf-8").splitlines()]
    usable = [t for t in texts if targets(t)]
    assert len(usable) > 100
    refs = [lesions(t) for t in usable]
    for kind in HARMLESS:
        pairs = [(ref, inject(t, kind, i)) for i, (t, ref) in enumerate(zip(usable, refs))]
        pairs = [(ref, out) for ref, out in pairs if out is not None]
        assert len(pairs) > 50, kind
        scores = clinical_f1([lesions(out) for _, out in pairs], [ref for ref, _ in pairs])
        for name in CLINICAL_ROWS:
            assert abs(scores[name]["f1"] - 100.0) <= 1.0, (kind, name, scores[name]["f1"])
