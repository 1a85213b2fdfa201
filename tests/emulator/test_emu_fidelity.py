"""Byte-level fidelity with the KoboldCpp 1.76 captures: status lines, header order, bodies."""

from __future__ import annotations

import json

import pytest
from emu_wire import (
    capture_body,
    capture_head,
    find_prompt,
    get,
    open_request,
    post,
    read_response,
    request,
    stream_events,
    wait_for,
)

CORS = (
    "*, Accept, Content-Type, Content-Length, Cache-Control, Accept-Encoding, X-CSRF-Token, "
    "Client-Agent, X-Fields, Content-Type, Authorization, X-Requested-With, "
    "X-HTTP-Method-Override, apikey, genkey"
)
SERVER = ("Server", "ConcedoLlamaForKoboldServer ")
TAIL = [
    ("access-control-allow-origin", "*"),
    ("access-control-allow-methods", "*"),
    ("access-control-allow-headers", CORS),
    ("cache-control", "no-store"),
]


def without_date(headers):
    assert headers[1][0] == "Date"
    return [h for h in headers if h[0] != "Date"]


def test_json_reply_status_line_and_header_order(emu):
    r = get(emu.port, "/api/v1/model")
    assert r.eof
    assert r.status_line == "HTTP/1.0 200 OK"
    body = b'{"result": "koboldcpp/emulated-7B"}'
    assert r.body == body
    assert without_date(r.headers) == [
        SERVER, ("content-length", str(len(body))), *TAIL, ("content-type", "application/json")]


@pytest.mark.parametrize("name, path", [
    ("a_GET_api_v1_model.txt", "/api/v1/model"),
    ("a_GET_api_extra_version.txt", "/api/extra/version"),
    ("a_GET_api_v1_info_version.txt", "/api/v1/info/version"),
    ("a_GET_api_extra_true_max_context_length.txt", "/api/extra/true_max_context_length"),
    ("a_GET_api_v1_config_max_context_length.txt", "/api/v1/config/max_context_length"),
    ("a_GET_api_v1_config_max_length.txt", "/api/v1/config/max_length"),
    ("a_GET_api_extra_perf.txt", "/api/extra/perf"),
    ("a_GET_v1_models.txt", "/v1/models"),
    ("a_GET_api_extra_generate_check.txt", "/api/extra/generate/check"),
    ("a_GET_api_nonexistent.txt", "/api/nonexistent"),
])
def test_get_endpoints_match_captures(start_emulator, name, path):
    captured = capture_head(name)
    emu = start_emulator(model="tiny-slow", context_length=2048)
    r = get(emu.port, path)
    status, cap_headers = captured
    assert r.status_line == status
    assert [n for n, _ in r.headers] == [n for n, _ in cap_headers]
    cap = dict(cap_headers)
    for n, v in r.headers:
        if n not in ("Date", "content-length"):
            assert v == cap[n], n
    raw = capture_body(name)
    if name.endswith(("version.txt", "context_length.txt", "max_length.txt", "model.txt",
                      "check.txt", "nonexistent.txt")):
        assert r.body == raw  # byte-identical body
    elif name.endswith("perf.txt"):
        assert list(r.json()) == list(json.loads(raw))  # same keys, same order
    else:
        mine, theirs = r.json(), json.loads(raw)
        mine["data"][0]["created"] = theirs["data"][0]["created"]
        assert mine == theirs


def test_404_page_and_routing_rules(emu):
    r = get(emu.port, "/api/nope")
    assert r.status_line == "HTTP/1.0 404 Not Found"
    assert r.header("content-length") is None
    assert r.header("content-type") == "text/html"
    assert r.body == (b"Error: HTTP Server is running, but this endpoint does not exist. "
                      b"Please check the URL.")
    assert get(emu.port, "/api/v1/model?x=1").status == 404  # query string is not stripped
    assert get(emu.port, "/api/v1/model///").status == 200  # trailing slashes are
    assert get(emu.port, "/proxy/prefix/api/v1/model").status == 200  # suffix match
    assert get(emu.port, "/api/latest/model").status == 200  # alias


def test_info_values(start_emulator):
    emu = start_emulator(context_length=8192, model="koboldcpp/big")
    assert get(emu.port, "/api/extra/true_max_context_length").json() == {"value": 8192}
    assert get(emu.port, "/api/v1/config/max_context_length").json() == {"value": 4096}
    assert get(emu.port, "/api/v1/config/max_length").json() == {"value": 400}
    assert get(emu.port, "/api/v1/info/version").json() == {"result": "1.2.5"}
    assert get(emu.port, "/api/extra/version").json() == {
        "result": "KoboldCpp", "version": "1.76", "protected": False, "txt2img": False,
        "vision": False, "transcribe": False}
    models = get(emu.port, "/v1/models").json()
    assert models["data"][0]["id"] == "koboldcpp/big"
    perf = get(emu.port, "/api/extra/perf").json()
    assert perf["idle"] == 1 and perf["queue"] == 0 and perf["total_gens"] == 0
    assert perf["stop_reason"] == -1 and perf["hordeexitcounter"] == -1


