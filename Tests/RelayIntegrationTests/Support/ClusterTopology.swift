// ClusterTopology.swift: what CLUSTER NODES and CLUSTER SLOTS say, parsed for the harness.

import Foundation

/// One line of CLUSTER NODES.
struct ClusterNodeLine: CustomStringConvertible {
    let id: String
    let host: String
    let port: UInt16
    let flags: Set<String>
    /// The primary's id for a replica; nil for a primary.
    let primaryId: String?
    let linkConnected: Bool
    /// Slot ranges served (importing/migrating markers are left out).
    let slots: [ClosedRange<Int>]

    var isPrimary: Bool { flags.contains("master") }
    var isReplica: Bool { flags.contains("slave") }
    /// Flagged failed, or suspected to be, by the node that answered.
    var isFailing: Bool { flags.contains("fail") || flags.contains("fail?") || flags.contains("noaddr") }
    var isMyself: Bool { flags.contains("myself") }
    var slotCount: Int { slots.reduce(0) { $0 + $1.count } }

    var description: String {
        "\(host):\(port) \(flags.sorted().joined(separator: ",")) \(slots.map { "\($0.lowerBound)-\($0.upperBound)" })"
    }

    /// Parses CLUSTER NODES output (`<id> <ip:port@cport[,hostname]> <flags> <primary> <ping-sent>
    /// <pong-recv> <config-epoch> <link-state> <slot> <slot> ...`).
    static func parse(_ text: String) throws -> [ClusterNodeLine] {
        try text.split(separator: "\n").map { line in
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count >= 8 else { throw HarnessError("bad CLUSTER NODES line: \(line)") }
            let address = fields[1].split(separator: "@").first.map(String.init) ?? ""
            guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
                throw HarnessError("bad address in CLUSTER NODES line: \(line)")
            }
            let slots: [ClosedRange<Int>] = fields.dropFirst(8).compactMap { field in
                if field.hasPrefix("[") { return nil }
                let bounds = field.split(separator: "-").compactMap { Int($0) }
                switch bounds.count {
                case 1: return bounds[0]...bounds[0]
                case 2: return bounds[0]...bounds[1]
                default: return nil
                }
            }
            return ClusterNodeLine(id: fields[0], host: String(address[..<colon]), port: port,
                                   flags: Set(fields[2].split(separator: ",").map(String.init)),
                                   primaryId: fields[3] == "-" ? nil : fields[3],
                                   linkConnected: fields[7] == "connected", slots: slots)
        }
    }
}

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
