"""The few-shot local LM row: api_chat's examples and messages, laid out as text, answered by a local LM
(tiny random-weight LLaMA and ChatML Qwen2 folders), greedy, each distinct prompt once."""

from __future__ import annotations

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer

from vipet.errors import TrainError
from vipet.models.api_chat import ApiChatConfig, ApiChatModel
from vipet.models.fewshot_lm import PLAIN_STOP, FewShotLM, FewShotLMConfig, load_fewshot_config


def report_items(make_items, regions=("chest", "head_neck")) -> tuple[list[dict], list[dict]]:
    """Training and test report items over two regions (two instructions, so two distinct prompts)."""
    reports = [dict(item, region=regions[i % 2])
               for i, item in enumerate(item for item in make_items(16, seed=3) if item["task"] == "report")]
    return reports[:6], reports[6:]


def reference_greedy(folder: str, prompt: str, max_new_tokens: int, templated: bool) -> str:
    """transformers' own greedy decoding of one prompt, unpadded, cut at the first blank line."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=not templated)["input_ids"]
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             do_sample=False, pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    text = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    return (text.split(PLAIN_STOP, 1)[0] if not templated else text).strip()


def test_examples_and_messages_are_the_api_rows(make_items):
    train, test = report_items(make_items)
    for selection in ("seed", "retrieval"):
        lm = FewShotLM(FewShotLMConfig(lm="unused", k_shots=2, shot_selection=selection, seed=5)).fit(train)
        api = ApiChatModel(ApiChatConfig(base_url="http://127.0.0.1:9", model="m", k_shots=2, shot_selection=selection,
                                         seed=5), cache_dir="unused").fit(train)
        for item in test:
            assert lm.messages(item) == api.messages(item)
            assert len(lm.messages(item)) == 1 + 2 * 2 + 1


def test_plain_layout_and_greedy_answers_match_transformers(tiny_lms, make_items):
    folder = tiny_lms["llama"]
    train, test = report_items(make_items)
    model = FewShotLM(FewShotLMConfig(lm=folder, k_shots=1, max_new_tokens=8, batch_size=2)).fit(train)
    assert not model.templated  # the tiny LLaMA tokenizer has no chat template
    first = model.messages(test[0])
    assert model.prompt(test[0]) == (f"{first[0]['content']}\n\n{first[1]['content']}\n{first[2]['content']}\n\n"
                                     f"{first[3]['content']}\n")
    before = torch.get_num_threads()
    answers = model.predict_many(test)
    assert torch.get_num_threads() == before  # threads set for the generation only
    prompts = [model.prompt(item) for item in test]
    assert len(set(prompts)) == 2 and model.generated == 2  # one generation per distinct prompt, batched together
    for prompt, answer in zip(prompts, answers):
        assert answer == reference_greedy(folder, prompt, 8, templated=False)  # left padding changes nothing
    assert model.predict(test[0]) == answers[0]


def test_chat_template_layout(tiny_lms, make_items):
    folder = tiny_lms["qwen2"]  # its tokenizer carries ChatML
    train, test = report_items(make_items)
    model = FewShotLM(FewShotLMConfig(lm=folder, k_shots=0, max_new_tokens=6)).fit(train)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    expected = tokenizer.apply_chat_template(model.messages(test[0]), tokenize=False, add_generation_prompt=True)
    assert model.prompt(test[0]) == expected and expected.endswith("<|im_start|>assistant\n")
    assert model.predict(test[0]) == reference_greedy(folder, expected, 6, templated=True)
    assert model.usage_record()["layout"] == "chat template" and model.config.group == "zero-shot"


def test_config_is_checked(tmp_path):
    assert FewShotLMConfig().group == "few-shot" and FewShotLMConfig().images == []
    for bad, message in (({"shot_selection": "nearest"}, "shot_selection"), ({"k_shots": -1}, "k_shots"),
                         ({"threads": 0}, "threads"), ({"tasks": ["caption"]}, "tasks"), ({"lm": ""}, "lm")):
        with pytest.raises(TrainError, match=message):
            FewShotLMConfig(**bad)
    path = tmp_path / "lm.yaml"
    path.write_text(yaml.safe_dump({"lm": "x", "k_shots": 2}), encoding="utf-8")
    assert load_fewshot_config(path, {"k_shots": 0}).k_shots == 0
    path.write_text(yaml.safe_dump({"lm": "x", "images": ["mip"]}), encoding="utf-8")
    with pytest.raises(TrainError, match="images"):  # a text LM is shown no render
        load_fewshot_config(path)
