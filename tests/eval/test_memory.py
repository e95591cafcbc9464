"""`evaluate` memory follows a chunk of samples, not the corpus, and chunking changes no digit.

Issue 20: 50 MB of predictions took 10.5 GB (about 200x the file), most of it chrF's character
6-gram rows and the word n-gram rows of the whole corpus built at once.
"""

from __future__ import annotations

import json
import random
import tracemalloc

import numpy as np
import pytest

from vipet.eval import cider, nlg
from vipet.eval.evaluate import evaluate_predictions
from vipet.eval.io import load_predictions
from vipet.eval.ngrams import count_ngrams, encode_corpus
from vipet.eval.profiles import get_profile


def _pairs(texts: list[str], n: int, seed: int) -> tuple[list[str], list[list[str]]]:
    """`n` (prediction, references) pairs: shuffled and cut sentences of other reports (distinct texts,
    shared n-grams), an empty prediction, and every fourth sample with two references."""
    rng = random.Random(seed)
    sentences = [s.strip() + "." for t in texts for s in t.split(".") if s.strip()]
    predictions, references = [], []
    for i in range(n):
        ref = " ".join(rng.sample(sentences, rng.randint(2, 8)))
        pred = " ".join(rng.sample(sentences, rng.randint(0, 8)))
        predictions.append(pred)
        references.append([ref] if i % 4 else [ref, " ".join(rng.sample(sentences, 3))])
    predictions[3] = ""
    return predictions, references


@pytest.mark.parametrize("profile", ["default", "coco", "vipet-vlm"])
@pytest.mark.parametrize("tokens,characters", [(1, 1), (37, 301), (400, 5000)])
def test_scores_in_chunks_equal_the_whole_corpus_to_the_last_bit(synthetic_texts, monkeypatch, profile, tokens, characters):
    predictions, references = _pairs(synthetic_texts, 41, seed=3)
    whole = nlg.nlg_blocks(predictions, references, get_profile(profile))
    monkeypatch.setattr(nlg, "CHUNK_TOKENS", tokens)
    monkeypatch.setattr(nlg, "CHUNK_CHARACTERS", characters)
    chunked = nlg.nlg_blocks(predictions, references, get_profile(profile))
    assert [b.names for b in chunked] == [b.names for b in whole]
    for a, b in zip(chunked, whole):
        assert a.stats.dtype == b.stats.dtype and a.stats.shape == b.stats.shape
        assert a.stats.tobytes() == b.stats.tobytes(), a.names
        assert a.value() == b.value()


def test_cider_of_each_chunk_uses_the_document_frequency_of_the_whole_corpus(synthetic_texts):
    predictions, references = _pairs(synthetic_texts, 30, seed=5)
    tokenize = get_profile("default").tokenize
    full = encode_corpus([tokenize(p) for p in predictions], [[tokenize(r) for r in refs] for refs in references])
    expected = cider.cider_d(full, count_ngrams(full, 4))
    store = nlg._token_store(predictions, references, tokenize)
    assert store.corpus(0, store.n_samples).ids.tolist() == full.ids.tolist()  # the whole corpus's ids
    frequencies = cider.DocumentFrequency(lambda: store.chunks(200), store.vocab_size, store.n_samples)
    parts = [cider.cider_d(c, count_ngrams(c, 4), frequencies=frequencies) for c in store.chunks(200)]
    assert len(parts) > 3
    assert np.concatenate(parts).tobytes() == expected.tobytes()
    # A chunk alone (its own idf) scores differently: the corpus-wide frequencies are what makes it equal.
    alone = np.concatenate([cider.cider_d(c, count_ngrams(c, 4)) for c in store.chunks(200)])
    assert alone.tobytes() != expected.tobytes()


def _write_predictions(path, texts: list[str], target_bytes: int) -> int:
    predictions, references = _pairs(texts, 100_000, seed=11)
    size = 0
    with path.open("w", encoding="utf-8") as handle:
        for i, (pred, refs) in enumerate(zip(predictions, references)):
            line = json.dumps({"id": f"s{i}", "task": "report", "model": "m", "study": f"study{i // 2}",
                               "prediction": pred, "reference": refs[0]}, ensure_ascii=False) + "\n"
            handle.write(line)
            size += len(line.encode("utf-8"))
            if size >= target_bytes:
                return size
    raise AssertionError("not enough samples for the target size")


def test_evaluate_peak_memory_stays_under_10x_the_input(synthetic_texts, tmp_path):
    """Load and score about 1 MB of predictions under tracemalloc (numpy reports its buffers to it):
    the peak stays under 10 times the file. The code before chunking peaked at about 200x."""
    path = tmp_path / "predictions.jsonl"
    size = _write_predictions(path, synthetic_texts, 1_000_000)
    get_profile("default").tokenize("khởi động")  # the tokenizer's own tables are not the input's cost
    tracemalloc.start()
    try:
        records = load_predictions(path)
        metrics = evaluate_predictions(records, n_resamples=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert metrics["results"]["m"]["report"]["nlg"]["n"] == len(records) > 500
    assert peak / size < 10, f"peak {peak / 1e6:.1f} MB for {size / 1e6:.1f} MB of predictions ({peak / size:.1f}x)"
