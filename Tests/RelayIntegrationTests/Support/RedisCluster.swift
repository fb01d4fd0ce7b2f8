// RedisCluster.swift: a real Redis Cluster for the tests: 2N `redis-server --cluster-enabled yes`
// children on free 127.0.0.1 ports (and free cluster-bus ports: port + 10000 may not exist), in
// one temporary directory, joined with `redis-cli --cluster create ... --cluster-replicas 1`
// as scripts/dev-cluster does. `start` returns once every node says cluster_state:ok, agrees on
// the slot map, knows every replica, every replica's link to its primary is up, and a write
// succeeds. Nothing is persisted but nodes.conf (so a killed node can rejoin).
//
// Chaos for the failover and resharding tests: `kill(port:)` (SIGKILL), `stop(port:)` (SIGSTOP:
// the node hangs, its kernel keeps connections up) and `cont(port:)`, `waitForFailover(of:)`,
// `resume(port:)` (SIGCONT, no wait), `replicaPorts(of:)`,
// `revive(port:)` (the node rejoins, as a replica), `moveSlot(_:to:)` (CLUSTER SETSLOT
// IMPORTING/MIGRATING, MIGRATE in batches, SETSLOT NODE on every primary).
// The nodes are ChildProcesses (they die with the thread that started them): call `start` and
// `revive` from the test's own thread.

import Foundation

final class RedisCluster {
    final class Node {
        let port: UInt16
        let busPort: UInt16
        let directory: URL
        fileprivate var child: ChildProcess?
        /// SIGSTOPped: left out of `livePorts` (it would not answer) until `cont`.
        fileprivate var isStopped = false

        init(port: UInt16, busPort: UInt16, directory: URL) {
            self.port = port
            self.busPort = busPort
            self.directory = directory
        }

        var isRunning: Bool { child?.isRunning ?? false }
        var address: String { "127.0.0.1:\(port)" }
        func logTail() -> String { child?.logTail(maxBytes: 2_048) ?? "(not running)" }
    }

    let host = "127.0.0.1"
    let primaryCount: Int
    let nodeTimeoutMilliseconds: Int
    let directory: URL
    let nodes: [Node]
    /// Slot ranges of primaries as they were just before `kill`, for `waitForFailover`.
    private var slotsAtKill: [UInt16: [ClosedRange<Int>]] = [:]

    /// Every node's port, in start order (the first `primaryCount` are the initial primaries).
    var ports: [UInt16] { nodes.map(\.port) }
    var livePorts: [UInt16] { nodes.filter { $0.isRunning && !$0.isStopped }.map(\.port) }

    /// The relay's URL: every node as a seed (any one that answers will do).
    var url: String { "redis-cluster://" + ports.map { "\(host):\($0)" }.joined(separator: ",") }

    init(primaries: Int = 3, nodeTimeoutMilliseconds: Int = 2000) throws {
        primaryCount = primaries
        self.nodeTimeoutMilliseconds = nodeTimeoutMilliseconds
        directory = try makeTemporaryDirectory(prefix: "relay-it-cluster")
        var taken: Set<UInt16> = []
        var nodes: [Node] = []
        for _ in 0..<(2 * primaries) {
            let port = try Self.freePort(excluding: &taken)
            let busPort = try Self.freePort(excluding: &taken)
            let nodeDirectory = directory.appendingPathComponent(String(port))
            try FileManager.default.createDirectory(at: nodeDirectory, withIntermediateDirectories: true)
            nodes.append(Node(port: port, busPort: busPort, directory: nodeDirectory))
        }
        self.nodes = nodes
    }

    private static func freePort(excluding taken: inout Set<UInt16>) throws -> UInt16 {
        for _ in 0..<20 {
            let port = try freeLocalPort()
            if taken.insert(port).inserted { return port }
        }
        throw HarnessError("no distinct free port after 20 tries")
    }

    // MARK: Lifecycle

