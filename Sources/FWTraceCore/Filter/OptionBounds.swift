/// `500ms`, `10s`, `2m`, `1h` or plain seconds.
public enum DurationParser {
    public static func parse(_ text: String) throws -> Double {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var number = Substring(text)
        var scale = 1.0
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            number = text.dropLast(suffix.count)
            scale = factor
            break
        }
        guard !number.isEmpty, number.allSatisfy({ $0.isNumber || $0 == "." }), let value = Double(number), value > 0, value.isFinite else {
            throw FilterError("invalid duration '\(text)': a positive number with ms, s, m or h (seconds when no unit)",
                              example: "--timeout 10s or --timeout 500ms")
        }
        return value * scale
    }

    /// `parse`, then a range check. The message says what is wrong, the range and what to give.
    public static func parse(_ text: String, option: String, in range: ClosedRange<Double>, example: String) throws -> Double {
        guard let value = try? parse(text) else {
            throw FilterError("invalid duration '\(text)' for \(option): a positive number with ms, s, m or h (seconds when no unit), from \(self.text(range.lowerBound)) to \(self.text(range.upperBound))", example: example)
        }
        guard range.contains(value) else {
            throw FilterError("\(option) \(text) is out of range: give a duration from \(self.text(range.lowerBound)) to \(self.text(range.upperBound))", example: example)
        }
        return value
    }

    /// A duration as it would be written: 100ms, 5s, 10m, 720h.
    public static func text(_ seconds: Double) -> String {
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        if seconds >= 3600, seconds.truncatingRemainder(dividingBy: 3600) == 0 { return "\(Int(seconds / 3600))h" }
        if seconds >= 60, seconds.truncatingRemainder(dividingBy: 60) == 0 { return "\(Int(seconds / 60))m" }
        if seconds.rounded() == seconds { return "\(Int(seconds))s" }
        return "\(Int((seconds * 1000).rounded()))ms"
    }
}

/// What fwtrace accepts for the durations, counts and sizes a user, a config file or a control
/// request gives. Checked where they are read, before anything is installed: a value past them
/// overflowed a poll timeout (a trap, with legacy rules left installed) or a buffer size. The
/// ranges are documented with the options (README, config/fwtrace.toml, docs/control-protocol.md).
public enum Bounds {
    /// `follow --timeout` and a control request's `timeout`: up to 30 days.
    public static let timeout: ClosedRange<Double> = 0.001...(720 * 3600)
    /// `--quiet-period`: a pending path is emitted 5 s after its first event anyway (maxAge).
    public static let quietPeriod: ClosedRange<Double> = 0.001...5
    /// `--count` and a control request's `count`.
    public static let count: ClosedRange<Int> = 1...1_000_000_000
    /// `--receive-buffer` (bytes): SO_RCVBUF is an int, which the kernel doubles.
    public static let receiveBuffer: ClosedRange<Int> = 4096...(1 << 30)
    /// `--receive-backlog` (bytes of memory).
    public static let receiveBacklog: ClosedRange<Int> = 0...(1 << 30)
    /// `--max-netns`: a thread and a netlink socket each.
    public static let namespaces: ClosedRange<Int> = 1...1024
    /// The daemon's `request_timeout`, `client_stall_timeout` and `stop_timeout`.
    public static let requestTimeout: ClosedRange<Double> = 0.1...300
    public static let clientStallTimeout: ClosedRange<Double> = 1...86_400
    public static let stopTimeout: ClosedRange<Double> = 0.1...600

    /// A count or size in range, or the error that says so.
    public static func check(_ value: Int, option: String, in range: ClosedRange<Int>, unit: String, example: String) throws {
        guard range.contains(value) else {
            throw FilterError("\(option) \(value) is out of range: give \(unit) from \(range.lowerBound) to \(range.upperBound)", example: example)
        }
    }
}
