"""TLS and DTLS contexts (NOTES T1-T3) on pyOpenSSL, with certificates or
pre-shared keys.

Why pyOpenSSL: Python 3.11's ssl module has no PSK, and trio's DTLS is built
on pyOpenSSL, so one stack serves TLS and DTLS, certificates and PSK. The
PSK callbacks and the host-name check are OpenSSL functions that
cryptography's binding exposes (pyOpenSSL has no public API for them).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cryptography.hazmat.bindings.openssl.binding import Binding
from OpenSSL import SSL

from .errors import CertificateFileError, KeyFileError, TlsSetupError
from .psk import Psk

_binding = Binding()
ffi, lib = _binding.ffi, _binding.lib

DTLS1_2_VERSION = 0xFEFD  # T3: DTLS is capped at 1.2
PSK_CIPHERS = b"PSK"  # every TLS 1.2 suite keyed by a PSK; TLS 1.3 uses the same callback


@dataclass(frozen=True)
class ClientCertificates:
    verify: bool = True
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


def _new_context(datagram: bool) -> SSL.Context:
    if datagram:
        context = SSL.Context(SSL.DTLS_METHOD)
        context.set_max_proto_version(DTLS1_2_VERSION)
    else:
        context = SSL.Context(SSL.TLS_METHOD)
        context.set_min_proto_version(SSL.TLS1_2_VERSION)
    return context


def client_context(server_host: str, *, datagram: bool, certificates: ClientCertificates,
                   psk: Psk | None) -> SSL.Context:
    """A context for one client link to ``server_host`` (T1)."""
    context = _new_context(datagram)
    if psk is not None:
        _use_client_psk(context, psk)
        return context
    if certificates.verify:
        context.set_verify(SSL.VERIFY_PEER)
        context.set_default_verify_paths()  # honours SSL_CERT_FILE and SSL_CERT_DIR
        if certificates.ca_file:
            try:
                context.load_verify_locations(certificates.ca_file)
            except SSL.Error as exc:
                raise TlsSetupError(f"CA file {certificates.ca_file}: {describe(exc)}") from None
        _check_host(context, server_host)
    else:
        context.set_verify(SSL.VERIFY_NONE)
    if certificates.cert_file:
        _load_certificate(context, certificates.cert_file, certificates.key_file)
    return context


def server_context(cert_file: str, key_file: str, *, datagram: bool,
                   psk: Psk | None) -> SSL.Context:
    """A context for a server link (T2): its certificate, and PSK if set."""
    context = _new_context(datagram)
    if psk is not None:
        _use_server_psk(context, psk)
    else:
        _load_certificate(context, cert_file, key_file)
    return context


def sni_name(host: str) -> bytes | None:
    """The SNI to send: host names only, never addresses."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host.encode("idna")
    return None


def _check_host(context: SSL.Context, host: str) -> None:
    """OpenSSL checks the name (or address) during the handshake itself."""
    param = lib.SSL_CTX_get0_param(context._context)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode("idna")
        ok = lib.X509_VERIFY_PARAM_set1_host(param, name, len(name))
    else:
        packed = address.packed
        ok = lib.X509_VERIFY_PARAM_set1_ip(param, packed, len(packed))
    if not ok:
        raise TlsSetupError(f"cannot check host {host!r}")


def _load_certificate(context: SSL.Context, cert_file: str, key_file: str | None) -> None:
    try:
        context.use_certificate_chain_file(cert_file)
    except SSL.Error as exc:
        raise CertificateFileError(f"certificate {cert_file}: {describe(exc)}") from None
    try:
        context.use_privatekey_file(key_file or cert_file)
        context.check_privatekey()
    except SSL.Error as exc:
        raise KeyFileError(f"key {key_file or cert_file}: {describe(exc)}") from None


def _use_client_psk(context: SSL.Context, psk: Psk) -> None:
    identity = psk.identity + b"\0"

    @ffi.callback("unsigned int(SSL *, char *, char *, unsigned int, unsigned char *,"
                  " unsigned int)")
    def give_psk(ssl, hint, identity_out, identity_room, key_out, key_room):  # type: ignore
        if len(identity) > identity_room or len(psk.key) > key_room:
            return 0
        ffi.memmove(identity_out, identity, len(identity))
        ffi.memmove(key_out, psk.key, len(psk.key))
        return len(psk.key)

    context.set_cipher_list(PSK_CIPHERS)
    context.set_verify(SSL.VERIFY_NONE)  # the key authenticates both sides
    lib.SSL_CTX_set_psk_client_callback(context._context, give_psk)
    context._at_bridge_psk_callback = give_psk  # type: ignore[attr-defined]  # keep it alive


def _use_server_psk(context: SSL.Context, psk: Psk) -> None:
    @ffi.callback("unsigned int(SSL *, char *, unsigned char *, unsigned int)")
    def find_psk(ssl, identity, key_out, key_room):  # type: ignore
        if identity == ffi.NULL or ffi.string(identity) != psk.identity:
            return 0
        if len(psk.key) > key_room:
            return 0
        ffi.memmove(key_out, psk.key, len(psk.key))
        return len(psk.key)

    context.set_cipher_list(PSK_CIPHERS)
    lib.SSL_CTX_set_psk_server_callback(context._context, find_psk)
    context._at_bridge_psk_callback = find_psk  # type: ignore[attr-defined]


def describe(exc: Exception) -> str:
    """OpenSSL's reason strings, for the log line that says why (T1)."""
    if isinstance(exc, SSL.Error) and exc.args and isinstance(exc.args[0], list):
        reasons = [entry[2] for entry in exc.args[0] if len(entry) == 3]
        if reasons:
            return "; ".join(reasons)
    return str(exc) or type(exc).__name__


def verify_failure(connection: SSL.Connection) -> str | None:
    """Why certificate verification failed, if it did."""
    result = lib.SSL_get_verify_result(connection._ssl)
    if result == 0:
        return None
    return ffi.string(lib.X509_verify_cert_error_string(result)).decode()
