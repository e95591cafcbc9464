"""Optional LLM paraphrasing through an OpenAI-compatible endpoint, off unless configured.

The paper rewrote every training report with an LLM; here that is a plug-in: any server speaking
the `/chat/completions` protocol (a local vLLM or llama.cpp server, a hosted API) can be named
by URL. Nothing is trusted: a paraphrase is kept only if the offline extractor reads the same
lesions from it as from the original (`facts_preserved`), otherwise it is dropped.
The HTTP exchange is `vipet.reports.chat_transport`'s, the one chat client of the package.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from vipet.errors import ReportError
from vipet.reports.augment import facts_preserved
from vipet.reports.chat_transport import ChatHTTPError, message_content, post_json
from vipet.reports.parse import parse_report

SYSTEM_PROMPT = (
    "Bạn là bác sĩ y học hạt nhân. Hãy viết lại báo cáo PET/CT sau bằng tiếng Việt với cách diễn đạt khác, "
    "giữ nguyên mọi tổn thương, vị trí, kích thước, giá trị SUVmax, mức độ chuyển hóa FDG và nhận định. "
    "Không thêm hoặc bớt thông tin. Chỉ trả về văn bản báo cáo."
)


@dataclass(frozen=True)
class LLMParaphraser:
    """Client settings for one OpenAI-compatible chat endpoint (`base_url` ends before `/chat/completions`)."""

    base_url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 60.0
    temperature: float = 0.7

    @classmethod
    def from_env(cls) -> "LLMParaphraser | None":
        """Settings from VIPET_LLM_BASE_URL / VIPET_LLM_MODEL / VIPET_LLM_API_KEY; None when unset (off)."""
        base_url, model = os.environ.get("VIPET_LLM_BASE_URL"), os.environ.get("VIPET_LLM_MODEL")
        if not base_url or not model:
            return None
        return cls(base_url=base_url, model=model, api_key=os.environ.get("VIPET_LLM_API_KEY"))

    def paraphrase(self, text: str) -> str:
        """The endpoint's rewrite of `text`; a `ReportError` for transport or protocol failures."""
        url = self.base_url.rstrip("/") + "/chat/completions"
        body = {
            "model": self.model,
            "temperature": self.temperature,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}],
        }
        try:
            return message_content(post_json(url, body, api_key=self.api_key, timeout_s=self.timeout_s), url)
        except ChatHTTPError as exc:
            raise ReportError(f"paraphraser {exc.reason}", url) from None


def paraphrase_checked(report_or_text: Any, paraphraser: LLMParaphraser) -> str | None:
    """The LLM paraphrase if it states exactly the original lesions, else None (dropped)."""
    original = parse_report(report_or_text)
    rewritten = paraphraser.paraphrase(original.full_text())
    return rewritten if facts_preserved(original, rewritten) else None
