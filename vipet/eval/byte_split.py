"""Token ids of `str.split()` over many texts at once, computed on their UTF-8 bytes in numpy.

Why: the reference scorers split every text into Python strings and look each one up in a dict,
a few hundred nanoseconds per token; on 370-word reports that is a large part of a metric's run
time. In UTF-8 every ASCII whitespace byte is that character and no other character contains
one, so the token boundaries are byte comparisons. Each token's first 8 bytes (and the next 8 of
the few longer ones) are read as 64-bit words, tokens are grouped by one sort of a hash of the
words, and every token is then checked to equal its group's first token, so the ids are exact:
equal ids mean equal tokens. Texts holding a NUL, a token holding a non-ASCII space
(`OTHER_SPACES`, looked for in the distinct tokens only), and hash collisions are left to the
caller's plain `str.split` path (the function returns None); tokens longer than 16 bytes (rare)
are told apart by a dict of their bytes.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

# Characters `str.split()` splits on besides the ASCII ones (the tests check this list against
# every code point): texts holding any of them take the plain `str.split` path.
OTHER_SPACES = "\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_OTHER_SPACE = re.compile("[" + OTHER_SPACES + "]")
_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[list(b" \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f")] = True
_PACKED_BYTES = 16  # tokens up to this many UTF-8 bytes are packed into two 64-bit words
_PADDING = " " * _PACKED_BYTES  # a last "text" after the texts, so a 16-byte read from any token start stays inside
# Left-then-right shifts that keep the first min(length, 8) bytes of a token's low word and the
# next ones of its high word, by token length 0..16.
_LOW_SHIFT = np.array([64 - 8 * min(length, 8) for length in range(17)], dtype=np.uint64)
_HIGH_SHIFT = np.array([64 - 8 * max(length - 8, 0) for length in range(17)], dtype=np.uint64)
_LOW_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd multipliers of the token hash
_HIGH_MIX = np.uint64(0xC2B2AE3D27D4EB4F)


def split_ids(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(int64 token ids, tokens per text, vocabulary size) of `text.split()` for every text, or
    None when the texts need the plain path. Ids are numbered by first occurrence over the texts
    in order, as a dict filled token by token would number them."""
    n_texts = len(texts)
    if n_texts == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 0
    # NUL (absent from the texts, else the fallback) separates them; the padding comes last.
    data = "\x00".join([*texts, _PADDING]).encode("utf-8")
    blob = np.frombuffer(data, dtype=np.uint8)
    control = np.flatnonzero(blob < 32)  # the few bytes below the space: whitespace, NUL separators or other controls
    control_bytes = blob[control]
    separators = control[control_bytes == 0]
    if len(separators) != n_texts:
        return None
    word = np.zeros(len(blob) + 1, dtype=bool)  # word[i + 1]: byte i is inside a token; word[0] = False
    np.greater(blob, 32, out=word[1:])  # bytes above the space are never whitespace
    word[control + 1] = ~_ASCII_SPACE[control_bytes] & (control_bytes != 0)
    # Token starts and ends alternate (the padding ends the bytes with spaces).
    edges = np.flatnonzero(word[1:] != word[:-1])
    starts, ends = edges[0::2], edges[1::2]
    counts_per_text = np.diff(np.searchsorted(starts, separators), prepend=0).astype(np.int64)
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64), counts_per_text, 0
    grouped = _group_tokens(data, blob, starts, ends)
    if grouped is None:
        return None
    ids, first_seen = grouped
    # A non-ASCII space is inside a byte token (its bytes are all above the space): look for one
    # in the distinct tokens only.
    distinct = b"\x00".join([data[s:e] for s, e in zip(starts[first_seen].tolist(), ends[first_seen].tolist())])
    if _OTHER_SPACE.search(distinct.decode("utf-8")):
        return None
    return ids, counts_per_text, len(first_seen)


