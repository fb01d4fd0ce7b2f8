// The outbox's hash tags: one short tag per slot (see Outbox.swift and docs/cluster.md).
import RelayRedis

extension ClusterSlot {
    /// A short hash tag ("o" and a base-36 number) whose slot is `slot`: the outbox of a slot
    /// must be a key of that slot, and a session's tag ({s:<id>}) cannot be reused for it.
    /// The same everywhere: the first such number, found once for all 16,384 slots.
    public static func outboxTag(_ slot: Int) -> String { outboxTags[slot] }

    private static let outboxTags: [String] = {
        var tags = [String?](repeating: nil, count: ClusterSlot.count)
        var missing = ClusterSlot.count
        var n = 0
        while missing > 0 {
            let tag = "o" + String(n, radix: 36)
            let slot = ClusterSlot.of(tag)
            if tags[slot] == nil {
                tags[slot] = tag
                missing -= 1
            }
            n += 1
        }
        return tags.map { $0! }
    }()
}
