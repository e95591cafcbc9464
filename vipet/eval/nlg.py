"""Language metrics for one list of predictions against references, under a profile.

`nlg_blocks` returns the metrics as `MetricBlock`s (per-sample statistics + reduction) so the
caller can bootstrap them; `score_nlg` is the plain scores. Tokenisation happens once per text
and the n-gram tables are shared by BLEU, ROUGE-N and CIDEr.
An empty prediction is a valid input and scores 0 on every metric (it is never an error).

Memory follows a chunk of samples, not the corpus: texts are tokenised once into one compact
array of token ids (`_TokenStore`, the ids the whole corpus would get), and the n-gram tables,
which take some hundred bytes per token (per character for chrF), are built for about
`CHUNK_TOKENS` tokens (`CHUNK_CHARACTERS` characters) at a time. Every statistic but CIDEr-D's
is per sample; CIDEr-D's document frequency comes from the whole corpus (`cider.DocumentFrequency`),
so the scores are those of the whole corpus at once, to the last bit.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from itertools import chain
from typing import Callable, Iterator, Sequence

import numpy as np

from vipet.eval import bleu, chrf, cider, meteor, rouge
from vipet.eval.base import MetricBlock, mean_block, scaled
from vipet.eval.embedding import TokenEmbedder, embedding_f1
from vipet.eval.ngrams import TokenCorpus, count_ngrams, encode_corpus
from vipet.eval.profiles import Profile, get_profile, rouge_score_tokenize

References = Sequence[str | Sequence[str]]

CHUNK_TOKENS = 1 << 13  # word tokens (hypotheses and references) whose n-gram tables are built at once
CHUNK_CHARACTERS = 1 << 14  # characters, for chrF's character 6-grams


def spans(sizes: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Consecutive sample ranges [a, b) of about `budget` in total size (one sample at least each);
    one empty range for no samples, so that an empty corpus scores as it always did."""
    if len(sizes) == 0:
        return [(0, 0)]
    before = np.cumsum(sizes) - sizes
    group = before // max(budget, 1)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]]).tolist()
    return list(zip(starts, starts[1:] + [len(sizes)]))


@dataclass(frozen=True)
class _TokenStore:
    """Every hypothesis and reference as token ids in two flat int32 arrays (4 bytes a token).

    Ids are given in order of first appearance over all hypotheses, then all references, which
    is exactly what `encode_corpus` gives the whole corpus, so a chunk's n-gram ids are ordered
    as the whole corpus's (CIDEr-D's sums then add in the same order).
    """

    hyp_ids: np.ndarray
    hyp_offsets: np.ndarray  # (N + 1,)
    ref_ids: np.ndarray
    ref_offsets: np.ndarray  # (R + 1,)
    ref_starts: np.ndarray  # (N + 1,): references of sample i are ref_starts[i]..ref_starts[i + 1]
    vocab_size: int

    @property
    def n_samples(self) -> int:
        return len(self.hyp_offsets) - 1

    def sample_sizes(self) -> np.ndarray:
        hyp = np.diff(self.hyp_offsets)
        refs = self.ref_offsets[self.ref_starts[1:]] - self.ref_offsets[self.ref_starts[:-1]]
        return hyp + refs

    def corpus(self, start: int, stop: int) -> TokenCorpus:
        """Samples [start, stop) as a `TokenCorpus` with the store's (whole-corpus) vocabulary."""
        first_ref, last_ref = int(self.ref_starts[start]), int(self.ref_starts[stop])
        hyp = self.hyp_ids[self.hyp_offsets[start] : self.hyp_offsets[stop]]
        ref = self.ref_ids[self.ref_offsets[first_ref] : self.ref_offsets[last_ref]]
        lengths = np.concatenate([np.diff(self.hyp_offsets[start : stop + 1]), np.diff(self.ref_offsets[first_ref : last_ref + 1])])
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        owner = np.repeat(np.arange(stop - start, dtype=np.int64), np.diff(self.ref_starts[start : stop + 1]))
        return TokenCorpus(ids=np.concatenate([hyp, ref]).astype(np.int64), offsets=offsets, ref_owner=owner,
                           n_samples=stop - start, vocab_size=self.vocab_size)

    def chunks(self, budget: int) -> Iterator[TokenCorpus]:
        for start, stop in spans(self.sample_sizes(), budget):
            yield self.corpus(start, stop)


