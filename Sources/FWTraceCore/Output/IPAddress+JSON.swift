// An address written straight into JSON output: Output's concern, kept out of Model (Model
// depends on nothing else in the module).
extension IPAddress {
    /// The address's text as a quoted JSON string (no character in it needs escaping), written
    /// in place, digit by digit: the same text as `description` (checked by a test).
    func appendJSON(into w: inout JSONWriter) {
        w.append(UInt8(ascii: "\""))
        switch self {
        case .v4(let v):
            w.decimal(UInt64(v >> 24)); w.append(UInt8(ascii: "."))
            w.decimal(UInt64(v >> 16 & 0xff)); w.append(UInt8(ascii: "."))
            w.decimal(UInt64(v >> 8 & 0xff)); w.append(UInt8(ascii: "."))
            w.decimal(UInt64(v & 0xff))
        case .v6(let b):
            Self.appendV6(b, into: &w)
        }
        w.append(UInt8(ascii: "\""))
    }

    /// `formatV6` written into the writer: RFC 5952 (the longest run of two or more zero groups,
    /// the first of equal runs, becomes "::"; IPv4-mapped addresses end in dotted decimal).
    static func appendV6(_ b: IPv6Bytes, into w: inout JSONWriter) {
        func group(_ i: Int) -> UInt64 { (i < 4 ? b.high : b.low) >> (UInt64(3 - i % 4) * 16) & 0xffff }
        if b.high == 0 && b.low >> 32 == 0xffff {
            w.append("::ffff:" as StaticString)
            w.decimal(b.low >> 24 & 0xff); w.append(UInt8(ascii: "."))
            w.decimal(b.low >> 16 & 0xff); w.append(UInt8(ascii: "."))
            w.decimal(b.low >> 8 & 0xff); w.append(UInt8(ascii: "."))
            w.decimal(b.low & 0xff)
            return
        }
        var bestStart = -1, bestLength = 0, runStart = -1
        for i in 0...8 {
            if i < 8 && group(i) == 0 {
                if runStart < 0 { runStart = i }
            } else if runStart >= 0 {
                if i - runStart > bestLength { bestStart = runStart; bestLength = i - runStart }
                runStart = -1
            }
        }
        if bestLength < 2 { bestStart = -1 }
        var i = 0
        var endsWithColon = true   // nothing written yet: no separator before the first group
        while i < 8 {
            if i == bestStart {
                w.append("::" as StaticString)
                endsWithColon = true
                i += bestLength
                continue
            }
            if !endsWithColon { w.append(UInt8(ascii: ":")) }
            let g = group(i)
            var shift: UInt64 = 12
            while shift > 0 && g >> shift == 0 { shift -= 4 }   // no leading zeros
            while true {
                w.append(JSONWriter.hex[Int(g >> shift & 0xf)])
                if shift == 0 { break }
                shift -= 4
            }
            endsWithColon = false
            i += 1
        }
    }
}
