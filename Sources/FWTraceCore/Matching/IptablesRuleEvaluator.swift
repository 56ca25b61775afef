import Foundation

/// Decides whether an iptables rule (iptables-save syntax) matches a packet, without the kernel.
/// Three answers: it matches, it does not, or fwtrace cannot tell (a match it does not understand):
/// a hint built on "cannot tell" would be a guess, so callers stay silent then.
public enum RuleMatch: Equatable, Sendable { case matches, doesNotMatch, unknown }

/// The packet as one chain saw it (after any NAT before that chain).
public struct PacketView: Sendable {
    public var family: PacketSummary.Family
    public var protocolNumber: UInt8?
    public var src: IPAddress
    public var dst: IPAddress
    public var sport: UInt16?
    public var dport: UInt16?
    public var icmpType: UInt8?
    public var tcpFlags: UInt8?
    public var iif: String?
    public var oif: String?
    /// nil when unknown.
    public var ctState: ConntrackState?
    /// What matches beyond the headers depend on; `.strict` unless a caller knows more.
    public var environment = MatchEnvironment.strict

    /// `borrowing`: an initializer takes its arguments owned, and the caller copied the whole path.
    public init(path: borrowing PacketPath, beforeStep index: Int) {
        let p = path.packet
        family = p.family
        protocolNumber = p.protocolKnown ? p.protocolNumber : nil
        src = p.src; dst = p.dst; sport = p.sport; dport = p.dport
        icmpType = p.icmpType; tcpFlags = p.tcpFlags
        // By index: iterating the steps would copy each one (and retain its strings).
        for i in 0..<min(index, path.steps.count) {
            if let nat = path.steps[i].nat { src = nat.after.src; dst = nat.after.dst; sport = nat.after.sport; dport = nat.after.dport }
        }
        let hook = index < path.steps.count ? path.steps[index].hook : .unknown
        iif = hook == .output || hook == .postrouting ? nil : path.iif
        oif = hook == .prerouting || hook == .input ? nil : path.oif
        ctState = path.conntrack?.state
    }
}

public enum IptablesRuleEvaluator {
    static let protocolNumbers: [String: UInt8] = [
        "tcp": 6, "udp": 17, "icmp": 1, "ipv6-icmp": 58, "icmpv6": 58, "sctp": 132, "udplite": 136, "dccp": 33,
        "esp": 50, "ah": 51, "gre": 47, "igmp": 2,
    ]
    /// ICMP type names as iptables and ip6tables print them; a name not listed is "unknown".
    static let icmpTypes: [String: UInt8] = ["echo-reply": 0, "destination-unreachable": 3, "echo-request": 8, "time-exceeded": 11]
    static let icmpv6Types: [String: UInt8] = ["destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3,
                                                "echo-request": 128, "echo-reply": 129]

    /// Evaluates the match part of a rule line ("-A CHAIN …"); the target is ignored.
    public static func evaluate(_ line: String, against packet: PacketView) -> RuleMatch {
        evaluation(line, against: packet).match
    }

    /// `evaluate`, with the assumptions the answer rests on and the match it could not evaluate.
    public static func evaluation(_ line: String, against packet: PacketView) -> MatchEvaluation {
        let words = Ruleset.splitArguments(line)
        var result = MatchEvaluation()
        guard words.count >= 2, words[0] == "-A" else { result.fold(.unknown, name: line); return result }
        var i = 2
        var negate = false
        func fold(_ m: RuleMatch, _ name: @autoclosure () -> String) {
            let value: RuleMatch = negate ? (m == .matches ? .doesNotMatch : m == .doesNotMatch ? .matches : .unknown) : m
            negate = false
            result.fold(value, name: name())
        }
        func next() -> String? { i += 1; return i < words.count ? words[i] : nil }
        while i < words.count {
            let word = words[i]
            switch word {
            case "!": negate = true
            case "-p", "--protocol":
                guard let value = next() else { fold(.unknown, word); break }
                fold(protocolMatch(value, packet), "\(word) \(value)")
            case "-s", "--source", "-d", "--destination":
                guard let value = next(), let prefix = IPPrefix(value) else { fold(.unknown, word); break }
                let address = word.hasPrefix("-s") || word == "--source" ? packet.src : packet.dst
                fold(prefix.contains(address) ? .matches : .doesNotMatch, word)
            case "-i", "--in-interface", "-o", "--out-interface":
                guard let value = next() else { fold(.unknown, word); break }
                let actual = word.hasPrefix("-i") || word == "--in-interface" ? packet.iif : packet.oif
                guard let actual else { fold(.unknown, "\(word) \(value)"); break }
                fold(interface(value, matches: actual) ? .matches : .doesNotMatch, word)
            case "--dport", "--destination-port", "--sport", "--source-port":
                guard let value = next() else { fold(.unknown, word); break }
                fold(portMatch(word, value, packet), "\(word) \(value)")
            case "--state", "--ctstate":
                guard let value = next() else { fold(.unknown, word); break }
                fold(stateMatch(value, packet), "\(word) \(value)")
            case "--icmp-type", "--icmpv6-type":
                guard let value = next() else { fold(.unknown, word); break }
                fold(icmpMatch(value, packet), "\(word) \(value)")
            case "-m", "--match":
                guard let module = next() else { fold(.unknown, word); break }
                if let end = IptablesMatchExtensions.module(module, words, from: i + 1, packet, into: &result) { i = end; continue }
                // Modules whose options are evaluated above, or that match everything.
                if !["tcp", "udp", "sctp", "icmp", "icmp6", "state"].contains(module) { fold(.unknown, "-m \(module)") }
            case "-j", "--jump", "-g", "--goto":
                return result.finished   // the target and its options: not part of the match
            default:
                if let (m, end) = IptablesMatchExtensions.option(word, words, at: i, packet) { fold(m, word); i = end; continue }
                fold(.unknown, word)
                if i + 1 < words.count, !words[i + 1].hasPrefix("-") { i += 1 }
            }
            i += 1
        }
        return result.finished
    }

