import Foundation
import Glibc
import FWTraceCore

/// Installs fwtrace's TRACE rules for the legacy backend: `iptables-legacy -t raw -I PREROUTING 1`
/// and `-I OUTPUT 1` (and ip6tables-legacy), tagged `fwtrace:<session>:<pid>:<start>`, rate-limited.
/// Removes exactly those rules; sweeps rules of fwtrace sessions whose process is gone.
public final class LegacyInstaller {
    public let session: String
    public private(set) var installed: [(program: String, chain: String, arguments: [String])] = []

    public static func program(_ family: PacketSummary.Family) -> String { family == .ip ? "iptables-legacy" : "ip6tables-legacy" }

    public init(session: String) { self.session = session }

    public var tag: String { "fwtrace:\(session):\(getpid())" + (OwnerProcess.ownStart.map { ":\($0)" } ?? "") }

    public static func requireTools(_ families: Set<PacketSummary.Family>) throws {
        for family in families.sorted(by: { $0.rawValue < $1.rawValue }) where ProcessRunner.find(program(family)) == nil {
            throw UserFacingError("\(program(family)) is not installed: the legacy backend needs it (apt-get install iptables)", exitCode: ExitCode.unavailable)
        }
    }

    public func install(filters: [TraceFilter], limit: RateLimit?) throws {
        for family in [PacketSummary.Family.ip, .ip6] {
            for (chain, hook) in [("PREROUTING", Hook.prerouting), ("OUTPUT", Hook.output)] {
                let variants = filters.flatMap { $0.iptablesMatches(for: hook, family: family) ?? [] }
                for match in variants {
                    let arguments = match + (limit?.iptables ?? []) + ["-m", "comment", "--comment", tag, "-j", "TRACE"]
                    let program = Self.program(family)
                    let result = try ProcessRunner.run([program, "-w", "-t", "raw", "-I", chain, "1"] + arguments)
                    guard result.ok else {
                        remove()
                        throw UserFacingError("could not install the TRACE rule with \(program): \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))", exitCode: ExitCode.failure)
                    }
                    installed.append((program, chain, arguments))
                }
            }
        }
    }

    public var descriptions: [String] {
        installed.map { "\($0.program) -t raw -I \($0.chain) 1 \($0.arguments.joined(separator: " "))" }
    }

    /// Packets this session's TRACE rules marked so far (their counters, from `-save -c`).
    public func tracedPackets() -> UInt64? {
        var total: UInt64 = 0
        for program in Set(installed.map(\.program)) {
            guard let out = try? ProcessRunner.run([program + "-save", "-c", "-t", "raw"]), out.ok else { return nil }
            for line in out.stdout.split(separator: "\n") where line.hasPrefix("[") && line.contains("--comment \(tag) ") {
                let numbers = line.dropFirst().prefix { $0 != "]" }.split(separator: ":")
                total &+= numbers.first.flatMap { UInt64($0) } ?? 0
            }
        }
        return total
    }

    /// Deletes exactly the rules this session installed, by their full specification.
    public func remove() {
        for rule in installed.reversed() {
            _ = try? ProcessRunner.run([rule.program, "-w", "-t", "raw", "-D", rule.chain] + rule.arguments)
        }
        installed.removeAll()
    }

    /// Removes TRACE rules left by fwtrace sessions whose process no longer exists (a kill -9);
    /// returns what it removed. A rule without fwtrace's tag is never touched.
    public static func sweepOrphans() -> [String] {
        var removed: [String] = []
        for family in [PacketSummary.Family.ip, .ip6] {
            let program = program(family)
            guard ProcessRunner.find(program) != nil,
                  let listing = try? ProcessRunner.run([program, "-w", "-t", "raw", "-S"]), listing.ok else { continue }
            for line in listing.stdout.split(separator: "\n") where line.hasPrefix("-A ") {
                let words = Ruleset.splitArguments(String(line))
                guard let c = words.firstIndex(of: "--comment"), c + 1 < words.count else { continue }
                let parts = words[c + 1].split(separator: ":")
                // <start> since the PID-reuse check; tags without it are checked by PID alone.
                guard parts.count == 3 || parts.count == 4, parts[0] == "fwtrace", let pid = Int32(parts[2]) else { continue }
                let start = parts.count == 4 ? UInt64(parts[3]) : nil
                guard parts.count == 3 || start != nil else { continue }
                if OwnerProcess.isAlive(pid, start: start) { continue }   // its owner still runs
                let arguments = ["-w", "-t", "raw", "-D"] + words.dropFirst()
                if (try? ProcessRunner.run([program] + arguments))?.ok == true {
                    removed.append("\(program) -t raw \(words.joined(separator: " "))")
                }
            }
        }
        return removed
    }
}

