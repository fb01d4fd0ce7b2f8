// RedisCluster.swift: the one Redis Cluster launcher of the tests: scripts/dev-cluster (2N
// redis-server processes, N primaries with a replica each, joined by `redis-cli --cluster
// create`) on free consecutive 127.0.0.1 ports (their bus ports, +10000, free too), in one
// temporary directory. `start` returns when dev-cluster says the cluster is ready, and every
// later wait asks dev-cluster the same question (`dev-cluster wait`): every live node says
// cluster_state:ok and they agree on a slot map naming only live nodes, every replica is synced
// (its link is up and its primary lists it online), with no node down every primary has a
// replica, and a write succeeds. Nothing is persisted but nodes.conf (a killed node rejoins).
// The nodes are daemons, stopped by `destroy`; dev-cluster's `--owner` stops them if the test
// process dies first.
//
// Admin commands: `cli(port, ...)` (plain redis-cli, not -c: a wrong node answers MOVED) and
// `topology()` (CLUSTER NODES). Chaos for the failover and resharding tests: `kill(port:)`
// (SIGKILL), `stop(port:)` (SIGSTOP: the node hangs, its kernel keeps connections up) and
// `cont(port:)` (SIGCONT, then waits until it rejoined), `resume(port:)` (SIGCONT, no wait),
// `waitForFailover(of:)`, `revive(port:)` (a killed node starts again and rejoins, as a
// replica). Use the launcher from one thread.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

public final class RedisCluster {
    public let host = "127.0.0.1"
    public let primaryCount: Int
    public let nodeTimeoutMilliseconds: Int
    public let directory: URL
    /// Every node's port, in start order (the first `primaryCount` are the initial primaries);
    /// empty until `start`.
    public private(set) var ports: [UInt16] = []
    /// Killed (until `revive`) and SIGSTOPped (until `cont`/`resume`) nodes.
    private var killed: Set<UInt16> = []
    private var stopped: Set<UInt16> = []
    /// Slot ranges of primaries as they were just before `kill`/`stop`, for `waitForFailover`.
    private var slotsAtKill: [UInt16: [ClosedRange<Int>]] = [:]

    /// redis-server and redis-cli are on PATH.
    public static var available: Bool {
        ChildProcess.findExecutable("redis-server") != nil && ChildProcess.findExecutable("redis-cli") != nil
    }

    /// scripts/dev-cluster.
    public static var script: String { repositoryRoot.appendingPathComponent("scripts/dev-cluster").path }

    /// The initial primaries (the URL dev-cluster prints).
    public var primaryPorts: [UInt16] { Array(ports.prefix(primaryCount)) }
    /// Nodes running and not SIGSTOPped.
    public var livePorts: [UInt16] { ports.filter { !stopped.contains($0) && isRunning(port: $0) } }
    /// The relay's URL: every node as a seed (any one that answers will do).
    public var url: String { "redis-cluster://" + ports.map { "\(host):\($0)" }.joined(separator: ",") }

    public init(primaries: Int = 3, nodeTimeoutMilliseconds: Int = 2000) throws {
        primaryCount = primaries
        self.nodeTimeoutMilliseconds = nodeTimeoutMilliseconds
        directory = try makeTemporaryDirectory(prefix: "relay-cluster")
    }

    // MARK: Lifecycle

    /// Starts the cluster with dev-cluster and returns once it is ready (at most `timeout`).
    /// A range whose ports were taken meanwhile costs a retry on another.
    public func start(timeout: TimeInterval = 60) throws {
        guard ports.isEmpty else { throw HarnessError("the cluster in \(directory.path) already started") }
        guard Self.available else {
            throw HarnessError("redis-server / redis-cli not found on PATH (Debian: apt-get install -y redis-server)")
        }
        let deadline = Deadline.after(timeout)
        var failures: [String] = []
        for _ in 0..<3 where !deadline.hasPassed {
            let base = try freeLocalPortRange(count: 2 * primaryCount)
            let wait = Int(deadline.remainingSeconds(atLeast: 5).rounded(.up))
            let outcome = try ChildProcess.runToEnd(Self.script, [
                "start", "--port", String(base), "--dir", directory.path, "--primaries", String(primaryCount),
                "--node-timeout", String(nodeTimeoutMilliseconds), "--timeout", String(wait), "--owner", String(getpid()),
            ], timeout: Double(wait) + 30)
            let printed = outcome.text.split(whereSeparator: \.isNewline).last.map(String.init) ?? ""
            let started = (0..<UInt16(2 * primaryCount)).map { base + $0 }
            if outcome.status == 0, printed.hasPrefix("redis-cluster://") {
                ports = started
                return
            }
            let logs = started.map { "[\($0)] \(logTail(port: $0, maxBytes: 1_024))" }.joined(separator: "\n")
            failures.append("ports \(base)-\(base + UInt16(2 * primaryCount - 1)): \(outcome.errorText)\(outcome.text)\nnode logs:\n\(logs)")
            stopNodes()
        }
        throw HarnessError("Redis Cluster did not start (scripts/dev-cluster): " + failures.joined(separator: "\n---\n"))
    }

