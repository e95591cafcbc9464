"""A testing helper: random-weight causal LMs of the supported families, saved as HF folders.

Used by the tests and the benchmarks only, never by a command or a config. Nothing may be
downloaded here, yet the VLM must be shown to work with LLaMA-, Mistral-, Qwen2- and
GPT-2-architecture LMs, and GPU memory/throughput must be measured at a real size. A random
model with the right architecture and size exercises exactly the same code paths (LoRA target
modules, attention variants, chat templates, generation) as the pretrained one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vipet.errors import TrainError

FAMILIES = ("gpt2", "llama", "mistral", "qwen2")

# (hidden, layers, heads, kv_heads, intermediate); "0.5b"/"1.5b" follow Qwen2-0.5B / Qwen2-1.5B shapes.
SIZES: dict[str, tuple[int, int, int, int, int]] = {
    "tiny": (32, 2, 4, 2, 64),
    "small": (256, 4, 4, 2, 688),
    "0.5b": (896, 24, 14, 2, 4864),
    "1.5b": (1536, 28, 12, 2, 8960),
}

# ChatML, as Qwen2 instruct models use it; set on tokenizers that should behave like a chat LM.
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def lm_config(family: str, size: str, vocab_size: int, special: dict[str, int], max_positions: int = 1024):
    """A transformers config of `family` at `size`; special token ids from the tokenizer."""
    from transformers import GPT2Config, LlamaConfig, MistralConfig, Qwen2Config

    if family not in FAMILIES:
        raise TrainError(f"LM family must be one of {FAMILIES}, got {family!r}")
    if size not in SIZES:
        raise TrainError(f"LM size must be one of {sorted(SIZES)}, got {size!r}")
    hidden, layers, heads, kv_heads, intermediate = SIZES[size]
    ids = {"bos_token_id": special["bos"], "eos_token_id": special["eos"], "pad_token_id": special["pad"]}
    if family == "gpt2":
        return GPT2Config(vocab_size=vocab_size, n_positions=max_positions, n_embd=hidden, n_layer=layers, n_head=heads, **ids)
    common: dict[str, Any] = dict(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=max_positions, **ids,
    )
    if family == "llama":
        return LlamaConfig(**common)
    if family == "mistral":
        return MistralConfig(sliding_window=None, **common)
    return Qwen2Config(tie_word_embeddings=size in ("tiny", "small", "0.5b", "1.5b"), **common)


def create_random_lm(family: str, size: str, tokenizer, out_dir: str | Path, *, seed: int = 0,
                     vocab_size: int | None = None, chat_template: str | None = None,
                     dtype: torch.dtype = torch.float32, max_positions: int = 1024) -> Path:
    """Save a random `family`/`size` LM with `tokenizer` into `out_dir`, loadable by `from_pretrained`.

    `vocab_size` may exceed the tokenizer (rows never used), to give the embedding the memory
    footprint of the real model's vocabulary.
    """
    from transformers import AutoModelForCausalLM

    from vipet.models.hf_logging import quiet_transformers

    quiet_transformers()
    special = {"bos": tokenizer.bos_token_id, "eos": tokenizer.eos_token_id,
               "pad": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id}
    vocab = max(len(tokenizer), vocab_size or 0)
    config = lm_config(family, size, vocab, special, max_positions)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    tokenizer.save_pretrained(out_dir)
    return out_dir
