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
/// Encoded records go into one writer, handed on every 64 KiB, as `follow` batches its output.
@MainActor func handOn(_ writer: inout JSONWriter) -> Int {
    let n = writer.byteCount
    if let output { writer.withBytes { _ = fwrite($0.baseAddress, 1, $0.count, output) } }
    writer.reset()
    return n
}

/// The capture, read line by line into one buffer: every datagram's bytes back to back and the
/// range of each. (Parsing the whole text at once held the text, its lines and one array per
/// datagram: about 100 MB of peak RSS for a 40 MB capture, all of it the bench's, not fwtrace's.)
struct Capture {
    var bytes: [UInt8] = []
    var datagrams: [Range<Int>] = []
}

func readCapture(_ path: String) -> Capture? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var capture = Capture()
    var line: UnsafeMutablePointer<CChar>?
    var size = 0
    defer { free(line) }
    func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }
    while true {
        let n = getline(&line, &size, file)
        if n < 0 { break }
        guard let line, n > 0 else { continue }
        let text = UnsafeRawBufferPointer(start: line, count: n).bindMemory(to: UInt8.self)
        if text[0] == UInt8(ascii: "#") || text[0] == 10 { continue }
        // "<time> <hex>": the hex starts after the space.
        guard var i = text.firstIndex(of: UInt8(ascii: " ")) else { return nil }
        i += 1
        let start = capture.bytes.count
        while i + 1 < n, let hi = nibble(text[i]), let lo = nibble(text[i + 1]) {
            capture.bytes.append(hi << 4 | lo)
            i += 2
        }
        capture.datagrams.append(start..<capture.bytes.count)
    }
    return capture
}

guard let capture = readCapture(args[2]) else {
    FileHandle.standardError.write(Data("fwtrace-bench: cannot read the capture \(args[2])\n".utf8))
    exit(1)
}
let listing = try String(contentsOfFile: args[3], encoding: .utf8)
let save = args.count > 4 && !args[4].hasPrefix("--") ? try String(contentsOfFile: args[4], encoding: .utf8) : ""
// With the owners adopted, as a follow session has them.
let ruleset = Ruleset.build(nftListing: listing, iptablesSave: [.ip: save]).withOwners(ToolState())

let buffer = capture.bytes
var ownTable = "fwtrace"
outer: for d in capture.datagrams {
    for m in try NetlinkMessage.split(Array(buffer[d])) where m.type == NftTraceDecoder.messageType {
        let e = try NftTraceDecoder.decode(Array(buffer[d]), body: m.body)
        if e.table.hasPrefix("fwtrace_") { ownTable = e.table; break outer }
    }
}
var config = PathAssembler.Configuration(ownTable: ownTable)
config.maxPending = 4096
// The one pipeline `follow` runs, as follow's session builds it (every socket listening).
var pipelineOptions = TracePipeline.Options()
pipelineOptions.hints = withHints
pipelineOptions.environment.listening = { _, _, _ in true }
let pipeline = TracePipeline(backend: .nft(config), ruleset: ruleset, options: pipelineOptions)
let context = RecordContext(host: "bench", netns: "fwt-bench-srv", backend: "nft", session: "bench")
let names = NameCache()

struct Run {
    var events = 0, paths = 0, bytesOut = 0, decodeErrors = 0
    var rssAfterFirst100k = -1
}

/// The measured loop, in a function so that its state is local (top-level variables touched
/// from a closure pay for dynamic exclusivity checks, which would be the bench's cost, not fwtrace's).
@MainActor func replay() -> Run {
    var run = Run()
    var writer = JSONWriter(capacity: 1 << 17)
    let prefix = PathRecordPrefix(context)
    var clock = 1_000.0
    while run.events < target {
        for d in capture.datagrams {
            clock += 0.000_001
            // Each datagram is fed where it lies in the buffer, as the session feeds its receive buffer.
            if withAssembly {
                pipeline.feed(buffer, range: d, at: clock) { record in
                    guard case .path(let p) = record else { run.decodeErrors += 1; return }
                    if withEncode {
                        RecordEncoder.path(p, prefix: prefix, into: &writer)
                        writer.endLine()
                        if writer.byteCount >= 1 << 16 { run.bytesOut += handOn(&writer) }
                    }
                    run.paths += 1
                }
                run.events = pipeline.events
            } else {
                decodeOnly(d, &run)
            }
            if run.rssAfterFirst100k < 0 && run.events >= 100_000 { run.rssAfterFirst100k = rssKiB() }
            if run.events >= target { break }
        }
    }
    // What is still pending at the end, without hints (as before the pipeline: the figures and
    // the --output stay comparable with earlier builds').
    pipeline.flush(hints: false) { record in
        guard case .path(let p) = record else { return }
        RecordEncoder.path(p, prefix: prefix, into: &writer); writer.endLine(); run.paths += 1
    }
    run.bytesOut += handOn(&writer)
    return run
}

/// `--decode-only`: the decoder alone, on the datagram where it lies in the buffer.
@MainActor func decodeOnly(_ d: Range<Int>, _ run: inout Run) {
    do {
        try NetlinkMessage.forEach(in: buffer, range: d) { m in
            guard m.type == NftTraceDecoder.messageType else { return }
            run.events += 1
            do { _ = try NftTraceDecoder.decode(buffer, body: m.body, names: names) } catch { run.decodeErrors += 1 }
        }
    } catch {
        run.decodeErrors += 1
    }
}

let start = now()
let run = replay()
if let output { fclose(output) }
let elapsed = now() - start
let rssAtEnd = rssKiB()
let result: [String: Any] = [
    "benchmark": "pipeline-offline",
    "events": run.events, "paths": run.paths, "json_bytes": run.bytesOut, "decode_errors": run.decodeErrors,
    "seconds": (elapsed * 1000).rounded() / 1000,
    "events_per_second": Int(Double(run.events) / elapsed),
    "ns_per_event": Int(elapsed / Double(run.events) * 1e9),
    "capture_datagrams": capture.datagrams.count,
    "rss_kib_after_100k_events": run.rssAfterFirst100k, "rss_kib_at_end": rssAtEnd, "peak_rss_kib": peakRSSKiB(),
]
let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
print(String(decoding: json, as: UTF8.self))
