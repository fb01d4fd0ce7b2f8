// RedisClients.swift: the launchers of RelayTestSupport (RedisServer, RedisCluster) with this
// target's RESP client: connections, the slot map (CLUSTER SLOTS) and moving slots.

import Foundation

extension RedisServer {
    /// A new connection to this server.
    func client(timeout: TimeInterval = 5) throws -> RedisClient {
        try RedisClient(port: port, timeout: timeout)
    }
}

extension RedisCluster {
    /// A cluster client (follows MOVED/ASK; `keys` asks every primary) seeded with the live nodes.
    func client(timeout: TimeInterval = 5) throws -> RedisClient {
        try RedisClient(host: host, clusterPorts: livePorts, timeout: timeout)
    }

    /// A plain connection to one node (no redirects).
    func nodeClient(port: UInt16, timeout: TimeInterval = 5) throws -> RedisClient {
        try RedisClient(host: host, port: port, timeout: timeout)
    }

    /// The slot map (CLUSTER SLOTS) as the first live node that answers sees it.
    func slotMap() throws -> ClusterSlotMap {
        var failures: [String] = []
        for port in livePorts {
            do {
                let client = try nodeClient(port: port, timeout: 2)
                defer { client.close() }
                return try ClusterSlotMap(try client.checked("CLUSTER", "SLOTS"))
            } catch {
                failures.append("\(port): \(error)")
            }
        }
        throw HarnessError("no live cluster node answered: \(failures.joined(separator: "; "))")
    }

    /// The port of the primary serving `slot`.
    func owner(ofSlot slot: Int) throws -> UInt16 {
        let map = try slotMap()
        guard let port = map.owner(of: slot) else { throw HarnessError("no node serves slot \(slot): \(map)") }
        return port
    }

    /// The port of the primary serving session `id`'s keys (hash tag `s:<id>`).
    func owner(ofSession id: String) throws -> UInt16 { try owner(ofSlot: ClusterKeySlot.ofSession(id)) }

    /// Moves `slot` (and its keys) to the primary on `port`, the way `redis-cli --cluster
    /// reshard` does, then waits until every live node routes it there. Keys are written
    /// meanwhile: the source answers ASK for keys already moved, TRYAGAIN for a multi-key
    /// command whose keys are split.
    func moveSlot(_ slot: Int, to port: UInt16, batch: Int = 100, timeout: TimeInterval = 30) throws {
        let deadline = Deadline.after(timeout)
        let nodesNow = try topology()
        let sourcePort = try owner(ofSlot: slot)
        if sourcePort == port { return }
        guard let target = nodesNow.first(where: { $0.port == port && $0.isPrimary && !$0.isFailing }) else {
            throw HarnessError("port \(port) is not a live primary: \(nodesNow)")
        }
        guard let source = nodesNow.first(where: { $0.port == sourcePort }) else {
            throw HarnessError("the owner of slot \(slot), \(sourcePort), is not in CLUSTER NODES")
        }
        let sourceClient = try nodeClient(port: sourcePort, timeout: 10)
        let targetClient = try nodeClient(port: port, timeout: 10)
        defer { sourceClient.close(); targetClient.close() }
        let slotText = String(slot)
        try targetClient.checked("CLUSTER", "SETSLOT", slotText, "IMPORTING", source.id)
        try sourceClient.checked("CLUSTER", "SETSLOT", slotText, "MIGRATING", target.id)
        var moved = 0
        while true {
            let keys = try sourceClient.checked("CLUSTER", "GETKEYSINSLOT", slotText, String(batch)).array?.compactMap(\.string) ?? []
            if keys.isEmpty { break }
            if deadline.hasPassed { throw HarnessError("slot \(slot): still migrating keys after \(timeout) s (\(moved) moved)") }
            try sourceClient.checked(["MIGRATE", host, String(port), "", "0", "5000", "KEYS"] + keys)
            moved += keys.count
        }
        // The target first, then the source, then everyone else (redis-cli's order), so the
        // source never redirects to a target that does not yet know it owns the slot.
        let others = nodesNow.filter { $0.isPrimary && !$0.isFailing && $0.port != port && $0.port != sourcePort }.map(\.port)
        for nodePort in [port, sourcePort] + others {
            let client = nodePort == port ? targetClient : nodePort == sourcePort ? sourceClient : try nodeClient(port: nodePort)
            try client.checked("CLUSTER", "SETSLOT", slotText, "NODE", target.id)
        }
        try waitUntil(timeout: deadline.remainingSeconds(), interval: 0.05, "every live node to route slot \(slot) to \(port)") {
            livePorts.allSatisfy { nodePort in
                guard let client = try? nodeClient(port: nodePort, timeout: 2) else { return false }
                defer { client.close() }
                return (try? ClusterSlotMap(client.checked("CLUSTER", "SLOTS")).owner(of: slot)) == port
            }
        }
    }

    /// `moveSlot` for each of `slots`.
    func moveSlots(_ slots: [Int], to port: UInt16, timeout: TimeInterval = 60) throws {
        let deadline = Deadline.after(timeout)
        for slot in slots { try moveSlot(slot, to: port, timeout: deadline.remainingSeconds()) }
    }
}
