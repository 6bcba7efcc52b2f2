"""AT+CIPSSLCPSK (NOTES C15): pre-shared keys for the TLS and DTLS links
opened afterwards, per link id, 5 standing for every link."""

from __future__ import annotations

from typing import Any

from ..at import cip_replies as replies
from ..at.args import unquote
from ..at.cip_args import ALL_LINKS, bad, bind, link_id
from ..net.tls import Psk

MAX_LENGTH = 48  # C15


def psk_text(token: str) -> str:
    value = unquote(token)
    if len(value.encode("latin-1")) > MAX_LENGTH:
        raise ValueError(f"longer than {MAX_LENGTH} bytes")
    return value


class PskTable:
    def __init__(self) -> None:
        self.keys: dict[int, Psk] = {}

    def for_link(self, number: int) -> Psk | None:
        return self.keys.get(number) or self.keys.get(ALL_LINKS)

    def set(self, tokens: list[str], *, multiple: bool) -> None:
        """``="psk","hint"`` (single connection: link 0) or ``=<id>,"psk","hint"``;
        an empty key removes the entry."""
        if multiple:
            (number,) = bind(tokens[:1], link_id)
            tokens = tokens[1:]
        else:
            number = 0
        key, identity = bind(tokens, psk_text, psk_text)
        if not key:
            self.keys.pop(number, None)
        elif not identity:
            raise bad("a PSK needs its identity (hint)")
        else:
            self.keys[number] = Psk(key.encode("latin-1"), identity.encode("latin-1"))

    def query(self, *, multiple: bool) -> bytes:
        lines = [b'+CIPSSLCPSK:%d,"%s","%s"\r\n' % (number, psk.key, psk.identity)
                 for number, psk in sorted(self.keys.items())]
        if not lines:
            lines = [b'+CIPSSLCPSK:%d,"",""\r\n' % (ALL_LINKS if multiple else 0)]
        return b"".join(lines) + replies.OK

    def saved(self) -> dict[str, list[str]]:
        return {str(number): [psk.key.decode("latin-1"), psk.identity.decode("latin-1")]
                for number, psk in self.keys.items()}

    def restore(self, stored: Any) -> None:
        self.keys = {}
        if isinstance(stored, dict):
            for number, (key, identity) in stored.items():
                self.keys[int(number)] = Psk(key.encode("latin-1"), identity.encode("latin-1"))
