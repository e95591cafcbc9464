"""The few-shot API model kind against a real HTTP server on 127.0.0.1 (vipet.models.testing_chat).

The server answers with the first few-shot example's text (or a fixed zero-shot sentence) and a
`usage` block counting words; scripted replies test retries, Retry-After and errors. Sleep and the
rate limiter's clock are injected, so nothing here waits on wall time.
"""

from __future__ import annotations

import base64
import io
import json
import math
import random
import socket

import numpy as np
import pytest
import torch
from PIL import Image

from vipet.errors import TrainError
from vipet.imaging.render import _png_bytes, mip_image
from vipet.models.api_chat import (ApiChatConfig, ApiChatModel, EndpointError, RateLimiter, estimate_tokens,
                                   load_api_config, parse_api_spec, request_key)
from vipet.models.testing_chat import ZERO_SHOT_REPLY, ChatServer, text_parts

SECRET = "sk-test-7f3a9c1e-never-in-a-file"
KEY_ENV = "VIPET_TEST_API_KEY"
REPORTS = [f"Hạch trung thất nhóm {i}, kích thước {10 + i} mm, tăng chuyển hóa FDG (SUVmax: {i},{i})." for i in range(1, 9)]


class FakeClock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def train_items(n: int = 8) -> list[dict]:
    return [{"sample_id": f"S{i:02d}:chest", "task": "report", "region": "chest", "text": REPORTS[i]} for i in range(n)]


def query_item(i: int = 0) -> dict:
    return {"sample_id": f"T{i:02d}:chest", "task": "report", "region": "chest", "text": "ref"}


@pytest.fixture()
def server():
    with ChatServer() as running:
        yield running


@pytest.fixture()
def key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    return SECRET


def make(server, tmp_path, clock: FakeClock | None = None, **settings) -> ApiChatModel:
    clock = clock or FakeClock()
    config = ApiChatConfig(base_url=server.url, model="tiny-vi", **settings)
    return ApiChatModel(config, tmp_path / "cache", clock=clock, sleep=clock.sleep, rng=random.Random(0))


def test_request_is_openai_shaped_with_seeded_examples(server, key, tmp_path):
    model = make(server, tmp_path, api_key_env=KEY_ENV, k_shots=3, seed=5, temperature=0.2, max_tokens=64)
    model.fit(train_items())
    answer = model.predict(query_item())
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions" and request["auth"] == f"Bearer {SECRET}"
    body = request["body"]
    assert body["model"] == "tiny-vi" and body["temperature"] == 0.2 and body["max_tokens"] == 64
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant", "user"]
    # The examples: k of the (task, region) pool, sorted by sample id, drawn by a string-seeded Random.
    pool = sorted(train_items(), key=lambda e: e["sample_id"])
    expected = [e["text"] for e in random.Random("5:report:chest:").sample(pool, 3)]
    assert [m["content"] for m in body["messages"] if m["role"] == "assistant"] == expected
    assert answer == expected[0]  # the loopback server echoes the first example
    from vipet.data.tasks import report_prompt

    assert body["messages"][-1]["content"] == report_prompt("chest")
    # The same examples for every study (one fixed prompt: a cache hit), and the usage block counted.
    assert model.predict(query_item(1)) == answer and len(server.requests) == 1 and model.usage.cache_hits == 1
    words = sum(len(t.split()) for t in text_parts(body["messages"]))
    assert model.usage.prompt_tokens == 2 * words and model.usage.completion_tokens == 2 * len(answer.split())
    assert model.usage.new_prompt_tokens == words and model.usage.estimated == 0 and model.usage.requests == 1


