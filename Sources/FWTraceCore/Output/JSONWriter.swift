/// A small JSON object writer: keys in the order written, strings escaped per RFC 8259, no
/// reflection and no Foundation. It appends UTF-8 bytes to one buffer that it owns (raw memory,
/// grown by doubling): a string is scanned once and copied in one piece unless it needs escaping,
/// numbers, timestamps and addresses are written in place, and a record costs one allocation.
///
/// Not copyable: the buffer has one owner, freed when the writer goes away.
public struct JSONWriter: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int
    /// A value was written at the current nesting level: the next one needs a comma. A flag is
    /// enough (no stack): opening a container clears it, closing one sets it in the parent.
    private var needsComma = false

    public init(capacity: Int = 2048) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }
    public var text: String { String(decoding: UnsafeBufferPointer(start: base, count: count), as: UTF8.self) }

    /// Bytes written so far.
    public var byteCount: Int { count }

    /// Ends a record with a newline: the writer then holds JSON lines back to back, and the next
    /// record starts without a comma. Lets one writer batch many records (no buffer per record).
    public mutating func endLine() { append(UInt8(ascii: "\n")); needsComma = false }

    /// Raw text (a record already encoded elsewhere), unescaped.
    public mutating func appendRaw(_ s: String) {
        var s = s
        s.withUTF8 { append($0) }
    }

    /// Bytes already encoded as JSON (part of a member, or members), copied as they are.
    mutating func appendRaw(_ bytes: [UInt8]) { bytes.withUnsafeBufferPointer { append($0) } }

    /// After raw bytes that completed a member: the next one needs a comma.
    mutating func endMember() { needsComma = true }

    /// Forgets what was written, keeping the buffer.
    public mutating func reset() { count = 0; needsComma = false }

    /// The bytes written so far, without a copy.
    public func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: base, count: count))
    }

    // MARK: - Public API (any key)

    public mutating func beginObject(_ key: String? = nil) { prefix(key); append(UInt8(ascii: "{")); needsComma = false }
    public mutating func endObject() { append(UInt8(ascii: "}")); needsComma = true }
    public mutating func beginArray(_ key: String? = nil) { prefix(key); append(UInt8(ascii: "[")); needsComma = false }
    public mutating func endArray() { append(UInt8(ascii: "]")); needsComma = true }

    public mutating func string(_ key: String?, _ value: String) { prefix(key); escape(value) }
    public mutating func string(_ key: String?, _ value: String?) {
        if let value { string(key, value) } else { null(key) }
    }
    public mutating func int<T: BinaryInteger>(_ key: String?, _ value: T) { prefix(key); decimal(value) }
    public mutating func bool(_ key: String?, _ value: Bool) { prefix(key); append(value ? "true" : "false") }
    public mutating func null(_ key: String?) { prefix(key); append("null") }

    private mutating func prefix(_ key: String?) {
        if needsComma { append(UInt8(ascii: ",")) }
        needsComma = true
        if let key { escape(key); append(UInt8(ascii: ":")) }
    }

    // MARK: - Fast API for fwtrace's own records: keys are literals that need no escaping

    /// Starts a member: the comma if one is due, then `"key":`.
    @inline(__always)
    mutating func key(_ key: StaticString) {
        if needsComma { append(UInt8(ascii: ",")) }
        needsComma = true
        assert(key.withUTF8Buffer { !$0.contains { Self.needsEscape($0) } }, "JSON keys written raw must not need escaping")
        ensure(key.utf8CodeUnitCount + 3)
        unsafeAppend(UInt8(ascii: "\""))
        key.withUTF8Buffer { unsafeAppend($0) }
        unsafeAppend(UInt8(ascii: "\""))
        unsafeAppend(UInt8(ascii: ":"))
    }

    /// The comma before an array element, if one is due.
    @inline(__always)
    mutating func element() {
        if needsComma { append(UInt8(ascii: ",")) }
        needsComma = true
    }

    mutating func str(_ k: StaticString, _ value: String) { key(k); escape(value) }
    mutating func str(_ k: StaticString, _ value: String?) {
        key(k)
        if let value { escape(value) } else { append("null") }
    }
    mutating func num<T: BinaryInteger>(_ k: StaticString, _ value: T) { key(k); decimal(value) }
    /// A value that is already JSON (a quoted literal known to need no escaping), copied as is.
    mutating func lit(_ k: StaticString, _ json: StaticString) { key(k); append(json) }
    mutating func flag(_ k: StaticString, _ value: Bool) { key(k); append(value ? "true" : "false") }
    mutating func object(_ k: StaticString) { key(k); append(UInt8(ascii: "{")); needsComma = false }
    mutating func array(_ k: StaticString) { key(k); append(UInt8(ascii: "[")); needsComma = false }
    mutating func stringElement(_ value: String) { element(); escape(value) }

    // MARK: - Bytes

    @inline(__always)
    mutating func ensure(_ extra: Int) {
        if count + extra > capacity { grow(count + extra) }
    }

    private mutating func grow(_ needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let fresh = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        fresh.update(from: base, count: count)
        base.deallocate()
        base = fresh
        capacity = newCapacity
    }

    @inline(__always)
    private mutating func unsafeAppend(_ b: UInt8) { base[count] = b; count += 1 }

    @inline(__always)
    private mutating func unsafeAppend(_ p: UnsafeBufferPointer<UInt8>) {
        if let source = p.baseAddress { (base + count).update(from: source, count: p.count) }
        count += p.count
    }

    @inline(__always)
    mutating func append(_ b: UInt8) { ensure(1); unsafeAppend(b) }

    @inline(__always)
    mutating func append(_ p: UnsafeBufferPointer<UInt8>) { ensure(p.count); unsafeAppend(p) }

    mutating func append(_ s: StaticString) { s.withUTF8Buffer { append($0) } }

    /// Appends text known to need no escaping (an address, a number's digits), unquoted.
    mutating func appendPlain(_ s: String) {
        var s = s
        s.withUTF8 { append($0) }
    }

    static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    mutating func decimal<T: BinaryInteger>(_ value: T) {
        if value < 0 { append(UInt8(ascii: "-")) }
        decimal(UInt64(value.magnitude))
    }

    /// "00" to "99": two digits per division (a record has twenty-odd numbers).
    static let digitPairs: StaticString = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

    /// The digits of `value`, written from the right into their final place, two at a time.
    mutating func decimal(_ value: UInt64) {
        let digits = Self.digitCount(value)
        ensure(digits)
        let pairs = Self.digitPairs.utf8Start
        var v = value
        var i = count + digits
        while v >= 100 {
            let r = Int(v % 100)
            v /= 100
            i -= 2
            base[i] = pairs[2 * r]; base[i + 1] = pairs[2 * r + 1]
        }
        if v >= 10 {
            base[i - 2] = pairs[2 * Int(v)]; base[i - 1] = pairs[2 * Int(v) + 1]
        } else {
            base[i - 1] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v)
        }
        count += digits
    }

    static func digitCount(_ value: UInt64) -> Int {
        if value < 10 { return 1 }
        if value < 100 { return 2 }
        if value < 1000 { return 3 }
        if value < 10000 { return 4 }
        if value < 100_000 { return 5 }
        var digits = 6, v = value / 1_000_000
        while v > 0 { digits += 1; v /= 10 }
        return digits
    }

    /// A number padded the way `String(repeating: "0", count: width - s.count) + s` pads
    /// `s = String(value)`: zeros first (before a sign, for a negative number).
    mutating func padded(_ value: Int64, width: Int) {
        let length = Self.digitCount(UInt64(value.magnitude)) + (value < 0 ? 1 : 0)
        for _ in length..<max(length, width) { append(UInt8(ascii: "0")) }
        decimal(value)
    }

    /// Eight lowercase hex digits, quoted.
    mutating func hex8(_ v: UInt32) {
        ensure(10)
        unsafeAppend(UInt8(ascii: "\""))
        var shift: UInt32 = 28
        while true {
            unsafeAppend(Self.hex[Int(v >> shift & 0xf)])
            if shift == 0 { break }
            shift -= 4
        }
        unsafeAppend(UInt8(ascii: "\""))
    }

    // MARK: - Escaping

    @inline(__always)
    static func needsEscape(_ b: UInt8) -> Bool { b < 0x20 || b == 0x22 || b == 0x5c || b == 0x7f }

    /// True when any byte of `w` might need escaping (< 0x20, '"', '\\', 0x7f): the exact
    /// zero-byte tests of "Bit Twiddling Hacks"; bytes >= 0x80 never match.
    @inline(__always)
    static func wordNeedsEscape(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        func hasZero(_ v: UInt64) -> Bool { (v &- ones) & ~v & highs != 0 }
        // A byte below 0x20: (b - 0x20) borrows into its high bit while b's own high bit is clear.
        let below = (w &- ones &* 0x20) & ~w & highs
        return below != 0 || hasZero(w ^ (ones &* 0x22)) || hasZero(w ^ (ones &* 0x5c)) || hasZero(w ^ (ones &* 0x7f))
    }

    /// A string value, quoted and escaped.
    mutating func escape(_ s: String) {
        if let done: Void = s.utf8.withContiguousStorageIfAvailable({ escape($0) }) { return done }
        var copy = s
        copy.withUTF8 { escape($0) }
    }

    mutating func escape(_ utf8: UnsafeBufferPointer<UInt8>) {
        let n = utf8.count
        var i = 0
        // The common case: nothing to escape, one copy. Eight bytes at a time while they are clean.
        if let start = utf8.baseAddress {
            let raw = UnsafeRawPointer(start)
            while n - i >= 8 && !Self.wordNeedsEscape(raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) { i += 8 }
        }
        while i < n && !Self.needsEscape(utf8[i]) { i += 1 }
        if i == n {
            ensure(n + 2)
            unsafeAppend(UInt8(ascii: "\""))
            unsafeAppend(utf8)
            unsafeAppend(UInt8(ascii: "\""))
            return
        }
        append(UInt8(ascii: "\""))
        var start = 0
        while i < n {
            let b = utf8[i]
            if Self.needsEscape(b) {
                append(UnsafeBufferPointer(rebasing: utf8[start..<i]))
                ensure(6)
                unsafeAppend(0x5c)
                switch b {
                case 0x22: unsafeAppend(0x22)
                case 0x5c: unsafeAppend(0x5c)
                case 0x0a: unsafeAppend(UInt8(ascii: "n"))
                case 0x0d: unsafeAppend(UInt8(ascii: "r"))
                case 0x09: unsafeAppend(UInt8(ascii: "t"))
                default:
                    unsafeAppend(UInt8(ascii: "u")); unsafeAppend(0x30); unsafeAppend(0x30)
                    unsafeAppend(Self.hex[Int(b >> 4)]); unsafeAppend(Self.hex[Int(b & 0xf)])
                }
                start = i + 1
            }
            i += 1
        }
        append(UnsafeBufferPointer(rebasing: utf8[start..<n]))
        append(UInt8(ascii: "\""))
    }

    public static func escape(_ s: String, into out: inout [UInt8]) {
        var w = JSONWriter(capacity: s.utf8.count + 16)
        w.escape(s)
        w.withBytes { out.append(contentsOf: $0) }
    }

    /// Escaped JSON string as text (for callers that build a line around it).
    public static func escape(_ s: String, into out: inout String) {
        var w = JSONWriter(capacity: s.utf8.count + 16)
        w.escape(s)
        out += w.text
    }
}

