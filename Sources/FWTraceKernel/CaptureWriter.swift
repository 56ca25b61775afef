import Glibc
import FWTraceCore

/// `--capture FILE`: one line per netlink datagram, "<receive time> <hex bytes>", after a
/// comment header. The format the decoder's fixtures and the offline benchmark read.
final class CaptureWriter {
    private let file: UnsafeMutablePointer<FILE>

    init(path: String) throws {
        guard let file = fopen(path, "we") else {
            throw UserFacingError("cannot write the capture file \(path): \(String(cString: strerror(errno)))", exitCode: ExitCode.failure)
        }
        self.file = file
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        fputs("# fwtrace capture: netlink datagrams from NFNLGRP_NFTRACE, kernel \(release)\n", file)
    }

    func write(_ bytes: [UInt8], time: Double) {
        fputs(CaptureFormat.line(bytes, time: time), file)
        fputc(10, file)
    }

    func close() { fclose(file) }
}
