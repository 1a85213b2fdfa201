"""Which certificates a client is ready to trust, by the scheme of its address."""

from __future__ import annotations

import ssl

from kobold_gui.core.protocol import tls_verify


def test_a_plain_http_client_loads_no_roots_and_trusts_nothing() -> None:
    plain = tls_verify("http://localhost:5001")
    assert isinstance(plain, ssl.SSLContext)
    assert plain.verify_mode == ssl.CERT_REQUIRED and plain.check_hostname
    assert plain.cert_store_stats()["x509_ca"] == 0  # nothing parsed, nothing trusted
    assert tls_verify("https://example.org") is True  # httpx's default: certifi's roots
