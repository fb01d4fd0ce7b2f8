// Clock: wall-clock time for tokens and statuses.
import Glibc

enum Clock {
    static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    static func nowSeconds() -> Int64 { nowMilliseconds() / 1000 }
}
