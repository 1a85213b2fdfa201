"""Failure taxonomy: every way talking to a server can fail, in words a person understands.

The class decides what the client does next (retry, recover, ask for a password, show the input
error); the message is what the window and `kobold-stream` print; `context` is what the log gets.
"""

from __future__ import annotations

from typing import Any


class KoboldError(Exception):
    """Base class. `retryable` says whether trying again later can help."""

    retryable: bool = False
    #: exit code of `kobold-stream` for this failure class
    exit_code: int = 1

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context: dict[str, Any] = context

    def __str__(self) -> str:
        return self.message


class InvalidURL(KoboldError):
    """The server address cannot be used (typo, missing scheme, unsupported scheme)."""

    exit_code = 2


class InvalidPassword(KoboldError):
    """The password cannot be sent in an HTTP header (a line break, a control character...)."""

    exit_code = 2


class InvalidSettings(KoboldError):
    """A sampler value is out of range or of the wrong type; nothing was sent."""

    exit_code = 2

    def __init__(self, problems: list[str], **context: Any) -> None:
        self.problems = problems
        super().__init__("Invalid settings: " + "; ".join(problems), **context)


class ConnectionFailed(KoboldError):
    """No TCP connection: server down, wrong host or port, network gone."""

    retryable = True
    exit_code = 3


class ConnectTimeout(ConnectionFailed):
    """The server did not accept the connection in time."""


class TLSError(ConnectionFailed):
    """The TLS handshake failed (certificate not trusted, wrong host name, not TLS at all).

    Waiting does not fix a certificate: not retried, unlike the other connection failures.
    """

    retryable = False


class ServerBusy(KoboldError):
    """HTTP 503: another generation holds the server's only slot."""

    retryable = True
    exit_code = 4


class AuthenticationFailed(KoboldError):
    """HTTP 401: the server wants a password, or the one we sent is wrong."""

    exit_code = 5


class BadRequest(KoboldError):
    """The server rejected what we sent (HTTP 4xx/500 bad_input, or a `null` result)."""

    exit_code = 6


class EndpointMissing(KoboldError):
    """HTTP 404: this server does not have the endpoint (older server, proxy, wrong path)."""

    exit_code = 7


class NotKoboldServer(KoboldError):
    """Something answered, but it does not speak the KoboldCPP API."""

    exit_code = 7


class Redirected(NotKoboldServer):
    """HTTP 3xx: KoboldCPP never redirects; the user should use the address it points to.

    Never followed: the password would go to wherever the redirect points.
    """


class ServerError(KoboldError):
    """HTTP 5xx other than bad input: the server failed; often temporary."""

    retryable = True
    exit_code = 8


class StreamInterrupted(KoboldError):
    """The stream broke before its final event; the server may still hold the text."""

    retryable = True
    exit_code = 9


class ProtocolError(KoboldError):
    """The server answered with something we cannot parse."""

    exit_code = 10


class Cancelled(KoboldError):
    """The user cancelled (Ctrl-C, Stop while retrying)."""

    exit_code = 130
