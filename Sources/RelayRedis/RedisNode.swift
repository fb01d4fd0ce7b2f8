// RedisNode: everything this process holds to one Redis server, one endpoint. Its connections
// (RespConnection, each with a lane that knows what it asked):
//   - commands: reads, writes and scripts (CommandLane);
//   - replicated writes: the writes that replicas must confirm, each followed by WAIT, when
//     `replicatedWrites` is on (a CommandLane of their own; see "Why WAIT has its own
//     connection" below);
//   - pub/sub: SSUBSCRIBE and the pushes (PubSubShard), when `subscriptions` is on.
// One verdict on the node, one reconnect policy:
//   - The node is ready once every connection is up and has answered PING (a server that
//     accepts and then refuses, maxclients or LOADING, answers PING with an error).
//   - Any connection failing (a connect error, a drop, replies out of step, a request left
//     unanswered too long) is the node failing: every connection is closed, pending commands
//     complete with `.connectionLost` (`.timedOut` for a liveness verdict), the pub/sub side
//     reports `.lost`, and the `onLost` hooks run (only if the node had been ready). Then all
//     connections are tried again together after a backoff (50 ms doubling to 1 s, back to
//     50 ms once the node was ready).
//   - Liveness, checked every 0.25 s: a command unanswered for `commandTimeoutSeconds` (a
//     replicated write: that plus the WAIT timeout), or a heartbeat PING or pub/sub request
//     past the heartbeat's reply timeout (PubSubShard.overdue), fails the node. The heartbeat
//     PINGs every connection that has had nothing pending and received nothing for the
//     heartbeat interval, so a server that hangs (SIGSTOP, a partition without a reset) is
//     noticed even when the node is idle, and no idle connection is closed by a Redis
//     `timeout` setting or a middlebox.
//   Why one verdict: a node whose connections disagree (commands up, pub/sub down) serves
//   readers that never hear of new records; treating the server as one thing keeps "ready"
//   meaning every part works, and one backoff keeps a struggling server from being hit by
//   three reconnect loops. The price: any connection failing costs the commands in flight on
//   the others (they answer 503, and are never resent).
// Commands fail fast (`.notConnected`) while the node is not ready, so the HTTP layer answers
// 503 instead of queueing. Scripts go as EVALSHA and are re-sent with EVAL on NOSCRIPT (after a
// restart or SCRIPT FLUSH); the node keeps the script hashes for all its connections.
//
// Why WAIT has its own connection: WAIT blocks the connection it is sent on. Redis answers
// nothing else sent there until WAIT returns, which is its full timeout when a replica lags or
// is missing (as right after a failover: the promoted replica has none). On the command
// connection every read and write of the shard would queue behind it. WAIT only counts the
// writes made on its own connection, so those writes go there too, not just the WAIT.
//
// Group commit: one WAIT in flight at a time. Writes whose replies arrive meanwhile share the
// next one (a WAIT covers every earlier write of its connection), so a burst of writes costs
// one WAIT. The next WAIT's timeout is what is left of the WAIT timeout counted from the
// group's oldest write, so with a lagging replica every write answers `.notReplicated` about
// one WAIT timeout after it was sent.
import Logging
import RelayIO

public struct RedisNodeOptions: Sendable {
    /// A command unanswered this long fails the node (callers get a 503 rather than waiting on
    /// a Redis that hangs). The cluster router also uses it as each command's whole deadline.
    public var commandTimeoutSeconds: Double
    /// How long WAIT may take after a write that replicas must confirm (milliseconds).
    public var waitTimeoutMilliseconds: Int
    /// Writes will ask replicas to confirm them: each node opens its replicated-writes connection.
    public var replicatedWrites: Bool
    /// Each node opens a pub/sub connection (ShardedPubSub). Off for command-only clients.
    public var subscriptions: Bool
    public var heartbeat: RedisHeartbeat
    /// The cap on a reply being read and on output not yet written, per connection.
    public var maxBufferedBytes: Int

    public init(commandTimeoutSeconds: Double = 2.0, waitTimeoutMilliseconds: Int = 1000, replicatedWrites: Bool = false,
                subscriptions: Bool = true, heartbeat: RedisHeartbeat = .standard,
                maxBufferedBytes: Int = RespConnection.defaultMaxBufferedBytes) {
        self.commandTimeoutSeconds = commandTimeoutSeconds
        self.waitTimeoutMilliseconds = waitTimeoutMilliseconds
        self.replicatedWrites = replicatedWrites
        self.subscriptions = subscriptions
        self.heartbeat = heartbeat
        self.maxBufferedBytes = maxBufferedBytes
    }
}

