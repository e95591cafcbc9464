"""Prompt layout: one image marker, N visual positions, answer-only labels, truncation of the answer."""

from __future__ import annotations

import pytest

from vipet.errors import TrainError
from vipet.models.prompts import IGNORE_INDEX, PromptEncoder, report_prompt, task_prompt


@pytest.fixture
def encoder(tiny_lms):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_lms["llama"])
    return PromptEncoder(tokenizer, num_image_tokens=5, max_length=60, image_token_id=tokenizer.convert_tokens_to_ids("<image>"))


def test_report_prompts_are_vietnamese_and_name_the_region():
    assert report_prompt("chest") == "<image>\nHãy mô tả hình ảnh PET/CT vùng lồng ngực và nêu nhận định."
    assert "toàn thân" in report_prompt("whole") and "toàn thân" in report_prompt("unknown-region")
    with pytest.raises(TrainError, match="needs a question"):
        task_prompt("vqa", "chest", None)


def test_layout_of_an_encoded_example(encoder):
    example = encoder.encode("vqa", "có", "chest", "Có hạch trung thất không?")
    n = len(example.input_ids)
    assert len(example.labels) == n
    assert example.input_ids[0] == encoder.tokenizer.bos_token_id  # plain layout starts with BOS
    first = example.input_ids.index(encoder.image_token_id)
    assert example.input_ids[first : first + 5] == [encoder.image_token_id] * 5
    assert example.input_ids.count(encoder.image_token_id) == 5
    prompt_length = next(i for i, lab in enumerate(example.labels) if lab != IGNORE_INDEX)
    answer = example.labels[prompt_length:]
    assert all(lab == IGNORE_INDEX for lab in example.labels[:prompt_length])
    assert encoder.tokenizer.decode(answer[:-1]) == "có" and answer[-1] == encoder.eos_id
    prompt = encoder.encode_prompt("vqa", "chest", "Có hạch trung thất không?")
    assert prompt.input_ids == example.input_ids[:prompt_length]


def test_long_answers_are_cut_never_the_prompt(encoder):
    long_answer = "Nốt mờ thùy trên phổi phải " * 20
    example = encoder.encode("report", long_answer, "chest")
    assert len(example.input_ids) == 60
    assert example.input_ids.count(encoder.image_token_id) == 5 and example.labels[-1] != encoder.eos_id
    tight = PromptEncoder(encoder.tokenizer, num_image_tokens=5, max_length=10, image_token_id=encoder.image_token_id)
    with pytest.raises(TrainError, match="leaves no room"):
        tight.encode("report", "có", "chest")


def test_a_question_holding_the_marker_is_refused(encoder):
    with pytest.raises(TrainError, match="exactly one <image>"):
        encoder.encode("vqa", "có", "chest", "Ảnh <image> này có hạch không?")


def test_the_padding_or_end_id_cannot_mark_the_image(encoder):
    with pytest.raises(TrainError, match="is the padding or end id"):
        PromptEncoder(encoder.tokenizer, num_image_tokens=5, image_token_id=encoder.pad_id)
