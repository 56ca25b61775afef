import Glibc
import XCTest
import FWTraceKernel

/// FWTraceKernel's system layer against the real kernel: an owned descriptor closes its number
/// once, the one syscall wrapper carries a read through a signal, the control socket's listener
/// gets exactly its mode and refuses a path another process answers on. No namespace, no
/// firewall: files under /tmp only.
final class SystemLayerTests: XCTestCase {
    func testDescriptorClosesOnceAndNeverAnotherOwnersNumber() throws {
        let first = try FileDescriptor.open("/dev/null", O_RDONLY)
        let number = first.rawValue
        first.close()
        XCTAssertFalse(first.isOpen)
        // The kernel hands the lowest free number out again: a second close of `first` would
        // close this one, which belongs to someone else.
        let second = try FileDescriptor.open("/dev/null", O_RDONLY)
        XCTAssertEqual(second.rawValue, number)
        first.close()
        XCTAssertEqual(fcntl(second.rawValue, F_GETFD), FD_CLOEXEC, "the second close reached the other owner's descriptor")
        second.close()
        XCTAssertEqual(fcntl(number, F_GETFD), -1)
    }

    func testSystemCallRetriesAReadInterruptedBySignal() throws {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in signalsDelivered += 1 }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0   // no SA_RESTART: the kernel ends the blocked read with EINTR
        var previous = sigaction()
        XCTAssertEqual(sigaction(SIGUSR1, &action, &previous), 0)
        defer { sigaction(SIGUSR1, &previous, nil) }
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let reader = FileDescriptor(adopting: fds[0]), writer = FileDescriptor(adopting: fds[1])
        signalsDelivered = 0
        let target = pthread_self()
        let helper = WorkerThread(name: "interrupter") {
            SystemClock.sleep(0.3)
            pthread_kill(target, SIGUSR1)
            SystemClock.sleep(0.3)
            try? writer.writeAll([0x2a])
        }
        try helper.start()
        var byte: [UInt8] = [0]
        let n = try byte.withUnsafeMutableBytes { try reader.read(into: $0) }
        XCTAssertTrue(helper.join(until: SystemClock.monotonic() + 5))
        XCTAssertEqual(signalsDelivered, 1, "the signal never reached the reading thread: nothing was interrupted")
        XCTAssertEqual(n, 1)
        XCTAssertEqual(byte, [0x2a])
    }

    func testUnixListenerHasItsModeAndRefusesAPathSomeoneAnswersOn() throws {
        let directory = NSTemporaryDirectory() + "fwt-syslayer-\(UUID().uuidString)"
        let path = directory + "/control.sock"
        defer { unlink(path); rmdir(directory) }
        let listener = try UnixListener(path: path, group: getegid(), mode: 0o620)
        XCTAssertEqual(FileSystem.status(directory)?.isDirectory, true, "the missing directory is made")
        XCTAssertEqual(FileSystem.status(path).map { $0.mode & 0o777 }, 0o620)
        let client = try Socket.connectUnixStream(path)
        // Refused: its probe connects (and queues behind the client, closed at once).
        XCTAssertThrowsError(try UnixListener(path: path, group: getegid(), mode: 0o600)) { error in
            guard case UnixListener.Failure.inUse = error else { return XCTFail("\(error)") }
        }
        let accepted = try XCTUnwrap(try listener.accept())
        XCTAssertEqual(PeerCredentials.uid(of: accepted), geteuid())
        try client.writeAll(Array("ping\n".utf8))
        var buffer = [UInt8](repeating: 0, count: 16)
        let n = try buffer.withUnsafeMutableBytes { try accepted.receive(into: $0) }
        XCTAssertEqual(Array(buffer[0..<n]), Array("ping\n".utf8))
        listener.close()
        XCTAssertFalse(FileSystem.exists(path), "close removes the socket's file")
        XCTAssertThrowsError(try Socket.connectUnixStream(path)) { error in
            XCTAssertTrue((error as? SystemError)?.notFound ?? false, "\(error)")
        }
    }
}

/// Written by the SIGUSR1 handler (a C function pointer: it can reach only globals).
nonisolated(unsafe) private var signalsDelivered = 0
