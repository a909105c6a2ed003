#!/usr/bin/python3
"""Reference frames built with scapy, an implementation independent of ours.

Prints one line per frame: "<name> <hex>". controlplane/tests/scapy.rs
parses each with xlns's wire views and codecs and compares the result with
what is set here. Control-message AVPs are packed by hand with struct from
RFC 2661 section 4, because scapy has no L2TP AVP layer.
"""
import struct
import sys

from scapy.all import Ether, IP, IPv6, UDP, Raw, Dot1Q, Dot1AD
from scapy.layers.l2tp import L2TP
from scapy.layers.dhcp6 import (
    DHCP6_Solicit, DHCP6_Request, DHCP6OptClientId, DHCP6OptServerId, DHCP6OptElapsedTime,
    DHCP6OptIA_PD, DHCP6OptIAPrefix, DHCP6OptOptReq, DUID_LL, DUID_UUID,
)
from scapy.layers.ppp import (
    HDLC, PPP, PPP_LCP_Configure, PPP_LCP_MRU_Option, PPP_LCP_Auth_Protocol_Option,
    PPP_LCP_Magic_Number_Option, PPP_LCP_ACCM_Option, PPP_LCP_Echo, PPP_LCP_Terminate,
    PPP_LCP_Protocol_Reject, PPP_LCP_Code_Reject, PPP_IPCP, PPP_IPCP_Option_IPAddress,
    PPP_IPCP_Option_DNS1, PPP_IPCP_Option_DNS2, PPP_PAP_Request, PPP_PAP_Response,
    PPP_CHAP_ChallengeResponse, PPP_CHAP,
)

ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
IP4 = IP(src="192.0.2.1", dst="192.0.2.2")
UDP_L2TP = UDP(sport=1701, dport=1701)


def avp(attr, value, m=True, h=False, vendor=0):
    flags = (0x8000 if m else 0) | (0x4000 if h else 0) | (6 + len(value))
    return struct.pack("!HHH", flags, vendor, attr) + value


def frame(name, pkt):
    print(name, bytes(pkt).hex())


