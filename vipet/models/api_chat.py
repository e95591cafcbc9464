"""The paper's few-shot API baseline: any OpenAI-compatible chat endpoint, shown k training reports.

The ViMed-PET paper scores GPT-4o given a few training reports as examples. Here the same row can
be run against any server speaking `POST {base_url}/v1/chat/completions` (a hospital's local vLLM,
llama.cpp or TGI server, or a hosted API): `fit(train_items)` keeps the training answers, and
`predict(item)` sends a system prompt, k example turns (user: the task's instruction, assistant:
a training report or answer) and the study's own instruction, optionally with its rendered images
(coronal PET MIP, fused slice) as base64 PNG data URLs in the OpenAI `image_url` content form.

Examples are chosen per (task, region, question) among the training items: by `seed` (the same k
for every study, so the prompt is one fixed template), or by image similarity (`retrieval`: the k
training studies nearest by `vipet.models.baselines.image_statistics`, as the retrieval baseline
measures it). k = 0 is the zero-shot row.

What makes it usable on a real endpoint: retries with exponential backoff and jitter on 429, 5xx
and connection errors (Retry-After honoured, a bounded number of attempts); a token-bucket rate
limit in requests per minute; a response cache on disk keyed by sha256 of (endpoint, model, full
messages, parameters), so a rerun sends nothing; prompt and completion tokens taken from the
reply's `usage` block, else estimated (`estimate_tokens`, flagged). The API key is read from the
environment variable the config names, at request time, and kept out of every object, message,
cache entry and file. Clock, sleep and jitter are injectable so tests never wait.
"""

from __future__ import annotations

import base64
import json
import math
import os
import random
import threading
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from vipet.errors import TrainError
from vipet.fsutil import atomic_write_json
from vipet.hashing import sha256_json
from vipet.reports.chat_transport import ChatHTTPError, message_content, post_json

SHOT_SELECTIONS = ("seed", "retrieval")
IMAGE_VIEWS = ("mip", "fused")  # the build's renders (vipet.data.cache.study_renders), drawn by vipet.imaging.render
ESTIMATE_RULE = "ceil(characters / 4) of the text parts (images not counted); only when a reply has no usage block"
SYSTEM_PROMPT = (
    "Bạn là bác sĩ y học hạt nhân đọc PET/CT FDG. Hãy viết báo cáo (hoặc trả lời câu hỏi) bằng tiếng Việt, "
    "theo đúng văn phong và cấu trúc của các ví dụ, chỉ mô tả những gì có trên hình ảnh. Chỉ trả về văn bản."
)


def check_shot_settings(shot_selection: str, tasks: Sequence[str]) -> None:
    """The example choice and tasks any few-shot row (an endpoint or a local LM) accepts."""
    if shot_selection not in SHOT_SELECTIONS:
        raise TrainError(f"shot_selection must be one of {', '.join(SHOT_SELECTIONS)}, got {shot_selection!r}")
    if not tasks or any(t not in ("report", "vqa") for t in tasks):
        raise TrainError(f"tasks must be report and/or vqa, got {tasks!r}")


def check_counts(fields: Sequence[tuple[str, Any, int]]) -> None:
    """Each (name, value, minimum) is an integer (not a bool) of at least its minimum."""
    for name, value, low in fields:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise TrainError(f"{name} must be an integer of at least {low}, got {value!r}")


class EndpointError(TrainError):
    """A failure every other study would meet too (key refused, no such endpoint or model, no server):
    a batch stops on it. Any other failure (a malformed reply, 5xx after the retries) is recorded for
    that study and the batch goes on."""


