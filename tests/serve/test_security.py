"""Safe by default: traversal, oversize uploads, writes without a session or a CSRF token, the password."""

from __future__ import annotations

import hashlib
import re

import pytest
from fastapi.testclient import TestClient

from serve_support import make_config
from vipet.errors import UnsafePathError
from vipet.serve.app import create_app
from vipet.serve.security import check_upload_size, hash_password, resolve_inside, verify_password


def csrf_of(client: TestClient, path: str = "/studies") -> str:
    page = client.get(path)
    assert page.status_code == 200
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


@pytest.fixture()
def served(serve_build, tmp_path):
    app = create_app(make_config(serve_build, tmp_path, max_upload_bytes=4096, max_upload_files=3))
    return TestClient(app), app.state.serve


def sign_in(client: TestClient, name: str, password: str | None = None) -> str:
    csrf = csrf_of(client, "/login")
    form = {"csrf": csrf, "name": name} | ({"password": password} if password is not None else {})
    response = client.post("/login", data=form, follow_redirects=False)
    assert response.status_code == 303
    return csrf_of(client, "/review") if response.headers["location"] == "/review" else ""


def test_resolve_inside_refuses_every_way_out(tmp_path):
    root = tmp_path / "export"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.json").write_text("[]", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("secret", encoding="utf-8")
    (root / "link").symlink_to(tmp_path / "secret.txt")
    assert resolve_inside(root, "a/x.json") == (root / "a" / "x.json").resolve()
    assert resolve_inside(root, "a%2Fx.json") == (root / "a" / "x.json").resolve()
    for name in ("../secret.txt", "a/../../secret.txt", str(tmp_path / "secret.txt"), "%2e%2e%2fsecret.txt",
                 "%252e%252e%252fsecret.txt", "..%2Fsecret.txt", "link", "a/x.json\x00",
                 "C:/secret.txt"):
        with pytest.raises(UnsafePathError):
            resolve_inside(root, name)


def test_traversal_over_http_is_refused(served, tmp_path):
    client, state = served
    sign_in(client, "Dr A")
    (tmp_path / "secret.txt").write_text("TOP-SECRET-CONTENT", encoding="utf-8")
    state.export_dir.mkdir(parents=True, exist_ok=True)
    for raw in ("/review/exports/%2e%2e/secret.txt", "/review/exports/%252e%252e%252fsecret.txt",
                "/review/exports/..%2Fsecret.txt", "/review/exports/" + str(tmp_path / "secret.txt"),
                "/review/exports//etc/passwd"):
        response = client.get(raw)
        assert response.status_code in (403, 404), raw
        assert "TOP-SECRET-CONTENT" not in response.text and str(tmp_path) not in response.text
    for key in ("..%2F..%2Fetc", "%2e%2e", "../cache"):
        response = client.get(f"/api/study/{key}/info")
        assert response.status_code in (400, 404) and "error" in response.json() or response.status_code == 404
    assert client.get("/static/../app.py").status_code == 404


def test_oversize_and_too_many_uploads_are_refused_with_a_reason(served):
    client, state = served
    csrf = csrf_of(client)
    big = client.post("/upload", files=[("files", ("a.dcm", b"x" * 10_000))], data={"name": "big"},
                      headers={"X-CSRF-Token": csrf})
    assert big.status_code == 413
    assert "over the limit of" in big.json()["error"]
    assert not (state.work / "uploads" / "big").exists()
    many = client.post("/upload", files=[("files", (f"{n}.dcm", b"x")) for n in range(5)], data={"name": "many"},
                       headers={"X-CSRF-Token": csrf})
    assert many.status_code == 413 and "at most 3 files" in many.json()["error"]
    assert not (state.work / "uploads" / "many").exists()
    assert check_upload_size(None) and "Content-Length" in check_upload_size(None)
    assert check_upload_size("100", limit=100) is None and "over the limit" in check_upload_size("101", limit=100)


def test_writes_without_session_or_csrf_are_refused(served):
    client, state = served
    key = next(iter(state.catalog.entries))
    assert client.post(f"/api/study/{key}/draft").status_code == 403  # no CSRF token
    assert client.post(f"/api/study/{key}/draft", headers={"X-CSRF-Token": "forged"}).status_code == 403
    csrf = csrf_of(client)
    # A valid token but nobody signed in: review writes are refused.
    assert client.post("/api/review/whatever", json={}, headers={"X-CSRF-Token": csrf}).status_code == 403
    assert client.post("/api/review-export", headers={"X-CSRF-Token": csrf}).status_code == 403
    # Another session's token does not work in this one.
    other = TestClient(client.app)
    assert other.post(f"/api/study/{key}/draft", headers={"X-CSRF-Token": csrf}).status_code == 403
    # Signed in, but the write comes without its token: refused, nothing stored.
    from vipet.review.store import WorkItem

    state.store.add_items([WorkItem("item-1", key, "Hình ảnh bắt xạ sinh lý ở não.", "", "template")])
    csrf = sign_in(client, "Dr B")
    body = {"lesions": [], "sentences": [{"index": 0, "label": "correct"}]}
    assert client.post("/api/review/item-1", json=body).status_code == 403
    assert state.store.latest("item-1", "Dr B") is None
    assert client.post("/login", data={"name": "Mallory"}, follow_redirects=False).status_code == 403
    saved = client.post("/api/review/item-1", json=body, headers={"X-CSRF-Token": csrf})
    assert saved.status_code == 200 and saved.json()["revision"] == 1
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400  # DNS rebinding: unknown Host


def test_password_is_hashed_and_required(serve_build, tmp_path):
    stored = hash_password("correct horse")
    scheme, n, r, p, salt, digest = stored.split("$")
    assert "correct horse" not in stored and scheme == "scrypt"
    assert digest == hashlib.scrypt(b"correct horse", salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32).hex()
    assert verify_password("correct horse", stored) and not verify_password("wrong", stored)
    assert not verify_password("x", "md5$abc") and hash_password("a") != hash_password("a")  # salted
    client = TestClient(create_app(make_config(serve_build, tmp_path, password_hash=stored)))
    assert client.get("/studies", follow_redirects=False).headers["location"] == "/login"
    assert client.get("/api/study/x/info").status_code == 403
    assert sign_in(client, "Dr C", "wrong") == ""
    assert client.get("/studies", follow_redirects=False).status_code == 303
    assert sign_in(client, "Dr C", "correct horse")
    assert client.get("/studies").status_code == 200


def test_pages_carry_a_strict_content_security_policy(served):
    client, _ = served
    response = client.get("/studies")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "<script>" not in response.text and "http://" not in response.text.replace("http://testserver", "")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_sessions_are_bounded_and_keep_signed_in_reviewers(monkeypatch):
    from vipet.serve import security

    monkeypatch.setattr(security, "MAX_SESSIONS", 10)
    sessions = security.Sessions()
    reviewer = sessions.new()
    reviewer.reviewer = "Dr D"
    for _ in range(50):
        sessions.new()
    assert len(sessions._by_token) <= 10 and sessions.get(reviewer.token) is reviewer
    assert sessions.get("unknown") is None and sessions.get(None) is None
