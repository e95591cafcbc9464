"""One synthetic study end to end: plan, anatomy, findings, CT and PET, report, truth record.

`generate_study(index, seed, size)` is a pure function of its arguments (each step draws from its
own (seed, index, stream) RNG), so a study is the same whether it is made alone, in a pool of
workers or on a resumed run, and the same patient and findings appear at `small` and `full` size
(the findings are sampled on a fixed-resolution lookup grid, not on the output grid).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vipet import __version__
from vipet.errors import SynthError
from vipet.study import HU, SUV_BW, Patient, Study, Volume
from vipet.synth.anatomy import FOV_MM, sample_body, sample_physiology
from vipet.synth.lesions import Finding, sample_findings
from vipet.synth.phantom import label_volume
from vipet.synth.planting import measure_suvmax
from vipet.synth.population import (
    STREAM_ANATOMY, STREAM_FINDINGS, STREAM_NOISE, STREAM_REPORT, STREAM_VQA, StudyPlan, plan_study, study_rng,
)
from vipet.synth.report_writer import expert_lesion, write_report
from vipet.synth.scanner import grids, make_ct, make_pet, preset
from vipet.synth.shapes import Grid
from vipet.synth.sites import LabelLookup
from vipet.synth.vqa_facts import vqa_facts

AVID_MIN_SUV = 1.8  # below this a planned-avid lesion reads as non-avid (it vanished into blur)
HIGH_UPTAKE_SUV = 3.0  # "tăng chuyển hóa" above, "tăng nhẹ" below
_LOOKUP_XY, _LOOKUP_Z = 96, 6.6  # sampling grid of finding positions, the same for every size


def generate_study(index: int, seed: int, size: str = "small") -> tuple[Study, dict[str, Any]]:
    """Study `index` of the cohort drawn with `seed`, and its truth record (see `truth_record`)."""
    if index < 0 or seed < 0:
        raise SynthError(f"index and seed must be non-negative, got index={index}, seed={seed}")
    size_preset = preset(size)
    plan = plan_study(seed, index)
    person = plan.person

    rng = study_rng(seed, index, STREAM_ANATOMY)
    body = sample_body(rng, person.sex, person.height_m, person.weight_kg)
    phys = sample_physiology(rng)
    ct_grid, pet_grid = grids(body, size_preset)
    lookup_grid = Grid((int(np.ceil(body.fov_depth_mm() / _LOOKUP_Z)), _LOOKUP_XY, _LOOKUP_XY),
                       (_LOOKUP_Z, FOV_MM / _LOOKUP_XY, FOV_MM / _LOOKUP_XY))
    lookup = LabelLookup(label_volume(body, lookup_grid), lookup_grid)
    findings = sample_findings(study_rng(seed, index, STREAM_FINDINGS), body, lookup, person.diagnosis)

    noise_rng = study_rng(seed, index, STREAM_NOISE)
    labels_ct = label_volume(body, ct_grid)
    ct_hu = make_ct(labels_ct, phys, ct_grid, findings, size_preset, noise_rng)
    del labels_ct
    labels_pet = label_volume(body, pet_grid)
    pet = make_pet(labels_pet, phys, pet_grid, findings, size_preset, noise_rng)
    for i, finding in enumerate(findings):
        _classify_uptake(finding, measure_suvmax(pet.suv, pet.masks[i]))

    report, sentences, style = write_report(findings, study_rng(seed, index, STREAM_REPORT))
    questions = vqa_facts(findings, study_rng(seed, index, STREAM_VQA))

    ct_array, pet_array = ct_hu, pet.suv
    if not plan.head_first:
        ct_array, pet_array = np.ascontiguousarray(ct_hu[::-1]), np.ascontiguousarray(pet.suv[::-1])
    from vipet.io.orient import default_affine

    study = Study(
        key=plan.key,
        ct=Volume(ct_array, ct_grid.spacing, HU, default_affine(ct_grid.shape, ct_grid.spacing, plan.head_first)),
        pet=Volume(pet_array, pet_grid.spacing, SUV_BW, default_affine(pet_grid.shape, pet_grid.spacing, plan.head_first)),
        patient=Patient(id=plan.patient_id, sex=person.sex, height_m=person.height_m, weight_kg=person.weight_kg),
        study_date=plan.study_date,
        report=report,
        head_first=plan.head_first,
        source=f"vipet.synth seed={seed} index={index} size={size}",
        provenance={"generator": "vipet.synth", "version": __version__, "seed": seed, "index": index, "size": size},
    )
    truth = truth_record(plan, seed, size, findings, sentences, ct_grid, pet_grid, study, questions,
                         {"hoa": style.hoa, "decimal": style.decimal, "suv_label": style.suv_label})
    truth["noiseless_suv_max"] = [None if v is None else round(v, 3) for v in pet.noiseless_max.values()]
    return study, truth


def _classify_uptake(finding: Finding, measured: float | None) -> None:
    """Report value and wording from what a reader measures on the final image."""
    finding.suv_measured = None if measured is None else round(float(measured), 3)
    if finding.avid_planned and measured is not None and measured >= AVID_MIN_SUV:
        finding.suv_max = round(float(measured), 1)
        finding.uptake = "high" if finding.suv_max >= HIGH_UPTAKE_SUV else "mild"
    else:
        finding.suv_max, finding.uptake = None, "none"


def _stored_index(grid: Grid, point: tuple[float, float, float], head_first: bool) -> list[float]:
    """Continuous (z, y, x) index of a phantom point in the array as stored (flipped when feet-first)."""
    idx = grid.to_index(point)
    if not head_first:
        idx[0] = grid.shape[0] - 1 - idx[0]
    return [float(v) for v in idx]


def truth_record(plan: StudyPlan, seed: int, size: str, findings: list[Finding], sentences: dict[int, str],
                 ct_grid: Grid, pet_grid: Grid, study: Study, questions: list[dict], style: dict) -> dict[str, Any]:
    """The `truth.jsonl` line of one study (format documented in `vipet/synth/__init__.py`)."""
    lesions = []
    for i, f in enumerate(findings):
        lead = f.members[0]
        ct_idx = _stored_index(ct_grid, lead.center, plan.head_first)
        size_words = [w for w in ("kích thước vài mm", "đường kính vài mm") if w in sentences[i]]
        lesions.append({
            "kind": f.kind, "region": f.region, "section": f.section, "organ": f.organ, "side": f.side,
            "lobe": f.lobe, "station": f.station, "site": f.site, "texture": f.texture,
            "size_mm": list(f.size_mm) if f.size_mm else None, "count": f.count,
            "suv_max": f.suv_max, "suv_measured": f.suv_measured,
            "suv_target": None if lead.suv_target is None else round(lead.suv_target, 3),
            "uptake": f.uptake, "avid": f.suv_max is not None, "invasion": f.invasion, "amount": f.amount,
            "judgement": f.judgement, "incidental": f.incidental,
            "center_ct_index": [int(round(v)) for v in ct_idx],
            "center_pet_index": [int(round(v)) for v in _stored_index(pet_grid, lead.center, plan.head_first)],
            "center_mm": [round(v * s, 2) for v, s in zip(ct_idx, ct_grid.spacing)],
            "semi_axes_mm": [round(s, 2) for s in lead.semi],
            "members": [{"center_ct_index": [int(round(v)) for v in _stored_index(ct_grid, m.center, plan.head_first)],
                         "semi_axes_mm": [round(s, 2) for s in m.semi]} for m in f.members],
            "report_sentence": sentences[i], "size_few_mm": bool(size_words),
            "expert": expert_lesion(f),
        })
    person = plan.person
    assert study.ct is not None and study.pet is not None and study.report is not None
    return {
        "key": plan.key, "index": plan.index, "seed": seed, "size": size, "diagnosis": person.diagnosis,
        "patient": {"id": plan.patient_id, "person": person.person_id, "sex": person.sex,
                    "height_m": person.height_m, "weight_kg": person.weight_kg,
                    "repeat_of_index": plan.repeat_of, "same_person": plan.same_person},
        "study_date": plan.study_date.isoformat(), "split_hint": plan.split_hint, "head_first": plan.head_first,
        "ct_shape": list(study.ct.shape), "pet_shape": list(study.pet.shape),
        "ct_spacing": list(study.ct.spacing), "pet_spacing": list(study.pet.spacing),
        "lesions": lesions, "report": study.report.to_json(), "report_text": study.report.full_text(),
        "style": style, "vqa": questions,
    }
