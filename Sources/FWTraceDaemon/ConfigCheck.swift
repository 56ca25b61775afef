import Foundation
import FWTraceKernel

extension DaemonConfig {
    /// What the file alone does not show but the start depends on, for `daemon --check`: the
    /// control socket's group and directory, each file sink's directory, each watch's namespace.
    /// Each problem names the line of its key (the table's line when the key has its default) and
    /// the fix. Writability is judged as root judges it; run as another user, only existence is.
    public func startProblems(file: String) -> [ConfigError] {
        var problems: [ConfigError] = []
        func problem(_ key: String, _ message: String) {
            problems.append(ConfigError(file: file, line: keyLines[key] ?? 0, message: message))
        }
        let root = CurrentProcess.isRoot

        let group = settings.socketGroup
        if PeerCredentials.groupID(named: group) == nil {
            problem("daemon.socket_group", "socket_group: group '\(group)' does not exist: create it (systemd-sysusers fwtrace.conf, or groupadd --system \(group)) or set socket_group to an existing group")
        }
        let socket = settings.socketPath
        if socket.utf8.count > 107 {
            problem("daemon.socket", "socket: \(socket) is too long for a unix socket (at most 107 bytes): choose a shorter path")
        }
        let socketDirectory = (socket as NSString).deletingLastPathComponent
        if !Self.isDirectory(socketDirectory) && !Self.isDirectory((socketDirectory as NSString).deletingLastPathComponent) {
            problem("daemon.socket", "socket: neither \(socketDirectory) nor its parent exists (the daemon makes only the last directory): create \((socketDirectory as NSString).deletingLastPathComponent) or choose another path")
        }

        for sink in sinks where sink.kind == .file {
            let key = "sink.\(sink.name).path"
            let path = sink.target
            let directory = (path as NSString).deletingLastPathComponent
            if let status = FileSystem.status(path) {
                if status.isDirectory {
                    problem(key, "sink '\(sink.name)': path \(path) is a directory: name a file in it, like \(path)/paths.jsonl")
                } else if root, let denied = FileSystem.writable(path) {
                    problem(key, "sink '\(sink.name)': \(path) cannot be written (\(denied.reason)): make it writable or choose another path")
                }
                continue
            }
            guard Self.isDirectory(directory) else {
                if FileSystem.exists(directory) {
                    problem(key, "sink '\(sink.name)': \(directory) is not a directory, so \(path) cannot be created: choose another path")
                } else if !Self.unitMakes(directory) {
                    problem(key, "sink '\(sink.name)': directory \(directory) does not exist, so \(path) cannot be created: create it (install -d -m 0750 -g \(group) \(directory)) or choose another path")
                }
                continue
            }
            if root, let denied = FileSystem.writable(directory, directory: true) {
                problem(key, "sink '\(sink.name)': cannot create \(path): \(directory) is not writable (\(denied.reason)): choose a writable directory")
            }
        }

        for watch in watches {
            guard let netns = watch.netns else { continue }
            do { _ = try NetworkNamespace.resolve(netns) } catch let error as UserFacingError {
                let fix = netns.hasPrefix("/") || netns.allSatisfy({ $0.isASCII && $0.isNumber }) ? "name an existing namespace" : "create it (ip netns add \(netns)) or name an existing one"
                problem("watch.\(watch.name).netns", "watch '\(watch.name)': \(error.message): \(fix); the daemon would retry this watch every 10 s")
            } catch {
                problem("watch.\(watch.name).netns", "watch '\(watch.name)': \(error)")
            }
        }
        return problems
    }

    static func isDirectory(_ path: String) -> Bool {
        FileSystem.status(path)?.isDirectory ?? false
    }

    /// /var/log/fwtrace is made at every start by an installed fwtrace.service (LogsDirectory=).
    static func unitMakes(_ directory: String) -> Bool {
        guard directory == "/var/log/fwtrace" else { return false }
        for unit in ["/etc/systemd/system/fwtrace.service", "/usr/lib/systemd/system/fwtrace.service", "/lib/systemd/system/fwtrace.service"] {
            if let text = try? String(contentsOfFile: unit, encoding: .utf8),
               text.split(separator: "\n").contains(where: { $0.trimmingCharacters(in: .whitespaces) == "LogsDirectory=fwtrace" }) {
                return true
            }
        }
        return false
    }
}