@dataclass
class ApiChatConfig:
    """One endpoint and how to ask it; the YAML of `kind: api` bench entries and `api:CONFIG.yaml`.

    `api_key_env` is the NAME of the environment variable holding the key (None: no key sent);
    the key itself never appears in a config, a log or a file.
    """

    base_url: str = ""
    model: str = ""
    api_key_env: str | None = None
    tasks: list[str] = field(default_factory=lambda: ["report"])  # the paper's API row writes reports only
    k_shots: int = 3
    shot_selection: str = "seed"
    seed: int = 0
    images: list[str] = field(default_factory=list)
    temperature: float = 0.0
    max_tokens: int = 512
    timeout_s: float = 60.0
    max_retries: int = 4  # extra attempts after the first, on 429 / 5xx / no connection
    backoff_s: float = 1.0  # first retry waits about this long, doubling each time (with jitter)
    max_backoff_s: float = 30.0
    requests_per_minute: float | None = None  # None: no limit
    burst: int = 1
    cache_dir: str | None = None  # None: `<predictions>.api_cache/` beside the predictions file
    system_prompt: str = SYSTEM_PROMPT

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise TrainError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        if not self.model:
            raise TrainError("model (the endpoint's model name) is empty")
        check_shot_settings(self.shot_selection, self.tasks)
        unknown = [v for v in self.images if v not in IMAGE_VIEWS]
        if unknown:
            raise TrainError(f"images: unknown view(s) {unknown}; known: {', '.join(IMAGE_VIEWS)}")
        check_counts((("k_shots", self.k_shots, 0), ("max_retries", self.max_retries, 0),
                      ("max_tokens", self.max_tokens, 1), ("burst", self.burst, 1)))
        if self.requests_per_minute is not None and not self.requests_per_minute > 0:
            raise TrainError(f"requests_per_minute must be positive, got {self.requests_per_minute!r}")

    @property
    def url(self) -> str:
        """`{base_url}/v1/chat/completions`; a base already ending in /v1 is not given a second one."""
        base = self.base_url.rstrip("/")
        return base + ("/chat/completions" if base.endswith("/v1") else "/v1/chat/completions")

    @property
    def group(self) -> str:
        """The leaderboard group of this row, as the paper groups them."""
        return "few-shot" if self.k_shots > 0 else "zero-shot"

    def params(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "max_tokens": self.max_tokens}


def load_api_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> ApiChatConfig:
    """The config in the YAML file `path`, with flat `overrides` on top; unknown keys are an error."""
    from vipet.typed_config import from_mapping, load_yaml

    values = {**load_yaml(path, error=TrainError, what="API model config"), **dict(overrides or {})}
    return from_mapping(ApiChatConfig, values, path, error=TrainError)


def parse_api_spec(spec: str) -> ApiChatConfig:
    """`api:CONFIG.yaml` or `api:URL#MODEL` (defaults otherwise; the key from $VIPET_API_KEY when set)."""
    target = spec.removeprefix("api:")
    if target.startswith(("http://", "https://")):
        url, _, model = target.partition("#")
        if not model:
            raise TrainError(f"an API adapter model is named api:CONFIG.yaml or api:URL#MODEL; {spec!r} names no "
                             "#MODEL (the endpoint's model name)")
        return ApiChatConfig(base_url=url, model=model, api_key_env="VIPET_API_KEY" if os.environ.get("VIPET_API_KEY") else None)
    if not Path(target).is_file():
        raise TrainError(f"an API adapter model is named api:CONFIG.yaml or api:URL#MODEL; no config file {target!r}")
    return load_api_config(target)


def estimate_tokens(messages: list[dict[str, Any]] | str) -> int:
    """The stated estimate (`ESTIMATE_RULE`) for a prompt (its messages) or a completion (its text)."""
    if isinstance(messages, str):
        return math.ceil(len(messages) / 4)
    chars = 0
    for message in messages:
        content = message["content"]
        parts = [content] if isinstance(content, str) else [p.get("text", "") for p in content if p.get("type") == "text"]
        chars += sum(len(p) for p in parts)
    return math.ceil(chars / 4)


