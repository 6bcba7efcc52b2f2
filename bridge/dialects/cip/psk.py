"""AT+CIPSSLCPSK (NOTES C15): pre-shared keys for the TLS and DTLS links
opened afterwards, per link id, 5 standing for every link."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...at.args import unquote
from ...net.psk import Psk
from .args import ALL_LINKS, bad, bind, link_id

MAX_LENGTH = 48  # C15


def psk_text(token: str) -> str:
    value = unquote(token)
    if len(value.encode("latin-1")) > MAX_LENGTH:
        raise ValueError(f"longer than {MAX_LENGTH} bytes")
    return value


def parse_psk(tokens: Sequence[str], *, multiple: bool) -> tuple[int, str, str]:
    """``="psk","hint"`` (single connection: link 0) or ``=<id>,"psk","hint"``."""
    number = 0
    if multiple:
        (number,) = bind(tokens[:1], link_id)
        tokens = tokens[1:]
    key, identity = bind(tokens, psk_text, psk_text)
    if key and not identity:
        raise bad("a PSK needs its identity (hint)")
    return number, key, identity


class PskTable:
    def __init__(self) -> None:
        self.keys: dict[int, Psk] = {}

    def for_link(self, number: int) -> Psk | None:
        return self.keys.get(number) or self.keys.get(ALL_LINKS)

    def set(self, number: int, key: str, identity: str) -> None:
        """A key for link ``number``; id 5 sets it for every link, replacing
        keys set per link before (C15). An empty key removes it."""
        if number == ALL_LINKS:
            self.keys.clear()
        if not key:
            self.keys.pop(number, None)
        else:
            self.keys[number] = Psk(key.encode("latin-1"), identity.encode("latin-1"))

    def saved(self) -> dict[str, list[str]]:
        return {str(number): [psk.key.decode("latin-1"), psk.identity.decode("latin-1")]
                for number, psk in self.keys.items()}

    def restore(self, stored: Any) -> None:
        self.keys = {}
        if isinstance(stored, dict):
            for number, (key, identity) in stored.items():
                self.keys[int(number)] = Psk(key.encode("latin-1"), identity.encode("latin-1"))