def test_zero_shot_and_retrieval_selection(server, tmp_path):
    zero = make(server, tmp_path, k_shots=0).fit(train_items())
    assert zero.predict(query_item()) == ZERO_SHOT_REPLY
    assert [m["role"] for m in server.requests[0]["body"]["messages"]] == ["system", "user"]
    assert zero.config.group == "zero-shot" and ApiChatConfig(base_url="http://h", model="m").group == "few-shot"

    generator = torch.Generator().manual_seed(0)
    volumes = [torch.rand((2, 4, 8, 8), generator=generator) for _ in range(6)]
    items = [{**e, "image": v} for e, v in zip(train_items(6), volumes)]
    near = make(server, tmp_path, k_shots=2, shot_selection="retrieval").fit(items)
    # A query identical to training study 4 is at distance 0 from it: that example comes first.
    query = {**query_item(), "image": volumes[4].clone()}
    assert near.predict(query) == REPORTS[4]
    assert near.shots(query)[0]["id"] == "S04:chest" and len(near.shots(query)) == 2


def test_retries_500_twice_then_200_with_bounded_jittered_backoff(server, tmp_path):
    server.script = [(500, {}, "{}"), (502, {}, "{}")]
    clock = FakeClock()
    model = make(server, tmp_path, clock, backoff_s=1.0, max_retries=4).fit(train_items())
    assert model.predict(query_item()) == model.shots(query_item())[0]["text"]
    assert len(server.requests) == 3 and model.usage.retries == 2 and model.usage.requests == 3
    first, second = clock.sleeps
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 2.0  # backoff_s * 2**attempt, jitter in [50%, 100%]
    expected = random.Random(0)
    assert first == 1.0 * (0.5 + 0.5 * expected.random()) and second == 2.0 * (0.5 + 0.5 * expected.random())


def test_429_honours_retry_after_and_caps_it(server, tmp_path):
    server.script = [(429, {"Retry-After": "7"}, "{}"), (429, {"Retry-After": "120"}, "{}")]
    clock = FakeClock()
    model = make(server, tmp_path, clock, max_backoff_s=30.0).fit(train_items())
    model.predict(query_item())
    assert clock.sleeps == [7.0, 30.0] and len(server.requests) == 3


def test_retries_are_bounded_and_a_persistent_5xx_is_one_line(server, tmp_path):
    server.script = [(503, {}, "{}")] * 10
    clock = FakeClock()
    model = make(server, tmp_path, clock, max_retries=2).fit(train_items())
    with pytest.raises(TrainError) as caught:
        model.predict(query_item())
    assert not isinstance(caught.value, EndpointError)  # one study's failure, not the whole batch's
    assert "HTTP 503" in str(caught.value) and "\n" not in str(caught.value)
    assert len(server.requests) == 3 and len(clock.sleeps) == 2


def test_rate_limit_spaces_requests_on_the_injected_clock(server, tmp_path):
    clock = FakeClock()
    server.clock = clock
    model = make(server, tmp_path, clock, requests_per_minute=6, burst=1, k_shots=0, tasks=["vqa"]).fit([])
    for i in range(10):  # ten different questions: ten prompts, none answered from the cache
        model.predict({"sample_id": f"T:q{i}", "task": "vqa", "region": "chest", "question": f"Có hạch nhóm {i} không?"})
    times = [r["time"] for r in server.requests]
    assert times == pytest.approx([10.0 * i for i in range(10)])  # 6 a minute: one every 10 s
    assert max(sum(t <= s < t + 60 for s in times) for t in times) == 6

    bucket_clock = FakeClock()
    bucket = RateLimiter(60, burst=3, clock=bucket_clock, sleep=bucket_clock.sleep)
    stamps = []
    for _ in range(6):
        bucket.acquire()
        stamps.append(bucket_clock.now)
    assert stamps == pytest.approx([0, 0, 0, 1, 2, 3])  # a burst of 3, then one a second


def per_study_png(item) -> dict[str, bytes]:
    """A different MIP per study (its number sets the hot voxel), so each study's prompt differs."""
    pet = np.zeros((6, 5, 7), dtype=np.float32)
    pet[int(item["sample_id"][1:3]) % 6, 2, 3] = 4.0
    return {"mip": _png_bytes(mip_image(pet))}


