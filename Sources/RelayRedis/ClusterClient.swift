// ClusterClient: the relay's command router for Redis Cluster. hiredis 0.14 knows nothing of
// clusters, so this keeps the slot map (CLUSTER SLOTS) and sends each command to the RedisNode
// of the primary owning its routing key's slot (a view over the RedisNodeSet, which it shares
// with ShardedPubSub):
//   - MOVED: the slot moved for good. Update that slot now, refresh the whole map soon, resend.
//   - ASK: the slot is being migrated. Resend once to the target, preceded by ASKING; the map
//     stays as it is. The target answers TRYAGAIN to a multi-key command while the slot's keys
//     are split between the nodes: that is retried from the source like the codes below, and
//     does not count as a redirection (the migration ends; a redirect loop does not).
//   - TRYAGAIN, CLUSTERDOWN, MASTERDOWN, LOADING, READONLY, or no connection to the owner (the
//     command never left): retry after 20 ms, doubling to 200 ms, refreshing the map, until the
//     command's deadline, then answer the last failure (the HTTP layer makes it a 503).
//   - A command sent whose connection then dropped or timed out may have run: it is never
//     resent; the failure is the answer.
// The deadline (`commandTimeoutSeconds` from the call; a write that waits for replicas gets
// until the WAIT timeout after its script ran, if that is later) is a hard bound: when it passes, the caller gets `.timedOut` (or the last
// "not now" while between tries) even if an attempt is still out; its late reply is ignored.
// The command may still run: the caller was told to retry (appends carry X-Part-Id).
// The map is refreshed every 5 s (every second while a primary's connection is down, so a
// promoted replica is found soon after a failover), when a primary's connection drops, and on
// every retry (at most one CLUSTER SLOTS every 100 ms). A primary that leaves the map keeps its connection
// for a grace period so that commands already sent get their replies.
//
// Hooks: `onConnected` runs whenever a primary's connection (re)connects, which is only ever
// after the map is known (connections are made from it), so the first run means "commands can
// be sent"; hooks must be idempotent (they run once per primary). `onDisconnected` runs when a
// primary's connection drops. `onChange` runs when any slot's owner changes, including the
// first map.
import Logging
import Metrics
import RelayIO

public final class ClusterClient: RedisCommands, SlotOwners {
    public static let refreshIntervalSeconds = 5.0
    /// The refresh interval while a primary's connection is down.
    public static let degradedRefreshIntervalSeconds = 1.0
    /// The least time between two map refreshes.
    public static let refreshGapSeconds = 0.1
    /// Redirections followed per command; more means the nodes disagree (a loop).
    public static let maxRedirects = 5
    static let firstBackoffSeconds = 0.02
    static let maxBackoffSeconds = 0.2
    /// How long a probe connection (CLUSTER SLOTS on a node without a command connection) may take.
    static let probeTimeoutSeconds = 1.0

    private let loop: EventLoop
    public let seeds: [RedisEndpoint]
    private let logger: Logger

    /// The whole deadline of one command: the caller is answered by then (a write waiting for
    /// replicas gets the WAIT timeout from when its script ran, if that ends later). Also each
    /// node's liveness bound (RedisNodeOptions).
    public var commandTimeoutSeconds: Double { redisNodes.options.commandTimeoutSeconds }
    /// WAIT's timeout after a script run with `waitReplicas` (milliseconds).
    public var waitTimeoutMilliseconds: Int { redisNodes.options.waitTimeoutMilliseconds }
    /// How often commands past their deadline are looked for (the bound's slack).
    static let deadlineTickSeconds = 0.05

    public var onConnected: [() -> Void] = []
    public var onDisconnected: [() -> Void] = []
    public var onChange: [() -> Void] = []

    /// The last map read with CLUSTER SLOTS (nil until the first).
    public private(set) var topology: ClusterTopology?
    /// The map routed by: the last CLUSTER SLOTS, plus the MOVED replies since.
    private var table = SlotTable()
    private var hasMap = false
    private var currentPrimaries: [RedisEndpoint] = []
    /// The nodes this router uses, by endpoint description: every primary, plus ASK targets
    /// and former primaries until their grace period ends.
    private var nodes: [String: ClusterNode] = [:]
    /// Every node of this process (shared with the pub/sub side).
    public let redisNodes: RedisNodeSet
    private let ownsNodes: Bool
    private var started = false
    private var nextAny = 0

