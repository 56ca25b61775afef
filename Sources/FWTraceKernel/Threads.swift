import Foundation
import Glibc
import CNetfilter

// Thread primitives shared by the daemon (a thread per session and per sink) and the trace
// sessions (a receive thread ahead of the decoding one).

/// CLOCK_MONOTONIC in seconds.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// A poll(2) timeout in milliseconds for a wait in seconds: rounded up (the wait never ends
/// before it is due) and clamped to what poll takes (Int32(seconds * 1000) of a long wait trapped).
public func pollTimeout(_ seconds: Double) -> Int32 {
    guard seconds > 0 else { return 0 }   // NaN too
    let milliseconds = (seconds * 1000).rounded(.up)
    return milliseconds >= Double(Int32.max) ? Int32.max : Int32(milliseconds)
}

/// A value behind a lock: fwtrace's threads share little, and what they share goes through this.
public final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    public init(_ value: Value) { self.value = value }
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock(); defer { lock.unlock() }
        return try body(&value)
    }
    public var current: Value { withLock { $0 } }
}

/// A readable descriptor that one thread sets to wake another's poll (eventfd).
public final class Wakeup: @unchecked Sendable {
    public let fd: Int32
    public init() throws {
        fd = eventfd(0, fwt_efd_nonblock | fwt_efd_cloexec)
        guard fd >= 0 else { throw SystemError("eventfd") }
    }
    public func signal() { var one: UInt64 = 1; _ = write(fd, &one, 8) }
    public func drain() { var value: UInt64 = 0; _ = read(fd, &value, 8) }
    deinit { close(fd) }
}


/// A thread of our own (pthread), joinable with a deadline. Sessions need a thread each: a thread
/// enters a network namespace with setns, which moves only the calling thread.
public final class WorkerThread: @unchecked Sendable {
    /// Released once it has run: the body usually captures the object that owns this thread,
    /// and keeping it would make a cycle (and leak that object's descriptors).
    private var body: (@Sendable () -> Void)?
    private var thread = pthread_t()
    private let finished = Locked(false)
    private let started = Locked(false)
    public let name: String

    public init(name: String, _ body: @escaping @Sendable () -> Void) {
        self.name = name; self.body = body
    }

    public func start() throws {
        let box = Unmanaged.passRetained(self)
        let rc = pthread_create(&thread, nil, { raw in
            let worker = Unmanaged<WorkerThread>.fromOpaque(raw!).takeRetainedValue()
            worker.body?()
            worker.body = nil
            worker.finished.withLock { $0 = true }
            return nil
        }, box.toOpaque())
        if rc != 0 { box.release(); throw SystemError("pthread_create", errno: rc) }
        started.withLock { $0 = true }
    }

    public var isFinished: Bool { finished.current }
    /// Never started, or started and done: nothing runs on it.
    public var isIdle: Bool { !started.current || finished.current }

    /// Waits until the thread ends or the deadline (monotonic seconds) passes; true if it ended.
    @discardableResult
    public func join(until deadline: Double) -> Bool {
        guard started.current else { return true }
        while !isFinished {
            if monotonicSeconds() >= deadline { return false }
            usleep(10_000)
        }
        pthread_join(thread, nil)
        return true
    }
}
