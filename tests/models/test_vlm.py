"""The VLM over tiny GPT-2, LLaMA and Qwen2 LMs: splice, answer-only loss, LoRA, generation, save/load."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vipet.errors import TrainError
from vipet.models.encoders import EncoderConfig
from vipet.models.vlm import VisionLanguageModel, VLMConfig
from vipet.train.batching import PromptCollator, VLMCollator

ENCODER = dict(input_size=[8, 16, 16], token_grid=[1, 2, 2], channels=[8, 16], out_dim=32)
FAMILIES = ["gpt2", "llama", "qwen2"]


def make_vlm(path: str, **overrides) -> VisionLanguageModel:
    torch.manual_seed(0)
    config = VLMConfig(lm=path, encoder=EncoderConfig(**ENCODER), **overrides)
    return VisionLanguageModel.from_config(config)


@pytest.mark.parametrize("family", FAMILIES)
def test_loss_is_cross_entropy_on_answer_tokens_only(family, tiny_lms, make_items):
    model = make_vlm(tiny_lms[family])
    items = make_items(4)
    batch = VLMCollator(model.prompts)(items)
    out = model(batch["image"], batch["input_ids"], batch["attention_mask"], batch["labels"])
    # Independent reference: shift by one, score only positions whose target is an answer token.
    logits, labels = out["logits"][:, :-1], batch["labels"][:, 1:]
    keep = labels != -100
    expected = F.cross_entropy(logits[keep].float(), labels[keep])
    assert torch.allclose(out["loss"], expected, atol=1e-5)
    # Every answer token (and its eos) is scored, no prompt or visual token is.
    for row, item in zip(batch["labels"], items):
        answer = [t for t in row.tolist() if t != -100]
        assert model.tokenizer.decode(answer[:-1]) == item["text"] and answer[-1] == model.prompts.eos_id
    out["loss"].backward()
    assert model.encoder.stem[0].weight.grad is not None and model.projector.net[0].weight.grad.abs().sum() > 0


def test_visual_tokens_are_spliced_at_the_image_token_positions(tiny_lms, make_items):
    model = make_vlm(tiny_lms["llama"]).eval()
    image_id = model.tokenizer.convert_tokens_to_ids("<image>")
    assert model.config.image_token_id == image_id  # the tokenizer's own <image> token, recorded
    batch = VLMCollator(model.prompts)(make_items(2))
    slots = batch["input_ids"] == image_id
    assert "image_mask" not in batch and slots.sum(dim=1).tolist() == [4, 4]
    embeds, bow_logits = model.embed(batch["image"], batch["input_ids"])
    projected = model.projector(model.encoder(batch["image"]))
    assert bow_logits is None
    assert torch.equal(embeds[slots], projected.reshape(-1, projected.shape[-1]))
    text_embeds = model.lm.get_input_embeddings()(batch["input_ids"])
    assert torch.equal(embeds[~slots], text_embeds[~slots])
    bad_ids = batch["input_ids"].clone()
    bad_ids[0, 0] = image_id  # a text token that is the image token: one slot too many
    with pytest.raises(TrainError, match=rf"reserve 4 visual positions \(image_token_id {image_id}\), got \[5, 4\]"):
        model.embed(batch["image"], bad_ids)


def test_image_token_id_falls_back_to_a_spare_row_and_refuses_reserved_ids(tiny_lms):
    from transformers import AutoTokenizer

    from vipet.models.vlm import resolve_image_token_id

    tokenizer = AutoTokenizer.from_pretrained(tiny_lms["gpt2"])
    rows = len(tokenizer)
    assert resolve_image_token_id(tokenizer, rows) == tokenizer.convert_tokens_to_ids("<image>")
    assert resolve_image_token_id(tokenizer, rows, configured=7) == 7
    with pytest.raises(TrainError, match="other than the padding, begin and end ids"):
        resolve_image_token_id(tokenizer, rows, configured=tokenizer.pad_token_id)
    with pytest.raises(TrainError, match=r"must be an embedding row in \[0, "):
        resolve_image_token_id(tokenizer, rows, configured=rows)

    class NoImageToken:  # an LM tokenizer without `<image>` (LLaMA-2, Qwen2 base, ...)
        pad_token_id, eos_token_id, bos_token_id = tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id
        vocab = {t: i for t, i in tokenizer.get_vocab().items() if t != "<image>"}

        def get_vocab(self):
            return self.vocab

        def __len__(self):
            return len(self.vocab)

    without = NoImageToken()
    vocab = without.vocab
    assert resolve_image_token_id(without, len(vocab) + 3) == len(vocab) + 2  # the last, unused row
    with pytest.raises(TrainError, match="no <image> token and no spare embedding row"):
        resolve_image_token_id(without, len(vocab))


def test_chat_template_is_used_only_when_the_tokenizer_has_one(tiny_lms):
    chat = make_vlm(tiny_lms["qwen2"])
    plain = make_vlm(tiny_lms["gpt2"])
    assert chat.prompts.use_chat_template and not plain.prompts.use_chat_template
    chat_ids = chat.prompts.encode_prompt("vqa", "chest", "Có hạch không?").input_ids
    assert "<|im_start|>assistant" in chat.tokenizer.decode(chat_ids)
    assert plain.tokenizer.decode(plain.prompts.encode_prompt("report", "chest").input_ids).rstrip().endswith("Trả lời:")


@pytest.mark.parametrize("family", FAMILIES)
def test_batched_left_padded_generation_equals_one_by_one(family, tiny_lms, make_items):
    model = make_vlm(tiny_lms[family]).eval()
    items = make_items(3)  # a VQA prompt is longer than a report prompt: rows get padded
    batch = PromptCollator(model.prompts)(items)
    together = model.generate(batch["image"], batch["input_ids"], batch["attention_mask"],
                              max_new_tokens=6, do_sample=False)
    for item, text in zip(items, together):
        one = PromptCollator(model.prompts)([item])
        alone = model.generate(one["image"], one["input_ids"], one["attention_mask"],
                               max_new_tokens=6, do_sample=False)
        assert alone == [text]
    beams = model.generate(batch["image"], batch["input_ids"], batch["attention_mask"],
                           max_new_tokens=6, num_beams=2, no_repeat_ngram_size=2, repetition_penalty=1.3)
    assert len(beams) == 3 and all(isinstance(t, str) for t in beams)


def _randomise_lora(lm):
    with torch.no_grad():
        for name, param in lm.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5)  # B starts at zero: make the adapter actually change outputs


@pytest.mark.parametrize("family", ["llama", "qwen2"])
def test_lora_merge_unmerge_and_adapter_round_trip(family, tiny_lms, make_items, tmp_path):
    from vipet.train.config import LoRAConfig
    from vipet.train.stages import apply_lora

    model = make_vlm(tiny_lms[family], lm_mode="lora")
    base_logits = model(**_inputs(model, make_items(2)))["logits"]
    model.lm = apply_lora(model.lm, LoRAConfig(r=4, alpha=8, dropout=0.0))
    trainable = {n for n, p in model.lm.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    _randomise_lora(model.lm)
    model.eval()
    inputs = _inputs(model, make_items(2))
    adapted = model(**inputs)["logits"]
    assert not torch.allclose(adapted, base_logits, atol=1e-4)
    model.lm.merge_adapter()
    assert torch.allclose(model(**inputs)["logits"], adapted, atol=1e-4)
    model.lm.unmerge_adapter()
    assert torch.allclose(model(**inputs)["logits"], adapted, atol=1e-5)
    with model.lm.disable_adapter():
        assert torch.allclose(model(**inputs)["logits"], base_logits, atol=1e-5)
    model.save_pretrained(tmp_path / "vlm")
    assert (tmp_path / "vlm" / "lm_adapter" / "adapter_config.json").exists() and not (tmp_path / "vlm" / "lm").exists()
    reloaded = VisionLanguageModel.from_pretrained(tmp_path / "vlm").eval()
    assert torch.allclose(reloaded(**inputs)["logits"], adapted, atol=1e-5)


@pytest.mark.parametrize("mode", ["frozen", "full"])
def test_save_and_load_give_identical_outputs(mode, tiny_lms, make_items, tmp_path):
    model = make_vlm(tiny_lms["gpt2"], lm_mode=mode, aux_weight=0.5, aux_targets="tokens", aux_tag_token=True).eval()
    if mode == "full":
        with torch.no_grad():
            model.lm.get_input_embeddings().weight.add_(0.1)  # a tuned LM must be saved, not re-read from the base
    inputs = _inputs(model, make_items(2))
    model.save_pretrained(tmp_path / "vlm")
    assert (tmp_path / "vlm" / "lm").exists() == (mode == "full")
    reloaded = VisionLanguageModel.from_pretrained(tmp_path / "vlm").eval()
    assert torch.equal(reloaded(**inputs)["logits"], model(**inputs)["logits"])
    assert reloaded.aux_head is not None and reloaded.tag_proj is not None


def test_token_bag_auxiliary_loss_is_bce_over_the_answer_tokens(tiny_lms, make_items):
    model = make_vlm(tiny_lms["gpt2"], aux_weight=1.0, aux_targets="tokens")
    batch = VLMCollator(model.prompts, "tokens")(make_items(2))
    _, logits = model.visual_inputs(batch["image"])
    targets = torch.zeros_like(logits)
    for row, labels in enumerate(batch["labels"].tolist()):
        for token in labels:
            if token not in (-100, model.prompts.eos_id, model.prompts.pad_id):
                targets[row, token] = 1.0
    expected = F.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / 2
    out = model(batch["image"], batch["input_ids"], batch["attention_mask"], batch["labels"])
    assert torch.allclose(out["aux_loss"], expected, atol=1e-4)
    assert torch.allclose(out["loss"], out["lm_loss"] + out["aux_loss"], atol=1e-5)


def test_findings_targets_come_from_the_report_and_skip_vqa_rows(tiny_lms, make_items):
    from vipet.models.findings import finding_labels

    model = make_vlm(tiny_lms["llama"], aux_weight=0.5, aux_targets="findings", aux_tag_token=True).eval()
    items = make_items(4)  # vqa, report (normal), vqa, report (nodule)
    batch = VLMCollator(model.prompts, "findings")(items)
    labels = finding_labels()
    present = {labels[i] for i in torch.nonzero(batch["aux_targets"][3]).flatten().tolist()}
    assert {"type:nốt mờ", "pos:phổi", "type+fdg:nốt mờ|có tăng", "all:nốt mờ|phổi|có tăng"} <= present
    assert batch["aux_targets"][1].sum() == 0  # "Không phát hiện tổn thương ...": nothing to find
    assert batch["aux_mask"].tolist() == [False, True, False, True]
    _, logits = model.visual_inputs(batch["image"])
    rows = F.binary_cross_entropy_with_logits(logits, batch["aux_targets"], reduction="none").sum(dim=1)
    out = model(batch["image"], batch["input_ids"], batch["attention_mask"], batch["labels"],
                aux_targets=batch["aux_targets"], aux_mask=batch["aux_mask"])
    assert torch.allclose(out["aux_loss"], (rows[1] + rows[3]) / 2, atol=1e-4)
    with pytest.raises(TrainError, match="needs aux_targets"):
        model(batch["image"], batch["input_ids"], batch["attention_mask"], batch["labels"])


def test_tag_token_carries_the_predicted_findings_to_the_lm(tiny_lms, make_items):
    model = make_vlm(tiny_lms["llama"], aux_weight=1.0, aux_targets="tokens", aux_tag_token=True).eval()
    assert model.num_visual_tokens == model.encoder.num_tokens + 1 == 5
    batch = VLMCollator(model.prompts, "tokens")(make_items(2))
    assert (batch["input_ids"] == model.config.image_token_id).sum(dim=1).tolist() == [5, 5]
    tokens, logits = model.visual_inputs(batch["image"])
    assert torch.allclose(tokens[:, -1], model.tag_proj(torch.sigmoid(logits)), atol=1e-6)
    out = model(batch["image"], batch["input_ids"], batch["attention_mask"], batch["labels"])
    out["loss"].backward()
    assert model.tag_proj.weight.grad.abs().sum() > 0 and model.aux_head.weight.grad.abs().sum() > 0
    with pytest.raises(TrainError, match="aux_tag_token needs aux_weight"):
        VLMConfig(lm="x", aux_tag_token=True)


def test_missing_lm_is_a_clear_error(tmp_path):
    with pytest.raises(TrainError, match="cannot load a causal LM"):
        VisionLanguageModel.from_config(VLMConfig(lm=str(tmp_path / "nothing-here"), encoder=EncoderConfig(**ENCODER)))
    with pytest.raises(TrainError, match="not a saved VLM folder"):
        VisionLanguageModel.from_pretrained(tmp_path)


def _inputs(model, items):
    batch = VLMCollator(model.prompts)(items)
    return {"images": batch["image"], **{k: batch[k] for k in ("input_ids", "attention_mask", "labels")}}
