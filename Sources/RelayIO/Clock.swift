// Clock: every reading of time in the relay, the worker and the load tester. Wall-clock time
// for tokens, statuses and latency stamps; monotonic time for deadlines and durations.
import Glibc

public enum Clock {
    /// Wall-clock milliseconds since the epoch.
    public static func nowMilliseconds() -> Int64 { Int64(realtime() / 1_000_000) }

    /// Wall-clock seconds since the epoch.
    public static func nowSeconds() -> Int64 { nowMilliseconds() / 1000 }

    /// Wall-clock microseconds since the epoch (latency stamps).
    public static func nowMicroseconds() -> UInt64 { realtime() / 1000 }

    /// Monotonic seconds, for durations and deadlines.
    public static func monotonicSeconds() -> Double { Double(monotonicNanoseconds()) / 1e9 }

    /// Monotonic nanoseconds.
    public static func monotonicNanoseconds() -> Int64 { read(CLOCK_MONOTONIC) }

    /// Monotonic seconds from the coarse clock (a few ms resolution, a few ns to read): for
    /// checks on the fan-out path.
    public static func monotonicCoarse() -> Double { Double(read(CLOCK_MONOTONIC_COARSE)) / 1e9 }

    private static func realtime() -> UInt64 { UInt64(read(CLOCK_REALTIME)) }

    private static func read(_ clock: clockid_t) -> Int64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