    private var periodic: LoopTimer?
    /// Commands not answered yet (and some answered since the last tick), for the deadline.
    private var outstanding: [ClusterOperation] = []
    private var deadlineTimer: LoopTimer?
    private var refreshing = false
    private var refreshAgain = false
    private var scheduledRefresh: LoopTimer?
    private var lastRefreshEnded = -Double.infinity
    private var refreshFailing = false

    /// Totals since start (tests and logs; the same as the metrics).
    public private(set) var stats = ClusterStats()
    private let movedCounter = Counter(label: "relay_redis_cluster_redirects_total", dimensions: [("kind", "moved")])
    private let askCounter = Counter(label: "relay_redis_cluster_redirects_total", dimensions: [("kind", "ask")])
    private let retryCounter = Counter(label: "relay_redis_cluster_retries_total")
    private let refreshCounter = Counter(label: "relay_redis_cluster_refreshes_total")

    /// A router over `nodes`, shared with the pub/sub side (`ownsNodes`: started and stopped
    /// with the router; otherwise the set's owner does).
    public init(loop: EventLoop, seeds: [RedisEndpoint], nodes: RedisNodeSet, ownsNodes: Bool = false, logger: Logger) {
        precondition(!seeds.isEmpty, "a cluster needs at least one seed node")
        self.loop = loop
        self.seeds = seeds
        self.logger = logger
        redisNodes = nodes
        self.ownsNodes = ownsNodes
        redisNodes.needs.append { [weak self] node in self?.nodes[node.endpoint.description]?.node === node }
        redisNodes.onNodeReady.append { [weak self] node in
            guard let self, let held = self.nodes[node.endpoint.description], held.node === node, held.isPrimary else { return }
            self.onConnected.forEach { $0() }
        }
        redisNodes.onNodeLost.append { [weak self] node in
            guard let self, let held = self.nodes[node.endpoint.description], held.node === node else { return }
            if held.isPrimary { self.onDisconnected.forEach { $0() } }
            self.requestRefresh()
        }
    }

    /// A router with nodes of its own.
    public convenience init(loop: EventLoop, seeds: [RedisEndpoint], options: RedisNodeOptions = RedisNodeOptions(),
                            logger: Logger, connector: RedisConnector? = nil) {
        self.init(loop: loop, seeds: seeds, nodes: RedisNodeSet(loop: loop, options: options, logger: logger, connector: connector),
                  ownsNodes: true, logger: logger)
    }

    // MARK: RedisCommands

    public var scriptsSpanSlots: Bool { false }

    public var isConnected: Bool {
        hasMap && currentPrimaries.contains { nodes[$0.description]?.node.isReady == true }
    }

    /// Every primary of the map has its command connection up.
    public var allPrimariesConnected: Bool {
        hasMap && currentPrimaries.allSatisfy { nodes[$0.description]?.node.isReady == true }
    }

    public func start() {
        guard !started else { return }
        started = true
        if ownsNodes { redisNodes.start() }
        periodic = loop.every(Self.degradedRefreshIntervalSeconds) { [weak self] in self?.periodicRefresh() }
        deadlineTimer = loop.every(Self.deadlineTickSeconds) { [weak self] in self?.expireOverdue() }
        if hasMap { reconcile() }
        requestRefresh()
    }

    public func stop() {
        started = false
        periodic?.cancel()
        deadlineTimer?.cancel()
        scheduledRefresh?.cancel()
        scheduledRefresh = nil
        // A refresh still out is forgotten (its answer finds the router stopped).
        refreshing = false
        refreshAgain = false
        for node in nodes.values { node.retire?.cancel() }
        nodes.removeAll()
        if ownsNodes { redisNodes.stop() } else { redisNodes.prune() }
    }

    public func send(key: [UInt8]?, _ args: [[UInt8]], _ completion: @escaping (RedisReply) -> Void) {
        begin(ClusterOperation(slot: key.map { ClusterSlot.of($0) }, deadline: deadline(),
                               completion: completion) { node, asking, _, done in
            node.send(args, asking: asking, done)
        })
    }