/// When an idle connection is pinged, and how long a pub/sub request may go unanswered.
public struct RedisHeartbeat: Sendable {
    /// PING after this long without anything from Redis (and nothing outstanding).
    public var intervalSeconds: Double
    /// A pub/sub request unanswered this long, with nothing received meanwhile (or 3 times
    /// this in any case), fails the node.
    public var replyTimeoutSeconds: Double
    public static let standard = RedisHeartbeat()

    public init(intervalSeconds: Double = 2.0, replyTimeoutSeconds: Double = 3.0) {
        self.intervalSeconds = intervalSeconds
        self.replyTimeoutSeconds = replyTimeoutSeconds
    }
}

public final class RedisNode {
    static let livenessTickSeconds = 0.25

    public let endpoint: RedisEndpoint
    public let options: RedisNodeOptions
    private let loop: EventLoop
    private let logger: Logger
    private let connector: RedisConnector
    private let commands = CommandLane()
    private let writes: CommandLane?
    /// The pub/sub side (nil without `subscriptions`).
    let pubsub: PubSubShard?

    /// The connections of the current attempt (empty while down).
    private var connections: [any RedisConnection] = []
    /// Connections of the current attempt that answered their first PING.
    private var answered = 0
    public private(set) var isReady = false
    private var stopped = true
    private var backoff = ReconnectBackoff()
    private var reconnectTimer: LoopTimer?
    private var livenessTimer: LoopTimer?
    private var shas: [String: String] = [:]
    /// Replicated writes whose replies are in, waiting for the next WAIT.
    private var unconfirmed: [(replicas: Int, sent: Double, done: (Bool) -> Void)] = []
    private var waitInFlight = false

    /// Run each time the node becomes ready, and when it goes down after being ready.
    var onReady: [() -> Void] = []
    var onLost: [() -> Void] = []

    init(loop: EventLoop, endpoint: RedisEndpoint, options: RedisNodeOptions, logger: Logger, connector: @escaping RedisConnector) {
        self.loop = loop
        self.endpoint = endpoint
        self.options = options
        self.logger = logger
        self.connector = connector
        writes = options.replicatedWrites ? CommandLane() : nil
        pubsub = options.subscriptions ? PubSubShard(endpoint: endpoint, heartbeat: options.heartbeat) : nil
        pubsub?.onAnswered = { [weak self] in self?.connectionAnswered() }
        pubsub?.onFailure = { [weak self] reason in self?.fail(reason) }
    }

    public func start() {
        guard stopped else { return }
        stopped = false
        connect()
    }

    /// Closes every connection. Pending commands complete with `.connectionLost`; no hook runs.
    public func stop() {
        guard !stopped else { return }
        stopped = true
        reconnectTimer?.cancel()
        reconnectTimer = nil
        close(.connectionLost)
    }

    // MARK: Commands

    /// Sends a command; while the node is not ready it answers `.failure(.notConnected)` at
    /// once. `asking`: ASKING first, back to back on the same connection (a cluster's ASK
    /// redirection: the target serves the one next command for a slot it is importing).
    public func send(_ args: [[UInt8]], asking: Bool = false, _ completion: @escaping (RedisReply) -> Void) {
        send(on: commands, args, asking: asking, completion)
    }

    public func send(_ args: [String], _ completion: @escaping (RedisReply) -> Void) {
        send(args.map { Array($0.utf8) }, completion)
    }

    private func send(on lane: CommandLane, _ args: [[UInt8]], asking: Bool, _ completion: @escaping (RedisReply) -> Void) {
        guard isReady else { return completion(.failure(.notConnected)) }
        let allowance = lane === writes
            ? options.commandTimeoutSeconds + Double(options.waitTimeoutMilliseconds) / 1000 : options.commandTimeoutSeconds
        if asking { lane.send([Array("ASKING".utf8)], allowance: allowance) { _ in } }
        lane.send(args, allowance: allowance, completion)
    }