def test_cache_hit_on_rerun_sends_nothing(server, tmp_path):
    def model(**settings):
        config = ApiChatConfig(base_url=server.url, model="tiny-vi", images=["mip"], **settings)
        return ApiChatModel(config, tmp_path / "cache", images=per_study_png).fit(train_items())

    first = model()
    answers = [first.predict(query_item(i)) for i in range(4)] + [first.predict(query_item(0))]
    assert len(server.requests) == 4 and first.usage.cache_hits == 1  # the repeated study is already known
    files = sorted((tmp_path / "cache").rglob("*.json"))
    assert len(files) == 4
    server.requests.clear()
    again = model()
    assert [again.predict(query_item(i)) for i in range(4)] + [again.predict(query_item(0))] == answers
    assert server.requests == [] and again.usage.cache_hits == 5 and again.usage.requests == 0
    assert again.usage.prompt_tokens == first.usage.prompt_tokens and again.usage.new_prompt_tokens == 0
    # The key is sha256 of what is sent; another temperature is another entry.
    key = request_key(first.config.url, "tiny-vi", first.messages(query_item(2)), {"temperature": 0.0, "max_tokens": 512})
    assert key in {f.stem for f in files}
    model(temperature=0.5).predict(query_item(0))
    assert len(server.requests) == 1


def test_tokens_are_estimated_without_a_usage_block(tmp_path):
    with ChatServer(usage=False) as server:
        model = make(server, tmp_path).fit(train_items())
        answer = model.predict(query_item())
        sent = server.requests[0]["body"]["messages"]
    assert model.usage.estimated == 1
    assert model.usage.prompt_tokens == math.ceil(sum(len(t) for t in text_parts(sent)) / 4) == estimate_tokens(sent)
    assert model.usage.completion_tokens == math.ceil(len(answer) / 4)
    assert "ceil(characters / 4)" in model.usage_record()["token_estimate"]


def test_key_never_reaches_a_file_a_log_or_an_error(server, key, tmp_path, capsys, caplog):
    model = make(server, tmp_path, api_key_env=KEY_ENV).fit(train_items())
    model.predict(query_item())
    (tmp_path / "usage.json").write_text(json.dumps(model.usage_record()), encoding="utf-8")
    server.script = [(401, {}, json.dumps({"error": "bad key"}))]
    with pytest.raises(EndpointError) as caught:
        make(server, tmp_path, api_key_env=KEY_ENV, k_shots=1).fit(train_items()).predict(query_item(3))  # a new prompt
    assert [r["auth"] for r in server.requests] == [f"Bearer {SECRET}"] * 2  # it was sent, in the header only
    text = str(caught.value) + repr(model) + repr(model.config) + capsys.readouterr().out + caplog.text
    assert SECRET not in text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_401_404_unreachable_and_malformed_are_one_line_errors(server, key, tmp_path):
    server.script = [(401, {}, "{}")]
    with pytest.raises(EndpointError, match=r"HTTP 401: the endpoint refused the API key \(\$VIPET_TEST_API_KEY\)"):
        make(server, tmp_path, api_key_env=KEY_ENV).fit(train_items()).predict(query_item())
    assert len(server.requests) == 1  # a refused key is not retried
    wrong = ApiChatModel(ApiChatConfig(base_url=server.url + "/nowhere", model="m"), tmp_path / "c").fit(train_items())
    with pytest.raises(EndpointError, match="HTTP 404: no such endpoint or model 'm'"):
        wrong.predict(query_item())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens once the socket is closed
    clock = FakeClock()
    dead = ApiChatModel(ApiChatConfig(base_url=f"http://127.0.0.1:{closed}", model="m", max_retries=1, timeout_s=2),
                        tmp_path / "c", clock=clock, sleep=clock.sleep).fit(train_items())
    with pytest.raises(EndpointError, match="unreachable .* after 2 attempts") as caught:
        dead.predict(query_item())
    assert "\n" not in str(caught.value) and len(clock.sleeps) == 1
    for canned, reason in (("not json", "did not return JSON"), ('{"choices": []}', "no choices"),
                           ('{"choices": [{"message": {"content": "  "}}]}', "empty text")):
        server.script = [(200, {}, canned)]
        with pytest.raises(TrainError, match=reason) as caught:
            make(server, tmp_path).fit(train_items()).predict(query_item())
        assert not isinstance(caught.value, EndpointError)
    monkey_env = {}
    with pytest.raises(EndpointError, match="VIPET_MISSING_KEY .* is not set"):
        ApiChatModel(ApiChatConfig(base_url=server.url, model="m", api_key_env="VIPET_MISSING_KEY"), tmp_path,
                     environ=monkey_env)