    public func run(_ script: LuaScript, keys: [[UInt8]], _ args: [[UInt8]], waitReplicas: Int,
                    unconfirmed: ((RedisReply) -> Void)?, _ completion: @escaping (RedisReply) -> Void) {
        begin(ClusterOperation(slot: keys.first.map { ClusterSlot.of($0) }, deadline: deadline(),
                               completion: completion) { node, asking, written, done in
            node.run(script, keys: keys, args, waitReplicas: waitReplicas, asking: asking, written: written,
                       unconfirmed: unconfirmed, done)
        })
    }

    // MARK: SlotOwners

    public func primary(slot: Int) -> RedisEndpoint? { table.owner(of: slot) }
    public var primaries: [RedisEndpoint] { currentPrimaries }

    public func moved(slot: Int, to endpoint: RedisEndpoint) {
        if table.owner(of: slot) != endpoint {
            table.setOwner(of: slot, to: endpoint)
            mapChanged()
        }
        requestRefresh()
    }

    // MARK: Routing

    private func deadline() -> Double { Clock.monotonicSeconds() + commandTimeoutSeconds }

    private func begin(_ op: ClusterOperation) {
        guard started else { return op.finish(.failure(.notConnected)) }
        outstanding.append(op)
        dispatch(op)
    }

    /// Answers every command past its deadline (`.timedOut` when an attempt is out; its reply,
    /// if it ever comes, is ignored) and forgets the answered ones.
    private func expireOverdue() {
        let now = Clock.monotonicSeconds()
        for op in outstanding where !op.finished && now >= op.deadline {
            op.finish(op.lastFailure ?? .failure(.timedOut))
        }
        outstanding.removeAll { $0.finished }
    }

    private func dispatch(_ op: ClusterOperation) {
        guard !op.finished else { return }
        guard started else { return op.finish(.failure(.notConnected)) }
        guard Clock.monotonicSeconds() < op.deadline else { return op.finish(op.lastFailure ?? .failure(.timedOut)) }
        let client: RedisNode?
        var asking = false
        if let target = op.askTarget {
            op.askTarget = nil
            asking = true
            client = node(for: target).node
        } else if let slot = op.slot {
            client = table.owner(of: slot).map { node(for: $0).node }
        } else {
            client = anyConnectedPrimary()
        }
        guard let client else { return retryLater(op, after: .failure(.notConnected)) }
        op.lastFailure = nil   // an attempt is out: the deadline answers .timedOut
        // A write that waits for replicas ran: its WAIT may take its timeout (and a round trip:
        // 0.25 s of slack), even past the routing deadline.
        let written = { [weak self] in
            guard let self else { return }
            let wait = Double(self.waitTimeoutMilliseconds) / 1000 + 0.25
            op.deadline = max(op.deadline, Clock.monotonicSeconds() + wait)
        }
        op.perform(client, asking, written) { [weak self] reply in
            // Answered already (the deadline passed): this late reply has nobody to go to.
            guard !op.finished else { return }
            guard let self else { return op.finish(reply) }
            self.handle(op, reply, from: client, asking: asking)
        }
    }

    private func handle(_ op: ClusterOperation, _ reply: RedisReply, from client: RedisNode, asking: Bool) {
        switch ClusterReplyClassifier.action(for: reply, replyingHost: client.endpoint.host) {
        case .complete:
            op.finish(reply)
        case .redirect(let redirect):
            op.redirects += 1
            guard op.redirects <= Self.maxRedirects else {
                logger.warning("redis cluster: too many redirections", metadata: ["reply": "\(reply)"])
                return op.finish(reply)
            }
            switch redirect.kind {
            case .moved:
                stats.moved += 1
                movedCounter.increment()
                moved(slot: redirect.slot, to: redirect.endpoint)
            case .ask:
                stats.asked += 1
                askCounter.increment()
                op.askTarget = redirect.endpoint
            }
            dispatch(op)
        case .retry:
            // TRYAGAIN from an ASK target: the slot's keys are split between source and target
            // mid-migration. Not a redirect loop: give the ASK back, retry from the source.
            if asking, reply.errorMessage?.hasPrefix("TRYAGAIN") == true { op.redirects -= 1 }
            retryLater(op, after: reply)
        }
    }