    /// Runs a script (EVALSHA, EVAL on NOSCRIPT) with `keys` as KEYS. With `waitReplicas` > 0
    /// it runs on the replicated-writes connection and a successful reply waits for a WAIT sent
    /// after it: `written` runs when the script's reply is in, and fewer replicas confirming in
    /// time make the answer `.notReplicated`, after `unconfirmed` has been handed the reply.
    func run(_ script: LuaScript, keys: [[UInt8]], _ args: [[UInt8]], waitReplicas: Int, asking: Bool,
             written: (() -> Void)? = nil, unconfirmed: ((RedisReply) -> Void)?,
             _ completion: @escaping (RedisReply) -> Void) {
        guard waitReplicas > 0 else { return evaluate(script, keys, args, asking: asking, on: commands, completion) }
        guard let writes else {
            logger.error("a write asked for replicas but replicated writes are off", metadata: ["redis": "\(endpoint)"])
            return completion(.failure(.notSent))
        }
        let sent = Clock.monotonicSeconds()
        evaluate(script, keys, args, asking: asking, on: writes) { [weak self] reply in
            guard let self, reply.errorMessage == nil else { return completion(reply) }
            written?()
            self.unconfirmed.append((waitReplicas, sent, { confirmed in
                guard !confirmed else { return completion(reply) }
                unconfirmed?(reply)
                completion(.failure(.notReplicated))
            }))
            self.flushWait()
        }
    }

    /// EVALSHA (EVAL on NOSCRIPT, then SCRIPT LOAD to learn the hash).
    private func evaluate(_ script: LuaScript, _ keys: [[UInt8]], _ args: [[UInt8]], asking: Bool, on lane: CommandLane,
                          _ completion: @escaping (RedisReply) -> Void) {
        let argc = Array(String(keys.count).utf8)
        guard let sha = shas[script.name] else {
            send(on: lane, [Array("EVAL".utf8), script.source, argc] + keys + args, asking: asking) { [weak self] reply in
                if reply.errorMessage == nil { self?.learnSha(script) }
                completion(reply)
            }
            return
        }
        send(on: lane, [Array("EVALSHA".utf8), Array(sha.utf8), argc] + keys + args, asking: asking) { [weak self] reply in
            if let message = reply.errorMessage, message.hasPrefix("NOSCRIPT"), let self {
                self.shas[script.name] = nil
                self.evaluate(script, keys, args, asking: asking, on: lane, completion)
            } else {
                completion(reply)
            }
        }
    }

    private func learnSha(_ script: LuaScript) {
        send([Array("SCRIPT".utf8), Array("LOAD".utf8), script.source]) { [weak self] reply in
            if let sha = reply.string, reply.errorMessage == nil { self?.shas[script.name] = sha }
        }
    }

    /// One WAIT for every replicated write answered since the last one (group commit).
    private func flushWait() {
        guard !waitInFlight, !unconfirmed.isEmpty, let writes else { return }
        let group = unconfirmed
        unconfirmed = []
        waitInFlight = true
        // The group shares one WAIT for the most replicas any member needs (in practice they
        // all need the same: the setting is per process).
        let count = group.map(\.replicas).max() ?? 1
        let oldest = group.map(\.sent).min() ?? Clock.monotonicSeconds()
        let waited = Int((Clock.monotonicSeconds() - oldest) * 1000)
        // At least 1 ms: WAIT with timeout 0 blocks for ever.
        let timeout = max(1, options.waitTimeoutMilliseconds - waited)
        send(on: writes, [Array("WAIT".utf8), Array(String(count).utf8), Array(String(timeout).utf8)], asking: false) { [weak self] reply in
            // No integer (an error, a lost connection): nobody confirmed.
            let confirmed = reply.int ?? -1
            self?.waitInFlight = false
            for member in group { member.done(confirmed >= Int64(member.replicas)) }
            self?.flushWait()
        }
    }

    // MARK: Connections

    /// A connection's lane: what to do once the connection is up, and where its replies go.
    private typealias Lane = (attach: (any RedisConnection) -> Void, received: (RedisReply) -> Void)

    /// The lanes of this node, one connection each: commands, then replicated writes, then pub/sub.
    private func lanes() -> [Lane] {
        var lanes = [commandLane(commands)]
        if let writes { lanes.append(commandLane(writes)) }
        if let pubsub { lanes.append(({ pubsub.attach($0) }, { pubsub.received($0) })) }
        return lanes
    }