    /// Starts the nodes, creates the cluster and waits (at most `timeout`) until it is ready.
    func start(timeout: TimeInterval = 60) throws {
        let deadline = Deadline.after(timeout)
        do {
            for node in nodes { try launch(node) }
            for node in nodes { try waitForPing(node, deadline: deadline) }
            guard ChildProcess.findExecutable("redis-cli") != nil else {
                throw HarnessError("redis-cli not found on PATH (Debian: apt-get install -y redis-tools)")
            }
            let created = try ChildProcess.run(
                "redis-cli", ["--cluster", "create"] + nodes.map(\.address) + ["--cluster-replicas", "1", "--cluster-yes"],
                timeout: remaining(deadline))
            let log = directory.appendingPathComponent("create.log")
            try? created.write(to: log)
            try waitUntilSettled(requireReplicas: true, timeout: remaining(deadline), "the new cluster to be ready")
        } catch {
            let logs = nodes.map { "[\($0.port)] \($0.logTail())" }.joined(separator: "\n")
            stop()
            throw HarnessError("Redis Cluster did not start: \(error)\nnode logs:\n\(logs)")
        }
    }

    /// Stops every node (SIGTERM, bounded wait, SIGKILL).
    func stop() {
        for node in nodes {
            if node.isStopped { node.child?.send(signal: SIGCONT) }
            node.isStopped = false
            node.child?.stop(timeout: 5)
            node.child = nil
        }
    }

