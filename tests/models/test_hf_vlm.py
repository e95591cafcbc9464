"""The Hugging Face VLM adapter on tiny random-weight Qwen2-VL, LLaVA and Gemma 3 models built from configs.

Nothing comes from a hub: configs are written here, the tokenizer is the toolkit's BPE trained on
a few report sentences plus each family's special tokens, and image processors are built from
their classes with explicit sizes. Each family runs zero-shot generation into the shared record
format and the metrics, and one LoRA step that must change the adapters and nothing else.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vipet.errors import TrainError
from vipet.eval import evaluate_predictions
from vipet.imaging.render import fused_slice_rgb, mip_image
from vipet.models.hf_vlm import (HFVisionLanguageModel, HFVLMConfig, RenderConfig, channel_calibration,
                                 region_images)
from vipet.models.prompts import IGNORE_INDEX
from vipet.models.small_lm import train_bpe_tokenizer
from vipet.train.generate import make_record

from model_texts import TEXTS  # the tokenizer sentences the conftest uses too

SIDE = 28  # image side the tiny vision towers take (two 14-pixel patches)
RENDER = RenderConfig(views=["mip", "fused"], levels=[0.5], size=SIDE)


def _tokenizer(specials: list[str], extra: dict[str, str] | None = None):
    from transformers import PreTrainedTokenizerFast

    base = train_bpe_tokenizer(TEXTS * 5, vocab_size=400, min_frequency=1)
    base.add_special_tokens({"additional_special_tokens": specials})
    return PreTrainedTokenizerFast(tokenizer_object=base.backend_tokenizer, bos_token=base.bos_token,
                                   eos_token=base.eos_token, pad_token=base.pad_token, extra_special_tokens=extra or {})


def _template(turn_open: str, turn_close: str, image: str, assistant: str) -> str:
    """A chat template shaped like the family's own: images first, then the text, then the answer cue."""
    return ("{% for message in messages %}" + turn_open + "{% for c in message['content'] %}{% if c['type'] == 'image' %}"
            + image + "{% else %}{{ c['text'] }}{% endif %}{% endfor %}" + turn_close + "{% endfor %}"
            "{% if add_generation_prompt %}" + assistant + "{% endif %}")


def build_qwen2_vl():
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessorPil, Qwen2VLProcessor
    from transformers.processing_utils import ProcessorMixin

    tok = _tokenizer(["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"])
    ids = tok.convert_tokens_to_ids
    config = Qwen2VLConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, rope_scaling={"type": "mrope", "mrope_section": [1, 1, 2]},
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        vision_config=dict(depth=1, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, in_channels=3),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"))
    images = Qwen2VLImageProcessorPil(min_pixels=SIDE * SIDE, max_pixels=SIDE * SIDE, patch_size=14, merge_size=2,
                                      temporal_patch_size=2)
    template = _template("<|im_start|>{{ message['role'] }}\n", "<|im_end|>\n", "<|vision_start|><|image_pad|><|vision_end|>",
                         "<|im_start|>assistant\n")
    # transformers 5.24 class-checks even an absent video processor, and without torchvision that
    # check fails; vipet passes images only, so the absent (None) video processor is let through.
    check = ProcessorMixin.check_argument_for_proper_class
    ProcessorMixin.check_argument_for_proper_class = lambda self, name, arg: None if arg is None else check(self, name, arg)
    try:
        processor = Qwen2VLProcessor(image_processor=images, tokenizer=tok, video_processor=None, chat_template=template)
    finally:
        ProcessorMixin.check_argument_for_proper_class = check
    return Qwen2VLForConditionalGeneration(config), processor


def build_llava():
    from transformers import (CLIPImageProcessorPil, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)

    tok = _tokenizer(["<image>"])
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                       image_size=SIDE, patch_size=14),
        text_config=LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                num_attention_heads=4, num_key_value_heads=2, bos_token_id=tok.bos_token_id,
                                eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        image_token_index=tok.convert_tokens_to_ids("<image>"), vision_feature_layer=-1,
        vision_feature_select_strategy="default")
    images = CLIPImageProcessorPil(size={"shortest_edge": SIDE}, crop_size={"height": SIDE, "width": SIDE})
    processor = LlavaProcessor(image_processor=images, tokenizer=tok, patch_size=14, vision_feature_select_strategy="default",
                               num_additional_image_tokens=1, chat_template=_template("USER: ", " ", "<image>\n", "ASSISTANT:"))
    return LlavaForConditionalGeneration(config), processor


