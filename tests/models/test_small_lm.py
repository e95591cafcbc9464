"""Built-in small LM: byte-level BPE on Vietnamese reports and a GPT-2 loadable by path like any hub model."""

from __future__ import annotations

import unicodedata

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from vipet.errors import TrainError
from vipet.models.testing_lms import FAMILIES, lm_config
from vipet.models.small_lm import IMAGE_TOKEN, SmallLMConfig, create_small_lm, train_bpe_tokenizer


def test_tokenizer_round_trips_vietnamese_and_unifies_tone_mark_encodings(texts):
    tokenizer = train_bpe_tokenizer(texts * 5, vocab_size=400, min_frequency=1)
    for text in texts + ["Xâm lấn màng phổi, thuỳ dưới phổi trái — ký tự lạ: ☢"]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text
    decomposed = unicodedata.normalize("NFD", "tăng chuyển hóa")
    assert tokenizer(decomposed)["input_ids"] == tokenizer("tăng chuyển hóa")["input_ids"]
    assert tokenizer.convert_tokens_to_ids(IMAGE_TOKEN) == tokenizer(IMAGE_TOKEN, add_special_tokens=False)["input_ids"][0]


def test_tokenizer_training_is_deterministic(texts):
    first = train_bpe_tokenizer(texts * 5, vocab_size=400, min_frequency=1)
    second = train_bpe_tokenizer(texts * 5, vocab_size=400, min_frequency=1)
    assert first.get_vocab() == second.get_vocab()
    with pytest.raises(TrainError, match="empty"):
        train_bpe_tokenizer(["", "  "])


def test_small_lm_folder_loads_through_auto_classes(tmp_path, texts):
    config = SmallLMConfig(vocab_size=400, n_layer=2, n_embd=32, n_head=2, min_frequency=1)
    folder = create_small_lm(texts * 5, tmp_path / "lm", config, seed=3)
    model = AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert model.config.model_type == "gpt2" and model.config.n_layer == 2
    assert model.config.vocab_size == len(tokenizer) and model.config.eos_token_id == tokenizer.eos_token_id
    again = create_small_lm(texts * 5, tmp_path / "lm2", config, seed=3)
    same = AutoModelForCausalLM.from_pretrained(again)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), same.state_dict().values()))
    with pytest.raises(TrainError, match="divisible"):
        SmallLMConfig(n_embd=30, n_head=4)


@pytest.mark.parametrize("size,expected", [("0.5b", 0.494), ("1.5b", 1.544)])
def test_real_size_configs_match_the_qwen2_parameter_counts(size, expected):
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(lm_config("qwen2", size, 151936, {"bos": 0, "eos": 0, "pad": 1}))
    assert sum(p.numel() for p in model.parameters()) / 1e9 == pytest.approx(expected, abs=0.002)


def test_every_family_loads_by_path(tiny_lms):
    assert set(FAMILIES) >= set(tiny_lms)
    kinds = {family: AutoModelForCausalLM.from_pretrained(path).config.model_type for family, path in tiny_lms.items()}
    assert kinds == {"gpt2": "gpt2", "llama": "llama", "qwen2": "qwen2"}
    with pytest.raises(TrainError, match="family"):
        lm_config("bloom", "tiny", 100, {"bos": 0, "eos": 0, "pad": 0})


def test_clause_merges_make_formulaic_clauses_single_tokens_but_keep_digits(texts):
    tokenizer = train_bpe_tokenizer(texts * 20, vocab_size=600, min_frequency=2, clause_merges=True)
    clause = " tăng chuyển hóa FDG "
    assert len(tokenizer(clause, add_special_tokens=False)["input_ids"]) == 1
    digits = tokenizer("SUVmax: 5,2", add_special_tokens=False)["input_ids"]
    assert [tokenizer.decode([t]) for t in digits][-3:] == ["5", ",", "2"]
    words = train_bpe_tokenizer(texts * 20, vocab_size=600, min_frequency=2)  # default: merges inside words
    assert len(words(clause, add_special_tokens=False)["input_ids"]) > 1
    assert len(words(" chuyển", add_special_tokens=False)["input_ids"]) == 1
