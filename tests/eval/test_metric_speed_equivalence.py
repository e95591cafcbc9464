"""The fast n-gram paths give the same numbers: byte tokenisation equals `str.split`, BLEU statistics
equal pycocoevalcap's cooked counts exactly, CIDEr-D equals bit for bit a plain-Python transcription of
its formula summed in n-gram order, and ROUGE-N's per-reference matches equal dict counts, on seeded
random Vietnamese corpora (several references, empty texts, repeated words, long tokens)."""

from __future__ import annotations

import contextlib
import io
import random
import sys
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vipet.eval import bleu, cider
from vipet.eval.byte_split import OTHER_SPACES
from vipet.eval.ngrams import count_ngrams, encode_corpus, encode_texts, overlap, sample_chunks

SYLLABLES = ("hình ảnh tăng chuyển hóa fdg ở thùy trên dưới phổi phải trái hạch trung thất nốt mờ bờ tua gai "
             "suvmax không phát hiện tràn dịch gan lách thận xương di căn nghiêng khuỷu trường").split()
LONG_TOKENS = ["cổ-ngực-thắt-lưng", "18f-fdg/ct-toàn-thân"]  # over 16 UTF-8 bytes: the dict path


def _corpus_texts(rng: random.Random, n: int, max_words: int = 30) -> tuple[list[str], list[list[str]]]:
    pool = SYLLABLES + LONG_TOKENS
    def text() -> str:
        return " ".join(rng.choice(pool[: rng.randint(3, len(pool))]) for _ in range(rng.randint(0, max_words)))
    return [text() for _ in range(n)], [[text() for _ in range(rng.randint(1, 3))] for _ in range(n)]


def _same_corpus(a, b) -> bool:
    return (np.array_equal(a.ids, b.ids) and np.array_equal(a.offsets, b.offsets) and np.array_equal(a.ref_owner, b.ref_owner)
            and a.n_samples == b.n_samples and a.vocab_size == b.vocab_size)


def test_the_other_spaces_are_every_non_ascii_character_str_split_splits_on():
    splitting = {chr(c) for c in range(128, sys.maxunicode + 1) if len(f"a{chr(c)}b".split()) == 2}
    assert splitting == set(OTHER_SPACES)


TEXT_PIECES = ["a", "ả", "ờ", "nghiêng", "ễ" * 6, "y" * 16, "x" * 17, " ", "  ", "\t", "\n", "\r\n", "\x0b", "\x1c",
               "\x1f", "\x01", "\x7f", "\xa0", "\u3000", "\u2009", "\x00", "°", "–", "1,5", "."]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(st.sampled_from(TEXT_PIECES), max_size=12).map("".join),
                          st.lists(st.lists(st.sampled_from(TEXT_PIECES), max_size=12).map("".join), min_size=1, max_size=3)),
                min_size=1, max_size=5))
def test_byte_tokenisation_equals_str_split(samples):
    hyps = [h for h, _ in samples]
    refs = [r for _, r in samples]
    expected = encode_corpus([h.split() for h in hyps], [[r.split() for r in rs] for rs in refs])
    assert _same_corpus(encode_texts(hyps, refs), expected)


def test_byte_tokenisation_equals_str_split_on_real_sized_reports():
    rng = random.Random(3)
    hyps, refs = _corpus_texts(rng, 200, max_words=400)
    expected = encode_corpus([h.split() for h in hyps], [[r.split() for r in rs] for rs in refs])
    assert _same_corpus(encode_texts(hyps, refs), expected)


