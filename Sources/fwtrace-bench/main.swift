// fwtrace-bench: the offline pipeline benchmark. Replays a capture of real trace messages
// (made with `fwtrace follow --capture`) through decode → assemble → annotate → encode, on one
// core, and prints events/s, ns/event and peak RSS as one JSON object.
//   fwtrace-bench replay CAPTURE RULESET.nft [IPTABLES-SAVE] [--events N] [--output FILE]
// --output writes every JSON line produced (to compare two builds' output byte for byte).
import FWTraceCore
import Foundation

func peakRSSKiB() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }
    return -1
}

func rssKiB() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }
    return -1
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

let args = CommandLine.arguments
guard args.count >= 4, args[1] == "replay" else {
    FileHandle.standardError.write(Data("usage: fwtrace-bench replay CAPTURE RULESET.nft [IPTABLES-SAVE] [--events N]\n".utf8))
    exit(2)
}
let target = args.firstIndex(of: "--events").flatMap { Int(args[$0 + 1]) } ?? 1_000_000
// Stages can be switched off to see what each costs.
let withHints = !args.contains("--no-hints"), withEncode = !args.contains("--no-encode"), withAssembly = !args.contains("--decode-only")
let output: UnsafeMutablePointer<FILE>? = args.firstIndex(of: "--output").flatMap { fopen(args[$0 + 1], "w") }
@MainActor func record(_ line: String) -> Int {
    if let output { fputs(line, output); fputc(10, output) }
    return line.utf8.count + 1
}
let capture = try CaptureFormat.parse(try String(contentsOfFile: args[2], encoding: .utf8))
let listing = try String(contentsOfFile: args[3], encoding: .utf8)
let save = args.count > 4 && !args[4].hasPrefix("--") ? try String(contentsOfFile: args[4], encoding: .utf8) : ""
let catalog = RuleCatalog.build(nftListing: listing, iptablesSave: [.ip: save])

// Pre-split the datagrams (the receive side hands over datagrams too).
var datagrams: [[UInt8]] = capture.map(\.bytes)
var ownTable = "fwtrace"
outer: for d in datagrams {
    for m in try NetlinkMessage.split(d) where m.type == NftTraceDecoder.messageType {
        let e = try NftTraceDecoder.decode(d, body: m.body)
        if e.table.hasPrefix("fwtrace_") { ownTable = e.table; break outer }
    }
}
var config = PathAssembler.Configuration(ownTable: ownTable)
config.maxPending = 4096
let assembler = PathAssembler(configuration: config, catalog: catalog)
let context = RecordContext(host: "bench", netns: "fwt-bench-srv", backend: "nft", session: "bench")
let hints = HintContext(rules: { catalog.rulesInChain($0, $1, $2) }, listening: { _, _, _ in true })

var events = 0, paths = 0, bytesOut = 0, decodeErrors = 0
var rssAfterFirst100k = -1, rssAtEnd = -1
var clock = 1_000.0
let start = now()
while events < target {
    for d in datagrams {
        clock += 0.000_001
        guard let messages = try? NetlinkMessage.split(d) else { decodeErrors += 1; continue }
        for m in messages where m.type == NftTraceDecoder.messageType {
            events += 1
            if events == 100_000 { rssAfterFirst100k = rssKiB() }
            guard let e = try? NftTraceDecoder.decode(d, body: m.body) else { decodeErrors += 1; continue }
            guard withAssembly else { continue }
            for var p in assembler.ingest(e, at: clock) {
                if withHints { p.hints = HintEngine.hints(for: p, context: hints) }
                if withEncode { bytesOut += record(RecordEncoder.path(p, context: context)) }
                paths += 1
            }
        }
        if events >= target { break }
    }
}
for p in assembler.flush() { bytesOut += record(RecordEncoder.path(p, context: context)); paths += 1 }
if let output { fclose(output) }
let elapsed = now() - start
rssAtEnd = rssKiB()
let result: [String: Any] = [
    "benchmark": "pipeline-offline",
    "events": events, "paths": paths, "json_bytes": bytesOut, "decode_errors": decodeErrors,
    "seconds": (elapsed * 1000).rounded() / 1000,
    "events_per_second": Int(Double(events) / elapsed),
    "ns_per_event": Int(elapsed / Double(events) * 1e9),
    "capture_datagrams": datagrams.count,
    "rss_kib_after_100k_events": rssAfterFirst100k, "rss_kib_at_end": rssAtEnd, "peak_rss_kib": peakRSSKiB(),
]
let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
print(String(decoding: json, as: UTF8.self))
