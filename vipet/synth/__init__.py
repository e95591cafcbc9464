"""Synthetic whole-body FDG PET/CT cohort with Vietnamese reports and exact ground truth.

    study, truth = generate_study(index, seed, size="small")     # in memory
    write_cohort(out, n, seed, format="vimed", size="small")      # on disk, resumable

`truth.jsonl` (one JSON object per line, sorted by index) holds for every study:
    key, index, seed, size, format, diagnosis ("normal"|"benign"|"inflammatory"|"lung_cancer"|"lymphoma"),
    patient {id, person, sex, height_m, weight_kg, repeat_of_index, same_person}, study_date, split_hint,
    head_first (slice order of the STORED arrays), ct_shape, pet_shape, ct_spacing, pet_spacing (z, y, x mm),
    suv_per_unit (ViMed-PET only), files, report (ViMed-PET JSON), report_text, style, vqa
    [{question, answer, type, closed, region}], noiseless_suv_max, and lesions, each:
        kind (lung_mass|lung_nodule|lung_ggo|lymph_node|pleural_effusion|pleural_thickening|liver_lesion|bone_lesion),
        region (head_neck|chest|abdomen_pelvis), section (report section key), organ, side, lobe, station,
        site (Vietnamese location), texture, size_mm [left-right, antero-posterior] or null, count,
        suv_max (the value the report prints; null when non-avid), suv_measured, suv_target, uptake
        (none|mild|high), avid, invasion, amount, judgement (primary_malignant|likely_malignant|metastasis|
        lymphoma|inflammatory|benign|follow_up|none), incidental, center_ct_index [z, y, x] and
        center_pet_index in the STORED arrays, center_mm (= center_ct_index x CT spacing), semi_axes_mm
        (z, y, x), members [{center_ct_index, semi_axes_mm}], report_sentence, size_few_mm, expert (6 keys).
SUVmax truth is what a reader measures: the maximum of the final PET over voxels at least half
inside the lesion solids (or the voxel most inside, for lesions smaller than a voxel).
"""

from vipet.synth.cohort import generate_study
from vipet.synth.writer import write_cohort

__all__ = ["generate_study", "write_cohort"]
