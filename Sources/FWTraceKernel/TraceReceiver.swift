import Foundation
import Glibc

/// Reads the trace socket on a thread of its own and keeps what it read in memory, ahead of the
/// thread that decodes and assembles paths.
///
/// Why: under a burst the kernel sends events faster than paths can be built for a while (about
/// 400,000 events a second at 50,000 packets a second). What cannot be processed at once must
/// wait somewhere. In the kernel's queue each 130-byte trace message costs about 1,280 bytes
/// (its skb's truesize; measured: a 64 MiB SO_RCVBUFFORCE queue, which the kernel doubles to
/// 128 MiB, held about 105,000 messages). Copied out as bytes they take a tenth of that, so a
/// 32 MiB backlog here holds about 200,000 events, twice the kernel queue, for a
/// quarter of its memory. The kernel queue stays the second line: when the backlog is full this
/// thread stops reading, the kernel drops what does not fit and counts it, and the session reports
/// that count as before. Nothing already read is lost silently: the session works off the backlog
/// before it ends (unless --count was reached), for at most 0.5 s, and reports what is left.
final class TraceReceiver: @unchecked Sendable {
    /// Datagrams back to back, each with its range and the time it was received.
    final class Chunk {
        var bytes: [UInt8] = []
        var datagrams: [(range: Range<Int>, time: Double)] = []
        init(capacity: Int) { bytes.reserveCapacity(capacity); datagrams.reserveCapacity(TraceReceiver.chunkIndexCapacity) }
        func reset() { bytes.removeAll(keepingCapacity: true); datagrams.removeAll(keepingCapacity: true) }
    }

    /// What the receive thread has to say to the session, taken all at once.
    struct Taken {
        var chunks: [Chunk] = []
        /// The kernel dropped messages since the last take (seen with SO_MEMINFO): read the count.
        var dropsSeen = false
        /// ENOBUFS errors (only when NETLINK_NO_ENOBUFS could not be set).
        var overruns = 0
        /// The receive thread stopped on an error.
        var failure: Error?
        /// More chunks wait than were taken.
        var more = false
    }

    static let chunkSize = 256 << 10
    /// What a chunk costs beyond its bytes: a range and a time per datagram (24 bytes), room for
    /// 2,048 (a datagram of one trace message is about 130 bytes).
    static let chunkIndexCapacity = 2048
    static let chunkIndexSize = chunkIndexCapacity * MemoryLayout<(range: Range<Int>, time: Double)>.stride
    /// Seconds to pause after a busy drain (1 ms): at 400,000 events a second, ~400 of them.
    static let busyPause = 0.001
    /// Seconds between looks at a busy session while holding datagrams it has not been given (2 ms).
    static let handOverCheck = 0.002

    let socket: NetlinkGroupSocket
    /// Readable when something was published: the session polls it instead of the socket.
    let ready: Wakeup
    private let stopWakeup: Wakeup
    let maxChunks: Int
    private let watchDrops: Bool

    private let condition = NSCondition()
    // Guarded by `condition`:
    private var published: [Chunk] = []
    private var publishedHead = 0
    private var spare: [Chunk] = []
    private var allocated = 0
    private var stopping = false
    private var dropsSeen = false
    private var overruns = 0
    private var failure: Error?

    private var thread: WorkerThread?

    /// `backlogBytes`: at most this much read-but-unprocessed data (rounded to chunks).
    init(socket: NetlinkGroupSocket, backlogBytes: Int, watchDrops: Bool) throws {
        self.socket = socket
        self.watchDrops = watchDrops
        // The bound counts what chunks really take: their bytes and their index.
        maxChunks = max(2, backlogBytes / (Self.chunkSize + Self.chunkIndexSize))
        ready = try Wakeup()
        stopWakeup = try Wakeup()
    }

    /// Starts the thread. It is created by the caller's thread and so shares its network
    /// namespace (a daemon session has moved its own thread into the traced one).
    func start() throws {
        let thread = WorkerThread(name: "fwtrace-receive") { [self] in run() }
        try thread.start()
        self.thread = thread
    }