def build_gemma3():
    from transformers import (Gemma3Config, Gemma3ForConditionalGeneration, Gemma3ImageProcessorPil, Gemma3Processor,
                              Gemma3TextConfig, SiglipVisionConfig)

    tok = _tokenizer(["<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<end_of_image>", "<image_soft_token>"],
                     {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"})
    ids = tok.convert_tokens_to_ids
    config = Gemma3Config(
        text_config=Gemma3TextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                     num_attention_heads=4, num_key_value_heads=2, head_dim=8, sliding_window=16,
                                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        vision_config=SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                         image_size=SIDE, patch_size=7),
        mm_tokens_per_image=4, image_token_index=ids("<image_soft_token>"), boi_token_index=ids("<start_of_image>"),
        eoi_token_index=ids("<end_of_image>"))
    template = _template("<start_of_turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n",
                         "<end_of_turn>\n", "<start_of_image>", "<start_of_turn>model\n")
    processor = Gemma3Processor(image_processor=Gemma3ImageProcessorPil(size={"height": SIDE, "width": SIDE}), tokenizer=tok,
                                chat_template=template, image_seq_length=4)
    return Gemma3ForConditionalGeneration(config), processor


BUILDERS = {"qwen2_vl": build_qwen2_vl, "llava": build_llava, "gemma3": build_gemma3}


def make_adapter(family: str, render: RenderConfig = RENDER) -> HFVisionLanguageModel:
    torch.manual_seed(0)
    model, processor = BUILDERS[family]()
    return HFVisionLanguageModel(HFVLMConfig(path=family, render=render), model, processor)


# ---- rendering -----------------------------------------------------------------------------------
def test_rendered_pictures_are_the_reading_room_renders_with_hand_computed_values():
    volume = np.zeros((2, 8, SIDE, SIDE), dtype=np.float32)
    volume[0] = 0.25  # PET channel 0.25 of SUV 10 = SUV 2.5
    volume[1] = 0.5  # wide window (-1000..1000 HU): 0 HU
    render = RenderConfig(views=["mip", "fused", "ct_windows"], levels=[0.0, 1.0], size=SIDE)
    images = region_images(volume, render)
    assert len(images) == render.images_per_sample == 5
    assert all(image.shape == (SIDE, SIDE, 3) and image.dtype == np.uint8 for image in images)
    assert (images[0] == 128).all()  # inverted grey: 1 - 2.5 / 5 = 0.5 -> rint(127.5) = 128
    soft, lung, bone = 102, 230, 64  # 0 HU in 400/40 -> 0.4; 1500/-600 -> 0.9; 2000/500 -> 0.25 (of 255, rounded)
    assert (images[3][..., 0] == soft).all() and (images[3][..., 1] == lung).all() and (images[3][..., 2] == bone).all()
    expected_fused = fused_slice_rgb(np.zeros((SIDE, SIDE)), np.full((SIDE, SIDE), 2.5), suv_max=5.0)
    assert np.array_equal(images[1], expected_fused)


def test_a_hot_voxel_darkens_the_mip_where_it_sits():
    volume = np.zeros((2, 10, SIDE, SIDE), dtype=np.float32)
    volume[0, 3, 5, 20] = 0.8  # SUV 8 at z=3, x=20
    image = region_images(volume, RenderConfig(views=["mip"], size=SIDE))[0]
    reference = mip_image(volume[0] * 10.0, None, suv_max=5.0)  # (D, W) before resizing to the square
    assert reference[3, 20] == 0 and reference.min() == 0
    row = int(round((3 + 0.5) * SIDE / 10 - 0.5))
    assert image[row, 20, 0] < 255 and image[:, :15].min() == 255  # dark only near the hot column


def test_channel_calibration_reads_the_build_meta_and_refuses_other_layouts():
    meta = {"channels": ["pet", "ct_wide"], "transforms": [{"name": "SUVScale", "suv_max": 10.0, "suv_min": 0.0}]}
    assert channel_calibration(meta) == {"pet_channel_suv": 10.0, "ct_channel_window": "wide"}
    raw = {"channels": ["pet", "ct_lung"], "transforms": [{"name": "RawScale", "divisor": 32767.0}]}
    assert channel_calibration(raw) == {"pet_channel_suv": None, "ct_channel_window": "lung"}
    with pytest.raises(TrainError, match="channels"):
        channel_calibration({"channels": ["ct_wide", "pet"], "transforms": []})
    with pytest.raises(TrainError, match="3 known windows"):
        RenderConfig(ct_windows=["lung", "bone"])
    with pytest.raises(TrainError, match="views"):
        RenderConfig(views=["axial"])


# ---- the three families --------------------------------------------------------------------------
@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_zero_shot_generation_gives_records_the_metrics_score(family, make_items):
    adapter = make_adapter(family)
    items = make_items(4, seed=1)
    texts = adapter.generate_texts(items, max_new_tokens=4)
    assert len(texts) == 4 and all(isinstance(text, str) for text in texts)
    again = adapter.generate_texts(items, max_new_tokens=4)
    assert texts == again  # greedy: deterministic
    records = [make_record(item, text, f"hf-{family}") for item, text in zip(items, texts)]
    metrics = evaluate_predictions(records, n_resamples=0)
    assert set(metrics["results"]) == {f"hf-{family}"}
    assert set(metrics["results"][f"hf-{family}"]) == {"report", "vqa"}


@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_labels_cover_exactly_the_answer_and_its_end_token(family, make_items):
    adapter = make_adapter(family)
    items = make_items(3, seed=2)
    batch = adapter.collate(items)
    for row, item in enumerate(items):
        answer = adapter.tokenizer(item["text"].strip(), add_special_tokens=False)["input_ids"] + [adapter.tokenizer.eos_token_id]
        scored = batch["labels"][row][batch["labels"][row] != IGNORE_INDEX].tolist()
        assert scored == answer


@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_one_lora_step_trains_the_language_model_adapters_only(family, make_items):
    adapter = make_adapter(family)
    adapter.add_lora(r=4, alpha=8, dropout=0.0)
    trainable = {name: p for name, p in adapter.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name for name in trainable)
    assert all(("language_model" in name or "text_model" in name) for name in trainable)
    frozen_before = {name: p.detach().clone() for name, p in adapter.named_parameters() if not p.requires_grad}
    lora_before = {name: p.detach().clone() for name, p in trainable.items()}
    optimizer = torch.optim.AdamW(trainable.values(), lr=1e-2)
    batch = adapter.collate(make_items(2, seed=3))
    loss = adapter(**batch)["loss"]
    assert torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    assert any(not torch.equal(lora_before[name], p) for name, p in trainable.items())
    assert all(torch.equal(frozen_before[name], p) for name, p in adapter.named_parameters() if not p.requires_grad)
    assert adapter.generate_texts(make_items(1, seed=4), max_new_tokens=2)  # generation still runs through the adapters


def test_a_saved_adapter_reloads_to_the_same_loss(tmp_path, make_items):
    model, processor = build_llava()
    base = tmp_path / "llava"
    model.save_pretrained(base)
    processor.save_pretrained(base)
    adapter = HFVisionLanguageModel.from_pretrained(base, RENDER)
    adapter.add_lora(r=4, alpha=8, dropout=0.0)
    with torch.no_grad():
        for name, param in adapter.named_parameters():
            if "lora_B" in name:
                param.add_(0.01)  # a trained-looking adapter (lora_B starts at zero)
    batch = adapter.collate(make_items(2, seed=5))
    expected = adapter(**batch)["loss"]
    saved = adapter.save_pretrained(tmp_path / "run")
    config = json.loads((saved / "hf_vlm_config.json").read_text(encoding="utf-8"))
    assert config["adapter"] == "adapter" and config["render"]["size"] == SIDE
    reloaded = HFVisionLanguageModel.from_pretrained(saved)
    assert torch.allclose(reloaded(**reloaded.collate(make_items(2, seed=5)))["loss"], expected, atol=1e-6)


def test_a_folder_that_is_no_model_is_one_error(tmp_path):
    with pytest.raises(TrainError, match="cannot load an image-text-to-text model"):
        HFVisionLanguageModel.from_pretrained(tmp_path)
