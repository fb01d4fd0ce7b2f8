// SequenceTracker: gaps and duplicates on one subscription, by the publisher's per-channel
// sequence numbers (1, 2, 3, ...). Publishers may send a channel's records over several
// connections at once, so arrival order is not checked here (the relay's own tests check
// order by SSE id); what counts is that every number arrives exactly once:
// `missing` = numbers up to the highest seen that never arrived, `duplicates` = repeats.

public struct SequenceTracker: Sendable {
    private let first: UInt64
    private var seen: [UInt64] = []   // bit i: number first + i arrived
    public private(set) var received: UInt64 = 0
    public private(set) var distinct: UInt64 = 0
    public private(set) var duplicates: UInt64 = 0
    /// Numbers below `first` (sent before this subscriber could see them).
    public private(set) var early: UInt64 = 0
    public private(set) var highest: UInt64?

    /// `first`: the number the subscriber is expected to see first (1 for a fresh channel).
    public init(first: UInt64 = 1) { self.first = first }

    public var missing: UInt64 {
        guard let highest else { return 0 }
        return highest - first + 1 - distinct
    }

    public mutating func observe(_ n: UInt64) {
        received += 1
        guard n >= first else { early += 1; return }
        let offset = Int(n - first)
        let word = offset >> 6, bit = UInt64(1) << UInt64(offset & 63)
        if word >= seen.count { seen.append(contentsOf: repeatElement(0, count: word - seen.count + 1)) }
        if seen[word] & bit != 0 {
            duplicates += 1
        } else {
            seen[word] |= bit
            distinct += 1
            highest = max(highest ?? n, n)
        }
    }
}