    /// Stops the thread and waits for it; what it had published stays to be taken.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        stopWakeup.signal()
        thread?.join(until: .infinity)
        thread = nil
    }

    deinit { if thread != nil { stop() } }

    /// Up to `maxChunks` published chunks, oldest first, and what happened since the last take.
    func take(maxChunks limit: Int) -> Taken {
        ready.drain()
        condition.lock()
        defer { condition.unlock() }
        var taken = Taken()
        let available = published.count - publishedHead
        let n = min(limit, available)
        taken.chunks = Array(published[publishedHead..<(publishedHead + n)])
        publishedHead += n
        if publishedHead == published.count { published.removeAll(keepingCapacity: true); publishedHead = 0 }
        else if publishedHead >= 64 { published.removeFirst(publishedHead); publishedHead = 0 }   // stays small under a backlog
        taken.more = publishedHead < published.count
        taken.dropsSeen = dropsSeen; dropsSeen = false
        taken.overruns = overruns; overruns = 0
        taken.failure = failure; failure = nil
        if taken.more { ready.signal() }
        return taken
    }

    /// A processed chunk goes back to be filled again.
    func recycle(_ chunk: Chunk) {
        chunk.reset()
        condition.lock()
        spare.append(chunk)
        condition.signal()
        condition.unlock()
    }

    // MARK: - The receive thread

    /// A chunk to fill: a spare one, a new one while under the bound, else waits for one to come
    /// back (the kernel queue fills meanwhile and counts what it drops). Once stopping, one more
    /// is made even over the bound: the rest of a batch already read from the kernel is kept.
    private func nextChunk() -> Chunk {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let chunk = spare.popLast() { return chunk }
            if allocated < maxChunks || stopping {
                allocated += 1
                return Chunk(capacity: Self.chunkSize)
            }
            condition.wait()
        }
    }

    /// True when the session has taken everything published: it is waiting for more.
    private var sessionIsWaiting: Bool {
        condition.lock(); defer { condition.unlock() }
        return published.count == publishedHead
    }

    private func publish(_ chunk: Chunk) {
        condition.lock()
        let wasEmpty = published.count == publishedHead
        published.append(chunk)
        condition.unlock()
        if wasEmpty { ready.signal() }
    }

    private func note(dropsSeen seen: Bool = false, overrun: Bool = false, failure error: Error? = nil) {
        condition.lock()
        if seen { dropsSeen = true }
        if overrun { overruns += 1 }
        if let error { failure = error }
        condition.unlock()
        ready.signal()
    }

    /// Drains the socket's queue into `current` (handing full chunks over): batches of datagrams
    /// until it is empty. The datagrams taken, or nil when the thread must end (stop, failure).
    private func drain(into current: inout Chunk) -> Int? {
        var drained = 0
        while true {
            var batchTime: Double?   // the receive time of the batch, read once it is in
            let batch: NetlinkGroupSocket.Batch
            do {
                batch = try socket.receiveBatch { buffer, range in
                    if current.bytes.count + range.count > Self.chunkSize, !current.datagrams.isEmpty {
                        publish(current)
                        current = nextChunk()
                    }
                    let time = batchTime ?? SystemClock.now()
                    batchTime = time
                    let start = current.bytes.count
                    buffer.withUnsafeBufferPointer { current.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: $0[range])) }
                    current.datagrams.append((start..<current.bytes.count, time))
                }
            } catch {
                note(failure: error); return nil
            }
            if case .overrun = batch { note(overrun: true) }
            else if watchDrops, socket.checkQueue() { note(dropsSeen: true) }
            condition.lock(); let stop = stopping; condition.unlock()
            if stop { return nil }
            if case .received(let n) = batch { drained += n }
            guard case .received(NetlinkGroupSocket.batchSlots) = batch else { return drained }
        }
    }

    private func run() {
        var current = nextChunk()
        // Whatever was read is handed over, also when the thread ends.
        defer { if !current.datagrams.isEmpty { publish(current) } }
        var lastWake = -Double.infinity
        var fds = PollSet()
        fds.add(socket.fd)
        fds.add(stopWakeup.fd)
        while true {
            // Holding datagrams the session has not been given (it was busy): look again soon.
            let ready: [PollSet.Events]
            do { ready = try fds.wait(timeout: current.datagrams.isEmpty ? nil : Self.handOverCheck) } catch {
                note(failure: SystemError("poll the trace socket", errno: error.errno)); return
            }
            if !ready[1].isEmpty { return }
            if ready[0].isEmpty {
                if !current.datagrams.isEmpty && sessionIsWaiting {
                    publish(current)
                    current = nextChunk()
                }
                continue
            }
            let woke = SystemClock.monotonic()
            let sinceLastWake = woke - lastWake
            lastWake = woke
            guard let drained = drain(into: &current) else { return }
            // The queue is empty: hand over what was read if the session waits for it, so that a
            // quiet stream is not held back. While it is still busy with earlier chunks, this one
            // is filled on: handing over part-filled chunks would leave most of the backlog's
            // memory empty (at 1 ms per drain, a fifth of each chunk).
            if !current.datagrams.isEmpty && sessionIsWaiting {
                publish(current)
                current = nextChunk()
            }
            // Busy (a full batch was queued, or wakeups come more than 5,000 times a second): let
            // the next datagrams gather for a moment, so that each wakeup and recvmmsg takes many
            // (waking for a few datagrams at a time cost about 20 % more CPU, taken from the
            // sender and the decoding thread). A quiet stream (a packet a millisecond or fewer)
            // still wakes at once: its latency stays low.
            if drained >= NetlinkGroupSocket.batchSlots || sinceLastWake < 0.0002 { SystemClock.sleep(Self.busyPause) }
        }
    }
}