/// Remembers, per network namespace, the logger binding fwtrace replaced, so that it can be put
/// back after a crash. /run/fwtrace/legacy-netns-<inode>.state: "pid", "start=<start time>",
/// then "<pf>=<logger>" lines and, with --ct-invalid, "ct_log_invalid=<value>".
public enum LegacyBindingState {
    static let directory = "/run/fwtrace"

    static func path() -> String {
        var st = stat()
        stat("/proc/thread-self/ns/net", &st)
        return "\(directory)/legacy-netns-\(st.st_ino).state"
    }

    public static func save(previous: [UInt8: String], conntrackLogInvalid: String? = nil) {
        mkdir(directory, 0o755)
        var text = "\(getpid())\n" + (OwnerProcess.ownStart.map { "start=\($0)\n" } ?? "") + previous.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\n") + "\n"
        if let conntrackLogInvalid { text += "ct_log_invalid=\(conntrackLogInvalid)\n" }
        let fd = open(path(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    public static func clear() { unlink(path()) }

    /// Namespace inodes that have a binding record (a live or dead session's): the daemon repairs
    /// dead ones at start, in namespaces its config may no longer name.
    public static func recordedNamespaceInodes() -> [UInt64] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.compactMap { name in
            guard name.hasPrefix("legacy-netns-"), name.hasSuffix(".state") else { return nil }
            return UInt64(name.dropFirst("legacy-netns-".count).dropLast(".state".count))
        }.sorted()
    }

    /// The live process whose session holds this namespace's binding record (this process
    /// included), if any: a second legacy session must not overwrite (and then delete) it.
    public static func liveOwner() -> Int32? {
        guard let text = try? String(contentsOfFile: path(), encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n")
        guard let pid = lines.first.flatMap({ Int32($0) }) else { return nil }
        return OwnerProcess.isAlive(pid, start: start(in: lines)) ? pid : nil
    }

    /// The owner's start time, when the record has it (older ones have the PID alone).
    static func start(in lines: [Substring]) -> UInt64? {
        lines.first { $0.hasPrefix("start=") }.flatMap { UInt64($0.dropFirst("start=".count)) }
    }

    /// Restores the bindings a dead session left in place; returns what it restored.
    public static func recoverOrphan() -> [String] {
        guard let text = try? String(contentsOfFile: path(), encoding: .utf8) else { return [] }
        let lines = text.split(separator: "\n")
        guard let pid = lines.first.flatMap({ Int32($0) }) else { clear(); return [] }
        if OwnerProcess.isAlive(pid, start: start(in: lines)) { return [] }
        var restored: [String] = []
        for line in lines.dropFirst() {
            let kv = line.split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0] == "ct_log_invalid" {
                ConntrackInvalidLog.set(String(kv[1]))
                restored.append("nf_conntrack_log_invalid restored to \(kv[1])")
                continue
            }
            guard kv.count == 2, let family = UInt8(kv[0]) else { continue }
            LoggerBinding.restore(family, to: String(kv[1]))
            restored.append("nf_log/\(family) restored to \(kv[1])")
        }
        clear()
        return restored
    }
}

/// The process named in a TRACE rule's tag or a binding record: whether it still runs.
enum OwnerProcess {
    /// kill(pid, 0) alone calls a zombie alive: an fwtrace killed with -9 whose parent has not
    /// reaped it yet, its sockets closed but its rules and binding still in place. So the state
    /// in /proc/PID/stat decides; unreadable, the process counts as alive (a live session's
    /// rules are never removed).
    ///
    /// `start` is the owner's start time as it recorded it: a process that now has its PID but
    /// started at another time is not the owner (PIDs are reused; a restarted container's daemon
    /// may even get its old PID back).
    static func isAlive(_ pid: Int32, start: UInt64? = nil) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let fields = statFields(pid), let state = fields.first else { return true }
        if state == "Z" || state == "X" { return false }
        guard let start, fields.count > 19, let now = UInt64(fields[19]) else { return true }
        return now == start
    }

    /// This process's start time (clock ticks after boot, field 22 of /proc/PID/stat).
    static let ownStart: UInt64? = statFields(getpid()).flatMap { $0.count > 19 ? UInt64($0[19]) : nil }

    /// The fields of /proc/PID/stat from the state on. The command name before them is in
    /// parentheses and may hold spaces and ')' itself: they start after the last ')'.
    static func statFields(_ pid: Int32) -> [Substring]? {
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0, let paren = bytes[..<n].lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = String(decoding: bytes[(paren + 1)..<n], as: UTF8.self).split(separator: " ")
        return fields.isEmpty ? nil : fields
    }
}
