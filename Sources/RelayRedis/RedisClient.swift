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
    private let link: RedisLink
    private let logger: Logger
    private var shas: [String: String] = [:]
    /// Send times of the commands awaiting replies, oldest first (Redis answers in order).
    private var inFlight: [Int64] = []
    private var inFlightHead = 0
    private var watchdog: LoopTimer?
    /// A command unanswered this long drops the connection, so callers get a 503 rather than
    /// waiting on a Redis that hangs (paused, or a partition without a reset).
    public var commandTimeoutSeconds = 2.0
    /// Round-trip time of every command (a histogram in Prometheus).
    private let latency = Metrics.Timer(label: "relay_redis_command_duration_seconds")

    public init(loop: EventLoop, endpoint: RedisEndpoint, logger: Logger) {
        self.loop = loop
        self.logger = logger
        link = RedisLink(loop: loop, endpoint: endpoint, logger: logger, role: "commands")
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
        link.start()
        watchdog = loop.every(0.25) { [weak self] in self?.checkDeadline() }
    }

    public func stop() {
        watchdog?.cancel()
        link.stop()
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

