from conftest import open_skt_client


async def test_client_send_and_read(skt, tcp_server):
    peer = await open_skt_client(skt, tcp_server)
    await skt.send(b"AT+SKTSEND=5,1:hello")
    await peer.expect(b"hello")
    await skt.expect(b"\r\n+SKTSEND:OK\r\n")
    await peer.send(b"world")
    await skt.command(b"AT+SKTREAD=1,100", b"+SKTREAD:OK,5,1:world\r\n")
