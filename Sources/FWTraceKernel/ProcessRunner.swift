import Glibc
import CNetfilter

/// Runs a program with an argument array (never a shell) from the calling thread, so the child
/// starts in the network namespace that thread is in. Signals fwtrace blocks are unblocked in
/// the child.
public enum ProcessRunner {
    public struct Output: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        public var ok: Bool { status == 0 }
    }

    static let searchPath = ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"]

    public static func find(_ program: String) -> String? {
        if program.hasPrefix("/") { return access(program, X_OK) == 0 ? program : nil }
        for dir in searchPath where access("\(dir)/\(program)", X_OK) == 0 { return "\(dir)/\(program)" }
        return nil
    }

    public static func run(_ arguments: [String], stdin: String? = nil) throws -> Output {
        guard let program = arguments.first, let path = find(program) else {
            throw SystemError("run \(arguments.first ?? "")", errno: ENOENT)
        }
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0], inPipe: [Int32] = [0, 0]
        try systemCall("pipe") { pipe2(&outPipe, O_CLOEXEC) }
        try systemCall("pipe") { pipe2(&errPipe, O_CLOEXEC) }
        try systemCall("pipe") { pipe2(&inPipe, O_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        let environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"]
        let spawnResult = spawn(path, arguments, actions: &actions, environment: environment)
        close(outPipe[1]); close(errPipe[1]); close(inPipe[0])
        guard case .success(let pid) = spawnResult else {
            close(outPipe[0]); close(errPipe[0]); close(inPipe[1])
            if case .failure(let error) = spawnResult { throw error }
            return Output(status: 127, stdout: "", stderr: "")
        }
        if let stdin {
            // A child that exits without reading all of it breaks the pipe: the rest is dropped.
            _ = writeAll(inPipe[1], Array(stdin.utf8))
        }
        close(inPipe[1])
        let (out, err) = readBoth(outPipe[0], errPipe[0])
        close(outPipe[0]); close(errPipe[0])
        var status: Int32 = 0
        _ = try? systemCall("waitpid") { waitpid(pid, &status, 0) }
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Output(status: code, stdout: out, stderr: err)
    }

    /// posix_spawn with the argument array (never a shell), from the calling thread (so the child
    /// starts in that thread's network namespace), with the signals fwtrace blocks or ignores
    /// back to their defaults in the child. `environment` nil keeps fwtrace's own.
    static func spawn(_ path: String, _ arguments: [String], actions: inout posix_spawn_file_actions_t,
                      environment: [String]?) -> Result<pid_t, SystemError> {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup($0) } + [nil] }
        defer { for p in envp ?? [] { free(p) } }
        var pid: pid_t = 0
        let result = envp == nil ? posix_spawn(&pid, path, &actions, &attributes, argv, environ)
                                 : posix_spawn(&pid, path, &actions, &attributes, argv, envp!)
        return result == 0 ? .success(pid) : .failure(SystemError("spawn \(path)", errno: result))
    }

    /// Reads both pipes to their end without letting either fill up.
    static func readBoth(_ a: Int32, _ b: Int32) -> (String, String) {
        var outputs: [[UInt8]] = [[], []]
        var fds = [a, b]   // -1 once at its end (poll skips negative descriptors)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while fds.contains(where: { $0 >= 0 }) {
            var set = PollSet()
            for fd in fds { set.add(fd) }
            guard let ready = try? set.wait(timeout: nil) else { break }
            for i in 0..<2 where fds[i] >= 0 && !ready[i].isEmpty {
                let fd = fds[i]
                let n = (try? buffer.withUnsafeMutableBytes { (raw) throws(SystemError) in try systemCall("read") { read(fd, raw.baseAddress, raw.count) } }) ?? 0
                if n > 0 { outputs[i] += buffer[0..<n] } else { fds[i] = -1 }
            }
        }
        return (String(decoding: outputs[0], as: UTF8.self), String(decoding: outputs[1], as: UTF8.self))
    }
}