    /// `--dport`/`--sport` (tcp, udp, sctp) and multiport's `--dports`/`--sports`/`--ports`:
    /// "80", "1000:2000" or "80,443"; a list that mixes ranges is not understood (unknown).
    static func portMatch(_ option: String, _ value: String, _ packet: PacketView) -> RuleMatch {
        guard let ports = try? TraceFilter.parsePorts(value, option: option) else { return .unknown }
        if option == "--ports" {
            guard let s = packet.sport, let d = packet.dport else { return .unknown }
            return ports.contains(s) || ports.contains(d) ? .matches : .doesNotMatch
        }
        let destination = ["--dport", "--destination-port", "--dports"].contains(option)
        guard let actual = destination ? packet.dport : packet.sport else { return .unknown }
        return ports.contains(actual) ? .matches : .doesNotMatch
    }

    /// `-p`: a name, a number, or all (0).
    static func protocolMatch(_ value: String, _ packet: PacketView) -> RuleMatch {
        if value == "all" || value == "0" { return .matches }
        guard let number = protocolNumbers[value] ?? UInt8(value), let actual = packet.protocolNumber else { return .unknown }
        return actual == number ? .matches : .doesNotMatch
    }

    /// `--state` / `--ctstate`: a comma-separated list of conntrack states.
    static func stateMatch(_ value: String, _ packet: PacketView) -> RuleMatch {
        guard let state = packet.ctState else { return .unknown }
        return value.lowercased().split(separator: ",").contains { $0 == state.rawValue } ? .matches : .doesNotMatch
    }

    /// `--icmp-type` / `--icmpv6-type`: a name as iptables prints it, or a number.
    static func icmpMatch(_ value: String, _ packet: PacketView) -> RuleMatch {
        guard let actual = packet.icmpType else { return .unknown }
        let names = packet.family == .ip6 ? icmpv6Types : icmpTypes
        guard let wanted = names[value] ?? UInt8(value) else { return .unknown }
        return actual == wanted ? .matches : .doesNotMatch
    }

    static func interface(_ pattern: String, matches name: String) -> Bool {
        pattern.hasSuffix("+") ? name.hasPrefix(String(pattern.dropLast())) : name == pattern
    }

    /// The target named by -j/-g, if any.
    public static func target(_ line: String) -> String? {
        if let plain = plainTarget(line) { return plain }
        let words = Ruleset.splitArguments(line)
        if let j = words.lastIndex(where: { $0 == "-j" || $0 == "-g" }), j + 1 < words.count { return words[j + 1] }
        return nil
    }

    /// `target` for a line of plain ASCII words (no quotes, no backslashes, no other bytes): the
    /// word after the last -j or -g, read from the bytes without splitting the line into Strings.
    /// Asked for every later rule of a chain on every dropped path. `.some(nil)`: no target.
    static func plainTarget(_ line: String) -> String?? {
        let found: String??? = line.utf8.withContiguousStorageIfAvailable { b -> String?? in
            var target: Range<Int>?
            var previousWasJump = false
            var i = 0
            let n = b.count
            while i < n {
                let c = b[i]
                if c >= 0x80 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { return nil }
                if c == UInt8(ascii: " ") { i += 1; continue }
                var j = i
                while j < n && b[j] != UInt8(ascii: " ") {
                    if b[j] >= 0x80 || b[j] == UInt8(ascii: "\"") || b[j] == UInt8(ascii: "\\") { return nil }
                    j += 1
                }
                let isJump = j - i == 2 && b[i] == UInt8(ascii: "-") && (b[i + 1] == UInt8(ascii: "j") || b[i + 1] == UInt8(ascii: "g"))
                // Only the last -j/-g counts, and only if a word follows it.
                if isJump { target = nil } else if previousWasJump { target = i..<j }
                previousWasJump = isJump
                i = j
            }
            return .some(target.map { String(decoding: UnsafeBufferPointer(rebasing: b[$0]), as: UTF8.self) })
        }
        return found ?? nil
    }
}