def test_images_are_sent_as_png_data_urls_when_asked(server, tmp_path):
    pet = np.zeros((6, 5, 7), dtype=np.float32)
    pet[2, 1:4, 3] = 4.0
    png = _png_bytes(mip_image(pet))
    config = ApiChatConfig(base_url=server.url, model="m", images=["mip"], k_shots=1)
    model = ApiChatModel(config, tmp_path / "c", images=lambda item: {"mip": png}).fit(train_items())
    model.predict(query_item())
    last = server.requests[0]["body"]["messages"][-1]["content"]
    assert [part["type"] for part in last] == ["text", "image_url"]
    url = last[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    np.testing.assert_array_equal(decoded, mip_image(pet))
    assert all(isinstance(m["content"], str) for m in server.requests[0]["body"]["messages"][:-1])  # examples: text
    no_render = ApiChatModel(config, tmp_path / "c", images=lambda item: {}).fit(train_items())
    with pytest.raises(TrainError, match="no mip render"):
        no_render.predict(query_item())
    plain = make(server, tmp_path, k_shots=1).fit(train_items())
    plain.predict(query_item())
    assert isinstance(server.requests[-1]["body"]["messages"][-1]["content"], str)


def test_config_file_spec_and_validation(tmp_path):
    path = tmp_path / "api.yaml"
    path.write_text("base_url: http://127.0.0.1:9\nmodel: m\nk_shots: 2\napi_key_env: VIPET_X\n", encoding="utf-8")
    config = load_api_config(path, {"k_shots": 0})
    assert (config.k_shots, config.api_key_env, config.url) == (0, "VIPET_X", "http://127.0.0.1:9/v1/chat/completions")
    assert parse_api_spec(f"api:{path}").k_shots == 2
    assert ApiChatConfig(base_url="http://h:1/v1/", model="m").url == "http://h:1/v1/chat/completions"
    spec = parse_api_spec("api:http://h:1#qwen")
    assert (spec.base_url, spec.model) == ("http://h:1", "qwen")
    with pytest.raises(TrainError, match="names no #MODEL"):
        parse_api_spec("api:http://h:1/v1")
    with pytest.raises(TrainError, match="no config file"):
        parse_api_spec(f"api:{tmp_path / 'absent.yaml'}")
    path.write_text("base_url: http://h\nmodel: m\nshots: 2\n", encoding="utf-8")
    with pytest.raises(TrainError, match="unknown key.*shots"):
        load_api_config(path)
    for bad, reason in (({"base_url": "h"}, "http"), ({"shot_selection": "best"}, "shot_selection"),
                        ({"images": ["ct"]}, "unknown view"), ({"k_shots": -1}, "k_shots"),
                        ({"requests_per_minute": 0}, "requests_per_minute"), ({"tasks": ["caption"]}, "tasks")):
        with pytest.raises(TrainError, match=reason):
            ApiChatConfig(**{"base_url": "http://h", "model": "m", **bad})
