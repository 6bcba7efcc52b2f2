"""A pre-shared key for TLS and DTLS links (no TLS library needed to hold one)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Psk:
    """AT+CIPSSLCPSK (C15): the key is the string's bytes, the identity is
    what the client presents (the spec's "hint")."""

    key: bytes
    identity: bytes