    /// Stops every node (a hung one too) and removes the directory (`dev-cluster stop`).
    public func destroy() {
        stopNodes()
        ports = []
        killed = []
        stopped = []
    }

    private func stopNodes() {
        _ = try? ChildProcess.runToEnd(Self.script, ["stop", "--dir", directory.path], timeout: 60)
    }

    // MARK: Nodes

    /// The pid of the node on `port` (from its pid file), whether or not it still runs.
    public func pid<Port: BinaryInteger>(port: Port) -> pid_t? {
        (try? String(contentsOfFile: "\(directory.path)/\(port)/redis.pid", encoding: .utf8))
            .flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Whether the node's process exists and is not a zombie (nobody may reap a daemon here).
    public func isRunning<Port: BinaryInteger>(port: Port) -> Bool {
        guard let pid = pid(port: port),
              let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state != nil && state != "Z" && state != "X"
    }

    /// The last `maxBytes` of the node's log.
    public func logTail<Port: BinaryInteger>(port: Port, maxBytes: Int = 4_096) -> String {
        guard let data = FileManager.default.contents(atPath: "\(directory.path)/\(port)/redis.log") else { return "(no log)" }
        return String(decoding: data.suffix(maxBytes), as: UTF8.self)
    }

    /// One command through redis-cli to the node on `port`: its output, or what went wrong.
    @discardableResult
    public func cli<Port: BinaryInteger>(_ port: Port, _ args: String...) -> String { cli(port, args, input: nil) }

    /// Several commands, one per line, on one connection (ASKING, then the command).
    @discardableResult
    public func cli<Port: BinaryInteger>(_ port: Port, script lines: [String]) -> String {
        cli(port, [], input: lines.joined(separator: "\n") + "\n")
    }

    private func cli<Port: BinaryInteger>(_ port: Port, _ args: [String], input: String?) -> String {
        do {
            let outcome = try ChildProcess.runToEnd("redis-cli", ["-p", String(port)] + args, input: Data((input ?? "").utf8))
            return (outcome.text + outcome.errorText).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            return "\(error)"
        }
    }

    // MARK: Topology

    /// CLUSTER NODES as the first live node that answers sees it.
    public func topology() throws -> [ClusterNodeLine] {
        var failures: [String] = []
        for port in livePorts {
            do {
                return try ClusterNodeLine.parse(redisCLI(port, ["CLUSTER", "NODES"], timeout: 3))
            } catch {
                failures.append("\(port): \(error)")
            }
        }
        throw HarnessError("no live cluster node answered CLUSTER NODES: \(failures.joined(separator: "; "))")
    }

    /// The live primaries that serve slots, by port.
    public func primaries() throws -> [ClusterNodeLine] {
        try topology().filter { $0.isPrimary && !$0.isFailing && $0.slotCount > 0 }.sorted { $0.port < $1.port }
    }

    /// The ports of the replicas of the primary on `port`, as CLUSTER NODES says now.
    public func replicaPorts(of port: UInt16) throws -> [UInt16] {
        let lines = try topology()
        guard let primary = lines.first(where: { $0.port == port && $0.isPrimary }) else {
            throw HarnessError("\(port) is not a primary: \(lines)")
        }
        return lines.filter { $0.primaryId == primary.id }.map(\.port).sorted()
    }

    /// The port of the primary's (first) replica, from its INFO replication ("slave0:ip=...,
    /// port=P,state=online,..."): a replica that has synced.
    public func replicaPort<Port: BinaryInteger>(ofPrimary port: Port) -> Port? {
        let info = cli(port, "INFO", "replication")
        guard let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("slave0:") }),
              let field = line.split(separator: ",").first(where: { $0.hasPrefix("port=") }) else { return nil }
        return Int(field.dropFirst("port=".count)).flatMap { Port(exactly: $0) }
    }

    // MARK: Readiness

    /// Waits (at most `timeout`) until dev-cluster says the cluster is ready, the killed and
    /// SIGSTOPped nodes left out (with one down, a primary may lack a replica).
    public func waitUntilReady(timeout: TimeInterval = 30) throws {
        let outcome = try ChildProcess.runToEnd(Self.script, waitArguments(timeout: Int(timeout.rounded(.up))),
                                                timeout: timeout + 30)
        guard outcome.status == 0 else { throw HarnessError(outcome.errorText.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Why the cluster is not ready now (`dev-cluster wait --timeout 0`), nil when it is.
    public func unsettledReason() -> String? {
        do {
            try waitUntilReady(timeout: 0)
            return nil
        } catch {
            return "\(error)"
        }
    }

    private func waitArguments(timeout: Int) -> [String] {
        ["wait", "--dir", directory.path, "--timeout", String(timeout)]
            + killed.union(stopped).sorted().flatMap { ["--down", String($0)] }
    }

    // MARK: Failover

    /// SIGKILLs the node on `port` and waits for the process to be gone. Remembers the slots it
    /// served, for `waitForFailover(of:)`.
    public func kill(port: UInt16) throws {
        guard ports.contains(port), isRunning(port: port), let pid = pid(port: port) else {
            throw HarnessError("no running cluster node on port \(port)")
        }
        slotsAtKill[port] = (try? topology().first { $0.port == port }?.slots) ?? []
        Glibc.kill(pid, SIGKILL)
        killed.insert(port)
        stopped.remove(port)
        try waitUntil(timeout: 10, interval: 0.01, "cluster node \(port) to exit after SIGKILL") { !isRunning(port: port) }
    }

    /// SIGSTOPs the node on `port`: it hangs (a partition, a stuck process) without closing a
    /// connection. Remembers the slots it served, for `waitForFailover(of:)`.
    public func stop(port: UInt16) throws {
        guard ports.contains(port), isRunning(port: port), !stopped.contains(port), let pid = pid(port: port) else {
            throw HarnessError("no running cluster node on port \(port)")
        }
        slotsAtKill[port] = (try? topology().first { $0.port == port }?.slots) ?? []
        Glibc.kill(pid, SIGSTOP)
        stopped.insert(port)
    }

    /// SIGCONT after `stop(port:)`, then waits until the node has rejoined (a primary that was
    /// failed over comes back as a replica) and the cluster is ready again.
    public func cont(port: UInt16, timeout: TimeInterval = 30) throws {
        try resume(port: port)
        try waitUntilReady(timeout: timeout)
    }

    /// SIGCONT after `stop(port:)`, waiting for nothing: for a replica resumed while its primary
    /// is dead (follow with `waitForFailover(of:)`).
    public func resume(port: UInt16) throws {
        guard stopped.contains(port), let pid = pid(port: port) else { throw HarnessError("no stopped cluster node on port \(port)") }
        Glibc.kill(pid, SIGCONT)
        stopped.remove(port)
    }

    /// After `kill(port:)` or `stop(port:)` of a primary: waits until a replica took over its
    /// slots and the cluster is ready without it. Returns the new primary's port.
    @discardableResult
    public func waitForFailover(of port: UInt16, timeout: TimeInterval = 30) throws -> UInt16 {
        guard let slots = slotsAtKill[port], let slot = slots.first?.lowerBound else {
            throw HarnessError("node \(port) was not a primary serving slots when it was killed")
        }
        do {
            try waitUntilReady(timeout: timeout)
        } catch {
            throw HarnessError("a replica did not take over slots \(slots) of primary \(port): \(error)")
        }
        guard let owner = try topology().first(where: { $0.isPrimary && $0.slots.contains { $0.contains(slot) } })?.port else {
            throw HarnessError("no node serves slot \(slot)")
        }
        guard owner != port else { throw HarnessError("slot \(slot) is still served by node \(port)") }
        return owner
    }

    /// Starts a killed node again (same port, same nodes.conf: `redis-server DIR/PORT/redis.conf`)
    /// and waits until it has rejoined, as a replica, and the cluster is ready again.
    public func revive(port: UInt16, timeout: TimeInterval = 30) throws {
        guard killed.contains(port), !isRunning(port: port) else { throw HarnessError("no killed cluster node on port \(port)") }
        _ = try ChildProcess.run("redis-server", ["\(directory.path)/\(port)/redis.conf"])
        killed.remove(port)
        try waitUntilReady(timeout: timeout)
    }
}
