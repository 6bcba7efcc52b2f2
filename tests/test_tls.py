"""TLS, DTLS and pre-shared keys in both dialects (NOTES S12, C15, T1-T3),
against real peers on loopback: openssl s_server / s_client and socat, with
certificates made by trustme in the test."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import trio
from conftest import Certificates, Device, StartPort, free_port
from tls_peers import (
    PSK_IDENTITY,
    PSK_KEY,
    cert_options,
    psk_options,
    s_client,
    s_server,
    start_peer,
)

OK = b"OK\r\n"
ERROR = b"ERROR\r\n"


async def skt_port(start_port: StartPort, certs: Certificates, **settings: object) -> Device:
    return await start_port(dialect="skt", tls_ca_file=str(certs.ca_file), **settings)


async def cip_port(start_port: StartPort, certs: Certificates, **settings: object) -> Device:
    device = await start_port(dialect="cip", tls_ca_file=str(certs.ca_file), **settings)
    await device.expect(b"\r\nready\r\n")
    await device.command(b"ATE0", b"ATE0\r\n\r\nOK\r\n")
    return device


# -- SKT mode 2 (S12, T1, T2) ---------------------------------------------------------

async def test_skt_tls_client_against_s_server(start_port: StartPort, certs: Certificates,
                                               peers: list[trio.Process]) -> None:
    """S12/T1: verified against the configured CA, name checked; exact bytes
    both ways; SKTSTATE says ssl."""
    device = await skt_port(start_port, certs)
    port = free_port()
    server = await s_server(peers, port, *cert_options(certs))
    for host in (b"localhost", b"127.0.0.1"):
        await device.command(b"AT+SKTCLIENT=2,%s,%d" % (host, port),
                             b"\r\n+SKTCLIENT:OK\r\n+SKTCLIENT:con_id=1\r\n")
        await device.send(b"AT+SKTSEND=6,1:hello\n")
        await server.expect(b"hello\n")
        await device.expect(b"\r\n+SKTSEND:OK\r\n")
        await server.send(b"from server\n")
        await device.command(b"AT+SKTRECVCFG=1", b"\r\n+SKTRECVCFG:OK\r\n")
        await device.expect(b"+SKTREAD:OK,12,1:from server\n\r\n")
        await device.send(b"AT+SKTSTATE\r\n")
        await device.read_until(rb"con_id:1,client,ssl,address:127\.0\.0\.1,port:%d,socket:\d+"
                                rb"\r\n\r\n\+SKTSTATE:OK\r\n" % port)
        await device.command(b"AT+SKTDEL=0", b"\r\n+SKTDEL:OK\r\n")


async def test_skt_tls_client_refuses_what_it_cannot_trust(
        start_port: StartPort, certs: Certificates, peers: list[trio.Process],
        tmp_path: Path) -> None:
    """T1: verification is on by default: an untrusted CA or a name that does
    not match is error 21; a plain TCP peer too; no listener is error 18;
    tls_verify=false accepts the untrusted server."""
    untrusting = await start_port(dialect="skt")  # system CAs only
    port = free_port()
    await s_server(peers, port, *cert_options(certs))
    await untrusting.command(b"AT+SKTCLIENT=2,127.0.0.1,%d" % port,
                             b"\r\n+SKTCLIENT:ERROR:21\r\n")
    other_port = free_port()
    await s_server(peers, other_port, "-cert", str(certs.other_cert_file),
                   "-key", str(certs.other_key_file))
    trusting = await skt_port(start_port, certs)
    await trusting.command(b"AT+SKTCLIENT=2,127.0.0.1,%d" % other_port,
                           b"\r\n+SKTCLIENT:ERROR:21\r\n")
    plain_port = free_port()
    await start_peer(peers, ["socat", f"TCP-LISTEN:{plain_port},bind=127.0.0.1,reuseaddr,fork",
                             "SYSTEM:echo not-tls"], plain_port)
    await trusting.command(b"AT+SKTCLIENT=2,127.0.0.1,%d" % plain_port,
                           b"\r\n+SKTCLIENT:ERROR:21\r\n")
    await trusting.command(b"AT+SKTCLIENT=2,127.0.0.1,%d" % free_port(),
                           b"\r\n+SKTCLIENT:ERROR:18\r\n")
    await trusting.command(b"AT+SKTSTATE", b"\r\n+SKTSTATE:OK\r\n")
    lenient = await start_port(dialect="skt", tls_verify=False)
    await lenient.command(b"AT+SKTCLIENT=2,127.0.0.1,%d" % other_port,
                          b"\r\n+SKTCLIENT:OK\r\n+SKTCLIENT:con_id=1\r\n")


async def test_skt_tls_server_with_generated_certificate(
        start_port: StartPort, peers: list[trio.Process], tmp_path: Path) -> None:
    """T2/S12: without a configured certificate a local CA is made once in the
    state directory; a peer that trusts it becomes an ssl seed after its
    handshake; a peer that fails the handshake takes no con_id."""
    device = await start_port(dialect="skt")
    port = free_port()
    await device.command(b"AT+SKTSERVER=2,%d" % port,
                         b"\r\n+SKTSERVER:OK\r\n+SKTSERVER:con_id=1\r\n")
    ca_file = tmp_path / "state" / "tls" / "local-ca.pem"
    assert ca_file.exists()
    plain = await start_peer(peers, ["socat", "-", f"TCP:127.0.0.1:{port}"], 0)
    await plain.send(b"not a handshake\n")
    await device.expect_silence(0.3)
    client = await s_client(peers, port, "-CAfile", str(ca_file), "-verify_return_error",
                            "-verify_hostname", "localhost")
    await device.read_until(
        rb"\r\n\+SKTSERVER: A client connected to server\[1\]\r\n"
        rb"con_id:2, seed, ssl, address:127\.0\.0\.1, port:\d+, socket:\d+\r\n")
    await client.send(b"ping\n")
    await device.command(b"AT+SKTRECVCFG=1", b"\r\n+SKTRECVCFG:OK\r\n")
    await device.expect(b"+SKTREAD:OK,5,2:ping\n\r\n")
    await device.send(b"AT+SKTSEND=5,2:pong\n")
    await client.expect(b"pong\n")
    await device.expect(b"\r\n+SKTSEND:OK\r\n")


async def test_skt_tls_server_certificate_errors(start_port: StartPort, certs: Certificates,
                                                 tmp_path: Path) -> None:
    """SKTSERVER 18 (certificate) and 20 (key) for unusable files."""
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    bad_cert = await start_port(dialect="skt", tls_server_cert_file=str(junk),
                                tls_server_key_file=str(certs.key_file))
    await bad_cert.command(b"AT+SKTSERVER=2,%d" % free_port(), b"\r\n+SKTSERVER:ERROR:18\r\n")
    bad_key = await start_port(dialect="skt", tls_server_cert_file=str(certs.cert_file),
                               tls_server_key_file=str(certs.other_key_file))
    await bad_key.command(b"AT+SKTSERVER=2,%d" % free_port(), b"\r\n+SKTSERVER:ERROR:20\r\n")


async def test_skt_transparent_one_mib_over_tls(start_port: StartPort, certs: Certificates,
                                                peers: list[trio.Process]) -> None:
    """S9 over TLS: 1 MiB random through a TLS echo (socat), unaltered."""
    device = await skt_port(start_port, certs)
    port = free_port()
    await start_peer(peers, ["socat", f"OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,"
                             f"cert={certs.cert_file},key={certs.key_file},verify=0", "PIPE"],
                     port)
    await device.command(b"AT+SKTCLIENT=2,localhost,%d" % port,
                         b"\r\n+SKTCLIENT:OK\r\n+SKTCLIENT:con_id=1\r\n")
    await device.command(b"AT+SKTTT=1", b"\r\n+SKTTT:OK\r\n")
    await trio.sleep(0.05)
    data = random.Random(17).randbytes(1 << 20)

    async with trio.open_nursery() as nursery:  # the echo sends it all back
        nursery.start_soon(device.send_in_chunks, data)
        assert await device.read_exactly(len(data), timeout=60) == data


# -- CIP TLS (C4, T1, T2) -----------------------------------------------------------------

async def test_cip_tls_client_and_server(start_port: StartPort, certs: Certificates,
                                         peers: list[trio.Process]) -> None:
    """C4: type "TLS"/"SSL" as a client, and as a server link with localport
    and localip; CIPSEND and +IPD exactly as over TCP; CIPSTATUS type 2."""
    device = await cip_port(start_port, certs, tls_server_cert_file=str(certs.cert_file),
                            tls_server_key_file=str(certs.key_file))
    await device.command(b"AT+CIPMUX=1", OK)
    port = free_port()
    server = await s_server(peers, port, *cert_options(certs))
    await device.command(b'AT+CIPSTART=0,"SSL","localhost",%d' % port, b"0,CONNECT\r\nOK\r\n")
    await device.command(b"AT+CIPSEND=0,4", b"\r\n>")
    await device.send(b"abc\n")
    await server.expect(b"abc\n")
    await device.expect(b"SEND OK\r\n")
    await server.send(b"xyz\n")
    await device.expect(b"\r\n+IPD(0),4:xyz\n")
    listen_port = free_port()
    await device.command(b'AT+CIPSTART=1,"TLS","127.0.0.1",1,0,%d,"127.0.0.1"' % listen_port, OK)
    client = await s_client(peers, listen_port, "-CAfile", str(certs.ca_file),
                            "-verify_return_error")
    await device.expect(b"1,CONNECT\r\n")
    await client.send(b"hi\n")
    await device.expect(b"\r\n+IPD(1),3:hi\n")
    await device.command(b"AT+CIPSEND=1,3", b"\r\n>")
    await device.send(b"yo\n")
    await client.expect(b"yo\n")
    await device.expect(b"SEND OK\r\n")
    await device.send(b"AT+CIPSTATUS?\r\n")
    await device.read_until(rb"\+BIPSTATUS:2,127\.0\.0\.1,%d,\d+,0\r\n"
                            rb"\+BIPSTATUS:2,127\.0\.0\.1,\d+,%d,1\r\n" % (port, listen_port))


async def test_cip_tls_refused(start_port: StartPort, certs: Certificates,
                               peers: list[trio.Process]) -> None:
    """T1: an untrusted server is ERROR, and the port keeps working."""
    device = await start_port(dialect="cip")
    await device.expect(b"\r\nready\r\n")
    port = free_port()
    await s_server(peers, port, *cert_options(certs))
    await device.command(b'AT+CIPSTART="TLS","127.0.0.1",%d' % port,
                         b'AT+CIPSTART="TLS","127.0.0.1",%d\r\n\r\nERROR\r\n' % port)
    await device.command(b"AT", b"AT\r\n\r\nOK\r\n")


# -- pre-shared keys (C15, T3) --------------------------------------------------------------

async def test_cipsslcpsk_forms(start_port: StartPort, certs: Certificates) -> None:
    """C15: single and multiple forms, id 5 for every link, 48 bytes at most,
    persisted (C16)."""
    device = await cip_port(start_port, certs)
    await device.command(b"AT+CIPSSLCPSK?", b'+CIPSSLCPSK:0,"",""\r\nOK\r\n')
    await device.command(b'AT+CIPSSLCPSK="key0","id0"', OK)
    await device.command(b"AT+CIPSSLCPSK?", b'+CIPSSLCPSK:0,"key0","id0"\r\nOK\r\n')
    await device.command(b'AT+CIPSSLCPSK="%s","id"' % (b"k" * 49), ERROR)
    await device.command(b'AT+CIPSSLCPSK="key"', ERROR)
    await device.command(b"AT+CIPMUX=1", OK)
    await device.command(b'AT+CIPSSLCPSK=5,"all","every"', OK)
    await device.command(b'AT+CIPSSLCPSK=6,"x","y"', ERROR)
    # C15: id 5 sets the key for every link, replacing the keys set per link before it
    await device.command(b"AT+CIPSSLCPSK?", b'+CIPSSLCPSK:5,"all","every"\r\nOK\r\n')
    await device.command(b'AT+CIPSSLCPSK=1,"one","id1"', OK)
    await device.command(b"AT+CIPSSLCPSK?",
                         b'+CIPSSLCPSK:1,"one","id1"\r\n+CIPSSLCPSK:5,"all","every"\r\nOK\r\n')
    await device.command(b"AT+RST", b"OK\r\n\r\nready\r\n")
    await device.command(b"ATE0", b"ATE0\r\n\r\nOK\r\n")
    await device.command(b"AT+CIPSSLCPSK?",
                         b'+CIPSSLCPSK:1,"one","id1"\r\n+CIPSSLCPSK:5,"all","every"\r\nOK\r\n')


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
async def test_cip_tls_with_psk(start_port: StartPort, certs: Certificates,
                                peers: list[trio.Process], version: str) -> None:
    """C15/T3: a link opened after AT+CIPSSLCPSK uses the key (TLS 1.2 and
    1.3); a wrong key is ERROR."""
    device = await cip_port(start_port, certs)
    port = free_port()
    server = await s_server(peers, port, version, *psk_options())
    await device.command(b'AT+CIPSSLCPSK="wrong-key","%s"' % PSK_IDENTITY, OK)
    await device.command(b'AT+CIPSTART="TLS","127.0.0.1",%d' % port, ERROR)
    await device.command(b'AT+CIPSSLCPSK="%s","%s"' % (PSK_KEY, PSK_IDENTITY), OK)
    await device.command(b'AT+CIPSTART="TLS","127.0.0.1",%d' % port, b"CONNECT\r\nOK\r\n")
    await device.command(b"AT+CIPSEND=4", b"\r\n>")
    await device.send(b"psk\n")
    await server.expect(b"psk\n")
    await device.expect(b"SEND OK\r\n")
    await server.send(b"ok\n")
    await device.expect(b"\r\n+IPD(0),3:ok\n")


async def test_cip_psk_for_every_link_replaces_a_links_own_key(
        start_port: StartPort, certs: Certificates, peers: list[trio.Process]) -> None:
    """C15: after AT+CIPSSLCPSK=5,... every link uses that key, even one that
    had a (wrong) key of its own before it: its TLS-PSK handshake succeeds."""
    device = await cip_port(start_port, certs)
    port = free_port()
    server = await s_server(peers, port, "-tls1_2", *psk_options())
    await device.command(b"AT+CIPMUX=1", OK)
    await device.command(b'AT+CIPSSLCPSK=2,"wrong-key","%s"' % PSK_IDENTITY, OK)
    await device.command(b'AT+CIPSSLCPSK=5,"%s","%s"' % (PSK_KEY, PSK_IDENTITY), OK)
    await device.command(b'AT+CIPSTART=2,"TLS","127.0.0.1",%d' % port, b"2,CONNECT\r\nOK\r\n")
    await device.command(b"AT+CIPSEND=2,4", b"\r\n>")
    await device.send(b"psk\n")
    await server.expect(b"psk\n")
    await device.expect(b"SEND OK\r\n")


async def test_cip_dtls_with_psk(start_port: StartPort, certs: Certificates,
                                 peers: list[trio.Process]) -> None:
    """T3: DTLS 1.2 with a pre-shared key against openssl s_server -dtls1_2."""
    device = await cip_port(start_port, certs)
    port = free_port()
    server = await s_server(peers, port, "-dtls1_2", *psk_options())
    await device.command(b'AT+CIPSSLCPSK="%s","%s"' % (PSK_KEY, PSK_IDENTITY), OK)
    await device.command(b'AT+CIPSTART="DTLS","127.0.0.1",%d' % port, b"CONNECT\r\nOK\r\n")
    await device.command(b"AT+CIPSEND=6", b"\r\n>")
    await device.send(b"dtls!\n")
    await server.expect(b"dtls!\n")
    await device.expect(b"SEND OK\r\n")
    await server.send(b"back\n")
    await device.expect(b"\r\n+IPD(0),5:back\n")


async def test_cip_dtls_with_certificates(start_port: StartPort, certs: Certificates,
                                          peers: list[trio.Process]) -> None:
    """T1/T3: DTLS verified against the CA, to socat's DTLS echo; datagrams
    both ways; passthrough sends one record per packet (C10)."""
    device = await cip_port(start_port, certs)
    port = free_port()
    await start_peer(peers, ["socat", f"OPENSSL-DTLS-SERVER:{port},bind=127.0.0.1,"
                             f"cert={certs.cert_file},key={certs.key_file},verify=0", "PIPE"],
                     port, udp=True)
    await device.command(b'AT+CIPSTART="DTLS","localhost",%d' % port, b"CONNECT\r\nOK\r\n")
    await device.command(b"AT+CIPSEND=5", b"\r\n>")
    await device.send(b"echo!")
    await device.expect(b"SEND OK\r\n\r\n+IPD(0),5:echo!")
    await device.send(b"AT+CIPSTATUS?\r\n")
    await device.read_until(rb"\+BIPSTATUS:3,127\.0\.0\.1,%d,\d+,0\r\n" % port)
    await device.command(b"AT+CIPMODE=1", OK)
    await device.command(b"AT+CIPSEND", b"\r\n>")
    await trio.sleep(0.05)
    await device.send(b"x" * 2000)
    assert await device.read_exactly(2000) == b"x" * 2000  # echoed as 1460 + 540
    await trio.sleep(0.05)
    await device.send(b"+++")
    await device.expect(b"+QUIT\r\n")
