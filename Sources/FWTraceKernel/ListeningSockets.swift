import Glibc
import FWTraceCore

/// The sockets bound in the traced namespace, as `ss -lnt` / `ss -lnu` would list them, read
/// from /proc/thread-self/net/{tcp,tcp6,udp,udp6}. Cached for a second.
public final class ListeningSockets {
    struct Socket: Hashable { let protocolNumber: UInt8; let address: IPAddress; let port: UInt16 }
    private var sockets: Set<Socket> = []
    private var readAt = -Double.infinity

    public init() {}

    /// nil when /proc could not be read (then no hint is given).
    public func isListening(protocolNumber: UInt8, address: IPAddress, port: UInt16) -> Bool? {
        let now = SystemClock.now()
        if now - readAt > 1 {
            guard let fresh = Self.read() else { return nil }
            sockets = fresh
            readAt = now
        }
        let wildcards: [IPAddress] = [.v4(0), .v6(.zero)]
        // A socket on :: also takes IPv4 unless it is v6-only, which /proc does not show: count it.
        for candidate in [address] + wildcards where sockets.contains(Socket(protocolNumber: protocolNumber, address: candidate, port: port)) {
            if case .v6 = candidate, address.isV4, candidate != wildcards[1] { continue }
            return true
        }
        return false
    }

    static func read() -> Set<Socket>? {
        var out: Set<Socket> = []
        var readAny = false
        for (file, proto, listenOnly) in [("tcp", UInt8(6), true), ("tcp6", 6, true), ("udp", 17, false), ("udp6", 17, false)] {
            guard let text = try? String(contentsOfFile: "/proc/thread-self/net/\(file)", encoding: .utf8) else { continue }
            readAny = true
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                guard fields.count > 3 else { continue }
                if listenOnly && fields[3] != "0A" { continue }
                let local = fields[1].split(separator: ":")
                guard local.count == 2, let port = UInt16(local[1], radix: 16), let address = parse(String(local[0])) else { continue }
                out.insert(Socket(protocolNumber: proto, address: address, port: port))
            }
        }
        return readAny ? out : nil
    }

    /// /proc/net addresses are 32-bit words in host (little-endian) order, in hex.
    static func parse(_ hex: String) -> IPAddress? {
        guard hex.count == 8 || hex.count == 32 else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 8)
            guard let word = UInt32(hex[index..<next], radix: 16) else { return nil }
            bytes += [UInt8(word & 0xff), UInt8(word >> 8 & 0xff), UInt8(word >> 16 & 0xff), UInt8(word >> 24)]
            index = next
        }
        return IPAddress(bytes: bytes[...])
    }
}


/// Control connections from the namespace's conntrack table (`conntrack -L`), for the
/// helper-missing hint. nil when the conntrack tool is not installed or fails.
public final class ConntrackTable: @unchecked Sendable {
    /// Listing the conntrack table costs a dump of every flow (100,000 under a flood), so it is
    /// read at most every `maxAge` seconds and only when a hint's cheaper conditions already hold.
    /// The first listing is read at once (the first dropped packet deserves its hint); later
    /// ones on a thread of their own while the last listing keeps answering, so that a big
    /// table never stalls the session that processes trace events.
    private struct State {
        var cached: [ControlConnection]?
        var readAt = -Double.infinity
        var refreshing = false
    }
    private let state = Locked(State())
    private var refresher: WorkerThread?
    private let maxAge: Double

    public init(maxAge: Double = 5) { self.maxAge = maxAge }

    deinit { refresher?.join(until: SystemClock.monotonic() + 2) }

    public func controlConnections(between a: IPAddress, and b: IPAddress) -> [ControlConnection]? {
        let now = SystemClock.now()
        var current = state.current
        if current.readAt == -.infinity {
            current = State(cached: Self.read(), readAt: now, refreshing: false)
            state.withLock { $0 = current }
        } else if now - current.readAt > maxAge, !current.refreshing {
            startRefresh()
        }
        return current.cached?.filter { ($0.client == a && $0.server == b) || ($0.client == b && $0.server == a) }
    }

    /// Reads the table again on a thread made by this one: it shares the traced namespace.
    private func startRefresh() {
        refresher?.join(until: .infinity)   // not refreshing: the last one has finished
        state.withLock { $0.refreshing = true }
        let state = self.state
        let thread = WorkerThread(name: "fwtrace-conntrack") {
            let fresh = ConntrackTable.read()
            state.withLock { $0 = State(cached: fresh, readAt: SystemClock.now(), refreshing: false) }
        }
        do {
            try thread.start()
            refresher = thread
        } catch {
            state.withLock { $0.readAt = SystemClock.now(); $0.refreshing = false }   // try again later
        }
    }

    static func read() -> [ControlConnection]? {
        guard ProcessRunner.find("conntrack") != nil else { return nil }
        var all: [ControlConnection] = []
        for family in ["ipv4", "ipv6"] {
            guard let out = try? ProcessRunner.run(["conntrack", "-L", "-f", family]), out.ok else { return nil }
            all += parse(out.stdout)
        }
        return all
    }

    /// "tcp 6 431999 ESTABLISHED src=… dst=… sport=… dport=21 src=… … [ASSURED] mark=0 helper=ftp use=1"
    public static func parse(_ text: String) -> [ControlConnection] {
        var out: [ControlConnection] = []
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            guard let proto = words.first, ["tcp", "udp"].contains(proto) else { continue }
            func first(_ key: String) -> String? { words.first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) } }
            guard let src = first("src").flatMap(IPAddress.init), let dst = first("dst").flatMap(IPAddress.init),
                  let sport = first("sport").flatMap({ UInt16($0) }), let dport = first("dport").flatMap({ UInt16($0) }),
                  ControlConnection.helpers.contains(where: { $0.port == dport && $0.protocolName == proto }) else { continue }
            let state = proto == "tcp" && words.count > 3 ? words[3] : "ESTABLISHED"
            out.append(ControlConnection(protocolName: proto, client: src, server: dst, clientPort: sport, port: dport,
                                         state: state, helper: first("helper")))
        }
        return out
    }
}
