import Glibc

/// The running process: its id, host name and standard error.
public enum CurrentProcess {
    public static var id: Int32 { getpid() }
    public static var isRoot: Bool { geteuid() == 0 }

    public static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// One write of `line` to stderr (a log line is never interleaved with another's bytes).
    public static func writeToStandardError(_ line: String) {
        _ = Array(line.utf8).withUnsafeBytes { writeAll(2, $0) }
    }

    /// The device and inode of stderr (to tell whether it is the journal's stream).
    public static func standardErrorIdentity() -> (device: UInt64, inode: UInt64)? {
        var st = stat()
        guard fstat(2, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    /// Ends the process now, without exit(3)'s handlers: the library destructors that exit runs
    /// while another thread may still be in that library (the daemon's stop has bounded every
    /// wait, not every thread's last steps). Only for a process that writes with write(2), never
    /// through a stdio buffer (the daemon): no fflush either, whose stream locks a stuck thread
    /// may hold.
    public static func exitNow(_ code: Int32) -> Never {
        _exit(code)
    }
}
