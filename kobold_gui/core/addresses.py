"""A server's address as people type it, and the password header: checked before anything is
sent, and before the window is built.

Apart from `serverinfo` (dataclasses: ~10 ms to import) and `protocol` (httpx: ~30 ms), so
that the command line and the window frame check an address without either.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from . import errors as E

DEFAULT_URL = "http://127.0.0.1:5001"


def _unusable_char(text: str) -> str | None:
    """The first character that cannot go into a URL or header: control chars, surrogates."""
    for ch in text:
        code = ord(ch)
        if code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0 or 0xD800 <= code < 0xE000:
            return ch
    return None


def normalize_url(url: str) -> str:
    """Accept what people type ("localhost:5001", "http://host:5001/") and reject the unusable."""
    raw = (url or "").strip()
    if not raw:
        raise E.InvalidURL("No server address given")
    bad = _unusable_char(raw)
    if bad is not None:
        raise E.InvalidURL(
            f"{url!r}: a server address cannot contain the character {bad!r}", url=url)
    if any(ch.isspace() for ch in raw):
        raise E.InvalidURL(f"{url!r}: a server address cannot contain spaces", url=url)
    if "://" not in raw:
        raw = "http://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise E.InvalidURL(f"{url!r} is not a valid server address ({exc})", url=url) from None
    if parts.scheme not in ("http", "https"):
        raise E.InvalidURL(
            f"{url!r}: only http:// and https:// server addresses are supported", url=url
        )
    if not parts.hostname:
        raise E.InvalidURL(f"{url!r} has no host name", url=url)
    if parts.query or parts.fragment:
        # KoboldCPP does not strip query strings: every path would 404.
        raise E.InvalidURL(f"{url!r}: a server address cannot contain '?' or '#'", url=url)
    if parts.username is not None or parts.password is not None:
        # It would be sent as Basic auth (and logged); KoboldCPP wants a Bearer password.
        raise E.InvalidURL(f"{url!r}: put the password in the password field or option, "
                           "not in the address", url=url)
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host if port is None else f"{host}:{port}"
    normal = f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"
    if not _plainly_valid(parts.hostname, normal):
        import httpx  # only for the rare address it may refuse: httpx costs ~30 ms to import

        try:
            httpx.URL(normal)
        except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
            raise E.InvalidURL(f"{url!r} is not a valid server address ({exc})",
                               url=url) from None
    return normal


#: httpx's own patterns (httpx/_urlparse.py): hosts it checks as IP addresses
_IPV4_STYLE = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,3}){3}$")
#: httpx refuses longer URLs
_MAX_URL_LENGTH = 65536


def _plainly_valid(host: str, normal: str) -> bool:
    """True when `httpx.URL(normal)` cannot fail (checked above: no control characters, a
    scheme, a port in range, a path from urlsplit): a short URL whose host is plain ASCII, or a
    valid IPv4 address. Anything else (IPv6, IDNA names, odd IPv4) goes through httpx itself."""
    if len(normal) >= _MAX_URL_LENGTH or not host.isascii() or ":" in host:
        return False
    if _IPV4_STYLE.match(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
    return True


def authorization_header(password: str) -> bytes:
    """`Bearer <password>` as the bytes KoboldCPP will compare; InvalidPassword when impossible.

    KoboldCPP (Python's http.server) decodes header bytes as Latin-1 and compares the string
    with its password, and browsers (KoboldAI Lite) send Latin-1 too: so `pässwort` must go as
    Latin-1 bytes to match. A character outside Latin-1 can never match there, and a line break
    would split the header: those are refused before anything is sent.
    """
    bad = _unusable_char(password)
    if bad is not None:
        what = "a line break" if bad in "\r\n" else f"the control character {bad!r}"
        if 0xD800 <= ord(bad) < 0xE000:
            what = "bytes that are not valid UTF-8"
        raise E.InvalidPassword(f"The password contains {what}, which cannot be sent")
    if password != password.strip():
        raise E.InvalidPassword("The password starts or ends with a space, which the server "
                                "strips: it could never match")
    try:
        return b"Bearer " + password.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise E.InvalidPassword(
            f"The password contains {password[exc.start]!r}: KoboldCPP can only compare "
            "Latin-1 characters (letters such as ä é ß work; 世 or emoji do not)") from None
