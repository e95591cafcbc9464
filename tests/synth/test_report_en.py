"""English synthetic reports: the same findings as the Vietnamese report, written as new files only."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from vipet.reports.consistency import compare_versions, text_language
from vipet.reports.english import english_lesions
from vipet.schema import Report
from vipet.synth.report_en import english_report, finding_sentence_en, site_en, size_en


def _planned_findings(index: int, seed: int = 0):
    """Findings and the Vietnamese report of study `index` without making its images (the image-only
    steps draw from other RNG streams; SUVmax is set from the planned target instead of measured)."""
    from vipet.synth.anatomy import FOV_MM, sample_body, sample_physiology
    from vipet.synth.cohort import _LOOKUP_XY, _LOOKUP_Z, _classify_uptake
    from vipet.synth.lesions import sample_findings
    from vipet.synth.phantom import label_volume
    from vipet.synth.population import STREAM_ANATOMY, STREAM_FINDINGS, STREAM_REPORT, plan_study, study_rng
    from vipet.synth.report_writer import write_report
    from vipet.synth.shapes import Grid
    from vipet.synth.sites import LabelLookup

    plan = plan_study(seed, index)
    rng = study_rng(seed, index, STREAM_ANATOMY)
    body = sample_body(rng, plan.person.sex, plan.person.height_m, plan.person.weight_kg)
    sample_physiology(rng)
    grid = Grid((int(np.ceil(body.fov_depth_mm() / _LOOKUP_Z)), _LOOKUP_XY, _LOOKUP_XY),
                (_LOOKUP_Z, FOV_MM / _LOOKUP_XY, FOV_MM / _LOOKUP_XY))
    findings = sample_findings(study_rng(seed, index, STREAM_FINDINGS), body, LabelLookup(label_volume(body, grid), grid),
                               plan.person.diagnosis)
    for finding in findings:
        _classify_uptake(finding, finding.members[0].suv_target)
    report, _, _ = write_report(findings, study_rng(seed, index, STREAM_REPORT))
    return findings, report


@pytest.fixture(scope="module")
def planned():
    return [_planned_findings(i) for i in range(40)]


def test_english_and_vietnamese_state_the_same_lesions_sizes_and_suvmax(planned):
    lesions_seen = 0
    for findings, report in planned:
        english = english_report(findings)
        result = compare_versions(report, english, lesions=True)
        assert result.agrees, result.describe()
        assert text_language(" ".join(english["Findings"].values())) == "en"
        facts = english_lesions(english)
        assert len(facts) == sum(1 for f in findings if f.suv_max is not None or (f.size_mm and max(f.size_mm) > 5)
                                 or (f.incidental and f.station in ("cervical_II", "axillary", "inguinal")))
        # every printed SUVmax is the finding's value with one decimal, in the finding's section
        printed = sorted(f.suv_max for f in facts if f.suv_max is not None)
        assert printed == sorted(round(f.suv_max, 1) for f in findings if f.suv_max is not None and f.kind != "pleural_effusion")
        lesions_seen += len(facts)
    assert lesions_seen > 100  # the comparison covers many lesions of every kind
    kinds = {f.kind for findings, _ in planned for f in findings}
    assert kinds >= {"lung_mass", "lung_nodule", "lymph_node", "liver_lesion", "bone_lesion", "pleural_effusion"}


def test_a_changed_number_or_a_dropped_lesion_is_caught(planned):
    findings, report = next((f, r) for f, r in planned if any(x.suv_max for x in f))
    english = english_report(findings)
    chest = english["Findings"]["Chest"]
    target = next(f for f in findings if f.suv_max is not None)
    section = next(k for k, v in english["Findings"].items() if f"SUVmax {target.suv_max:.1f}" in v)
    moved = json.loads(json.dumps(english))
    moved["Findings"][section] = moved["Findings"][section].replace(f"SUVmax {target.suv_max:.1f}",
                                                                   f"SUVmax {target.suv_max * 10:.1f}")
    result = compare_versions(report, moved, lesions=True)
    assert not result.agrees and result.suv_only_en == [round(target.suv_max * 10, 1)] and result.lesions_only_vi
    assert chest  # the chest section always exists


def test_phrases_follow_the_vietnamese_rules():
    assert size_en((4, 5)) == "a few mm in size"  # "vài mm": no number in either language
    assert size_en((9, 9)) == "9 mm in diameter" and size_en((18, 21)) == "measuring 18 x 21 mm"
    assert site_en({"kind": "bone_lesion", "site": "thân đốt sống D7", "lobe": "D7", "side": "midline"}) == "the T7 vertebral body"
    assert site_en({"kind": "liver_lesion", "site": "hạ phân thùy VII gan phải", "side": "right"}) == \
        "segment VII of the right lobe of the liver"
    assert site_en({"kind": "lung_nodule", "site": "ngoại vi thùy dưới phổi trái", "lobe": "lower", "side": "left"}) == \
        "the peripheral lower lobe of the left lung"
    node = {"kind": "lymph_node", "station": "hilar", "side": "right", "count": 3, "size_mm": [12, 14], "suv_max": 5.25,
            "uptake": "high", "site": "rốn phổi phải", "incidental": False}
    assert finding_sentence_en(node) == ("Several lymph nodes in the right hilar region, the largest measuring 12 x 14 mm, "
                                         "with increased FDG uptake (SUVmax 5.2).")  # 5.25 -> 5.2: Python rounds half to even


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fmt", ["vimed", "nifti", "dicom"])
def test_the_cohort_adds_english_files_and_changes_no_other_byte(tmp_path, monkeypatch, fmt):
    import vipet.synth.writer as writer
    from vipet.io import discover, load_study

    writer.write_cohort(tmp_path / "with", n=2, seed=1, format=fmt, progress=False)
    monkeypatch.setattr(writer, "write_english_report", lambda *args: None)  # the cohort as it was before
    writer.write_cohort(tmp_path / "without", n=2, seed=1, format=fmt, progress=False)
    with_en, without = _hashes(tmp_path / "with"), _hashes(tmp_path / "without")
    added = sorted(set(with_en) - set(without))
    assert {k: with_en[k] for k in without} == without  # every file of the cohort keeps its bytes
    assert len(added) == 2 and all("reports_en/" in p or p.endswith("/report_en.json") for p in added)
    truth = [json.loads(x) for x in (tmp_path / "with" / "truth.jsonl").read_text(encoding="utf-8").splitlines()]
    refs, _ = discover(tmp_path / "with")
    for record in truth:
        path = writer.english_report_path(record, fmt, record)
        assert path in added
        english = json.loads((tmp_path / "with" / path).read_text(encoding="utf-8"))
        assert english == english_report(record["lesions"])
        assert compare_versions(Report.from_json(record["report"]), english, lesions=True).agrees
    if fmt in ("nifti", "dicom"):  # the NIfTI and DICOM readers find the sidecar
        studies = [load_study(ref) for ref in refs]
        assert all(s.report_en == english_report(t["lesions"]) for s, t in zip(sorted(studies, key=lambda s: s.key),
                                                                                 sorted(truth, key=lambda t: t["key"])))
