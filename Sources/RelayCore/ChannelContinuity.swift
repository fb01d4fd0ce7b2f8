// ChannelContinuity: what a reader of a channel must be told between the last entry it has and
// the next one it reads (docs/API.md, History guarantees). Seqs are strictly increasing but not
// contiguous: a loss marker names the last seq kept before it, not `seq - 1`. Pure decisions,
// shared by SSE catch-up, the live fan-out and drains.

public enum ChannelContinuity {
    /// What a live reader at `delivered` does with an entry whose channel predecessor is `previous`.
    public enum Offer: Equatable {
        /// The next entry: write it.
        case take
        /// Already written.
        case skip
        /// Something lies between (a record this reader has not seen, or trimmed ones): read the log.
        case readLog
    }

    public static func offer(delivered: UInt64, seq: UInt64, previous: UInt64) -> Offer {
        if seq <= delivered { return .skip }
        return previous <= delivered ? .take : .readLog
    }

    /// Records trimmed away between a reader's position and the next entry it read: the gap
    /// notice's `(requested, firstAvailable)`, or nil. `positioned`: the reader asked for a
    /// position (Last-Event-ID, afterEventId) or has been given records; one reading from the
    /// start of the retained window has nothing to be told.
    public static func trimmed(delivered: UInt64, positioned: Bool, seq: UInt64, previous: UInt64)
        -> (requested: UInt64, firstAvailable: UInt64)? {
        guard positioned, previous > delivered, seq > delivered else { return nil }
        return (delivered, seq)
    }

    /// A position past the channel's end (`last`: its last seq, visible or not) comes from a
    /// history that was lost: the lost range `(after, before)`, exclusive, or nil.
    public static func pastEnd(position: UInt64, last: UInt64) -> (after: UInt64, before: UInt64)? {
        guard position > last else { return nil }
        return (last, position == UInt64.max ? position : position + 1)
    }
}
