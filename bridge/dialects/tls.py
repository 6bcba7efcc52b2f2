"""TLS contexts from a port's settings (NOTES T1, T2), and the handshake of
a peer a TLS server accepted."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from ..config import PortSettings
from ..links.link import Role
from ..links.tcp import TcpLink, TcpServerLink
from ..net.errors import HandshakeError
from ..net.psk import Psk

if TYPE_CHECKING:
    from OpenSSL import SSL

CLIENT_CONTEXTS = 32  # TLS client contexts a port keeps for reuse


class TlsContexts:
    """pyOpenSSL loads only when a port first uses TLS."""

    def __init__(self, settings: PortSettings, state_dir: Path, log: Any) -> None:
        self.settings = settings
        self.state_dir = state_dir
        self.log = log
        self._clients: dict[tuple[str, Psk | None, bool], SSL.Context] = {}

    def client(self, host: str, *, psk: Psk | None = None,
               datagram: bool = False) -> SSL.Context:
        """One context per (host, key, kind), shared by the links that use it:
        loading the system CA store costs about 4 ms and 1 MiB per context."""
        from ..net.tls import ClientCertificates, client_context

        key = (host, psk, datagram)
        context = self._clients.get(key)
        if context is None:
            settings = self.settings
            certificates = ClientCertificates(settings.tls_verify, settings.tls_ca_file,
                                              settings.tls_cert_file, settings.tls_key_file)
            context = client_context(host, datagram=datagram, certificates=certificates,
                                     psk=psk)
            if len(self._clients) >= CLIENT_CONTEXTS:
                self._clients.clear()
            self._clients[key] = context
        return context

    def server(self, *, psk: Psk | None = None, datagram: bool = False) -> SSL.Context:
        from ..net.certs import local_server_certificate
        from ..net.tls import server_context

        settings = self.settings
        cert_file, key_file = settings.tls_server_cert_file, settings.tls_server_key_file
        if psk is None and cert_file is None:
            generated = local_server_certificate(self.state_dir)
            cert_file, key_file = str(generated[0]), str(generated[1])
        return server_context(cert_file or "", key_file or cert_file or "", datagram=datagram,
                              psk=psk)

    def acceptor(self, server: TcpServerLink, context: SSL.Context | None,
                 admit: Callable[[TcpLink], Awaitable[None]],
                 wanted: Callable[[], bool] = lambda: True,
                 ) -> Callable[[trio.SocketStream], Awaitable[None]]:
        """The server's ``on_accept``: each peer, unless not ``wanted`` now
        (closed at once), becomes a link handed to ``admit``; with a TLS
        ``context``, after its handshake, which runs in the server's own
        nursery so it never holds up the next accept."""

        async def accept(stream: trio.SocketStream) -> None:
            if not wanted():
                self.log.info("peer_refused", con_id=server.con_id, reason="link busy")
                stream.socket.close()
            elif context is None:
                await admit(TcpLink(stream, stream, role=Role.SEED,
                                    inbound_capacity=self.settings.link_buffer))
            else:
                assert server.pending is not None
                server.pending.start_soon(self._handshake, server, stream, context, admit)

        return accept

    async def _handshake(self, server: TcpServerLink, stream: trio.SocketStream,
                         context: SSL.Context,
                         admit: Callable[[TcpLink], Awaitable[None]]) -> None:
        peer = await self.accept_peer(server, stream, context)
        if peer is not None:
            await admit(peer)

    async def accept_peer(self, server: TcpServerLink, stream: trio.SocketStream,
                          context: SSL.Context) -> TcpLink | None:
        """An accepted peer after its handshake, or None (logged, closed) if
        it fails or takes longer than tls_handshake_timeout."""
        from ..links.tls import accept_tls

        try:
            with trio.fail_after(self.settings.tls_handshake_timeout):
                return await accept_tls(stream, context,
                                        inbound_capacity=self.settings.link_buffer)
        except (HandshakeError, trio.TooSlowError) as exc:
            self.log.warning("tls_peer_failed", con_id=server.con_id,
                             why=str(exc) or "handshake timeout")
            stream.socket.close()
            return None