    /// Tries again after the op's backoff, unless its deadline has passed: then `reply` answers.
    private func retryLater(_ op: ClusterOperation, after reply: RedisReply) {
        let remaining = op.deadline - Clock.monotonicSeconds()
        guard remaining > 0 else { return op.finish(reply) }
        op.lastFailure = reply
        stats.retries += 1
        retryCounter.increment()
        requestRefresh()
        let delay = min(op.backoff, remaining)
        op.backoff = min(op.backoff * 2, Self.maxBackoffSeconds)
        loop.after(delay) { [weak self] in
            guard let self else { return op.finish(reply) }
            self.dispatch(op)
        }
    }

    private func anyConnectedPrimary() -> RedisNode? {
        let count = currentPrimaries.count
        for i in 0..<count {
            let endpoint = currentPrimaries[(nextAny + i) % count]
            if let client = nodes[endpoint.description]?.node, client.isReady {
                nextAny = (nextAny + i + 1) % count
                return client
            }
        }
        return nil
    }

    // MARK: Connections

    /// The node of `endpoint` for this router (made in the node set when there is none).
    private func node(for endpoint: RedisEndpoint) -> ClusterNode {
        let name = endpoint.description
        if let node = nodes[name] { return node }
        let node = ClusterNode(node: redisNodes.node(for: endpoint))
        nodes[name] = node
        return node
    }

    /// Connections follow the map: one per primary; others retire after a grace period (their
    /// commands already sent still get replies).
    private func reconcile() {
        guard started else { return }
        for endpoint in currentPrimaries {
            let node = node(for: endpoint)
            node.retire?.cancel()
            node.retire = nil
            if !node.isPrimary {
                node.isPrimary = true
                // A connection that was already up (an ASK target) now serves slots.
                if node.node.isReady { onConnected.forEach { $0() } }
            }
        }
        // Long enough for a replicated write sent just before to get its WAIT's answer.
        let grace = commandTimeoutSeconds + Double(waitTimeoutMilliseconds) / 1000 + 1
        for (name, node) in nodes where node.retire == nil && !currentPrimaries.contains(node.node.endpoint) {
            node.isPrimary = false
            node.retire = loop.after(grace) { [weak self, weak node] in
                guard let self, let node, self.nodes[name] === node, node.retire != nil else { return }
                self.nodes[name] = nil
                self.redisNodes.prune()
            }
        }
    }

    private func mapChanged() {
        currentPrimaries = table.primaries
        reconcile()
        onChange.forEach { $0() }
    }

    // MARK: Topology refresh

    private func periodicRefresh() {
        let due = Clock.monotonicSeconds() - lastRefreshEnded >= Self.refreshIntervalSeconds - 0.01
        let degraded = !hasMap || currentPrimaries.contains { nodes[$0.description]?.node.isReady != true }
        if due || degraded { requestRefresh() }
    }

    /// A refresh soon: now, or `refreshGapSeconds` after the last one; requests meanwhile merge.
    public func requestRefresh() {
        guard started else { return }
        if refreshing {
            refreshAgain = true
            return
        }
        guard scheduledRefresh == nil else { return }
        let wait = lastRefreshEnded + Self.refreshGapSeconds - Clock.monotonicSeconds()
        guard wait > 0 else { return refresh() }
        scheduledRefresh = loop.after(wait) { [weak self] in
            self?.scheduledRefresh = nil
            self?.refresh()
        }
    }

    private func refresh() {
        guard started, !refreshing else { return }
        refreshing = true
        stats.refreshes += 1
        refreshCounter.increment()
        // Connected primaries first (no new connection), then every other node we know of.
        var connected: [RedisNode] = []
        var others: [RedisEndpoint] = []
        for endpoint in currentPrimaries {
            if let client = nodes[endpoint.description]?.node, client.isReady {
                connected.append(client)
            } else {
                others.append(endpoint)
            }
        }
        if !connected.isEmpty { connected = Array(connected[(stats.refreshes % connected.count)...] + connected[..<(stats.refreshes % connected.count)]) }
        others = (others + (topology?.replicas ?? []) + seeds).uniqued()
        ask(connected, others)
    }

