"""Vietnamese prompts and the token layout of one example: prompt, visual tokens, answer.

A prompt holds exactly one `<image>` marker. When the LM's tokenizer has a chat template the
prompt becomes the user turn of that template (so an instruction-tuned LM sees the format it was
tuned on); otherwise a plain "prompt, newline, `Trả lời:`" layout is used. The marker is then
expanded into `num_image_tokens` copies of the image token id, the positions whose embeddings the
VLM overwrites with the projected visual tokens (the LLaVA splice; the VLM finds them by that id,
so no caller carries a mask), and only answer tokens carry a loss.
"""

from __future__ import annotations

from dataclasses import dataclass

from vipet.data.tasks import report_prompt as region_instruction
from vipet.errors import TrainError

IMAGE_MARKER = "<image>"
IGNORE_INDEX = -100

PLAIN_ANSWER_CUE = "Trả lời:"


def report_prompt(region: str) -> str:
    """The report-generation instruction for one region volume, after the image marker."""
    return f"{IMAGE_MARKER}\n{region_instruction(region)}"


def vqa_prompt(question: str) -> str:
    return f"{IMAGE_MARKER}\n{question.strip()}"


def task_prompt(task: str, region: str = "whole", question: str | None = None) -> str:
    if task == "report":
        return report_prompt(region)
    if task == "vqa":
        if not question:
            raise TrainError("a VQA example needs a question")
        return vqa_prompt(question)
    raise TrainError(f"task must be 'report' or 'vqa', got {task!r}")


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def render_prompt(tokenizer, prompt: str, use_chat_template: bool) -> str:
    """The full prompt text the LM reads before its answer."""
    if use_chat_template:
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
    return f"{prompt}\n{PLAIN_ANSWER_CUE} "


@dataclass
class EncodedExample:
    input_ids: list[int]
    labels: list[int]  # IGNORE_INDEX outside the answer


class PromptEncoder:
    """Turns (task, region, question, answer) into token ids for one LM tokenizer."""

    def __init__(self, tokenizer, num_image_tokens: int, use_chat_template: bool | None = None, max_length: int = 512,
                 *, image_token_id: int):
        self.tokenizer = tokenizer
        self.num_image_tokens = int(num_image_tokens)
        self.use_chat_template = has_chat_template(tokenizer) if use_chat_template is None else bool(use_chat_template)
        if self.use_chat_template and not has_chat_template(tokenizer):
            raise TrainError("use_chat_template is set but the tokenizer has no chat template")
        self.max_length = int(max_length)
        eos = tokenizer.eos_token_id
        if eos is None:
            raise TrainError("the LM tokenizer has no eos token; generation could never stop")
        self.eos_id = int(eos)
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else eos)
        # The id at visual positions (the VLM resolves it: `vipet.models.vlm.resolve_image_token_id`);
        # padding and end ids would be mistaken for visual positions.
        if image_token_id in (self.pad_id, self.eos_id):
            raise TrainError(f"image_token_id {image_token_id} is the padding or end id of the tokenizer")
        self.image_token_id = int(image_token_id)
        # Plain layouts start with BOS when the LM has one (LLaMA-style); chat templates write their own.
        bos = tokenizer.bos_token_id
        self.bos_ids = [int(bos)] if bos is not None and not self.use_chat_template else []

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []

    def prompt_ids(self, prompt: str) -> list[int]:
        text = render_prompt(self.tokenizer, prompt, self.use_chat_template)
        if text.count(IMAGE_MARKER) != 1:
            raise TrainError(f"a prompt must hold exactly one {IMAGE_MARKER} marker: {prompt!r}")
        before, after = text.split(IMAGE_MARKER)
        return self.bos_ids + self._ids(before) + [self.image_token_id] * self.num_image_tokens + self._ids(after)

    def encode(self, task: str, answer: str, region: str = "whole", question: str | None = None) -> EncodedExample:
        """Prompt + answer + eos, the answer truncated (never the prompt) to fit `max_length`."""
        ids = self.prompt_ids(task_prompt(task, region, question))
        room = self.max_length - len(ids)
        if room < 2:
            raise TrainError(f"max_length {self.max_length} leaves no room for an answer after a {len(ids)}-token prompt")
        answer_ids = (self._ids(answer.strip()) + [self.eos_id])[:room]
        return EncodedExample(
            input_ids=ids + answer_ids,
            labels=[IGNORE_INDEX] * len(ids) + answer_ids,
        )

    def encode_prompt(self, task: str, region: str = "whole", question: str | None = None) -> EncodedExample:
        ids = self.prompt_ids(task_prompt(task, region, question))
        return EncodedExample(input_ids=ids, labels=[IGNORE_INDEX] * len(ids))
