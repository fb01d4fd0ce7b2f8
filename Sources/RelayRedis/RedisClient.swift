// RedisClient: the relay's command connection to Redis, with reconnects and Lua scripts.
// Commands fail fast (an error reply at once) while Redis is unreachable, so the HTTP layer can
// answer 503 instead of queueing. Scripts are sent with EVALSHA and re-sent with EVAL when
// Redis answers NOSCRIPT (after a restart or SCRIPT FLUSH). Writes that replicas must confirm
// (WAIT) go over a second connection, its WaitLane, so that WAIT never holds up the others.
import Glibc
import Logging
import Metrics
import RelayIO

public final class RedisClient: RedisCommands {
    private let loop: EventLoop
    private let link: RedisLink
    private let logger: Logger
    private var shas: [String: String] = [:]
    /// Send times of the commands awaiting replies, oldest first (Redis answers in order).
    private var inFlight: [Int64] = []
    private var inFlightHead = 0
    private var watchdog: LoopTimer?
    /// A command unanswered this long drops the connection, so callers get a 503 rather than
    /// waiting on a Redis that hangs (paused, or a partition without a reset).
    public var commandTimeoutSeconds = 2.0 {
        didSet { lane?.commandTimeoutSeconds = commandTimeoutSeconds }
    }
    /// How long WAIT may take after a write when replicas must confirm it (milliseconds).
    public var waitTimeoutMilliseconds = 1000 {
        didSet { lane?.waitTimeoutMilliseconds = waitTimeoutMilliseconds }
    }
    /// Writes will ask for replicas (RELAY_REDIS_WAIT_REPLICAS > 0): open the WaitLane's
    /// connection with this one. Otherwise it opens on the first such write, which then
    /// answers `.notConnected` (a cluster retries it).
    public var replicatedWrites = false {
        didSet { if replicatedWrites { _ = waitLane() } }
    }
    private var lane: WaitLane?
    private var started = false
    /// Round-trip time of every command (a histogram in Prometheus).
    private let latency = Metrics.Timer(label: "relay_redis_command_duration_seconds")

    public init(loop: EventLoop, endpoint: RedisEndpoint, logger: Logger, role: String = "commands") {
        self.loop = loop
        self.logger = logger
        link = RedisLink(loop: loop, endpoint: endpoint, logger: logger, role: role)
        link.onDisconnected.append { [weak self] in
            self?.inFlight.removeAll()
            self?.inFlightHead = 0
        }
    }

    public var endpoint: RedisEndpoint { link.endpoint }
    public var isConnected: Bool { link.live != nil }

    /// Runs after every successful (re)connect (a drop runs `onDisconnected`).
    public var onConnected: [() -> Void] {
        get { link.onConnected }
        set { link.onConnected = newValue }
    }
    public var onDisconnected: [() -> Void] {
        get { link.onDisconnected }
        set { link.onDisconnected = newValue }
    }

    public func start() {
        started = true
        link.start()
        lane?.start()
        watchdog = loop.every(0.25) { [weak self] in self?.checkDeadline() }
    }

    public func stop() {
        started = false
        watchdog?.cancel()
        link.stop()
        lane?.stop()
    }

    private func waitLane() -> WaitLane {
        if let lane { return lane }
        let lane = WaitLane(loop: loop, endpoint: endpoint, logger: logger)
        lane.commandTimeoutSeconds = commandTimeoutSeconds
        lane.waitTimeoutMilliseconds = waitTimeoutMilliseconds
        self.lane = lane
        if started { lane.start() }
        return lane
    }

    private func checkDeadline() {
        guard inFlightHead < inFlight.count, let connection = link.live else { return }
        let waited = Double(Clock.monotonicNanoseconds() - inFlight[inFlightHead]) / 1e9
        guard waited > commandTimeoutSeconds else { return }
        logger.warning("redis not answering; dropping the connection", metadata: ["redis": "\(endpoint)", "waited": "\(waited)"])
        connection.abort(timedOut: true)
    }