class RateLimiter:
    """A token bucket: `rate_per_minute` tokens a minute, at most `burst` saved up; `acquire` waits for one."""

    def __init__(self, rate_per_minute: float, burst: int = 1, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.rate = rate_per_minute / 60.0
        self.capacity = float(burst)
        self.clock, self.sleep = clock, sleep
        self.tokens = float(burst)
        self.stamp = clock()
        self.lock = threading.Lock()

    def acquire(self) -> None:
        with self.lock:
            while True:
                now = self.clock()
                self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1.0:
                    self.tokens -= 1.0
                    return
                self.sleep((1.0 - self.tokens) / self.rate)


class ResponseCache:
    """Replies on disk, one JSON file per request key (sha256), written atomically; a rerun reads them."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # absent, or cut by a kill: ask again
        return entry if isinstance(entry, dict) and isinstance(entry.get("content"), str) else None

    def put(self, key: str, entry: dict[str, Any]) -> None:
        atomic_write_json(self.path(key), entry)


def request_key(url: str, model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
    """What names a reply in the cache: everything that is sent, except the key."""
    return sha256_json({"endpoint": url, "model": model, "messages": messages, "params": params})


@dataclass
class Usage:
    """What a run asked for and what it cost, written beside its predictions (`usage.json`)."""

    calls: int = 0  # predictions asked for
    requests: int = 0  # HTTP requests sent, retries included
    retries: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0  # over every answer, cached or not
    completion_tokens: int = 0
    new_prompt_tokens: int = 0  # only the answers this run paid for
    new_completion_tokens: int = 0
    estimated: int = 0  # answers whose tokens are the estimate (no usage block in the reply)
    failed: list[dict[str, str]] = field(default_factory=list)


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _question_key(question: str | None) -> str:
    return " ".join(unicodedata.normalize("NFC", question or "").lower().split())


def _turn(instruction: str, images: list[bytes]) -> dict[str, Any]:
    """A user turn: plain text, or the OpenAI content list of text then image_url parts."""
    if not images:
        return {"role": "user", "content": instruction}
    return {"role": "user", "content": [{"type": "text", "text": instruction},
                                        *({"type": "image_url", "image_url": {"url": _data_url(p)}} for p in images)]}


def instruction(item: Mapping[str, Any]) -> str:
    """The task's own words, as vipet's models are prompted (`vipet.data.tasks.report_prompt`, or the question)."""
    from vipet.data.tasks import report_prompt

    if (item.get("task") or "report") == "vqa":
        if not item.get("question"):
            raise TrainError(f"VQA item {item.get('sample_id')} has no question")
        return str(item["question"]).strip()
    return report_prompt(item.get("region") or "whole")


class ApiChatModel:
    """`fit(train_items)` then `predict(item) -> str`, like the baselines; one endpoint per instance.

    `images(item) -> {view: png bytes}` supplies the renders when `config.images` asks for them.
    `environ`, `clock`, `sleep` and `rng` are injectable (tests); nothing here keeps the key.
    """

    name = "api"

    def __init__(self, config: ApiChatConfig, cache_dir: str | Path, *, images: Callable[[Mapping[str, Any]], dict[str, bytes]] | None = None,
                 environ: Mapping[str, str] | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None,
                 transport: Callable[..., Any] = post_json):
        self.config = config
        self.cache = ResponseCache(config.cache_dir or cache_dir)
        self.images = images
        self.environ = environ if environ is not None else os.environ
        self.sleep = sleep
        self.rng = rng or random.Random(config.seed)
        self.transport = transport
        self.limiter = (RateLimiter(config.requests_per_minute, config.burst, clock, sleep)
                        if config.requests_per_minute else None)
        self.usage = Usage()
        self.examples: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        self.by_task_region: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        if config.api_key_env and not self.environ.get(config.api_key_env):
            raise EndpointError(f"the API key variable {config.api_key_env} (api_key_env) is not set in the environment")

    @property
    def uses_images(self) -> bool:
        """Fitting loads the training volumes only to rank examples by image similarity."""
        return self.config.shot_selection == "retrieval" and self.config.k_shots > 0

    def fit(self, items: Iterable[Mapping[str, Any]]) -> "ApiChatModel":
        """Keep every training answer by (task, region); with retrieval, its z-scored image features."""
        from vipet.models.baselines import image_statistics

        kept = []
        for item in items:
            if not item.get("text"):
                continue
            task = item.get("task") or "report"
            entry = {"id": str(item.get("sample_id")), "task": task, "region": item.get("region") or "whole",
                     "question": item.get("question"), "text": item["text"]}
            if self.uses_images:
                entry["features"] = image_statistics(item["image"])
            kept.append(entry)
        if not kept and self.config.k_shots > 0:
            raise TrainError("API model: no training items to take examples from")
        kept.sort(key=lambda e: e["id"])  # the choice never depends on the order the split is read in
        if self.uses_images and kept:
            features = np.stack([e["features"] for e in kept])
            self.mean, self.std = features.mean(axis=0), features.std(axis=0) + 1e-8
        for entry in kept:
            self.by_task_region.setdefault((entry["task"], entry["region"]), []).append(entry)
        return self

    def _candidates(self, item: Mapping[str, Any]) -> list[dict[str, Any]]:
        task, region = item.get("task") or "report", item.get("region") or "whole"
        pool = self.by_task_region.get((task, region)) or [e for (t, _), es in sorted(self.by_task_region.items())
                                                            if t == task for e in es]
        if task == "vqa":
            same = [e for e in pool if _question_key(e["question"]) == _question_key(item.get("question"))]
            pool = same or pool
        return pool

    def shots(self, item: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The k examples shown for `item` (fewer when the training split has fewer)."""
        k = self.config.k_shots
        if k == 0:
            return []
        pool = self._candidates(item)
        if not pool:
            raise TrainError(f"API model: no training example for task {item.get('task')!r}")
        if self.config.shot_selection == "retrieval":
            from vipet.models.baselines import image_statistics

            assert self.mean is not None and self.std is not None
            query = (image_statistics(item["image"]) - self.mean) / self.std
            distances = [float((((e["features"] - self.mean) / self.std - query) ** 2).sum()) for e in pool]
            return [pool[i] for i in sorted(range(len(pool)), key=lambda i: (distances[i], pool[i]["id"]))[:k]]
        key = (item.get("task") or "report", item.get("region") or "whole", _question_key(item.get("question")))
        if key not in self.examples:
            chooser = random.Random(f"{self.config.seed}:{key[0]}:{key[1]}:{key[2]}")  # str seeds are stable across runs
            self.examples[key] = chooser.sample(pool, min(k, len(pool)))
        return self.examples[key]

    def messages(self, item: Mapping[str, Any]) -> list[dict[str, Any]]:
        """System prompt, k example turns (text only), then the study's turn with its images."""
        out: list[dict[str, Any]] = [{"role": "system", "content": self.config.system_prompt}]
        for shot in self.shots(item):
            out.append({"role": "user", "content": instruction(shot)})
            out.append({"role": "assistant", "content": shot["text"]})
        pictures: list[bytes] = []
        if self.config.images:
            if self.images is None:
                raise TrainError("images were asked for but no renders are available to this model")
            renders = self.images(item)
            missing = [v for v in self.config.images if v not in renders]
            if missing:
                raise TrainError(f"study of {item.get('sample_id')} has no {', '.join(missing)} render in the build "
                                 "(built with --no-renders?)")
            pictures = [renders[v] for v in self.config.images]
        out.append(_turn(instruction(item), pictures))
        return out

    def _error(self, exc: ChatHTTPError) -> TrainError:
        """The one-line error for a request that will not succeed by asking again."""
        config = self.config
        if exc.status in (401, 403):
            where = f"${config.api_key_env}" if config.api_key_env else "no api_key_env is configured"
            return EndpointError(f"HTTP {exc.status}: the endpoint refused the API key ({where})", config.url)
        if exc.status == 404:
            return EndpointError(f"HTTP 404: no such endpoint or model {config.model!r} (POST {{base_url}}/v1/chat/completions)",
                              config.url)
        if exc.kind == "unreachable":
            return EndpointError(f"{exc.reason} after {config.max_retries + 1} attempts", config.url)
        return TrainError(exc.reason, config.url)

    def _send(self, body: dict[str, Any]) -> Any:
        """POST with the bounded retries; the key is read here and goes only into the header."""
        config = self.config
        key = self.environ.get(config.api_key_env) if config.api_key_env else None
        for attempt in range(config.max_retries + 1):
            if self.limiter is not None:
                self.limiter.acquire()
            self.usage.requests += 1
            try:
                return self.transport(config.url, body, api_key=key, timeout_s=config.timeout_s)
            except ChatHTTPError as exc:
                if not exc.retryable or attempt == config.max_retries:
                    raise self._error(exc) from None
                self.usage.retries += 1
                self.sleep(self.backoff(attempt, exc.retry_after))
        raise AssertionError("unreachable")  # the loop returns or raises

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before retry `attempt` (0-based): the server's Retry-After when given, else
        `backoff_s * 2**attempt` with jitter in [50%, 100%]; never above `max_backoff_s`."""
        if retry_after is not None:
            return min(retry_after, self.config.max_backoff_s)
        return min(self.config.max_backoff_s, self.config.backoff_s * 2 ** attempt) * (0.5 + 0.5 * self.rng.random())

    def predict(self, item: Mapping[str, Any]) -> str:
        config = self.config
        messages = self.messages(item)
        params = config.params()
        key = request_key(config.url, config.model, messages, params)
        self.usage.calls += 1
        entry = self.cache.get(key)
        fresh = entry is None
        if entry is None:
            payload = self._send({"model": config.model, "messages": messages, **params})
            try:
                content = message_content(payload, config.url)
            except ChatHTTPError as exc:
                raise self._error(exc) from None
            usage = payload.get("usage") if isinstance(payload, dict) else None
            counted = (isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int)
                       and isinstance(usage.get("completion_tokens"), int))
            entry = {"content": content, "estimated": not counted,
                     "prompt_tokens": usage["prompt_tokens"] if counted else estimate_tokens(messages),
                     "completion_tokens": usage["completion_tokens"] if counted else estimate_tokens(content)}
            self.cache.put(key, entry)
        else:
            self.usage.cache_hits += 1
        self.usage.prompt_tokens += int(entry.get("prompt_tokens") or 0)
        self.usage.completion_tokens += int(entry.get("completion_tokens") or 0)
        self.usage.estimated += bool(entry.get("estimated"))
        if fresh:
            self.usage.new_prompt_tokens += int(entry["prompt_tokens"])
            self.usage.new_completion_tokens += int(entry["completion_tokens"])
        return entry["content"]

    def usage_record(self) -> dict[str, Any]:
        """usage.json: the counts, the endpoint and model (never the key), and how tokens were counted."""
        return {"endpoint": self.config.url, "model": self.config.model, "k_shots": self.config.k_shots,
                "shot_selection": self.config.shot_selection, "images": list(self.config.images),
                "token_estimate": ESTIMATE_RULE, **asdict(self.usage)}


