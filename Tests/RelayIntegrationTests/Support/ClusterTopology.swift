// ClusterTopology.swift: what CLUSTER SLOTS says, parsed for the harness (CLUSTER NODES:
// RelayTestSupport's ClusterNodeLine).

import Foundation

/// CLUSTER SLOTS: which primary port serves which slot range.
struct ClusterSlotMap: CustomStringConvertible {
    struct Range {
        let slots: ClosedRange<Int>
        let primaryPort: UInt16
        let replicaPorts: [UInt16]
    }

    let ranges: [Range]

    init(_ reply: RESPValue) throws {
        guard let entries = reply.array else { throw HarnessError("CLUSTER SLOTS answered \(reply)") }
        ranges = try entries.map { entry in
            guard let parts = entry.array, parts.count >= 3, let first = parts[0].integer, let last = parts[1].integer else {
                throw HarnessError("bad CLUSTER SLOTS entry: \(entry)")
            }
            let ports = try parts[2...].map { node -> UInt16 in
                guard let port = node.array?[1].integer.flatMap(UInt16.init(exactly:)) else {
                    throw HarnessError("bad CLUSTER SLOTS node: \(node)")
                }
                return port
            }
            return Range(slots: first...last, primaryPort: ports[0], replicaPorts: Array(ports.dropFirst()))
        }.sorted { $0.slots.lowerBound < $1.slots.lowerBound }
    }

    /// The primary serving `slot`, or nil when no node does.
    func owner(of slot: Int) -> UInt16? { ranges.first { $0.slots.contains(slot) }?.primaryPort }

    /// (slot range, primary) pairs: what two nodes must agree on (replica order may differ).
    var primaryAssignments: [String] { ranges.map { "\($0.slots.lowerBound)-\($0.slots.upperBound)@\($0.primaryPort)" } }

    /// Every slot is served.
    var coversAllSlots: Bool { ranges.reduce(0) { $0 + $1.slots.count } == ClusterKeySlot.count }

    var description: String {
        ranges.map { "\($0.slots.lowerBound)-\($0.slots.upperBound)→\($0.primaryPort)" }.joined(separator: " ")
    }
}
