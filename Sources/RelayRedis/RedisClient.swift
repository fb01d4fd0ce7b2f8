// RedisClient: the relay's command connection to Redis, with reconnects and Lua scripts.
// Commands fail fast (an error reply at once) while Redis is unreachable, so the HTTP layer can
// answer 503 instead of queueing. Scripts are sent with EVALSHA and re-sent with EVAL when
// Redis answers NOSCRIPT (after a restart or SCRIPT FLUSH).
import Glibc
import Logging
import Metrics
import RelayIO

public final class RedisClient {
    private let loop: EventLoop
    public let endpoint: RedisEndpoint
    private let logger: Logger
    private var connection: RedisConnection?
    private var reconnectTimer: LoopTimer?
    private var backoff = 0.05
    private var shas: [String: String] = [:]
    private var stopped = false
    /// Send times of the commands awaiting replies, oldest first (Redis answers in order).
    private var inFlight: [Int64] = []
    private var inFlightHead = 0
    private var watchdog: LoopTimer?
    /// A command unanswered this long drops the connection, so callers get a 503 rather than
    /// waiting on a Redis that hangs (paused, or a partition without a reset).
    public var commandTimeoutSeconds = 2.0
    /// Round-trip time of every command (a histogram in Prometheus).
    private let latency = Metrics.Timer(label: "relay_redis_command_duration_seconds")
    /// Runs after every successful (re)connect.
    public var onConnected: [() -> Void] = []
    public var onDisconnected: [() -> Void] = []

    public init(loop: EventLoop, endpoint: RedisEndpoint, logger: Logger) {
        self.loop = loop
        self.endpoint = endpoint
        self.logger = logger
    }

    public var isConnected: Bool { connection?.isConnected ?? false }

    public func start() {
        stopped = false
        connect()
        watchdog = loop.every(0.25) { [weak self] in self?.checkDeadline() }
    }

    private func checkDeadline() {
        guard inFlightHead < inFlight.count, let connection else { return }
        let waited = Double(monotonicNanoseconds() - inFlight[inFlightHead]) / 1e9
        guard waited > commandTimeoutSeconds else { return }
        logger.warning("redis not answering; dropping the connection", metadata: ["redis": "\(endpoint)", "waited": "\(waited)"])
        connection.abort()
    }

    public func stop() {
        stopped = true
        watchdog?.cancel()
        reconnectTimer?.cancel()
        connection?.disconnect()
    }

    private func connect() {
        let connection = RedisConnection(loop: loop, endpoint: endpoint)
        self.connection = connection
        connection.onConnect = { [weak self, weak connection] error in
            guard let self, let connection, connection === self.connection else { return }
            if let error {
                self.logger.debug("redis connect failed", metadata: ["redis": "\(self.endpoint)", "error": "\(error)"])
                self.connection = nil
                self.scheduleReconnect()
            } else {
                // The backoff is reset by the first good reply, not by the TCP connect: a Redis
                // that accepts and then refuses (maxclients, LOADING) must not be hammered.
                self.logger.info("redis connected", metadata: ["redis": "\(self.endpoint)"])
                self.onConnected.forEach { $0() }
            }
        }
        connection.onDisconnect = { [weak self, weak connection] error in
            guard let self, let connection, connection === self.connection else { return }
            self.connection = nil
            self.inFlight.removeAll()
            self.inFlightHead = 0
            self.logger.warning("redis disconnected", metadata: ["redis": "\(self.endpoint)", "error": "\(error ?? "closed")"])
            self.onDisconnected.forEach { $0() }
            if !self.stopped { self.scheduleReconnect() }
        }
        connection.connect()
    }

    private func scheduleReconnect() {
        guard !stopped else { return }
        let delay = backoff
        backoff = min(backoff * 2, 1.0)
        reconnectTimer = loop.after(delay) { [weak self] in self?.connect() }
    }

    /// Sends a command; a down connection answers `.error("DOWN ...")` at once.
    public func send(_ args: [[UInt8]], _ completion: @escaping (RedisReply) -> Void) {
        guard let connection, connection.isConnected else {
            completion(.error("DOWN redis unavailable"))
            return
        }
        let started = monotonicNanoseconds()
        inFlight.append(started)
        connection.send(args) { [weak self, latency] reply in
            latency.recordNanoseconds(monotonicNanoseconds() - started)
            self?.replied(ok: reply.errorMessage == nil)
            completion(reply)
        }
    }

    public func send(_ args: [String], _ completion: @escaping (RedisReply) -> Void) {
        send(args.map { Array($0.utf8) }, completion)
    }

    private func replied(ok: Bool) {
        if ok { backoff = 0.05 }
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

    /// Runs a script (EVALSHA, falling back to EVAL on NOSCRIPT). Keys are derived inside the
    /// scripts from the prefix, so every script is called with no KEYS.
    public func run(_ script: LuaScript, _ args: [[UInt8]], _ completion: @escaping (RedisReply) -> Void) {
        let argc = Array(String(0).utf8)
        guard let sha = shas[script.name] else {
            send([Array("EVAL".utf8), script.source, argc] + args) { [weak self] reply in
                if reply.errorMessage == nil { self?.learnSha(script) }
                completion(reply)
            }
            return
        }
        send([Array("EVALSHA".utf8), Array(sha.utf8), argc] + args) { [weak self] reply in
            if let message = reply.errorMessage, message.hasPrefix("NOSCRIPT") {
                self?.shas[script.name] = nil
                self?.run(script, args, completion)
            } else {
                completion(reply)
            }
        }
    }

    public func run(_ script: LuaScript, _ args: [String], _ completion: @escaping (RedisReply) -> Void) {
        run(script, args.map { Array($0.utf8) }, completion)
    }

    private func learnSha(_ script: LuaScript) {
        send([Array("SCRIPT".utf8), Array("LOAD".utf8), script.source]) { [weak self] reply in
            if let sha = reply.string, reply.errorMessage == nil { self?.shas[script.name] = sha }
        }
    }
}

func monotonicNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}
