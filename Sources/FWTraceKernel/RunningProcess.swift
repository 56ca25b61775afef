import Glibc
import CNetfilter

/// A child process whose stdout is read line by line (for `demo` and the tests that drive
/// fwtrace itself). Started with an argument array, never a shell.
public final class RunningProcess {
    public let pid: pid_t
    private let stdoutFD: Int32
    private var pending: [UInt8] = []
    private var finished = false
    public private(set) var exitStatus: Int32?

    public init(_ arguments: [String], inheritStderr: Bool = true, mergeStderr: Bool = false) throws {
        guard let path = ProcessRunner.find(arguments[0]) else { throw SystemError("run \(arguments[0])", errno: ENOENT) }
        var outPipe: [Int32] = [0, 0]
        try systemCall("pipe") { pipe2(&outPipe, O_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        if mergeStderr { posix_spawn_file_actions_adddup2(&actions, outPipe[1], 2) }
        else if !inheritStderr { posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0) }
        let result = ProcessRunner.spawn(path, arguments, actions: &actions, environment: nil)
        close(outPipe[1])
        guard case .success(let pid) = result else {
            close(outPipe[0])
            if case .failure(let error) = result { throw error }
            throw SystemError("spawn \(path)", errno: EINVAL)
        }
        self.pid = pid
        self.stdoutFD = outPipe[0]
    }

    /// The next line of stdout, nil at end of output or when `timeout` seconds pass.
    public func readLine(timeout: Double) -> String? {
        let deadline = Self.monotonic() + timeout
        while true {
            if let newline = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[0..<newline], as: UTF8.self)
                pending.removeSubrange(0...newline)
                return line
            }
            if finished { return nil }
            let remaining = deadline - Self.monotonic()
            if remaining <= 0 { return nil }
            var set = PollSet()
            set.add(stdoutFD)
            guard let ready = try? set.wait(timeout: remaining), !ready[0].isEmpty else { continue }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let fd = stdoutFD
            let n = (try? buffer.withUnsafeMutableBytes { (raw) throws(SystemError) in try systemCall("read") { read(fd, raw.baseAddress, raw.count) } }) ?? 0
            if n > 0 { pending += buffer[0..<n] } else {
                finished = true
                if !pending.isEmpty { let line = String(decoding: pending, as: UTF8.self); pending = []; return line }
            }
        }
    }

    public func signal(_ signal: Int32) { kill(pid, signal) }

    /// Waits for the child (up to `timeout` seconds, then SIGKILL) and returns its exit code.
    @discardableResult
    public func wait(timeout: Double = 30) -> Int32 {
        if let exitStatus { return exitStatus }
        let deadline = Self.monotonic() + timeout
        var status: Int32 = 0
        while true {
            let pid = self.pid
            guard let r = try? systemCall("waitpid", { waitpid(pid, &status, WNOHANG) }) else { status = 0; break }
            if r == pid { break }
            if Self.monotonic() > deadline { kill(pid, SIGKILL) }
            SystemClock.sleep(0.01)
        }
        close(stdoutFD)
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        exitStatus = code
        return code
    }

    static func monotonic() -> Double { SystemClock.monotonic() }
}
