import Foundation
import Glibc
import CNetfilter

// Thread primitives shared by the daemon (a thread per session and per sink) and the trace
// sessions (a receive thread ahead of the decoding one).

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
    public let descriptor: FileDescriptor
    /// For the sessions' `stopFD` and poll sets; valid as long as this Wakeup lives.
    public var fd: Int32 { descriptor.rawValue }
    public init() throws(SystemError) {
        descriptor = FileDescriptor(adopting: try systemCall("eventfd") { eventfd(0, fwt_efd_nonblock | fwt_efd_cloexec) })
    }
    /// Adds one to the counter; it cannot fail short of 2^64 - 1 signals, so errors are ignored.
    public func signal() {
        var one: UInt64 = 1
        _ = try? systemCall("eventfd write") { write(fd, &one, 8) }
    }
    /// Resets the counter; EAGAIN when it was zero already.
    public func drain() {
        var value: UInt64 = 0
        _ = try? systemCall("eventfd read") { read(fd, &value, 8) }
    }
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
            if SystemClock.monotonic() >= deadline { return false }
            SystemClock.sleep(0.01)
        }
        pthread_join(thread, nil)
        return true
    }
}