def _group_tokens(data: bytes, blob: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Exact first-occurrence ids of the tokens data[starts[i]:ends[i]] with the first token of
    each id, in id order (None on a hash collision).

    A token's first 8 bytes (zero-padded) are its low word. Tokens under 8 bytes have a zero byte
    in it and longer ones none (token bytes are never NUL), so two tokens with equal low words are
    either both short, and then equal, or both "wide" (8 bytes or more): only the wide ones (a few
    percent of report tokens) need their next 8 bytes, the high word, compared. Written with
    in-place operations: on a busy machine fresh temporaries (page faults) cost more than arithmetic.
    """
    n_tokens = len(starts)
    token_bytes = ends - starts
    wide = np.flatnonzero(token_bytes >= 8)
    index_bits = max(int(n_tokens - 1).bit_length(), 1)
    hash_bits = 63 - index_bits
    if hash_bits < 32:
        return None
    # Every byte offset read as a (little-endian, unaligned) 64-bit word; a token's word is one
    # gather, with the bytes past its end shifted out (shifts of 64 give 0 in numpy).
    at_offset = np.ndarray((len(blob) - 7,), dtype="<u8", buffer=data, strides=(1,))
    low = at_offset[starts]
    shift = _LOW_SHIFT[np.minimum(token_bytes, 8, out=token_bytes)]
    low <<= shift
    low >>= shift
    mixed = shift  # reused
    with np.errstate(over="ignore"):
        np.multiply(low, _LOW_MIX, out=mixed)
        wide_bytes = ends[wide] - starts[wide]
        high = at_offset[starts[wide] + 8]
        high_shift = _HIGH_SHIFT[np.minimum(wide_bytes, _PACKED_BYTES)]
        high <<= high_shift
        high >>= high_shift
        mixed[wide] ^= high * _HIGH_MIX
    mixed >>= np.uint64(64 - hash_bits)
    key = mixed.view(np.int64)  # below 2**63 after the shift
    long_tokens = wide[wide_bytes > _PACKED_BYTES]  # only their first 16 bytes are packed
    if len(long_tokens):
        # Tokens over 16 bytes get keys of their own from a dict of their bytes, at the top of the
        # key range, which no packed token may then use.
        table: dict[bytes, int] = {}
        long_keys = [table.setdefault(data[s:e], len(table)) for s, e in zip(starts[long_tokens].tolist(), ends[long_tokens].tolist())]
        reserved = (1 << hash_bits) - len(table)
        short = np.ones(n_tokens, dtype=bool)
        short[long_tokens] = False
        if (key[short] >= reserved).any():
            return None
        key[long_tokens] = reserved + np.asarray(long_keys, dtype=np.int64)
    key <<= np.int64(index_bits)
    key |= np.arange(n_tokens, dtype=np.int64)
    key.sort()  # by hash, ties by position
    token = key & np.int64((1 << index_bits) - 1)
    key >>= np.int64(index_bits)
    first = np.empty(n_tokens, dtype=bool)
    first[0] = True
    np.not_equal(key[1:], key[:-1], out=first[1:])
    group = key  # reused: the hashes are no longer needed
    np.cumsum(first, out=group)  # into an int64 buffer: a cumsum of booleans without `out` is ten times slower
    group -= 1
    first_seen = token[first]  # the first occurrence of each group
    ids = np.empty(n_tokens, dtype=np.int64)
    ids[token] = group
    # Exact: every token has its group's low word, and every wide token its group's high word
    # (long tokens: the dict's bytes).
    if not np.array_equal(low[first_seen][ids], low):
        return None  # two tokens share a hash
    wide_group = ids[wide]
    group_high = np.zeros(len(first_seen), dtype=np.uint64)
    group_high[wide_group] = high
    if not np.array_equal(group_high[wide_group], high):
        return None
    by_occurrence = np.argsort(first_seen)
    rank = np.empty(len(first_seen), dtype=np.int64)
    rank[by_occurrence] = np.arange(len(first_seen), dtype=np.int64)
    return np.take(rank, ids, out=ids), first_seen[by_occurrence]