@pytest.mark.parametrize("chunk_tokens", [7, 60, 65_536])
@pytest.mark.parametrize("seed", range(12))
def test_bleu_statistics_equal_pycocoevalcap_cooked_counts(seed, chunk_tokens, monkeypatch):
    from pycocoevalcap.bleu.bleu_scorer import cook_refs, cook_test

    monkeypatch.setattr(bleu, "CHUNK_TOKENS", chunk_tokens)  # counted in chunks of whole samples, or at once
    rng = random.Random(seed)
    hyps, refs = _corpus_texts(rng, rng.randint(1, 25))
    stats = bleu.bleu_stats(encode_texts(hyps, refs))
    for i, (hyp, ref_list) in enumerate(zip(hyps, refs)):
        cooked = cook_test(hyp, cook_refs(ref_list), eff="closest")
        assert stats[i].tolist() == [*cooked["correct"], *cooked["guess"], cooked["testlen"], cooked["reflen"]]


@pytest.mark.parametrize("chunk_tokens", [3, 65_536])
@pytest.mark.parametrize("seed", range(10))
def test_bleu_scores_equal_pycocoevalcap(seed, chunk_tokens, monkeypatch):
    from pycocoevalcap.bleu.bleu import Bleu

    monkeypatch.setattr(bleu, "CHUNK_TOKENS", chunk_tokens)

    rng = random.Random(100 + seed)
    hyps, refs = _corpus_texts(rng, rng.randint(2, 30))
    gts = {i: r for i, r in enumerate(refs)}
    res = {i: [h] for i, h in enumerate(hyps)}
    with contextlib.redirect_stdout(io.StringIO()):
        oracle, oracle_per_sample = Bleu(4).compute_score(gts, res)
    ours, ours_per_sample = bleu.compute_score(gts, res)
    assert np.max(np.abs(np.array(oracle) - np.array(ours))) < 1e-9
    assert np.max(np.abs(np.array(oracle_per_sample).T - ours_per_sample)) < 1e-9


@pytest.mark.parametrize("seed", range(10))
def test_sample_chunks_partition_the_corpus(seed):
    rng = random.Random(500 + seed)
    corpus = encode_texts(*_corpus_texts(rng, rng.randint(1, 15)))
    chunks = sample_chunks(corpus, rng.choice([1, 5, 40]))
    assert sum(c.n_samples for c in chunks) == corpus.n_samples
    assert np.array_equal(np.concatenate([c.hyp_lengths for c in chunks]), corpus.hyp_lengths)
    assert np.array_equal(np.concatenate([c.ref_lengths for c in chunks]), corpus.ref_lengths)
    assert np.array_equal(np.concatenate([c.ref_owner + sum(x.n_samples for x in chunks[:i]) for i, c in enumerate(chunks)]), corpus.ref_owner)
    assert sorted(np.concatenate([c.ids for c in chunks]).tolist()) == sorted(corpus.ids.tolist())


def _ngram_counts(tokens: list[int], n: int) -> list[Counter]:
    return [Counter(tuple(tokens[i : i + k + 1]) for i in range(len(tokens) - k)) for k in range(n)]