    /// Stops the nodes and removes their directory.
    func destroy() {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    private func launch(_ node: Node) throws {
        guard let executable = ChildProcess.findExecutable("redis-server") else {
            throw HarnessError("redis-server not found on PATH (Debian: apt-get install -y redis-server)")
        }
        let process = ChildProcess(
            name: "redis-server :\(node.port)", executable: executable,
            arguments: ["--port", String(node.port), "--bind", host, "--cluster-enabled", "yes",
                        "--cluster-port", String(node.busPort), "--cluster-config-file", "nodes.conf",
                        "--cluster-node-timeout", String(nodeTimeoutMilliseconds),
                        "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", node.directory.path,
                        // A (re)joining replica syncs at once (the default waits 5 s for more replicas).
                        "--repl-diskless-sync-delay", "0"],
            environment: nil, logURL: node.directory.appendingPathComponent("redis.log"))
        try process.launch()
        node.child = process
    }

    private func waitForPing(_ node: Node, deadline: Deadline) throws {
        try waitUntil(timeout: remaining(deadline), "cluster node \(node.port) to answer PING") {
            guard let child = node.child, child.isRunning else {
                throw HarnessError("redis-server \(node.port) exited with \(node.child?.exitStatus ?? -1):\n\(node.logTail())")
            }
            return (try? RedisClient(port: node.port, timeout: 1).ping()) != nil
        }
    }

    private func remaining(_ deadline: Deadline) -> TimeInterval { max(0.1, Double(deadline.pollMilliseconds) / 1000) }

    // MARK: Clients and topology

    /// A cluster client (follows MOVED/ASK; `keys` asks every primary) seeded with the live nodes.
    func client(timeout: TimeInterval = 5) throws -> RedisClient {
        try RedisClient(host: host, clusterPorts: livePorts, timeout: timeout)
    }

    /// A plain connection to one node (no redirects).
    func nodeClient(port: UInt16, timeout: TimeInterval = 5) throws -> RedisClient {
        try RedisClient(host: host, port: port, timeout: timeout)
    }

    /// CLUSTER NODES as the first live node that answers sees it.
    func topology() throws -> [ClusterNodeLine] {
        try fromAnyLiveNode { client in
            guard let text = try client.checked("CLUSTER", "NODES").string else { throw HarnessError("CLUSTER NODES: no text") }
            return try ClusterNodeLine.parse(text)
        }
    }

    /// The live primaries that serve slots, by port.
    func primaries() throws -> [ClusterNodeLine] {
        try topology().filter { $0.isPrimary && !$0.isFailing && $0.slotCount > 0 }.sorted { $0.port < $1.port }
    }

    /// The slot map (CLUSTER SLOTS) as the first live node that answers sees it.
    func slotMap() throws -> ClusterSlotMap {
        try fromAnyLiveNode { try ClusterSlotMap(try $0.checked("CLUSTER", "SLOTS")) }
    }

    /// The port of the primary serving `slot`.
    func owner(ofSlot slot: Int) throws -> UInt16 {
        let map = try slotMap()
        guard let port = map.owner(of: slot) else { throw HarnessError("no node serves slot \(slot): \(map)") }
        return port
    }

    /// The port of the primary serving session `id`'s keys (hash tag `s:<id>`).
    func owner(ofSession id: String) throws -> UInt16 { try owner(ofSlot: ClusterKeySlot.ofSession(id)) }

    private func fromAnyLiveNode<T>(_ body: (RedisClient) throws -> T) throws -> T {
        var failures: [String] = []
        for port in livePorts {
            do {
                let client = try nodeClient(port: port, timeout: 2)
                defer { client.close() }
                return try body(client)
            } catch {
                failures.append("\(port): \(error)")
            }
        }
        throw HarnessError("no live cluster node answered: \(failures.joined(separator: "; "))")
    }

    // MARK: Waiting for a stable cluster

    /// Why the cluster is not settled yet (nil: it is): every live node says cluster_state:ok,
    /// all agree on a slot map that covers every slot and names only live nodes, and (with
    /// `requireReplicas`) every primary has a live replica whose link to it is up.
    func unsettledReason(requireReplicas: Bool) -> String? {
        let live = livePorts
        var agreed: [String]?
        var map: ClusterSlotMap?
        for port in live {
            do {
                let client = try nodeClient(port: port, timeout: 2)
                defer { client.close() }
                let info = try client.checked("CLUSTER", "INFO").string ?? ""
                guard info.contains("cluster_state:ok") else { return "node \(port) says cluster_state is not ok" }
                let slots = try ClusterSlotMap(try client.checked("CLUSTER", "SLOTS"))
                guard slots.coversAllSlots else { return "node \(port) does not see every slot served: \(slots)" }
                if let dead = slots.ranges.first(where: { !live.contains($0.primaryPort) }) {
                    return "node \(port) still routes slots \(dead.slots) to stopped node \(dead.primaryPort)"
                }
                if let agreed, agreed != slots.primaryAssignments {
                    return "nodes disagree on the slot map: \(map.map(String.init(describing:)) ?? "") vs node \(port): \(slots)"
                }
                agreed = slots.primaryAssignments
                map = slots
            } catch {
                return "node \(port): \(error)"
            }
        }
        guard requireReplicas, let map else { return nil }
        // Replicas from CLUSTER NODES: CLUSTER SLOTS leaves out a replica whose replication
        // offset is still 0 (until the primary's first replication PING, 10 s by default).
        let lines: [ClusterNodeLine]
        do { lines = try topology() } catch { return "CLUSTER NODES: \(error)" }
        for range in map.ranges {
            guard let primary = lines.first(where: { $0.port == range.primaryPort }) else {
                return "primary \(range.primaryPort) is not in CLUSTER NODES"
            }
            let replicas = lines.filter { $0.primaryId == primary.id && !$0.isFailing && live.contains($0.port) }.map(\.port)
            guard !replicas.isEmpty else { return "primary \(range.primaryPort) has no live replica (slots \(range.slots))" }
            for replica in replicas {
                do {
                    let client = try nodeClient(port: replica, timeout: 2)
                    defer { client.close() }
                    let info = try client.checked("INFO", "replication").string ?? ""
                    guard info.contains("master_link_status:up"), info.contains("master_port:\(range.primaryPort)\r") else {
                        return "replica \(replica) of \(range.primaryPort) is not in sync yet"
                    }
                } catch {
                    return "replica \(replica): \(error)"
                }
            }
        }
        return nil
    }

    /// Waits until `unsettledReason` is nil, then until a write through a cluster client works.
    func waitUntilSettled(requireReplicas: Bool, timeout: TimeInterval, _ what: String) throws {
        let deadline = Deadline.after(timeout)
        var reason: String? = "not checked yet"
        while true {
            reason = unsettledReason(requireReplicas: requireReplicas)
            if reason == nil {
                do {
                    let client = try client(timeout: 2)
                    defer { client.close() }
                    let probe = "harness:probe:\(UUID().uuidString)"
                    try client.checked("SET", probe, "1", "PX", "10000")
                    try client.checked("DEL", probe)
                    return
                } catch {
                    reason = "a write failed: \(error)"
                }
            }
            if deadline.hasPassed { throw HarnessError("timed out after \(timeout) s waiting for \(what): \(reason ?? "")") }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    // MARK: Failover

    /// SIGKILLs the node on `port` and waits for the process to be gone. Remembers the slots it
    /// served, for `waitForFailover(of:)`.
    func kill(port: UInt16) throws {
        guard let node = nodes.first(where: { $0.port == port }), let child = node.child, child.isRunning else {
            throw HarnessError("no running cluster node on port \(port)")
        }
        slotsAtKill[port] = (try? topology().first { $0.port == port }?.slots) ?? []
        child.send(signal: SIGKILL)
        guard child.waitForExit(timeout: 10) else { throw HarnessError("cluster node \(port) survived SIGKILL for 10 s") }
        child.stop()  // closes its log; the log stays readable for failure messages
    }

    /// SIGSTOPs the node on `port`: it hangs (a partition, a stuck process) without closing a
    /// connection. Remembers the slots it served, for `waitForFailover(of:)`.
    func stop(port: UInt16) throws {
        guard let node = nodes.first(where: { $0.port == port }), let child = node.child, child.isRunning, !node.isStopped else {
            throw HarnessError("no running cluster node on port \(port)")
        }
        slotsAtKill[port] = (try? topology().first { $0.port == port }?.slots) ?? []
        child.send(signal: SIGSTOP)
        node.isStopped = true
    }

    /// SIGCONT after `stop(port:)`, then waits until the node has rejoined (a primary that was
    /// failed over comes back as a replica) and every primary has a replica in sync again.
    func cont(port: UInt16, timeout: TimeInterval = 30) throws {
        guard let node = nodes.first(where: { $0.port == port }), let child = node.child, node.isStopped else {
            throw HarnessError("no stopped cluster node on port \(port)")
        }
        child.send(signal: SIGCONT)
        node.isStopped = false
        try waitUntilSettled(requireReplicas: true, timeout: timeout, "node \(port) to rejoin after SIGCONT")
    }

    /// SIGCONT after `stop(port:)`, waiting for nothing: for a replica resumed while its primary
    /// is dead (the cluster cannot settle with a replica for every primary then; follow with
    /// `waitForFailover(of:)`).
    func resume(port: UInt16) throws {
        guard let node = nodes.first(where: { $0.port == port }), let child = node.child, node.isStopped else {
            throw HarnessError("no stopped cluster node on port \(port)")
        }
        child.send(signal: SIGCONT)
        node.isStopped = false
    }

    /// The ports of the replicas of the primary on `port`, as CLUSTER NODES says now.
    func replicaPorts(of port: UInt16) throws -> [UInt16] {
        let lines = try topology()
        guard let primary = lines.first(where: { $0.port == port && $0.isPrimary }) else {
            throw HarnessError("\(port) is not a primary: \(lines)")
        }
        return lines.filter { $0.primaryId == primary.id }.map(\.port).sorted()
    }

    /// After `kill(port:)` of a primary: waits until a replica took over its slots and every
    /// live node agrees (cluster_state:ok everywhere). Returns the new primary's port.
    @discardableResult
    func waitForFailover(of port: UInt16, timeout: TimeInterval = 30) throws -> UInt16 {
        guard let slots = slotsAtKill[port], let slot = slots.first?.lowerBound else {
            throw HarnessError("node \(port) was not a primary serving slots when it was killed")
        }
        try waitUntilSettled(requireReplicas: false, timeout: timeout, "a replica to take over slots \(slots) of killed primary \(port)")
        let owner = try owner(ofSlot: slot)
        guard owner != port else { throw HarnessError("slot \(slot) is still served by killed node \(port)") }
        return owner
    }

    /// Starts a killed node again (same port, same nodes.conf) and waits until it has rejoined
    /// and every primary has a replica in sync again (it comes back as a replica).
    func revive(port: UInt16, timeout: TimeInterval = 30) throws {
        guard let node = nodes.first(where: { $0.port == port }), !node.isRunning else {
            throw HarnessError("no stopped cluster node on port \(port)")
        }
        let deadline = Deadline.after(timeout)
        try launch(node)
        try waitForPing(node, deadline: deadline)
        try waitUntilSettled(requireReplicas: true, timeout: remaining(deadline), "node \(port) to rejoin as a replica in sync")
    }

    // MARK: Resharding

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
        try waitUntil(timeout: remaining(deadline), interval: 0.05, "every live node to route slot \(slot) to \(port)") {
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
        for slot in slots { try moveSlot(slot, to: port, timeout: remaining(deadline)) }
    }
}
