"""The LLM paraphraser plug-in against a local fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Iterator

import pytest

from vipet.errors import ReportError
from vipet.reports.paraphrase import LLMParaphraser, paraphrase_checked

ORIGINAL = (
    "Hình ảnh khối mờ, kích thước 43 x 39 mm, tăng chuyển hóa FDG (SUVmax: 8,3) ở thùy dưới phổi trái. "
    "Hình ảnh vài hạch bẹn, kích thước 10 mm, không tăng chuyển hóa FDG ở hố bẹn hai bên."
)
FAITHFUL = (
    "Hình ảnh vài hạch bẹn ở hố bẹn 2 bên, kích thước 10mm, không tăng chuyển hóa FDG. "
    "Hình ảnh khối mờ có kích thước 43x39 mm ở thùy dưới phổi trái, tăng chuyển hóa FDG (SUVmax 8.3)."
)
HALLUCINATED = FAITHFUL.replace("8.3", "9.3")


class _Handler(BaseHTTPRequestHandler):
    reply: str = FAITHFUL
    status: int = 200
    seen: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        if self.status != 200:
            self.send_response(self.status)
            self.end_headers()
            return
        payload = self.reply if self.reply.startswith("RAW:") else json.dumps(
            {"choices": [{"message": {"role": "assistant", "content": self.reply}}]}
        )
        data = payload.removeprefix("RAW:").encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"seen": [], "reply": FAITHFUL, "status": 200})
    httpd = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_faithful_paraphrase_is_kept_and_the_request_is_openai_shaped(server) -> None:
    url, handler = server
    client = LLMParaphraser(base_url=url, model="tiny-vi", api_key="k-123", timeout_s=5)
    assert paraphrase_checked(ORIGINAL, client) == FAITHFUL
    (request,) = handler.seen
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer k-123"
    assert request["body"]["model"] == "tiny-vi"
    assert [m["role"] for m in request["body"]["messages"]] == ["system", "user"]
    assert "SUVmax: 8,3" in request["body"]["messages"][1]["content"]


def test_a_paraphrase_that_changes_a_fact_is_dropped(server) -> None:
    url, handler = server
    handler.reply = HALLUCINATED
    assert paraphrase_checked(ORIGINAL, LLMParaphraser(base_url=url, model="m", timeout_s=5)) is None
    handler.reply = "Hình ảnh vài hạch bẹn, kích thước 10 mm, không tăng chuyển hóa FDG ở hố bẹn hai bên."
    assert paraphrase_checked(ORIGINAL, LLMParaphraser(base_url=url, model="m", timeout_s=5)) is None


@pytest.mark.parametrize("status, reply, reason", [(500, FAITHFUL, "HTTP 500"), (200, "RAW:not json", "did not return JSON"),
                                                   (200, "RAW:{\"choices\": []}", "no choices"), (200, "  ", "empty text")])
def test_protocol_failures_are_clear_errors(server, status: int, reply: str, reason: str) -> None:
    url, handler = server
    handler.status, handler.reply = status, reply
    with pytest.raises(ReportError, match=reason):
        LLMParaphraser(base_url=url, model="m", timeout_s=5).paraphrase(ORIGINAL)


def test_unreachable_endpoint_and_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ReportError, match="unreachable"):
        LLMParaphraser(base_url="http://127.0.0.1:9/v1", model="m", timeout_s=2).paraphrase("x")
    monkeypatch.delenv("VIPET_LLM_BASE_URL", raising=False)
    monkeypatch.delenv("VIPET_LLM_API_KEY", raising=False)
    assert LLMParaphraser.from_env() is None
    monkeypatch.setenv("VIPET_LLM_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("VIPET_LLM_MODEL", "m")
    assert LLMParaphraser.from_env() == LLMParaphraser(base_url="http://127.0.0.1:1/v1", model="m")