    /// Sends a command; a down connection answers `.failure(.notConnected)` at once.
    public func send(_ args: [[UInt8]], _ completion: @escaping (RedisReply) -> Void) {
        guard let connection = link.live else {
            completion(.failure(.notConnected))
            return
        }
        let started = Clock.monotonicNanoseconds()
        inFlight.append(started)
        connection.send(args) { [weak self, latency] reply in
            latency.recordNanoseconds(Clock.monotonicNanoseconds() - started)
            self?.replied(ok: reply.errorMessage == nil)
            completion(reply)
        }
    }

    public func send(_ args: [String], _ completion: @escaping (RedisReply) -> Void) {
        send(args.map { Array($0.utf8) }, completion)
    }

    /// `asking`: ASKING first, on this connection, back to back with the command (a cluster's
    /// ASK redirection: the target serves the one next command for a slot it is importing).
    public func send(_ args: [[UInt8]], asking: Bool, _ completion: @escaping (RedisReply) -> Void) {
        if asking { send([Array("ASKING".utf8)]) { _ in } }
        send(args, completion)
    }

    private func replied(ok: Bool) {
        if ok { link.answered() }
        guard inFlightHead < inFlight.count else { return }
        inFlightHead += 1
        if inFlightHead == inFlight.count {
            inFlight.removeAll(keepingCapacity: true)
            inFlightHead = 0
        } else if inFlightHead > 1024 {
            inFlight.removeFirst(inFlightHead)
            inFlightHead = 0
        }
    }

    /// A single instance serves every key: the routing key is not needed.
    public func send(key: [UInt8]?, _ args: [[UInt8]], _ completion: @escaping (RedisReply) -> Void) {
        send(args, completion)
    }

    /// Runs a script (EVALSHA, falling back to EVAL on NOSCRIPT) with `keys` as KEYS. With
    /// `waitReplicas` > 0 it runs on the WaitLane's connection and a successful reply waits for
    /// a `WAIT waitReplicas timeout` sent after it; fewer replicas confirming make it
    /// `.notReplicated`, after `unconfirmed` has been handed the script's reply.
    public func run(_ script: LuaScript, keys: [[UInt8]], _ args: [[UInt8]], waitReplicas: Int,
                    unconfirmed: ((RedisReply) -> Void)?, _ completion: @escaping (RedisReply) -> Void) {
        run(script, keys, args, waitReplicas: waitReplicas, asking: false, unconfirmed: unconfirmed, completion)
    }

    /// `run` for the cluster router: `asking` precedes the script with ASKING on the same
    /// connection; `written` runs once a write that waits for replicas is in (WAIT follows).
    func run(_ script: LuaScript, _ keys: [[UInt8]], _ args: [[UInt8]], waitReplicas: Int, asking: Bool,
             written: (() -> Void)? = nil, unconfirmed: ((RedisReply) -> Void)?,
             _ completion: @escaping (RedisReply) -> Void) {
        guard waitReplicas > 0 else { return evaluate(script, keys, args, asking: asking, completion) }
        waitLane().run(script, keys: keys, args, replicas: waitReplicas, asking: asking, written: written) { reply, confirmed in
            guard !confirmed else { return completion(reply) }
            unconfirmed?(reply)
            completion(.failure(.notReplicated))
        }
    }

    /// EVALSHA (EVAL on NOSCRIPT). `asking`: each attempt is preceded by ASKING on this
    /// connection (a cluster's ASK redirection; the two go out back to back).
    public func evaluate(_ script: LuaScript, _ keys: [[UInt8]], _ args: [[UInt8]], asking: Bool,
                         _ completion: @escaping (RedisReply) -> Void) {
        let argc = Array(String(keys.count).utf8)
        if asking { send([Array("ASKING".utf8)]) { _ in } }
        guard let sha = shas[script.name] else {
            send([Array("EVAL".utf8), script.source, argc] + keys + args) { [weak self] reply in
                if reply.errorMessage == nil { self?.learnSha(script) }
                completion(reply)
            }
            return
        }
        send([Array("EVALSHA".utf8), Array(sha.utf8), argc] + keys + args) { [weak self] reply in
            if let message = reply.errorMessage, message.hasPrefix("NOSCRIPT") {
                self?.shas[script.name] = nil
                self?.evaluate(script, keys, args, asking: asking, completion)
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
}

