#!/usr/bin/python3
"""Sends one entry to journald over its native protocol, the way fwtrace's journald sink does.

  journal-send.py [--socket PATH] [--binary] FIELD=VALUE|FIELD@FILE [...]

(FIELD@FILE: the value is FILE's contents, for values too long for a command line.)

A reference for the sink and a probe for Tests/tools/private-journald.sh. The protocol
(systemd's "Native Journal Protocol"): one AF_UNIX SOCK_DGRAM datagram per entry, sent to
/run/systemd/journal/socket, holding one field after another:

  NAME=VALUE\\n                         when VALUE has no newline
  NAME\\n<u64 little-endian len>VALUE\\n   binary-safe form: any bytes, newlines included

NAME: uppercase A-Z, 0-9 and _, not starting with _ (those are trusted fields journald adds
itself) or a digit, at most 64 characters. An entry too big for one datagram (EMSGSIZE) goes
in a sealed memfd whose descriptor is sent with SCM_RIGHTS in an empty datagram.
--binary sends every field in the binary-safe form; a value with a newline always is.
Prints the number of bytes sent.
"""
import os, re, socket, struct, sys, fcntl

NAME = re.compile(r"^[A-Z0-9][A-Z0-9_]{0,63}$")

def encode(fields, binary=False):
    out = bytearray()
    for name, value in fields:
        if not NAME.match(name) or name[0].isdigit():
            raise SystemExit(f"journal-send: bad field name {name!r}")
        v = value.encode()
        if binary or b"\n" in v:
            out += name.encode() + b"\n" + struct.pack("<Q", len(v)) + v + b"\n"
        else:
            out += name.encode() + b"=" + v + b"\n"
    return bytes(out)

def send(payload, path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.sendto(payload, path)
    except OSError as e:
        if e.errno not in (90, 105):  # EMSGSIZE, ENOBUFS: too big for a datagram
            raise
        fd = os.memfd_create("journal-entry", os.MFD_ALLOW_SEALING | os.MFD_CLOEXEC)
        os.write(fd, payload)
        seals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
        s.sendmsg([], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))], 0, path)
        os.close(fd)
    finally:
        s.close()

def main(argv):
    path, binary, fields = "/run/systemd/journal/socket", False, []
    args = iter(argv[1:])
    for a in args:
        if a == "--socket": path = next(args)
        elif a == "--binary": binary = True
        elif "=" in a: fields.append(tuple(a.split("=", 1)))
        elif "@" in a:
            name, file = a.split("@", 1)
            with open(file) as f: fields.append((name, f.read()))
        else: raise SystemExit(__doc__)
    if not fields: raise SystemExit(__doc__)
    payload = encode(fields, binary)
    send(payload, path)
    print(f"sent {len(payload)} bytes")

if __name__ == "__main__":
    main(sys.argv)
