"""A local causal LM shown k training reports as a text prompt: the paper's zero-/few-shot rows, offline.

The ViMed-PET paper scores general-purpose models that are only prompted, never trained on the
cohort. `vipet.models.api_chat` does that against an HTTP endpoint; this does it in-process with
any causal LM a stage config can name (`gemma3-270m`, a local `.gguf` file, an HF folder), so the
row runs where no server runs. The examples and the prompt are api_chat's own (`ApiChatModel.fit`,
`shots`, `messages`: the same k training answers per (task, region, question), chosen by seed or
by image similarity, under the same system prompt); only the answer comes from the local LM.

The messages become text through the tokenizer's chat template when it has one, else through a
plain layout a base LM continues naturally (system prompt, then "instruction\\nanswer" blocks
separated by a blank line, ending with the study's instruction): generation then stops at the
next blank line, where the LM would start an example of its own. Decoding is greedy, so one
prompt always gives one answer: with seed-chosen examples (no image shown) every study of a
(task, region, question) gets the same prompt, and each distinct prompt is generated once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from vipet.errors import TrainError
from vipet.models.api_chat import SYSTEM_PROMPT, ApiChatModel, check_counts, check_shot_settings
from vipet.models.gemma import GEMMA_NAME

PLAIN_STOP = "\n\n"  # the blank line that ends every example block of the plain layout


@dataclass
class FewShotLMConfig:
    """The YAML of `kind: lm` bench entries: which LM, how many examples, how to decode.

    The example fields (`tasks`, `k_shots`, `shot_selection`, `seed`, `system_prompt`) mean what
    they mean in `vipet.models.api_chat.ApiChatConfig`. `threads` is set explicitly (None: torch's
    default), as on a shared 2-core machine torch's default threads made Gemma steps ~13x slower.
    """

    lm: str = GEMMA_NAME
    lm_dtype: str = "float32"
    tasks: list[str] = field(default_factory=lambda: ["report"])
    k_shots: int = 3
    shot_selection: str = "seed"
    seed: int = 0
    system_prompt: str = SYSTEM_PROMPT
    max_new_tokens: int = 320
    batch_size: int = 4
    threads: int | None = 1

    def __post_init__(self) -> None:
        if not self.lm:
            raise TrainError("lm (a stage config's lm name, a .gguf file or an HF folder) is empty")
        check_shot_settings(self.shot_selection, self.tasks)
        check_counts((("k_shots", self.k_shots, 0), ("max_new_tokens", self.max_new_tokens, 1),
                      ("batch_size", self.batch_size, 1)))
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise TrainError(f"threads must be a positive integer or null, got {self.threads!r}")

    @property
    def images(self) -> list[str]:
        """No render is shown: a text LM reads only the examples and the instruction."""
        return []

    @property
    def group(self) -> str:
        """The leaderboard group of this row, as the paper groups them (as an api row's)."""
        return "few-shot" if self.k_shots > 0 else "zero-shot"


def load_fewshot_config(path: Any, overrides: Mapping[str, Any] | None = None) -> FewShotLMConfig:
    """The config in the YAML file `path`, with flat `overrides` on top; unknown keys are an error."""
    from vipet.typed_config import from_mapping, load_yaml

    values = {**load_yaml(path, error=TrainError, what="few-shot LM config"), **dict(overrides or {})}
    return from_mapping(FewShotLMConfig, values, path, error=TrainError)


class FewShotLM(ApiChatModel):
    """`fit(train_items)`, then `predict(item)` or `predict_many(items)`, like the api row.

    It takes from `ApiChatModel` only the example choice and the messages (`fit`, `shots`,
    `messages`, which read `config.k_shots`, `shot_selection`, `seed`, `system_prompt`, `images`);
    it has no endpoint, key, rate limit or response cache (the bench step caches the predictions).
    `model` and `tokenizer` may be given (tests); otherwise `config.lm` is loaded on first use.
    """

    name = "fewshot-lm"

    def __init__(self, config: FewShotLMConfig, *, model=None, tokenizer=None):  # noqa: D107 - see the class
        # The state ApiChatModel's example choice keeps, and nothing of its endpoint.
        self.config = config  # type: ignore[assignment]
        self.images = None
        self.examples: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        self.by_task_region: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.mean = self.std = None
        self.model, self.tokenizer = model, tokenizer
        self.generated = 0  # distinct prompts generated (the rest were answered by an identical prompt)

    def _load(self) -> None:
        if self.model is None or self.tokenizer is None:
            from vipet.models.vlm import load_lm

            self.model, self.tokenizer = load_lm(self.config.lm, self.config.lm_dtype)
        self.model.eval()

    @property
    def templated(self) -> bool:
        """Whether the tokenizer's chat template lays the messages out (else the plain layout)."""
        self._load()
        return bool(getattr(self.tokenizer, "chat_template", None))

    def prompt(self, item: Mapping[str, Any]) -> str:
        """The text the LM continues for `item`: api_chat's messages, laid out for this tokenizer."""
        messages = self.messages(item)
        if self.templated:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        blocks = [messages[0]["content"]]
        turns = messages[1:]
        for user, assistant in zip(turns[0:-1:2], turns[1:-1:2]):
            blocks.append(f"{user['content']}\n{assistant['content']}")
        blocks.append(f"{turns[-1]['content']}\n")
        return PLAIN_STOP.join(blocks)

    def predict(self, item: Mapping[str, Any]) -> str:
        return self.predict_many([item])[0]

    def predict_many(self, items: Sequence[Mapping[str, Any]], progress=None) -> list[str]:
        """Greedy answers for `items`, each distinct prompt generated once, in batches of
        `config.batch_size` prompts of similar length; `progress(n)` is called after each batch."""
        import torch

        self._load()
        prompts = [self.prompt(item) for item in items]
        distinct = sorted(set(prompts), key=lambda p: (len(p), p))
        answers: dict[str, str] = {}
        before = torch.get_num_threads()
        if self.config.threads is not None:
            torch.set_num_threads(self.config.threads)
        try:
            size = self.config.batch_size
            for start in range(0, len(distinct), size):
                batch = distinct[start:start + size]
                answers.update(zip(batch, self._generate(batch)))
                self.generated += len(batch)
                if progress is not None:
                    progress(sum(prompts.count(p) for p in batch))
        finally:
            torch.set_num_threads(before)
        return [answers[p] for p in prompts]

    def _generate(self, prompts: list[str]) -> list[str]:
        import torch

        tokenizer, model = self.tokenizer, self.model
        templated = self.templated
        side = tokenizer.padding_side
        tokenizer.padding_side = "left"  # decoder-only: every prompt must end where its answer starts
        try:
            encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=not templated)
        finally:
            tokenizer.padding_side = side
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        stop = {} if templated else {"stop_strings": [PLAIN_STOP], "tokenizer": tokenizer}
        device = next(model.parameters()).device
        with torch.inference_mode():
            output = model.generate(input_ids=encoded["input_ids"].to(device),
                                    attention_mask=encoded["attention_mask"].to(device),
                                    max_new_tokens=self.config.max_new_tokens, do_sample=False, num_beams=1,
                                    top_p=None, top_k=None, temperature=None, pad_token_id=pad,
                                    eos_token_id=tokenizer.eos_token_id, **stop)
        new = output[:, encoded["input_ids"].shape[1]:]
        texts = tokenizer.batch_decode(new, skip_special_tokens=True)
        return [text.split(PLAIN_STOP, 1)[0].strip() if not templated else text.strip() for text in texts]

    def usage_record(self) -> dict[str, Any]:
        """What was run, written beside the predictions (`<name>.lm.json`)."""
        return {"lm": self.config.lm, "k_shots": self.config.k_shots, "shot_selection": self.config.shot_selection,
                "layout": "chat template" if self.templated else "plain", "distinct_prompts": self.generated,
                "max_new_tokens": self.config.max_new_tokens, "threads": self.config.threads}
