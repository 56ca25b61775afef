import Foundation
import FWTraceKernel

/// A bounded FIFO between a producer that must never block (a trace session) and a consumer that
/// may be slow (a sink, a client): when full, the oldest item goes and is counted.
public final class BoundedQueue<Element: Sendable>: @unchecked Sendable {
    public let capacity: Int
    private var items: [Element?]
    private var head = 0
    private var count = 0
    private var dropped: UInt64 = 0
    private let lock = NSLock()
    public let wakeup: Wakeup

    public init(capacity: Int) throws {
        self.capacity = max(1, capacity)
        items = Array(repeating: nil, count: self.capacity)
        wakeup = try Wakeup()
    }

    public func push(_ item: Element) {
        lock.lock()
        // The consumer takes everything at once: it needs waking only when the queue was empty.
        let wasEmpty = count == 0
        if count == capacity {
            items[head] = nil
            head = (head + 1) % capacity
            count -= 1
            dropped += 1
        }
        items[(head + count) % capacity] = item
        count += 1
        lock.unlock()
        if wasEmpty { wakeup.signal() }
    }

    /// Everything queued, oldest first, and how many were dropped since the last take.
    public func takeAll() -> (items: [Element], dropped: UInt64) {
        wakeup.drain()
        lock.lock(); defer { lock.unlock() }
        var out: [Element] = []
        out.reserveCapacity(count)
        for i in 0..<count { out.append(items[(head + i) % capacity]!); items[(head + i) % capacity] = nil }
        head = 0; count = 0
        let d = dropped; dropped = 0
        return (out, d)
    }

    /// How many were dropped since the last take (the items stay).
    public func takeDropped() -> UInt64 {
        lock.lock(); defer { lock.unlock() }
        let d = dropped; dropped = 0
        return d
    }

    public var isEmpty: Bool { lock.lock(); defer { lock.unlock() }; return count == 0 }
    /// Items waiting now.
    public var depth: Int { lock.lock(); defer { lock.unlock() }; return count }
}
