// ClusterNodeLine.swift: one line of CLUSTER NODES, parsed for the cluster launcher and tests.

import Foundation

public struct ClusterNodeLine: CustomStringConvertible {
    public let id: String
    public let host: String
    public let port: UInt16
    public let flags: Set<String>
    /// The primary's id for a replica; nil for a primary.
    public let primaryId: String?
    public let linkConnected: Bool
    /// Slot ranges served (importing/migrating markers are left out).
    public let slots: [ClosedRange<Int>]

    public var isPrimary: Bool { flags.contains("master") }
    public var isReplica: Bool { flags.contains("slave") }
    /// Flagged failed, or suspected to be, by the node that answered.
    public var isFailing: Bool { flags.contains("fail") || flags.contains("fail?") || flags.contains("noaddr") }
    public var isMyself: Bool { flags.contains("myself") }
    public var slotCount: Int { slots.reduce(0) { $0 + $1.count } }

    public var description: String {
        "\(host):\(port) \(flags.sorted().joined(separator: ",")) \(slots.map { "\($0.lowerBound)-\($0.upperBound)" })"
    }

    /// Parses CLUSTER NODES output (`<id> <ip:port@cport[,hostname]> <flags> <primary> <ping-sent>
    /// <pong-recv> <config-epoch> <link-state> <slot> <slot> ...`).
    public static func parse(_ text: String) throws -> [ClusterNodeLine] {
        try text.split(whereSeparator: \.isNewline).map { line in
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
