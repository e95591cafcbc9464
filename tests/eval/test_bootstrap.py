"""Bootstrap: vectorised resamples equal recomputing the metric on resampled data; paired test behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from vipet.eval.bootstrap import bootstrap_block, paired_bootstrap, resample_weights
from vipet.eval.clinical import clinical_blocks, clinical_f1, compare_patient
from vipet.eval.nlg import nlg_blocks, score_nlg
from vipet.schema import Lesion


def _expand(weights_row: np.ndarray) -> list[int]:
    return [i for i, count in enumerate(weights_row.astype(int)) for _ in range(count)]


@pytest.mark.parametrize("profile", ["coco", "vipet-vlm"])
def test_resampled_scores_equal_scores_of_resampled_corpora(corpus_pairs, profile):
    predictions, references = (list(x[:12]) for x in corpus_pairs)
    blocks = nlg_blocks(predictions, references, profile)
    weights = next(resample_weights(len(predictions), 3, seed=7))
    for row in weights:
        picked = _expand(row)
        direct = score_nlg([predictions[i] for i in picked], [references[i] for i in picked], profile)
        for block in blocks:
            resampled = block.resampled(row[None, :])[0]
            for name, value in zip(block.names, resampled):
                if name == "cider_d":
                    continue  # CIDEr's idf is held fixed from the full corpus on purpose (module docstring)
                assert value == pytest.approx(direct[name], abs=1e-9), name


def test_clinical_resamples_equal_recomputed_f1():
    nodule = Lesion(type="Nốt mờ", location="thùy trên phổi phải", uptake="Cao", suv_max=3.0)
    node = Lesion(type="Hạch", location="dưới carina", uptake="Không tăng")
    preds = [[nodule], [node, node], [], [nodule, node]]
    refs = [[nodule], [node], [nodule], [node]]
    block = clinical_blocks([compare_patient(p, r) for p, r in zip(preds, refs)])[0]
    for row in next(resample_weights(4, 5, seed=1)):
        picked = _expand(row)
        direct = clinical_f1([preds[i] for i in picked], [refs[i] for i in picked])
        values = dict(zip(block.names, block.resampled(row[None, :])[0]))
        for metric in ("F1-T", "F1-TP", "F1-TF", "F1-TPF"):
            assert values[metric] == pytest.approx(direct[metric]["f1"], abs=1e-9)


def test_weights_are_deterministic_and_sum_to_n():
    a = np.concatenate(list(resample_weights(10, 50, seed=3)))
    b = np.concatenate(list(resample_weights(10, 50, seed=3)))
    assert a.shape == (50, 10) and np.array_equal(a, b) and np.all(a.sum(axis=1) == 10)
    assert not np.array_equal(a, np.concatenate(list(resample_weights(10, 50, seed=4))))


def test_interval_contains_the_estimate_and_clusters_move_together(corpus_pairs):
    predictions, references = corpus_pairs
    block = nlg_blocks(predictions, references, "vipet-vlm")[1]
    result = bootstrap_block(block, [str(i) for i in range(len(predictions))], 300, seed=0)
    low, high = result["rouge_l"]["ci95"]
    assert low <= result["rouge_l"]["value"] <= high and high - low > 1.0
    # one cluster for everything: every resample is the full corpus, the interval collapses
    same = bootstrap_block(block, ["study"] * len(predictions), 50, seed=0)
    assert same["rouge_l"]["ci95"] == pytest.approx([same["rouge_l"]["value"]] * 2)


def test_paired_bootstrap(corpus_pairs):
    predictions, references = corpus_pairs
    clusters = [str(i) for i in range(len(predictions))]
    good = nlg_blocks([r[0] for r in references], references, "vipet-vlm")
    bad = nlg_blocks(predictions, references, "vipet-vlm")
    same = paired_bootstrap(bad[0], bad[0], clusters, 200, seed=0)["bleu_4"]
    assert same["delta"] == 0.0 and same["ci95"] == [0.0, 0.0] and same["p_value"] == 1.0
    better = paired_bootstrap(good[1], bad[1], clusters, 200, seed=0)["rouge_l"]
    assert better["delta"] > 0 and better["ci95"][0] > 0 and better["p_value"] < 0.01