    private func commandLane(_ lane: CommandLane) -> Lane {
        ({ [weak self] in self?.attach($0, to: lane) },
         { [weak self] reply in if !lane.received(reply) { self?.fail("a reply nobody asked for: \(reply)") } })
    }

    private func connect() {
        answered = 0
        connections = lanes().map { lane in
            let connection = connector(endpoint)
            connection.onConnect = { [weak self, unowned connection] error in
                guard let self, self.isCurrent(connection) else { return }
                if let error { return self.fail(error) }
                lane.attach(connection)
            }
            connection.onDisconnect = { [weak self, unowned connection] error in
                guard let self, self.isCurrent(connection) else { return }
                self.fail(error ?? "closed by the server")
            }
            connection.onReply = lane.received
            return connection
        }
        livenessTimer = loop.every(Self.livenessTickSeconds) { [weak self] in self?.checkLiveness() }
        for connection in connections where !connection.connect() {
            return fail("cannot open a socket")
        }
    }

    private func isCurrent(_ connection: any RedisConnection) -> Bool {
        connections.contains { $0 === connection }
    }

    /// A command connection is up: its first PING decides whether Redis really serves.
    private func attach(_ connection: any RedisConnection, to lane: CommandLane) {
        lane.attach(connection)
        lane.send([Array("PING".utf8)], allowance: options.commandTimeoutSeconds) { [weak self] reply in
            guard let self else { return }
            switch reply {
            case .status("PONG"): self.connectionAnswered()
            case .failure: break   // the node failed meanwhile
            default: self.fail("PING refused: \(reply.errorMessage ?? "\(reply)")")
            }
        }
    }

    private func connectionAnswered() {
        answered += 1
        guard answered == connections.count, !isReady, !stopped else { return }
        isReady = true
        backoff.reset()
        logger.info("redis connected", metadata: ["redis": "\(endpoint)"])
        pubsub?.ready()
        onReady.forEach { $0() }
    }

    /// The node failed: close everything, tell everyone, try again after the backoff.
    private func fail(_ reason: String, timedOut: Bool = false) {
        guard !connections.isEmpty else { return }
        let wasReady = isReady
        close(timedOut ? .timedOut : .connectionLost)
        if wasReady {
            logger.warning("redis disconnected", metadata: ["redis": "\(endpoint)", "error": "\(reason)"])
            pubsub?.onEvent(.lost)
            onLost.forEach { $0() }
        } else {
            logger.debug("redis connect failed", metadata: ["redis": "\(endpoint)", "error": "\(reason)"])
        }
        guard !stopped else { return }
        let delay = backoff.next()
        reconnectTimer = loop.after(delay) { [weak self] in
            guard let self, !self.stopped else { return }
            self.reconnectTimer = nil
            self.connect()
        }
    }

    private func close(_ failure: RedisFailure) {
        livenessTimer?.cancel()
        livenessTimer = nil
        isReady = false
        let closing = connections
        connections = []
        closing.forEach { $0.disconnect() }
        pubsub?.detach()
        commands.detach(failure)
        writes?.detach(failure)
    }

    // MARK: Liveness

    private func checkLiveness() {
        let now = Clock.monotonicSeconds()
        let lanes = [commands, writes].compactMap { $0 }
        for lane in lanes {
            if let waited = lane.overdue(now: now) { return notAnswering(waited: waited) }
        }
        if let reason = pubsub?.overdue(now: now) {
            return notAnswering(reason)
        }
        guard isReady else { return }
        let heartbeat = options.heartbeat
        for lane in lanes where !lane.hasPending && now - lane.lastReceived >= heartbeat.intervalSeconds {
            lane.send([Array("PING".utf8)], allowance: heartbeat.replyTimeoutSeconds) { _ in }
        }
        pubsub?.heartbeatIfIdle(now: now)
    }

    private func notAnswering(waited: Double) {
        notAnswering("no reply within \(seconds(waited)) s")
    }

    private func notAnswering(_ reason: String) {
        if isReady {
            logger.warning("redis not answering; dropping its connections", metadata: ["redis": "\(endpoint)", "reason": "\(reason)"])
        }
        fail(reason, timedOut: true)
    }
}

/// Seconds to a tenth, for log lines ("2.1").
func seconds(_ value: Double) -> String { String((value * 10).rounded() / 10) }