def main():
    # Data, no optional header fields, FF03 + LCP Configure-Request.
    frame("lcp-confreq", ETH / IP4 / UDP_L2TP / L2TP(tunnel_id=0x1234, session_id=0x5678)
          / HDLC() / PPP(proto=0xC021)
          / PPP_LCP_Configure(code=1, id=7, options=[
              PPP_LCP_MRU_Option(max_recv_unit=1492),
              PPP_LCP_Auth_Protocol_Option(auth_protocol=0xC223, algorithm=5),
              PPP_LCP_Magic_Number_Option(magic_number=0x11223344),
              PPP_LCP_ACCM_Option(accm=0)]))
    # Data with Length and Sequence, IPCP Configure-Nak.
    frame("ipcp-confnak", ETH / IP4 / UDP_L2TP
          / L2TP(hdr="length+sequence", tunnel_id=1, session_id=2, ns=5, nr=0)
          / HDLC() / PPP(proto=0x8021)
          / PPP_IPCP(code=3, id=2, options=[
              PPP_IPCP_Option_IPAddress(data="100.64.0.7"),
              PPP_IPCP_Option_DNS1(data="192.0.2.53"),
              PPP_IPCP_Option_DNS2(data="192.0.2.54")]))
    # Data with Offset and no FF03, PPP carrying IPv4. scapy pads the
    # Offset Size field to 4 octets without counting the pad, so Offset
    # Size is set to 2 to make its bytes mean what RFC 2661 section 3.1 says.
    frame("ipv4-offset", ETH / IP4 / UDP_L2TP / L2TP(hdr="offset", tunnel_id=3, session_id=4, offset=2)
          / PPP(proto=0x0021) / IP(src="100.64.0.7", dst="198.51.100.1", ttl=61) / UDP(sport=5000, dport=53))
    # Protocol-field compression (one-octet protocol), built by hand.
    frame("ipv4-pfc", ETH / IP4 / UDP_L2TP / L2TP(tunnel_id=3, session_id=4)
          / Raw(b"\x21") / IP(src="100.64.0.7", dst="198.51.100.1"))
    frame("lcp-echoreq", ETH / IP4 / UDP_L2TP / L2TP(tunnel_id=9, session_id=10, hdr="priority")
          / HDLC() / PPP(proto=0xC021) / PPP_LCP_Echo(code=9, id=3, magic_number=0xCAFEBABE, data=b"ping"))
    frame("lcp-termreq", ETH / IP4 / UDP_L2TP / L2TP(tunnel_id=9, session_id=10)
          / HDLC() / PPP(proto=0xC021) / PPP_LCP_Terminate(code=5, id=4, data=b"bye"))
    frame("lcp-protrej", ETH / IP4 / UDP_L2TP / L2TP(tunnel_id=9, session_id=10)
          / HDLC() / PPP(proto=0xC021) / PPP_LCP_Protocol_Reject(id=5, rejected_protocol=0x80FD,
                                                                rejected_information=b"\x01\x01\x00\x04"))
    frame("lcp-coderej", ETH / IP4 / UDP_L2TP / L2TP(tunnel_id=9, session_id=10)
          / HDLC() / PPP(proto=0xC021) / PPP_LCP_Code_Reject(id=6, rejected_packet=Raw(b"\x0c\x01\x00\x04")))
    frame("pap-request", ETH / IP4 / UDP_L2TP / L2TP(tunnel_id=9, session_id=10)
          / HDLC() / PPP(proto=0xC023) / PPP_PAP_Request(id=1, username=b"alice", password=b"s3cret"))
    frame("pap-ack", ETH / IP4 / UDP_L2TP / L2TP(tunnel_id=9, session_id=10)
          / HDLC() / PPP(proto=0xC023) / PPP_PAP_Response(code=2, id=1, message=b"ok"))
    frame("chap-challenge", ETH / IP4 / UDP_L2TP / L2TP(tunnel_id=9, session_id=10)
          / HDLC() / PPP(proto=0xC223)
          / PPP_CHAP_ChallengeResponse(code=1, id=2, value=bytes(range(16)), optional_name=b"lns"))
    frame("chap-success", ETH / IP4 / UDP_L2TP / L2TP(tunnel_id=9, session_id=10)
          / HDLC() / PPP(proto=0xC223) / PPP_CHAP(code=3, id=2, data=b"Welcome"))
    # IPv6 outer header and VLAN tags.
    frame("ipv6-outer", ETH / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP_L2TP
          / L2TP(hdr="length", tunnel_id=5, session_id=6) / HDLC() / PPP(proto=0x0057)
          / IPv6(src="2001:db8:1::7", dst="2001:db8:2::1", hlim=33))
    frame("dot1q", Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / Dot1Q(vlan=100, prio=5)
          / IP4 / UDP_L2TP / L2TP(tunnel_id=5, session_id=6) / HDLC() / PPP(proto=0x0021)
          / IP(src="100.64.0.8", dst="198.51.100.2"))
    frame("qinq", Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / Dot1AD(vlan=10)
          / Dot1Q(vlan=200) / IP4 / UDP_L2TP / L2TP(tunnel_id=5, session_id=6) / HDLC() / PPP(proto=0x0021)
          / IP(src="100.64.0.9", dst="198.51.100.3"))
    # Control: an SCCRQ with hand-packed AVPs, and a ZLB.
    avps = (avp(0, struct.pack("!H", 1))
            + avp(2, b"\x01\x00")
            + avp(7, b"lac.example")
            + avp(3, struct.pack("!I", 3))
            + avp(9, struct.pack("!H", 0xBEEF))
            + avp(10, struct.pack("!H", 8))
            + avp(5, struct.pack("!Q", 0x0102030405060708), m=False)
            + avp(8, b"scapy", m=False))
    frame("sccrq", ETH / IP4 / UDP_L2TP
          / L2TP(hdr="control+length+sequence", tunnel_id=0, session_id=0, ns=0, nr=0) / Raw(avps))
    frame("zlb", ETH / IP4 / UDP_L2TP
          / L2TP(hdr="control+length+sequence", tunnel_id=0xBEEF, session_id=0, ns=1, nr=1))
    # A CDN with an unknown vendor AVP (M=0) that must be kept.
    cdn = (avp(0, struct.pack("!H", 14))
           + avp(1, struct.pack("!HH", 3, 0) + b"admin")
           + avp(14, struct.pack("!H", 0x0707))
           + avp(1, b"\x00\x2a", m=False, vendor=9))
    frame("cdn-vendor-avp", ETH / IP4 / UDP_L2TP
          / L2TP(hdr="control+length+sequence", tunnel_id=0xBEEF, session_id=0x0707, ns=2, nr=1) / Raw(cdn))
    # DHCPv6 (RFC 8415) as a subscriber's router sends it over PPP: from
    # its link-local address to All_DHCP_Relay_Agents_and_Servers. The
    # Request names xlns's DUID-UUID of sixteen 0x07 octets (the test's).
    v6 = IPv6(src="fe80::9", dst="ff02::1:2") / UDP(sport=546, dport=547)
    client = DHCP6OptClientId(duid=DUID_LL(lladdr="02:00:00:00:00:09"))
    frame("dhcp6-solicit", v6 / DHCP6_Solicit(trid=0x123456) / client / DHCP6OptElapsedTime()
          / DHCP6OptIA_PD(iaid=7) / DHCP6OptOptReq(reqopts=[23, 24]))
    server = DHCP6OptServerId(duid=DUID_UUID(uuid="07070707-0707-0707-0707-070707070707"))
    frame("dhcp6-request", v6 / DHCP6_Request(trid=0xABCDEF) / client / server
          / DHCP6OptElapsedTime(elapsedtime=10)
          / DHCP6OptIA_PD(iaid=7, iapdopt=[DHCP6OptIAPrefix(prefix="2001:db8:200:100::", plen=56)])
          / DHCP6OptOptReq(reqopts=[23]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
