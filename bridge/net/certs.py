"""The local CA and server certificate used when the config names none (T2).

Generated once with trustme into the state directory, so peers can be told
to trust the CA file whose path is logged.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import structlog
import trustme

from .errors import TlsSetupError

log = structlog.get_logger("bridge.certs")


def local_server_certificate(state_dir: Path) -> tuple[Path, Path]:
    """(certificate chain, key) for servers, generated on first use."""
    directory = state_dir / "tls"
    ca_file, cert_file, key_file = (directory / name for name in
                                    ("local-ca.pem", "server.pem", "server.key"))
    if not (ca_file.exists() and cert_file.exists() and key_file.exists()):
        try:
            _make(directory, ca_file, cert_file, key_file)
        except OSError as exc:
            raise TlsSetupError(f"cannot make the local CA in {directory}: "
                                f"{exc.strerror or exc}") from None
        log.warning("tls_local_ca_created", ca_file=str(ca_file),
                    note="peers must trust this CA to verify the servers")
    else:
        log.info("tls_local_ca", ca_file=str(ca_file))
    return cert_file, key_file


def _make(directory: Path, ca_file: Path, cert_file: Path, key_file: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA(organization_name="at-bridge local CA")
    issued = authority.issue_cert("localhost", "127.0.0.1", "::1", socket.gethostname())
    authority.cert_pem.write_to_path(str(ca_file))
    issued.private_key_pem.write_to_path(str(key_file))
    os.chmod(key_file, 0o600)
    cert_file.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
