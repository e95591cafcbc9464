"""chrF: hand cases and equality with sacrebleu's corpus chrF on real reports."""

from __future__ import annotations

import pytest

from vipet.eval import chrf


def test_identical_and_disjoint():
    assert chrf.corpus_chrf(["ab"], [["ab"]]) == pytest.approx(100.0)
    assert chrf.corpus_chrf(["ab"], [["cd"]]) == 0.0


def test_effective_order_by_hand():
    # order 1: 1 match of 2 each side; order 2: 0 of 1; orders 3-6: no n-grams (not effective)
    # avg P = avg R = 0.25 -> F2 = 5 * 0.0625 / (4 * 0.25 + 0.25) = 0.25
    assert chrf.corpus_chrf(["ab"], [["ac"]]) == pytest.approx(25.0, abs=1e-12)


def test_whitespace_is_removed_and_case_kept():
    assert chrf.corpus_chrf(["a b"], [["ab"]]) == pytest.approx(100.0)
    assert chrf.corpus_chrf(["AB"], [["ab"]]) == 0.0


def test_equals_sacrebleu(corpus_pairs):
    import sacrebleu

    predictions, references = corpus_pairs
    streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(max(map(len, references)))]
    oracle = sacrebleu.corpus_chrf(predictions, streams).score
    assert abs(chrf.corpus_chrf(predictions, references) - oracle) < 1e-9
    single = [[refs[0]] for refs in references]
    oracle = sacrebleu.corpus_chrf(predictions, [[r[0] for r in single]]).score
    assert abs(chrf.corpus_chrf(predictions, single) - oracle) < 1e-9
