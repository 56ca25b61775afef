#!/usr/bin/python3
"""Sends one probe packet of a given kind, for fixture capture and end-to-end tests.

Runs inside a test namespace (ip netns exec ...); only ever addresses the lab's own hosts.
  send.py icmp4 DST | icmp6 DST | udp DST PORT [--hopopts] | tcp DST PORT [--src ADDR]
          | udpflood DST PORT COUNT | tcpack DST PORT --src ADDR | tcpsynfin DST PORT --src ADDR
          | hold DST PORT SECONDS | serve PORT SECONDS
Prints what happened; exit 0 when the probe was sent.
"""
import socket, struct, sys, time

def checksum(data):
    if len(data) % 2: data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff

def main(argv):
    kind = argv[1]
    if kind == "icmp4":
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        hdr = struct.pack("!BBHHH", 8, 0, 0, 0x4242, 1) + b"fwtrace"
        hdr = hdr[:2] + struct.pack("!H", checksum(hdr)) + hdr[4:]
        s.sendto(hdr, (argv[2], 0)); print("sent icmp echo")
    elif kind == "icmp6":
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        s.sendto(struct.pack("!BBHHH", 128, 0, 0, 0x4242, 1) + b"fwtrace", (argv[2], 0)); print("sent icmpv6 echo")
    elif kind == "udp":
        fam = socket.AF_INET6 if ":" in argv[2] else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_DGRAM)
        if "--hopopts" in argv:
            # Hop-by-hop header with one PadN option: an IPv6 extension header before UDP.
            s.setsockopt(socket.IPPROTO_IPV6, 54, bytes([0, 0, 1, 4, 0, 0, 0, 0]))
        s.sendto(b"fwtrace", (argv[2], int(argv[3]))); print("sent udp")
    elif kind == "udpflood":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(int(argv[4])):
            s.sendto(b"fwtrace", (argv[2], int(argv[3])))
        print("sent", argv[4], "udp datagrams")
    elif kind == "tcpack":
        # A bare TCP ACK for a connection that does not exist (conntrack calls it INVALID when
        # nf_conntrack_tcp_loose is 0). The kernel builds the IP header.
        src, dst, port = argv[argv.index("--src") + 1], argv[2], int(argv[3])
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
        tcp = struct.pack("!HHIIBBHHH", 40000, port, 12345, 67890, 5 << 4, 0x10, 64240, 0, 0)
        pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
        s.sendto(tcp, (dst, 0)); print("sent tcp ack")
    elif kind == "tcpsynfin":
        # SYN and FIN together: conntrack logs "invalid tcp flag combination" when asked to.
        src, dst, port = argv[argv.index("--src") + 1], argv[2], int(argv[3])
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
        tcp = struct.pack("!HHIIBBHHH", 40001, port, 12345, 0, 5 << 4, 0x03, 64240, 0, 0)
        pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
        s.sendto(tcp, (dst, 0)); print("sent tcp syn+fin")
    elif kind == "hold":
        # Opens a TCP connection and keeps it ESTABLISHED for SECONDS (a control connection).
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.connect((argv[2], int(argv[3]))); print("holding", flush=True); time.sleep(float(argv[4]))
    elif kind == "serve":
        # Accepts one TCP connection on PORT and keeps it open for SECONDS.
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("", int(argv[2]))); s.listen(1); print("serving", flush=True)
        c, _ = s.accept(); time.sleep(float(argv[3]))
    elif kind == "tcp":
        fam = socket.AF_INET6 if ":" in argv[2] else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(2)
        if "--src" in argv: s.bind((argv[argv.index("--src") + 1], 0))
        try:
            s.connect((argv[2], int(argv[3]))); print("connected:", s.recv(100).decode().strip())
        except OSError as e:
            print("failed:", e)
    else:
        print(__doc__); return 2
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv))
