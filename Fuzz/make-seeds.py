#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets from the captured fixtures (never into the repo).

  make-seeds.py FIXTURES-DIR OUT-DIR

OUT-DIR/nft-decoder/ and OUT-DIR/nflog-decoder/: one file per captured datagram (legacy-*
captures are nfnetlink_log, the others nft trace). OUT-DIR/pipeline/: one file per capture, in
the pipeline target's input format (Fuzz/FuzzTargets.swift, PipelineInput): the world byte (the
capture's index among the *.hex files sorted by name, as FuzzWorld.load numbers them), then per
datagram [delta in 10 ms: u8][length: u16 LE][bytes]. OUT-DIR/metrics-request/: a few request
heads (Prometheus's scrape, HEAD, POST, HTTP/2, a TLS hello). File names are the content's sha1, as
libFuzzer names what it adds."""
import hashlib
import os
import sys


def datagrams(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            time, hexbytes = line.split(" ")
            out.append((float(time), bytes.fromhex(hexbytes)))
    return out


def write(directory, data):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def pipeline_input(world, captured):
    out = bytearray([world % 256])
    last = captured[0][0] if captured else 0
    for time, data in captured:
        out.append(min(max(int((time - last) / 0.01), 0), 255))
        last = time
        data = data[:0xFFFF]
        out += len(data).to_bytes(2, "little") + data
    return bytes(out)


def main():
    fixtures, out = sys.argv[1], sys.argv[2]
    captures = sorted(f for f in os.listdir(fixtures) if f.endswith(".hex"))
    for world, name in enumerate(captures):
        captured = datagrams(os.path.join(fixtures, name))
        decoder = "nflog-decoder" if "-legacy-" in name else "nft-decoder"
        for _, data in captured:
            write(os.path.join(out, decoder), data)
        write(os.path.join(out, "pipeline"), pipeline_input(world, captured))
    # metrics-request: what Prometheus, curl and a stray client send the metrics listener.
    for head in (b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9469\r\nUser-Agent: Prometheus/2.42.0\r\nAccept: text/plain;version=0.0.4\r\n\r\n",
                 b"HEAD / HTTP/1.0\r\n\r\n", b"POST /metrics?x=1 HTTP/1.1\r\nContent-Length: 0\r\n\r\n", b"GET /x HTTP/2\r\n\r\n",
                 b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"):
        write(os.path.join(out, "metrics-request"), head)
    for target in ("nft-decoder", "nflog-decoder", "pipeline", "metrics-request"):
        print(f"{target}: {len(os.listdir(os.path.join(out, target)))} seeds")


if __name__ == "__main__":
    main()
