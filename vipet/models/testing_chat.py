"""A testing helper: a loopback OpenAI-compatible chat server, so the API model kind is tested over real HTTP.

Used by the tests only, never by a command or a config: nothing may reach the internet, yet the
API row must be shown to work against a real socket (headers, status codes, Retry-After, JSON).
The server answers `POST /v1/chat/completions` deterministically: with the text of the first
few-shot example in the request (the first assistant turn), or `ZERO_SHOT_REPLY` when there is
none, and a `usage` block counting words (prompt: every text part; completion: the reply). A
`script` of canned replies (status, headers, body) is served first, for retry and error tests.
Every request is recorded (path, body, Authorization header, `clock()` when it arrived).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

ZERO_SHOT_REPLY = "Không phát hiện tổn thương tăng chuyển hóa FDG bất thường."


def text_parts(messages: list[dict[str, Any]]) -> list[str]:
    """The text of every message (plain content, or the `text` parts of a content list)."""
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            out.append(content)
        else:
            out.extend(part.get("text", "") for part in content or [] if part.get("type") == "text")
    return out


def echo_reply(messages: list[dict[str, Any]]) -> str:
    """The server's answer: the first example's report, else the fixed zero-shot text."""
    return next((m["content"] for m in messages if m.get("role") == "assistant"), ZERO_SHOT_REPLY)


class ChatServer:
    """`with ChatServer() as server:` serves on 127.0.0.1 (a free port) until the block ends."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, usage: bool = True):
        self.clock, self.usage = clock, usage
        self.script: list[tuple[int, dict[str, str], str]] = []
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with server.lock:
                    body = json.loads(raw or b"{}")
                    server.requests.append({"path": self.path, "body": body, "time": server.clock(),
                                            "auth": self.headers.get("Authorization")})
                    canned = server.script.pop(0) if server.script else None
                if canned is None:
                    status, headers, text = server.answer(self.path, body)
                else:
                    status, headers, text = canned
                data = text.encode("utf-8")
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], str]:
        """(status, headers, body) of the default reply; 404 off the one route."""
        if path != "/v1/chat/completions":
            return 404, {}, json.dumps({"error": {"message": f"no route {path}"}})
        messages = body.get("messages") or []
        reply = echo_reply(messages)
        payload: dict[str, Any] = {"object": "chat.completion", "model": body.get("model"),
                                   "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                                                "finish_reason": "stop"}]}
        if self.usage:
            prompt = sum(len(t.split()) for t in text_parts(messages))
            payload["usage"] = {"prompt_tokens": prompt, "completion_tokens": len(reply.split()),
                                "total_tokens": prompt + len(reply.split())}
        return 200, {}, json.dumps(payload, ensure_ascii=False)

    def __enter__(self) -> "ChatServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
