"""TLS contexts from a port's settings (NOTES T1, T2), and the handshake of
a peer a TLS server accepted."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from ..config import PortSettings
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