    private func ask(_ connected: [RedisNode], _ others: [RedisEndpoint]) {
        let handle = { [weak self] (reply: RedisReply, host: String) in
            guard let self, self.started else { return }
            if let topology = ClusterTopology.parse(slots: reply, askedHost: host) {
                self.apply(topology)
                self.refreshFinished(ok: true)
            } else {
                self.logger.debug("redis cluster: no slot map from a node", metadata: ["reply": "\(reply)"])
                self.ask(Array(connected.dropFirst()), connected.isEmpty ? Array(others.dropFirst()) : others)
            }
        }
        if let client = connected.first {
            client.send(["CLUSTER", "SLOTS"]) { handle($0, client.endpoint.host) }
        } else if let endpoint = others.first {
            ClusterProbe.query(loop: loop, connection: redisNodes.connector(endpoint), ["CLUSTER", "SLOTS"],
                               timeoutSeconds: Self.probeTimeoutSeconds) { handle($0, endpoint.host) }
        } else {
            refreshFinished(ok: false)
        }
    }

    private func refreshFinished(ok: Bool) {
        refreshing = false
        lastRefreshEnded = Clock.monotonicSeconds()
        if !ok && !refreshFailing {
            logger.warning("redis cluster: no node answered CLUSTER SLOTS", metadata: ["seeds": "\(seeds)"])
        }
        refreshFailing = !ok
        if refreshAgain || (!ok && !hasMap) {
            // Without a map nothing can be sent: keep asking (every gap, and at least every 0.5 s).
            refreshAgain = false
            if ok || hasMap {
                requestRefresh()
            } else if scheduledRefresh == nil {
                scheduledRefresh = loop.after(0.5) { [weak self] in
                    self?.scheduledRefresh = nil
                    self?.refresh()
                }
            }
        }
    }

    private func apply(_ topology: ClusterTopology) {
        self.topology = topology
        let fresh = SlotTable(topology)
        let first = !hasMap
        hasMap = true
        guard first || fresh != table else { return }
        table = fresh
        logger.info("redis cluster map", metadata: [
            "primaries": "\(table.primaries.map(\.description))", "unassignedSlots": "\(table.unassigned)",
        ])
        mapChanged()
    }
}

public struct ClusterStats: Equatable, Sendable {
    public var moved = 0
    public var asked = 0
    public var retries = 0
    public var refreshes = 0
}

/// A node the router uses: a primary's, or a redirection target's.
final class ClusterNode {
    let node: RedisNode
    /// Serves slots in the current map (its connects and drops are reported).
    var isPrimary = false
    /// Set while it waits to be stopped (it left the map).
    var retire: LoopTimer?

    init(node: RedisNode) { self.node = node }
}

/// One command on its way through the cluster.
final class ClusterOperation {
    let slot: Int?
    /// When the caller is answered at the latest (a write waiting for replicas moves it on).
    var deadline: Double
    private var completion: ((RedisReply) -> Void)?
    /// Sends the command (`asking`: preceded by ASKING) on a primary's connection; a write that
    /// waits for replicas calls `written` when it ran (before its WAIT).
    let perform: (RedisNode, _ asking: Bool, _ written: @escaping () -> Void, @escaping (RedisReply) -> Void) -> Void
    var askTarget: RedisEndpoint?
    var redirects = 0
    var backoff = ClusterClient.firstBackoffSeconds
    /// The "not now" that answers if the deadline passes between two tries (nil while a try is out).
    var lastFailure: RedisReply?

    init(slot: Int?, deadline: Double, completion: @escaping (RedisReply) -> Void,
         perform: @escaping (RedisNode, Bool, @escaping () -> Void, @escaping (RedisReply) -> Void) -> Void) {
        self.slot = slot
        self.deadline = deadline
        self.completion = completion
        self.perform = perform
    }

    var finished: Bool { completion == nil }

    /// Answers the caller; only the first answer counts.
    func finish(_ reply: RedisReply) {
        guard let completion else { return }
        self.completion = nil
        completion(reply)
    }
}