def _cider_by_hand(hyps: list[list[str]], refs: list[list[list[str]]], n: int = 4, sigma: float = 6.0) -> np.ndarray:
    """CIDEr-D as its docstring states it, in plain Python, every vector summed in n-gram order
    (lexicographic over first-occurrence token ids); logs and exps by numpy on whole arrays."""
    vocab: dict[str, int] = {}
    for tokens in [*hyps, *(r for rs in refs for r in rs)]:
        for token in tokens:
            vocab.setdefault(token, len(vocab))
    hyp_counts = [_ngram_counts([vocab[t] for t in h], n) for h in hyps]
    ref_counts = [[_ngram_counts([vocab[t] for t in r], n) for r in rs] for rs in refs]
    df: Counter = Counter()
    for sample in ref_counts:
        df.update({gram for ref in sample for order in ref for gram in order})
    grams = sorted(set(df) | {g for h in hyp_counts for order in h for g in order}, key=lambda g: (len(g), g))
    idf_values = np.log(float(len(hyps))) - np.log(np.maximum(1.0, np.array([float(df[g]) for g in grams])))
    idf = dict(zip(grams, idf_values.tolist()))

    def vector(counts: list[Counter]) -> tuple[list[dict], list[float]]:
        values = [{g: c * idf[g] for g, c in sorted(order.items())} for order in counts]
        norms = []
        for order in values:
            total = 0.0
            for value in order.values():
                total += value**2
            norms.append(float(np.sqrt(total)))
        return values, norms

    scores = []
    for hyp, sample in zip(hyp_counts, ref_counts):
        hyp_values, hyp_norms = vector(hyp)
        hyp_bigrams = sum(hyp[1].values()) if n > 1 else 0
        per_ref = []
        for ref in sample:
            ref_values, ref_norms = vector(ref)
            cosines = []
            for k in range(n):
                dot = 0.0
                for gram, value in ref_values[k].items():
                    dot += min(hyp_values[k].get(gram, 0.0), value) * value
                both = hyp_norms[k] != 0 and ref_norms[k] != 0
                cosines.append(dot / (hyp_norms[k] * ref_norms[k]) if both else dot)
            delta = float(hyp_bigrams - (sum(ref[1].values()) if n > 1 else 0))
            per_ref.append(np.array(cosines) * np.exp(-(np.array([delta]) ** 2) / (2 * sigma**2)))
        summed = np.zeros(n)
        for row in per_ref:
            summed = summed + row
        scores.append(summed)
    return np.array(scores).mean(axis=1) / np.array([len(s) for s in refs]) * 10.0


@pytest.mark.parametrize("seed", range(20))
def test_cider_equals_its_formula_bit_for_bit(seed):
    rng = random.Random(200 + seed)
    hyps, refs = _corpus_texts(rng, rng.randint(1, 20))
    hyp_tokens = [h.split() for h in hyps]
    ref_tokens = [[r.split() for r in rs] for rs in refs]
    expected = _cider_by_hand(hyp_tokens, ref_tokens)
    corpus = encode_texts(hyps, refs)
    assert cider.cider_d(corpus).tolist() == expected.tolist()
    assert cider.cider_d(corpus, count_ngrams(corpus, 4)).tolist() == expected.tolist()


@pytest.mark.parametrize("seed", range(5))
def test_cider_scores_equal_pycocoevalcap(seed):
    from pycocoevalcap.cider.cider import Cider

    rng = random.Random(300 + seed)
    hyps, refs = _corpus_texts(rng, rng.randint(2, 30))
    gts = {i: r for i, r in enumerate(refs)}
    res = {i: [h] for i, h in enumerate(hyps)}
    oracle, oracle_per_sample = Cider().compute_score(gts, res)
    ours, ours_per_sample = cider.compute_score(gts, res)
    assert abs(oracle - ours) < 1e-9
    assert np.max(np.abs(oracle_per_sample - ours_per_sample)) < 1e-9


@pytest.mark.parametrize("seed", range(10))
def test_per_reference_matches_equal_dict_counts(seed):
    rng = random.Random(400 + seed)
    hyps, refs = _corpus_texts(rng, rng.randint(1, 20))
    corpus = encode_texts(hyps, refs)
    stats = overlap(corpus, count_ngrams(corpus, 4))
    r = 0
    for hyp, ref_list in zip(hyps, refs):
        hyp_counts = _ngram_counts(hyp.split(), 4)
        for ref in ref_list:
            ref_counts = _ngram_counts(ref.split(), 4)
            expected = [sum(min(c, hyp_counts[k][g]) for g, c in ref_counts[k].items()) for k in range(4)]
            assert stats.per_ref_match[r].tolist() == expected
            assert stats.ref_total[r].tolist() == [sum(ref_counts[k].values()) for k in range(4)]
            r += 1
    assert stats.hyp_total.tolist() == [[sum(c[k].values()) for k in range(4)] for c in (_ngram_counts(h.split(), 4) for h in hyps)]
