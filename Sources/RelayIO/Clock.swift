// Clock: every reading of time in the relay, the worker and the load tester. Wall-clock time
// for tokens, statuses and latency stamps; monotonic time for deadlines and durations.
internal import CRelayShims

public enum Clock {
    /// Wall-clock milliseconds since the epoch.
    public static func nowMilliseconds() -> Int64 { Int64(relay_realtime_ns()) / 1_000_000 }

    /// Wall-clock seconds since the epoch.
    public static func nowSeconds() -> Int64 { nowMilliseconds() / 1000 }

    /// Wall-clock microseconds since the epoch (latency stamps).
    public static func nowMicroseconds() -> UInt64 { UInt64(relay_realtime_ns()) / 1000 }

    /// Monotonic seconds, for durations and deadlines.
    public static func monotonicSeconds() -> Double { Double(monotonicNanoseconds()) / 1e9 }

    /// Monotonic nanoseconds.
    public static func monotonicNanoseconds() -> Int64 { Int64(relay_monotonic_ns()) }

    /// Monotonic seconds from the coarse clock (a few ms resolution, a few ns to read): for
    /// checks on the fan-out path.
    public static func monotonicCoarse() -> Double { Double(relay_monotonic_coarse_ns()) / 1e9 }
}
