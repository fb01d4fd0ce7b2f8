// ClusterTopology: the cluster's slot map as CLUSTER SLOTS (Redis 7.0) tells it, and the slot
// table the router looks up per command (slot → primary endpoint).
import RelayIO

/// One range of slots and the nodes serving it.
public struct ClusterShardRange: Equatable, Sendable {
    public var first: Int
    public var last: Int
    public var primary: RedisEndpoint
    /// The primary's node id (empty when the reply had none).
    public var primaryID: String
    public var replicas: [RedisEndpoint]
}

public struct ClusterTopology: Equatable, Sendable {
    public var ranges: [ClusterShardRange]

    public var primaries: [RedisEndpoint] { ranges.map(\.primary).uniqued() }
    public var replicas: [RedisEndpoint] { ranges.flatMap(\.replicas).uniqued() }

    /// Parses a CLUSTER SLOTS reply: [[first, last, [host, port, id, meta?], [replica...]...]...].
    /// An empty host, "?" or a null means "the node you asked" (`askedHost`). nil: not a slots
    /// reply (an error, or an empty map: a node that is not in a cluster yet).
    public static func parse(slots reply: RedisReply, askedHost: String) -> ClusterTopology? {
        guard let items = reply.array else { return nil }
        var ranges: [ClusterShardRange] = []
        for item in items {
            guard let fields = item.array, fields.count >= 3,
                  let first = fields[0].int, let last = fields[1].int,
                  first >= 0, first <= last, last < Int64(ClusterSlot.count),
                  let primary = node(fields[2], askedHost: askedHost) else { return nil }
            let replicas = fields.dropFirst(3).compactMap { node($0, askedHost: askedHost)?.endpoint }
            ranges.append(ClusterShardRange(first: Int(first), last: Int(last), primary: primary.endpoint,
                                            primaryID: primary.id, replicas: replicas))
        }
        guard !ranges.isEmpty else { return nil }
        return ClusterTopology(ranges: ranges.sorted { $0.first < $1.first })
    }

    private static func node(_ reply: RedisReply, askedHost: String) -> (endpoint: RedisEndpoint, id: String)? {
        guard let parts = reply.array, parts.count >= 2, let port = parts[1].int, (1...65535).contains(port) else { return nil }
        var host = parts[0].string ?? ""
        if host.isEmpty || host == "?" { host = askedHost }
        let id = parts.count > 2 ? (parts[2].string ?? "") : ""
        return (.tcp(host: host, port: Int(port)), id)
    }
}

/// Slot → primary, 16384 entries (an index into `owners`; -1: nobody known).
public struct SlotTable: Equatable, Sendable {
    private(set) var owners: [RedisEndpoint] = []
    private var slots = [Int32](repeating: -1, count: ClusterSlot.count)

    public init() {}

    public init(_ topology: ClusterTopology) {
        for range in topology.ranges {
            let index = Int32(ownerIndex(range.primary))
            for slot in range.first...range.last { slots[slot] = index }
        }
    }

    public func owner(of slot: Int) -> RedisEndpoint? {
        guard slot >= 0, slot < slots.count else { return nil }
        let index = slots[slot]
        return index < 0 ? nil : owners[Int(index)]
    }

    public mutating func setOwner(of slot: Int, to endpoint: RedisEndpoint) {
        guard slot >= 0, slot < slots.count else { return }
        slots[slot] = Int32(ownerIndex(endpoint))
    }

    /// Every endpoint that serves at least one slot.
    public var primaries: [RedisEndpoint] {
        var used = [Bool](repeating: false, count: owners.count)
        for index in slots where index >= 0 { used[Int(index)] = true }
        return owners.indices.filter { used[$0] }.map { owners[$0] }
    }

    /// Slots nobody serves (a cluster with uncovered slots, or a partial map).
    public var unassigned: Int { slots.lazy.filter { $0 < 0 }.count }

    private mutating func ownerIndex(_ endpoint: RedisEndpoint) -> Int {
        if let index = owners.firstIndex(of: endpoint) { return index }
        owners.append(endpoint)
        return owners.count - 1
    }

    /// Same owner for every slot (the owner lists may be ordered differently).
    public static func == (a: SlotTable, b: SlotTable) -> Bool {
        for slot in 0..<ClusterSlot.count where a.owner(of: slot) != b.owner(of: slot) { return false }
        return true
    }
}

extension Array where Element == RedisEndpoint {
    func uniqued() -> [RedisEndpoint] {
        var seen: [RedisEndpoint] = []
        for endpoint in self where !seen.contains(endpoint) { seen.append(endpoint) }
        return seen
    }
}
