"""Language metrics for one list of predictions against references, under a profile.

`nlg_blocks` returns the metrics as `MetricBlock`s (per-sample statistics + reduction) so the
caller can bootstrap them; `score_nlg` is the plain scores. Tokenisation happens once per text
and the n-gram tables are shared by BLEU, ROUGE-N and CIDEr.
An empty prediction is a valid input and scores 0 on every metric (it is never an error).
"""

from __future__ import annotations

import unicodedata
from typing import Sequence

import numpy as np

from vipet.eval import bleu, chrf, cider, meteor, rouge
from vipet.eval.base import MetricBlock, mean_block, scaled
from vipet.eval.embedding import TokenEmbedder, embedding_f1
from vipet.eval.ngrams import count_ngrams, encode_corpus
from vipet.eval.profiles import Profile, get_profile, rouge_score_tokenize

References = Sequence[str | Sequence[str]]


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
    hyp_tokens = [profile.tokenize(p) for p in predictions]
    ref_tokens = [[profile.tokenize(r) for r in refs] for refs in ref_lists]
    corpus = encode_corpus(hyp_tokens, ref_tokens)
    counts = count_ngrams(corpus, bleu.MAX_ORDER)
    lcs = rouge.lcs_per_ref(corpus)
    scale = profile.scale
    convention = "coco" if profile.name == "coco" else "standard"
    bleu_names = tuple(f"bleu_{n}" for n in range(1, bleu.MAX_ORDER + 1))
    blocks = [
        MetricBlock(
            bleu_names,
            bleu.bleu_stats(corpus, counts=counts).astype(np.float64),
            scaled(lambda s: bleu.bleu_from_stats(s, convention), scale),
        )
    ]
    if profile.name == "coco":
        blocks.append(mean_block(["rouge_l"], rouge.rouge_l_coco(corpus, lcs), scale))
        blocks.append(mean_block(["cider_d"], cider.cider_d(corpus, counts), scale))
        return blocks
    blocks.append(
        mean_block(
            ["rouge_1", "rouge_2", "rouge_l"],
            np.column_stack([rouge.rouge_n_f1(corpus, (1, 2), counts), rouge.rouge_l_f1(corpus, lcs)]),
            scale,
        )
    )
    blocks.append(mean_block(["meteor"], meteor.meteor(corpus), scale))
    blocks.append(mean_block(["cider_d"], cider.cider_d(corpus, counts), scale))
    nfc_predictions = [unicodedata.normalize("NFC", p) for p in predictions]
    nfc_refs = [[unicodedata.normalize("NFC", r) for r in refs] for refs in ref_lists]
    # chrF is already on a 0-100 scale; the profile scale (x100) means "percent" here too.
    blocks.append(MetricBlock(("chrf",), chrf.chrf_stats(nfc_predictions, nfc_refs).astype(np.float64), lambda s: chrf.chrf_from_stats(s)[..., None]))
    return blocks


def _vipet_vlm_blocks(predictions: list[str], ref_lists: list[list[str]], scale: float) -> list[MetricBlock]:
    bleu_corpus = encode_corpus([p.strip().split() for p in predictions], [[r.strip().split() for r in refs] for refs in ref_lists])
    bleu_block = MetricBlock(
        ("bleu_4",),
        bleu.nltk_bleu_stats(bleu_corpus).astype(np.float64),
        scaled(lambda s: bleu.nltk_bleu4_from_stats(s)[..., None], scale),
    )
    rouge_corpus = encode_corpus(
        [rouge_score_tokenize(p) for p in predictions], [[rouge_score_tokenize(r) for r in refs] for refs in ref_lists]
    )
    per_sample = np.column_stack([rouge.rouge_n_f1(rouge_corpus, (1,)), rouge.rouge_l_f1(rouge_corpus)])
    return [bleu_block, mean_block(["rouge_1", "rouge_l"], per_sample, scale)]


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
