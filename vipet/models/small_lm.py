"""The built-in small language model: a GPT-2-style decoder trained from scratch, with its own tokenizer.

Why our own: no pretrained Vietnamese LM may be downloaded here, and a byte-level BPE trained on
the training reports turns the templated report language into few tokens (whole syllables and
frequent phrases such as "tăng chuyển hóa"), so a 4-layer model learns it on a CPU in minutes.
The result is saved as an ordinary Hugging Face folder (config, weights, tokenizer), so the VLM
loads it exactly like any hub model: by path, through `AutoModelForCausalLM`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch

from vipet.errors import TrainError

BOS_EOS = "<|endoftext|>"
PAD = "<|pad|>"
IMAGE_TOKEN = "<image>"


@dataclass
class SmallLMConfig:
    """GPT-2 sizes; the defaults (4 layers, 256 wide, ~4k vocabulary) are the CPU demo model."""

    vocab_size: int = 4000
    n_layer: int = 4
    n_embd: int = 256
    n_head: int = 4
    n_positions: int = 512
    dropout: float = 0.1
    min_frequency: int = 2
    clause_merges: bool = False  # merges may span spaces within a clause (see train_bpe_tokenizer)

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise TrainError(f"small LM n_embd {self.n_embd} must be divisible by n_head {self.n_head}")
        if self.vocab_size < 300:
            raise TrainError(f"small LM vocab_size must be >= 300 (256 bytes + merges), got {self.vocab_size}")


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int = 4000, min_frequency: int = 2, clause_merges: bool = False):
    """A byte-level BPE fast tokenizer trained on `texts` (NFC-normalised so both tone-mark encodings agree).

    Byte level means no Vietnamese character can ever be unknown. With `clause_merges` the text
    is cut only at punctuation and between digits, so merges can span the spaces of a clause:
    report language is formulaic ("Hình ảnh bắt xạ theo đặc điểm sinh lý ở tim", "tăng chuyển hóa
    FDG"), and a frequent clause becomes one token. A chest report then takes about 60 tokens
    instead of 140 syllables, which makes a CPU-trained LM 2-3x cheaper per report, while numbers
    stay digit by digit (sizes and SUVmax are composed, not memorised). The catch, measured on the
    synthetic cohort: a choice between "." and one of many location clauses is then split over many
    tokens, and greedy decoding learns to end the sentence, dropping positions (F1-TPF 29.6 vs
    61.6). So the default keeps merges inside words, as in GPT-2. `<image>` is a special token so a
    prompt's image marker is never split.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [unicodedata.normalize("NFC", t) for t in texts if t and t.strip()]
    if not corpus:
        raise TrainError("cannot train a tokenizer on an empty text collection")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    if clause_merges:
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(r"[.,;:()?!\n]"), behavior="isolated"),
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[BOS_EOS, PAD, IMAGE_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer, length=len(corpus))
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS_EOS,
        eos_token=BOS_EOS,
        pad_token=PAD,
        unk_token=BOS_EOS,
        additional_special_tokens=[IMAGE_TOKEN],
        model_max_length=1_000_000,
    )


def build_small_lm(config: SmallLMConfig, tokenizer, seed: int = 0):
    """A randomly initialised GPT-2 whose vocabulary and special ids match `tokenizer`."""
    from transformers import GPT2Config, GPT2LMHeadModel

    lm_config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=config.n_positions,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        resid_pdrop=config.dropout,
        embd_pdrop=config.dropout,
        attn_pdrop=config.dropout,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(lm_config)
    return model


def create_small_lm(texts: Iterable[str], out_dir: str | Path, config: SmallLMConfig | None = None, seed: int = 0) -> Path:
    """Train the tokenizer on `texts`, build the random-weight LM, save both as a HF folder; return it."""
    from vipet.models.hf_logging import quiet_transformers

    quiet_transformers()
    config = config or SmallLMConfig()
    tokenizer = train_bpe_tokenizer(texts, config.vocab_size, config.min_frequency, config.clause_merges)
    model = build_small_lm(config, tokenizer, seed=seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