@pytest.mark.parametrize("method", ["OPTIONS", "HEAD"])
def test_options_and_head_always_200_with_cors(emu, method):
    r = request(emu.port, method, "/api/v1/generate")
    assert r.status_line == "HTTP/1.0 200 OK"
    assert without_date(r.headers) == [SERVER, *TAIL, ("content-type", "text/html")]
    assert r.body == b"" and r.eof


def test_unsupported_method_is_501(emu):
    r = request(emu.port, "PUT", "/api/v1/generate", body=b"{}")
    assert r.status == 501
    assert r.header("Server") == "ConcedoLlamaForKoboldServer "


def test_stream_headers_match_capture(emu):
    r = post(emu.port, "/api/extra/generate/stream", {"prompt": "x", "max_length": 3})
    assert r.status_line == "HTTP/1.0 200 OK"
    expected = [SERVER, ("cache-control", "no-cache"), ("connection", "keep-alive"), *TAIL,
                ("content-type", "text/event-stream")]
    assert without_date(r.headers) == expected
    _, captured = capture_head("c_stream_curl.txt")
    assert [h for h in captured if h[0] != "Date"] == expected


def test_sync_reply_headers_and_json_format(emu):
    prompt = find_prompt(emu, lambda t: any(ord(c) > 127 for c in t), 40)
    r = post(emu.port, "/api/v1/generate", {"prompt": prompt, "max_length": 40})
    text = emu.expected_text(prompt, 40)
    body = json.dumps({"results": [{"text": text, "finish_reason": "length"}]}).encode()
    assert r.body == body  # ASCII-only, \\u escapes, ", " and ": " separators
    assert all(b < 128 for b in r.body)
    assert without_date(r.headers) == [
        SERVER, ("content-length", str(len(body))), *TAIL, ("content-type", "application/json")]


def test_401_headers_match_capture(start_emulator):
    emu = start_emulator(password="SECRET")
    r = post(emu.port, "/api/v1/generate", {"prompt": "x", "max_length": 3})
    assert r.status_line == "HTTP/1.0 401 Unauthorized"
    expected = [SERVER, *TAIL, ("content-type", "application/json")]
    assert without_date(r.headers) == expected
    assert r.body == (b'{"detail": {"error": "Unauthorized", "msg": "Authentication key is '
                      b'missing or invalid.", "type": "unauthorized"}}')
    status, captured = capture_head("g_pw_generate_noauth.txt")
    assert status == r.status_line
    assert [h for h in captured if h[0] != "Date"] == expected


def test_503_headers_match_capture(start_emulator):
    emu = start_emulator(multiuser=0, token_rate=50.0)
    first = open_request(emu.port, "POST", "/api/v1/generate", {"prompt": "a", "max_length": 1000})
    try:
        assert wait_for(lambda: not emu.is_idle)
        r = post(emu.port, "/api/v1/generate", {"prompt": "b", "max_length": 3})
        assert r.status_line == "HTTP/1.0 503 Service Unavailable"
        expected = [SERVER, *TAIL, ("content-type", "application/json")]
        assert without_date(r.headers) == expected
        assert r.body == (b'{"detail": {"msg": "Server is busy; please try again later.", '
                          b'"type": "service_unavailable"}}')
        status, captured = capture_head("e_nomulti_C_generate.txt")
        assert status == r.status_line
        assert [h for h in captured if h[0] != "Date"] == expected
        post(emu.port, "/api/extra/abort", {})
        read_response(first)
    finally:
        first.close()


def test_500_headers(emu):
    r = post(emu.port, "/api/v1/generate", b"{not json")
    assert r.status_line == "HTTP/1.0 500 Internal Server Error"
    assert without_date(r.headers) == [SERVER, *TAIL, ("content-type", "application/json")]
    assert r.body == b'{"detail": {"msg": "Error parsing input.", "type": "bad_input"}}'


def test_stream_body_is_valid_and_ascii(emu):
    prompt = find_prompt(emu, lambda t: "🙂" in t, 60)
    r = post(emu.port, "/api/extra/generate/stream", {"prompt": prompt, "max_length": 60})
    assert all(b < 128 for b in r.body)
    assert b"\\ud83d\\ude42" in r.body  # emoji as a surrogate pair
    assert "".join(e["token"] for e in stream_events(r.body)) == emu.expected_text(prompt, 60)
