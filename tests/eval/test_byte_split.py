"""Byte-level `str.split()` ids: tokens that share their first 8 or 16 bytes stay apart, a hash collision
or a non-ASCII space falls back to the plain path, and the ids are numbered by first occurrence."""

from __future__ import annotations

from collections import defaultdict
from itertools import count

import numpy as np

from vipet.eval import byte_split
from vipet.eval.byte_split import split_ids
from vipet.eval.ngrams import encode_corpus, encode_texts


def _dict_ids(texts: list[str]) -> tuple[list[int], list[int], int]:
    vocab: defaultdict[str, int] = defaultdict(count().__next__)
    ids = [vocab[token] for text in texts for token in text.split()]
    return ids, [len(text.split()) for text in texts], len(vocab)


def _as_lists(split) -> tuple[list[int], list[int], int]:
    ids, counts, vocab_size = split
    return ids.tolist(), counts.tolist(), vocab_size


def test_tokens_sharing_their_first_8_or_16_bytes_stay_apart():
    stems = ["abcdefgh", "abcdefg", "abcdefghi", "abcdefghij", "abcdefgh" * 2, "abcdefgh" * 2 + "x", "abcdefgh" * 2 + "y",
             "ngườiđẹp", "ngườiđẹpx", "ễễễễễễ", "ễễễễễễx"]
    texts = [" ".join(stems), " ".join(reversed(stems)), "", "  \t\n", " ".join(stems[::2])]
    assert _as_lists(split_ids(texts)) == _dict_ids(texts)


def test_a_hash_collision_falls_back_to_the_plain_path(monkeypatch):
    texts = ["a b c", "b d", "nghiêng nghiêng"]
    monkeypatch.setattr(byte_split, "_LOW_MIX", np.uint64(0))  # every token hashes to 0
    monkeypatch.setattr(byte_split, "_HIGH_MIX", np.uint64(0))
    assert split_ids(texts) is None
    corpus, expected = encode_texts(texts[:1], [texts[1:]]), encode_corpus([texts[0].split()], [[t.split() for t in texts[1:]]])
    assert corpus.ids.tolist() == expected.ids.tolist() and corpus.offsets.tolist() == expected.offsets.tolist()


def test_one_repeated_token_is_no_collision(monkeypatch):
    monkeypatch.setattr(byte_split, "_LOW_MIX", np.uint64(0))
    monkeypatch.setattr(byte_split, "_HIGH_MIX", np.uint64(0))
    assert _as_lists(split_ids(["x x", "x"])) == ([0, 0, 0], [2, 1], 1)


def test_non_ascii_spaces_and_nul_take_the_plain_path():
    assert split_ids(["a\u00a0b"]) is None
    assert split_ids(["a b", "c\u3000d"]) is None
    assert split_ids(["a\x00b"]) is None
    assert _as_lists(split_ids(["a\x1fb\x01c"])) == _dict_ids(["a\x1fb\x01c"])  # \x1f splits, \x01 does not


def test_no_texts_and_no_tokens():
    assert _as_lists(split_ids([])) == ([], [], 0)
    assert _as_lists(split_ids(["", " "])) == ([], [0, 0], 0)
