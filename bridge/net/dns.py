"""Names resolved the way the host configured them (AT+CIPDNS, NOTES C12).

With no servers configured, names resolve as this machine resolves them
(/etc/hosts included). With servers, plain DNS queries go to each in turn
with dnspython under Trio: a server that times out, fails or refuses passes
the question to the next; a name that does not exist ends the lookup.
dnspython loads with the first query to such a server, not before.
"""

from __future__ import annotations

import ipaddress
import socket

import structlog
import trio

from .errors import ResolveError
from .resolve import resolve as system_resolve

log = structlog.get_logger("bridge.dns")
DEFAULT_SERVER = "208.67.222.222"  # C12


class Resolver:
    def __init__(self, *, server_timeout: float, lookup_timeout: float) -> None:
        self.server_timeout = server_timeout
        self.lookup_timeout = lookup_timeout
        self.servers: tuple[str, ...] = ()  # empty: this machine's resolver

    async def resolve(self, host: str, port: int, socktype: int) -> tuple[int, tuple]:
        """The ``net.resolve.Resolve`` shape, for links."""
        if not self.servers:
            with trio.move_on_after(self.lookup_timeout):
                return await system_resolve(host, port, socktype)
            raise ResolveError(f"resolving {host!r} took over {self.lookup_timeout} s")
        return socket.AF_INET, (await self.ipv4(host), port)

    async def ipv4(self, name: str) -> str:
        """One IPv4 address for ``name`` (the modules resolve to IPv4 only)."""
        try:
            return str(ipaddress.IPv4Address(name))
        except ValueError:
            pass
        if not self.servers:
            _, sockaddr = await self.resolve(name, 0, socket.SOCK_STREAM)
            if ":" in sockaddr[0]:
                raise ResolveError(f"{name!r} has no IPv4 address")
            return sockaddr[0]
        with trio.move_on_after(self.lookup_timeout):
            for server in self.servers:
                address = await self._ask(server, name)
                if address is not None:
                    return address
            raise ResolveError(f"no server resolved {name!r}")
        raise ResolveError(f"resolving {name!r} took over {self.lookup_timeout} s")

    async def _ask(self, server: str, name: str) -> str | None:
        """The answer of one server; None to try the next one."""
        import dns.asyncbackend
        import dns.asyncquery
        import dns.exception
        import dns.message
        import dns.rcode
        import dns.rdatatype

        query = dns.message.make_query(name, dns.rdatatype.A)
        try:
            response = await dns.asyncquery.udp(query, server, timeout=self.server_timeout,
                                                backend=dns.asyncbackend.get_backend("trio"))
        except (dns.exception.DNSException, OSError) as exc:
            log.info("dns_server_failed", server=server, name=name, why=repr(exc))
            return None
        rcode = response.rcode()
        if rcode == dns.rcode.NXDOMAIN:
            raise ResolveError(f"{name!r} does not exist ({server})")
        if rcode != dns.rcode.NOERROR:
            log.info("dns_server_failed", server=server, name=name, why=dns.rcode.to_text(rcode))
            return None
        answer = response.resolve_chaining().answer
        if answer is None or answer.rdtype != dns.rdatatype.A:
            raise ResolveError(f"{name!r} has no IPv4 address ({server})")
        return str(next(iter(answer)).address)
