// SequenceTracker: gaps and duplicates on one subscription, by the publisher's per-channel
// sequence number. The first number seen sets the start (a subscriber may join mid-stream);
// after it every number must be the previous one plus one.

public struct SequenceTracker: Sendable {
    public private(set) var last: UInt64?
    /// Numbers skipped (sum of the holes).
    public private(set) var missing: UInt64 = 0
    /// Numbers seen again or out of order (not above the last one).
    public private(set) var duplicates: UInt64 = 0
    public private(set) var received: UInt64 = 0

    public init(startAfter: UInt64? = nil) { last = startAfter }

    public mutating func observe(_ n: UInt64) {
        received += 1
        guard let previous = last else { last = n; return }
        if n == previous + 1 {
            last = n
        } else if n > previous + 1 {
            missing += n - previous - 1
            last = n
        } else {
            duplicates += 1
        }
    }
}
