"""The ESP-AT dialect's reply bytes (esp-at.md E1-E31), for both profiles,
built without I/O. ``Profile`` holds every wire difference between ESP-AT
2.4 (ESP32) and 1.7 (ESP8266 NonOS), item by item."""

from __future__ import annotations

from dataclasses import dataclass

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
FAIL = b"\r\nFAIL\r\n"
BUSY = b"\r\nbusy p...\r\n"  # E5
READY = b"\r\nready\r\n"  # E7
PASSTHROUGH_PROMPT = b"\r\nOK\r\n\r\n>"  # E23, both profiles
SEND_OK = b"\r\nSEND OK\r\n"  # E21
SEND_FAIL = b"\r\nSEND FAIL\r\n"
CONNECTED = b"WIFI CONNECTED\r\n"  # E9
GOT_IP = b"WIFI GOT IP\r\n"
DISCONNECTED = b"WIFI DISCONNECT\r\n"
NO_AP = b"No AP\r\n"  # E10
ALREADY = b"ALREADY CONNECTED\r\n"  # E16
NOT_VALID = b"link is not valid\r\n"  # E21
#: E6, with AT+SYSLOG=1: the line before ERROR / busy
CODE_UNKNOWN = b"ERR CODE:0x01090000\r\n"
CODE_PARAMETER = b"ERR CODE:0x01070000\r\n"
CODE_BUSY = b"ERR CODE:0x010b0000\r\n"


@dataclass(frozen=True)
class Profile:
    name: str
    version: str  # E2: "2.4.0.0"
    bin_version: str  # E2: "2.4.0"
    sdk_version: str  # E2: the NonOS SDK number 1.7 shows (Mbed reads `SDK version:%d.%d.%d`)
    echo_end: bytes  # E4
    prompt: bytes  # E21 (AT+CIPSEND=<len>)
    max_send: int  # E21
    join_failure: bytes  # E9: after +CWJAP:<n>
    quoted_addresses: bool  # E24 (CIPDINFO), E28 (CIPDOMAIN)
    station_status_5_when_unjoined: bool  # E18
    unused_link_length: int  # E25: CIPRECVLEN for an id with no link
    passive_udp: bool  # E25: passive mode covers UDP links too
    ssl_size_answer: bytes  # E17: AT+CIPSSLSIZE=
    cwjap_fields: int  # E10: fields of +CWJAP? after ssid, bssid, channel, rssi
    no_ip: bytes  # E16: before ERROR when AT+CIPSTART finds the station not joined
    dns_fail: bytes  # E16, E28: before ERROR when a name does not resolve
    unlink: bytes  # E19: before ERROR for AT+CIPCLOSE=<id> of no link (CIPMUX=1)
    no_change: bytes  # E27: before OK for AT+CIPSERVER=0 with no server
    ping_time: bytes  # E28: the line of an answered AT+PING (%d: milliseconds)
    ping_timeout: bytes  # E28: the line before ERROR of an unanswered one
    dns_servers_a_line: bool  # AT+CIPDNS?: `+CIPDNS:<server>` each (1.7), not `<en>,"<s>"...`


V2_4 = Profile(
    name="2.4", version="2.4.0.0", bin_version="2.4.0", sdk_version="", echo_end=b"\r\n",
    prompt=b"\r\nOK\r\n\r\n>", max_send=8192, join_failure=ERROR, quoted_addresses=True,
    station_status_5_when_unjoined=False, unused_link_length=-1, passive_udp=True,
    ssl_size_answer=ERROR, cwjap_fields=9, no_ip=b"", dns_fail=b"", unlink=b"",
    no_change=b"", ping_time=b"+PING:%d\r\n", ping_timeout=b"+PING:TIMEOUT\r\n",
    dns_servers_a_line=False)
V1_7 = Profile(
    name="1.7", version="1.7.4.0", bin_version="1.7.4", sdk_version="3.0.4",
    echo_end=b"\r\r\n",
    prompt=b"\r\nOK\r\n> ", max_send=2048, join_failure=FAIL, quoted_addresses=False,
    station_status_5_when_unjoined=True, unused_link_length=0, passive_udp=False,
    ssl_size_answer=OK, cwjap_fields=4, no_ip=b"no ip\r\n",
    dns_fail=b"DNS Fail\r\n", unlink=b"UNLINK\r\n", no_change=b"no change\r\n",
    ping_time=b"+%d\r\n", ping_timeout=b"+timeout\r\n", dns_servers_a_line=True)
