"""The port's link slots: ids handed out lowest free first, reused after close."""

from __future__ import annotations

from collections.abc import Iterator

from .link import Link


class LinkTable:
    def __init__(self, ids: range) -> None:
        self.ids = ids
        self._links: dict[int, Link] = {}

    def free_id(self) -> int | None:
        return next((i for i in self.ids if i not in self._links), None)

    def get(self, con_id: int) -> Link | None:
        return self._links.get(con_id)

    def add(self, link: Link, con_id: int) -> None:
        assert con_id not in self._links
        link.con_id = con_id
        self._links[con_id] = link

    def remove(self, link: Link) -> None:
        if self._links.get(link.con_id) is link:
            del self._links[link.con_id]

    def __iter__(self) -> Iterator[Link]:
        return iter([self._links[i] for i in sorted(self._links)])

    def __len__(self) -> int:
        return len(self._links)
