"""--password: the header matrix of g_pw_matrix.txt and which endpoints are protected."""

from __future__ import annotations

import pytest
from emu_wire import get, post

UNAUTHORIZED = {"detail": {"error": "Unauthorized",
                           "msg": "Authentication key is missing or invalid.",
                           "type": "unauthorized"}}


@pytest.fixture
def pw_emu(start_emulator):
    return start_emulator(password=" SECRET ", model="tiny-slow")  # trimmed like the real one


@pytest.mark.parametrize("headers, ok", [
    ({}, False),
    ({"Authorization": "Bearer WRONG"}, False),
    ({"Authorization": "Bearer SECRET"}, True),
    ({"Authorization": "SECRET"}, False),
    ({"authorization": "Bearer SECRET"}, True),
    ({"Authorization": "bearer SECRET"}, False),
    ({"Authorization": "Bearer  SECRET "}, True),
    ({"apikey": "SECRET"}, False),
    ({"X-Api-Key": "SECRET"}, False),
])
def test_password_matrix(pw_emu, headers, ok):
    model = get(pw_emu.port, "/api/v1/model", headers).json()
    assert model == {"result": "koboldcpp/tiny-slow" if ok else "koboldcpp/protected-model"}
    gen = post(pw_emu.port, "/api/v1/generate", {"prompt": "p", "max_length": 3}, headers)
    count = post(pw_emu.port, "/api/extra/tokencount", {"prompt": "hello world"}, headers)
    if ok:
        assert gen.status == 200
        assert gen.json()["results"][0]["text"] == pw_emu.expected_text("p", 3)
        assert count.status == 200
    else:
        assert gen.status == 401 and gen.json() == UNAUTHORIZED
        assert gen.header("content-length") is None
        assert count.status == 401 and count.json() == UNAUTHORIZED


def test_protected_and_unprotected_endpoints(pw_emu):
    for path in ("/api/extra/generate/stream", "/api/extra/generate/check", "/api/extra/abort",
                 "/api/extra/tokencount", "/api/v1/generate", "/api/latest/generate"):
        assert post(pw_emu.port, path, {"prompt": "x", "max_length": 2}).status == 401, path
    assert get(pw_emu.port, "/api/extra/generate/check").status == 401
    version = get(pw_emu.port, "/api/extra/version").json()
    assert version["protected"] is True
    for path in ("/api/extra/perf", "/api/extra/true_max_context_length",
                 "/api/v1/config/max_context_length", "/api/v1/config/max_length",
                 "/api/v1/info/version"):
        assert get(pw_emu.port, path).status == 200, path
    # /v1/models is not protected and leaks the real name
    assert get(pw_emu.port, "/v1/models").json()["data"][0]["id"] == "koboldcpp/tiny-slow"
    # 401 on a generation endpoint still took the lock: no generation happened
    assert all(g.tokens == [] for g in pw_emu.generations)


def test_stream_with_password(pw_emu):
    r = post(pw_emu.port, "/api/extra/generate/stream", {"prompt": "s", "max_length": 4},
             {"Authorization": "Bearer SECRET"})
    assert r.status == 200 and r.header("content-type") == "text/event-stream"
    r = post(pw_emu.port, "/api/extra/generate/stream", {"prompt": "s", "max_length": 4})
    assert r.status_line == "HTTP/1.0 401 Unauthorized"
    assert r.json() == UNAUTHORIZED


def test_no_password_means_unprotected(emu):
    assert get(emu.port, "/api/extra/version").json()["protected"] is False
    r = post(emu.port, "/api/v1/generate", {"prompt": "p", "max_length": 2},
             {"Authorization": "Bearer anything"})
    assert r.status == 200
