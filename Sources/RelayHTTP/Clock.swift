// Clock: wall-clock time for tokens and statuses.
import Glibc

enum Clock {
    static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    static func nowSeconds() -> Int64 { nowMilliseconds() / 1000 }

    /// Monotonic seconds from the coarse clock (a few ms resolution, a few ns to read).
    static func monotonicCoarse() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