/// RFC 3339 in UTC with microseconds, computed without Foundation's date formatters.
public enum Timestamp {
    public static func rfc3339(_ seconds: Double) -> String {
        var w = JSONWriter(capacity: 32)
        append(seconds, into: &w)
        return w.text
    }

    /// 0000-01-01T00:00:00.000000Z and 9999-12-31T23:59:59.999999Z in microseconds.
    static let earliestMicros: Int64 = -62_167_219_200_000_000
    static let latestMicros: Int64 = 253_402_300_799_999_999

    /// Microseconds since the epoch for any Double: a time read from the kernel may be nonsense
    /// (a trap here ended a session with its legacy rules installed). NaN is the epoch; what lies
    /// outside years 0-9999 becomes the nearer end.
    static func micros(_ seconds: Double) -> Int64 {
        let scaled = (seconds * 1_000_000).rounded(.down)
        if scaled.isNaN { return 0 }
        if scaled <= Double(earliestMicros) { return earliestMicros }
        if scaled >= Double(latestMicros) { return latestMicros }
        return Int64(scaled)
    }

    /// Appends the timestamp's text (27 bytes, no quotes).
    static func append(_ seconds: Double, into w: inout JSONWriter) {
        let micros = micros(seconds)
        var days = micros / 86_400_000_000
        var rest = micros % 86_400_000_000
        if rest < 0 { rest += 86_400_000_000; days -= 1 }
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        let hour = rest / 3_600_000_000, minute = rest / 60_000_000 % 60, second = rest / 1_000_000 % 60
        let fraction = rest % 1_000_000
        w.padded(year, width: 4); w.append(UInt8(ascii: "-")); w.padded(month, width: 2)
        w.append(UInt8(ascii: "-")); w.padded(day, width: 2); w.append(UInt8(ascii: "T"))
        w.padded(hour, width: 2); w.append(UInt8(ascii: ":")); w.padded(minute, width: 2)
        w.append(UInt8(ascii: ":")); w.padded(second, width: 2); w.append(UInt8(ascii: "."))
        w.padded(fraction, width: 6); w.append(UInt8(ascii: "Z"))
    }

    /// The timestamp as a quoted JSON string.
    static func appendJSON(_ seconds: Double, into w: inout JSONWriter) {
        w.append(UInt8(ascii: "\""))
        append(seconds, into: &w)
        w.append(UInt8(ascii: "\""))
    }
}
