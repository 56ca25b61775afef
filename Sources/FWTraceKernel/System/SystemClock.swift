import Glibc

/// The one place fwtrace reads a clock. `monotonic` measures waits and deadlines (it never jumps
/// with the wall clock); `now` is the wall clock that records carry (seconds since 1970).
public enum SystemClock {
    /// CLOCK_MONOTONIC in seconds.
    public static func monotonic() -> Double { read(CLOCK_MONOTONIC) }

    /// CLOCK_REALTIME in seconds since the epoch.
    public static func now() -> Double { read(CLOCK_REALTIME) }

    /// Sleeps the calling thread for `seconds` (a signal may end it early; callers loop on a deadline).
    public static func sleep(_ seconds: Double) {
        guard seconds > 0 else { return }
        usleep(UInt32(min(seconds, 4000) * 1_000_000))
    }

    private static func read(_ clock: clockid_t) -> Double {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