PROFILES = {"2.4": V2_4, "1.7": V1_7}


def value(name: str, text: str | bytes) -> bytes:
    """A query's line: ``+NAME:<text>``."""
    if isinstance(text, str):
        text = text.encode("latin-1")
    return b"+%s:%s\r\n" % (name.encode(), text)


def quoted(text: str) -> bytes:
    """E3/E10: a string as the module prints it, with `\\`, `"` and `,` escaped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace(",", "\\,")
    return b'"%s"' % escaped.encode("latin-1")


def addresses(name: bytes, ip: str, gateway: str, netmask: str) -> bytes:
    """E8/E12: ``+<name>:ip:"<ip>"`` then the gateway and netmask lines."""
    return b"".join(b'+%s:%s:"%s"\r\n' % (name, key, value.encode())
                    for key, value in ((b"ip", ip), (b"gateway", gateway), (b"netmask", netmask)))


def address(ip: str, port: int, profile: Profile) -> bytes:
    """E24: `"<ip>",<port>` (1.7: unquoted)."""
    if profile.quoted_addresses:
        return b'"%s",%d' % (ip.encode(), port)
    return b"%s,%d" % (ip.encode(), port)


def version(at_bridge: str, profile: Profile, build_date: str) -> bytes:
    """E2: hosts parse ``AT version:%d.%d.%d.%d`` and need the `(` early;
    Mbed's ESP8266 driver stops unless 1.7's SDK version starts with a
    number of 2 or more."""
    sdk = f"at-bridge {at_bridge}"
    if profile.sdk_version:
        sdk = f"{profile.sdk_version}({sdk})"
    return (b"AT version:%s(at-bridge %s - esp-at %s)\r\n" % (
                profile.version.encode(), at_bridge.encode(), profile.name.encode())
            + b"SDK version:%s\r\n" % sdk.encode()
            + b"compile time:%s\r\n" % build_date.encode()
            + b"Bin version:%s(at-bridge)\r\n" % profile.bin_version.encode() + OK)


def link_notice(word: bytes, link_id: int, multiple: bool) -> bytes:
    """E16, E19, E20, E27: ``[<id>,]CONNECT`` / ``[<id>,]CLOSED``."""
    return (b"%d," % link_id if multiple else b"") + word + b"\r\n"


def received(link_id: int | None, data: bytes, source: bytes | None) -> bytes:
    """E24: ``\\r\\n+IPD,[<id>,]<len>[,<ip>,<port>]:<data>``, no CR LF after."""
    head = b"\r\n+IPD," + (b"%d," % link_id if link_id is not None else b"")
    return head + b"%d" % len(data) + (b"," + source if source else b"") + b":" + data


def announced(link_id: int | None, size: int) -> bytes:
    """E25: ``\\r\\n+IPD,[<id>,]<total buffered>\\r\\n`` (passive mode)."""
    return b"\r\n+IPD," + (b"%d," % link_id if link_id is not None else b"") + b"%d\r\n" % size


def recv_data(data: bytes, source: bytes | None, profile: Profile) -> bytes:
    """E25: ``+CIPRECVDATA:<n>,[<ip>,<port>,]<data>`` (1.7: ``+CIPRECVDATA,<n>:<data>``)."""
    if not profile.quoted_addresses:
        return b"+CIPRECVDATA,%d:" % len(data) + data + OK
    return b"+CIPRECVDATA:%d," % len(data) + (source + b"," if source else b"") + data + OK


def status_line(prefix: bytes, link_id: int, kind: str, remote: tuple[str, int],
                local_port: int, server: bool) -> bytes:
    """E18: ``+CIPSTATUS:<id>,"<type>","<remote ip>",<remote port>,<local port>,<0|1>``."""
    return b'%s:%d,"%s","%s",%d,%d,%d\r\n' % (prefix, link_id, kind.encode(),
                                             remote[0].encode(), remote[1], local_port,
                                             server)
