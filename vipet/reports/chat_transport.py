"""The one HTTP client for OpenAI-compatible chat endpoints: POST a JSON body, read a JSON reply.

Two callers speak the `/chat/completions` protocol: the optional report paraphraser (this layer)
and the few-shot API model kind (`vipet.models.api_chat`, which adds retries, a rate limit and a
cache on top). Both go through `post_json` so there is a single place where the request is
built, the key is put in the header (and nowhere else: never in a message, a log or a file) and
transport failures become one-line errors. Only the standard library (urllib) is used, so the
report layer stays light.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from vipet.errors import ReportError


class ChatHTTPError(ReportError):
    """A failed chat request: `status` is the HTTP code (None when the server was not reached or the
    reply was not JSON), `retry_after` the server's Retry-After in seconds when it sent one, and
    `kind` one of "http", "unreachable", "malformed"."""

    def __init__(self, reason: str, url: str, *, status: int | None = None, retry_after: float | None = None,
                 kind: str = "http"):
        super().__init__(reason, url)
        self.status, self.retry_after, self.kind = status, retry_after, kind

    @property
    def retryable(self) -> bool:
        """Worth another try: rate limited (429), a server error (5xx) or no connection at all."""
        return self.kind == "unreachable" or self.status == 429 or (self.status is not None and self.status >= 500)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the delta-seconds form; an HTTP date is ignored: no clock is trusted)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def post_json(url: str, body: dict[str, Any], *, api_key: str | None = None, timeout_s: float = 60.0) -> Any:
    """POST `body` as JSON to `url` and return the decoded JSON reply; `ChatHTTPError` otherwise."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
        exc.close()
        raise ChatHTTPError(f"endpoint answered HTTP {exc.code}", url, status=exc.code, retry_after=retry_after) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ChatHTTPError(f"endpoint unreachable ({reason.__class__.__name__}: {reason})", url,
                            kind="unreachable") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ChatHTTPError("endpoint did not return JSON", url, kind="malformed") from None


def message_content(payload: Any, url: str) -> str:
    """`choices[0].message.content` of a chat reply, stripped; `ChatHTTPError` when absent or empty."""
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ChatHTTPError("response has no choices[0].message.content", url, kind="malformed") from None
    if not isinstance(content, str) or not content.strip():
        raise ChatHTTPError("endpoint returned an empty text", url, kind="malformed")
    return content.strip()