def _encode_texts(texts: Sequence[str], tokenize: Callable[[str], list[str]], vocab: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(int32 ids, int64 offsets) of `texts`, adding unseen tokens to `vocab` in order of first appearance."""
    id_parts: list[np.ndarray] = []
    lengths = np.zeros(len(texts), dtype=np.int64)
    # A token as a Python string costs some 70 bytes: tokenise about CHUNK_CHARACTERS characters at a time.
    for start, stop in spans(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)), CHUNK_CHARACTERS):
        token_lists = [tokenize(text) for text in texts[start:stop]]
        lengths[start:stop] = [len(tokens) for tokens in token_lists]
        flat = list(chain.from_iterable(token_lists))
        new = [token for token in dict.fromkeys(flat) if token not in vocab]
        vocab.update(zip(new, range(len(vocab), len(vocab) + len(new))))
        id_parts.append(np.fromiter(map(vocab.__getitem__, flat), dtype=np.int32, count=len(flat)))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.concatenate(id_parts) if id_parts else np.zeros(0, dtype=np.int32)
    return ids, offsets


def _token_store(predictions: Sequence[str], ref_lists: Sequence[Sequence[str]], tokenize: Callable[[str], list[str]]) -> _TokenStore:
    vocab: dict[str, int] = {}
    hyp_ids, hyp_offsets = _encode_texts(predictions, tokenize, vocab)
    ref_ids, ref_offsets = _encode_texts([ref for refs in ref_lists for ref in refs], tokenize, vocab)
    ref_starts = np.zeros(len(ref_lists) + 1, dtype=np.int64)
    np.cumsum([len(refs) for refs in ref_lists], out=ref_starts[1:])
    return _TokenStore(hyp_ids, hyp_offsets, ref_ids, ref_offsets, ref_starts, max(len(vocab), 1))


def _text_spans(predictions: Sequence[str], ref_lists: Sequence[Sequence[str]], budget: int) -> list[tuple[int, int]]:
    sizes = np.fromiter((len(p) + sum(map(len, refs)) for p, refs in zip(predictions, ref_lists)), dtype=np.int64,
                        count=len(predictions))
    return spans(sizes, budget)


def as_reference_lists(references: References) -> list[list[str]]:
    """Each reference as a non-empty list of strings (a bare string is one reference)."""
    out: list[list[str]] = []
    for index, ref in enumerate(references):
        ref_list = [ref] if isinstance(ref, str) else list(ref)
        if not ref_list:
            raise ValueError(f"sample {index} has no reference")
        out.append(ref_list)
    return out


def nlg_blocks(
    predictions: Sequence[str],
    references: References,
    profile: Profile | str = "default",
    embedder: TokenEmbedder | None = None,
) -> list[MetricBlock]:
    """The profile's metrics as bootstrap-ready blocks, in the profile's scale."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    ref_lists = as_reference_lists(references)
    if len(predictions) != len(ref_lists):
        raise ValueError(f"{len(predictions)} predictions but {len(ref_lists)} references")
    predictions = [p or "" for p in predictions]
    if profile.name == "vipet-vlm":
        blocks = _vipet_vlm_blocks(predictions, ref_lists, profile.scale)
    else:
        blocks = _token_blocks(predictions, ref_lists, profile)
    if embedder is not None:
        blocks.append(mean_block(["embedding_f1"], embedding_f1(predictions, ref_lists, embedder), profile.scale))
    return blocks


def _token_blocks(predictions: list[str], ref_lists: list[list[str]], profile: Profile) -> list[MetricBlock]:
    store = _token_store(predictions, ref_lists, profile.tokenize)
    chunk_spans = spans(store.sample_sizes(), CHUNK_TOKENS)
    # One chunk: the corpus's own document frequencies, as before; several: counted over all of them.
    frequencies = None if len(chunk_spans) == 1 else cider.DocumentFrequency(
        lambda: store.chunks(CHUNK_TOKENS), store.vocab_size, store.n_samples, cider.N_ORDER)
    coco = profile.name == "coco"
    parts: dict[str, list[np.ndarray]] = {"bleu": [], "rouge": [], "meteor": [], "cider": []}
    for start, stop in chunk_spans:
        corpus = store.corpus(start, stop)
        counts = count_ngrams(corpus, bleu.MAX_ORDER)
        lcs = rouge.lcs_per_ref(corpus)
        parts["bleu"].append(bleu.bleu_stats(corpus, counts=counts))
        if coco:
            parts["rouge"].append(rouge.rouge_l_coco(corpus, lcs))
        else:
            parts["rouge"].append(np.column_stack([rouge.rouge_n_f1(corpus, (1, 2), counts), rouge.rouge_l_f1(corpus, lcs)]))
            parts["meteor"].append(meteor.meteor(corpus))
        parts["cider"].append(cider.cider_d(corpus, counts, frequencies=frequencies))
        del corpus, counts, lcs
    joined = {name: np.concatenate(arrays) for name, arrays in parts.items() if arrays}
    scale = profile.scale
    convention = "coco" if coco else "standard"
    bleu_names = tuple(f"bleu_{n}" for n in range(1, bleu.MAX_ORDER + 1))
    blocks = [
        MetricBlock(
            bleu_names,
            joined["bleu"].astype(np.float64),
            scaled(lambda s: bleu.bleu_from_stats(s, convention), scale),
        )
    ]
    if coco:
        blocks.append(mean_block(["rouge_l"], joined["rouge"], scale))
        blocks.append(mean_block(["cider_d"], joined["cider"], scale))
        return blocks
    blocks.append(mean_block(["rouge_1", "rouge_2", "rouge_l"], joined["rouge"], scale))
    blocks.append(mean_block(["meteor"], joined["meteor"], scale))
    blocks.append(mean_block(["cider_d"], joined["cider"], scale))
    # chrF is already on a 0-100 scale; the profile scale (x100) means "percent" here too.
    blocks.append(MetricBlock(("chrf",), _chrf_stats(predictions, ref_lists).astype(np.float64), lambda s: chrf.chrf_from_stats(s)[..., None]))
    return blocks


def _chrf_stats(predictions: list[str], ref_lists: list[list[str]]) -> np.ndarray:
    """chrF statistics (per sample) chunk by chunk: the character 6-gram tables are the largest of all."""
    parts = []
    for start, stop in _text_spans(predictions, ref_lists, CHUNK_CHARACTERS):
        nfc_predictions = [unicodedata.normalize("NFC", p) for p in predictions[start:stop]]
        nfc_refs = [[unicodedata.normalize("NFC", r) for r in refs] for refs in ref_lists[start:stop]]
        parts.append(chrf.chrf_stats(nfc_predictions, nfc_refs))
    return np.concatenate(parts)


def _vipet_vlm_blocks(predictions: list[str], ref_lists: list[list[str]], scale: float) -> list[MetricBlock]:
    """The prior work's BLEU-4 and ROUGE: per-sample statistics only, so chunks score independently."""
    bleu_parts, rouge_parts = [], []
    for start, stop in _text_spans(predictions, ref_lists, CHUNK_CHARACTERS):
        hyps, refs = predictions[start:stop], ref_lists[start:stop]
        bleu_corpus = encode_corpus([p.strip().split() for p in hyps], [[r.strip().split() for r in rs] for rs in refs])
        bleu_parts.append(bleu.nltk_bleu_stats(bleu_corpus))
        rouge_corpus = encode_corpus([rouge_score_tokenize(p) for p in hyps], [[rouge_score_tokenize(r) for r in rs] for rs in refs])
        rouge_parts.append(np.column_stack([rouge.rouge_n_f1(rouge_corpus, (1,)), rouge.rouge_l_f1(rouge_corpus)]))
    bleu_block = MetricBlock(
        ("bleu_4",),
        np.concatenate(bleu_parts).astype(np.float64),
        scaled(lambda s: bleu.nltk_bleu4_from_stats(s)[..., None], scale),
    )
    return [bleu_block, mean_block(["rouge_1", "rouge_l"], np.concatenate(rouge_parts), scale)]


def score_nlg(
    predictions: Sequence[str],
    references: References,
    profile: Profile | str = "default",
    embedder: TokenEmbedder | None = None,
) -> dict[str, float]:
    """Every metric of the profile as {name: score}; an empty list of predictions scores 0."""
    if len(predictions) == 0:
        prof = get_profile(profile) if isinstance(profile, str) else profile
        return {name: 0.0 for name in prof.metrics}
    scores: dict[str, float] = {}
    for block in nlg_blocks(predictions, references, profile, embedder):
        scores.update(block.value())
    return scores
