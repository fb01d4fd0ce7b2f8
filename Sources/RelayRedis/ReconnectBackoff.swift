// ReconnectBackoff: the delay before a RedisNode's connections are tried again:
// 50 ms doubling to 1 s, back to 50 ms once Redis has really answered. A TCP connect alone does
// not reset it: a Redis that accepts and then refuses (maxclients, LOADING) must not be hammered.
struct ReconnectBackoff {
    static let first = 0.05
    static let longest = 1.0
    private var current = ReconnectBackoff.first

    /// The delay to wait now; the next one is twice as long, up to `longest`.
    mutating func next() -> Double {
        let delay = current
        current = min(current * 2, ReconnectBackoff.longest)
        return delay
    }

    mutating func reset() { current = ReconnectBackoff.first }
}
