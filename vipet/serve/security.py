"""Safe by default: sessions, CSRF tokens, an optional password kept only as a hash, upload limits, paths.

- A session is a random 256-bit token in an HttpOnly, SameSite=Strict cookie; the server keeps
  the session (reviewer name, CSRF token) in memory, so a restart signs everyone out.
- Every state-changing request (POST) needs a session and its CSRF token (form field `csrf` or
  header `X-CSRF-Token`), compared in constant time; anything else is 403.
- A password (from an environment variable, never the command line, which `ps` shows) is kept as
  a salted scrypt hash; the plain text is dropped after hashing.
- Names that become paths (export folders, uploads) go through `vipet.fsutil.safe_name`, and
  every file served from disk is checked with `vipet.fsutil.inside` after `..`, symlinks and
  percent-decoding are resolved.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from vipet.errors import UnsafePathError
from vipet.fsutil import inside

SESSION_COOKIE = "vipet_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_TTL_S = 12 * 3600
MAX_SESSIONS = 10_000
# Upload limits: a small DICOM series or a NIfTI pair fits; anything bigger is refused before it is read.
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
MAX_UPLOAD_FILES = 2000
# scrypt cost (RFC 7914 interactive settings): about 50 ms and 16 MiB per check.
SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str, salt: bytes | None = None) -> str:
    """`scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>` of `password` (a fresh random salt unless given)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` hashes to `stored` (constant-time comparison; a malformed hash is False)."""
    try:
        scheme, n, r, p, salt_hex, digest_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt_hex), dklen=32,
                                n=int(n), r=int(r), p=int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)


@dataclass
class Session:
    token: str
    csrf: str
    reviewer: str | None = None
    created: float = field(default_factory=time.time)


class Sessions:
    """In-memory sessions by token; thread-safe (uvicorn runs sync endpoints in a thread pool)."""

    def __init__(self, ttl_s: float = SESSION_TTL_S):
        self.ttl_s = ttl_s
        self._by_token: dict[str, Session] = {}
        self._lock = threading.Lock()

    def new(self) -> Session:
        session = Session(token=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32))
        with self._lock:
            if len(self._by_token) >= MAX_SESSIONS:  # cookie-less clients in a loop must not fill memory
                anonymous = [t for t, s in self._by_token.items() if s.reviewer is None]
                for token in (anonymous or list(self._by_token))[: len(self._by_token) // 2]:
                    del self._by_token[token]
            self._by_token[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            session = self._by_token.get(token)
            if session is not None and time.time() - session.created > self.ttl_s:
                del self._by_token[token]
                return None
            return session

    def drop(self, token: str) -> None:
        with self._lock:
            self._by_token.pop(token, None)


def csrf_ok(session: Session | None, presented: str | None) -> bool:
    """True only for a live session whose token equals the one presented (constant time)."""
    return session is not None and bool(presented) and hmac.compare_digest(session.csrf, str(presented))


def resolve_inside(root: str | Path, relative: str) -> Path:
    """`root/relative` as an existing file strictly inside `root`; `UnsafePathError` otherwise.

    The name is percent-decoded until stable first, so `%2e%2e%2f` and `%252e...` are seen as the
    `../` they stand for; absolute names and names with a NUL byte are refused outright.
    """
    name = relative
    for _ in range(4):
        decoded = unquote(name)
        if decoded == name:
            break
        name = decoded
    if "\x00" in name or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafePathError(f"path {relative!r} is absolute; refused", relative)
    target = inside(root, name, "requested file")
    if not target.is_file():
        raise UnsafePathError(f"no file {relative!r} here", relative)
    return target


def check_upload_size(content_length: str | None, limit: int = MAX_UPLOAD_BYTES) -> str | None:
    """The refusal message for an upload of `content_length` bytes, or None when it may be read."""
    if content_length is None:
        return "upload refused: the request has no Content-Length (send the files as one multipart form)"
    try:
        size = int(content_length)
    except ValueError:
        return "upload refused: Content-Length is not a number"
    if size > limit:
        return (f"upload refused: {size / 1e6:.1f} MB is over the limit of {limit / 1e6:.0f} MB; "
                "upload fewer files or serve the folder directly with `vipet serve FOLDER`")
    return None
