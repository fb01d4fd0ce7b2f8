// RelayNode: one relay process. Wires the loop, Redis, the HTTP server and signals together.
import Foundation
import Logging
import Metrics
import Prometheus
import RelayCore
import RelayHTTP
import RelayIO
import RelayRedis
import RelayStorage

final class RelayNode {
    private var config: RelayConfig
    private let reusePort: Bool
    private let logger: Logger
    private let registry = PrometheusCollectorRegistry()

    init(config: RelayConfig, reusePort: Bool) {
        self.config = config
        self.reusePort = reusePort
        bootstrapLogging(level: config.logLevel)
        self.logger = Logger(label: "relay")
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(1000),
        ]
        MetricsSystem.bootstrap(factory)
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let fileLimit = raiseOpenFileLimit()
        var embedded: EmbeddedRedis?
        let target: RedisTarget
        if let configured = try config.redisTarget() {
            target = configured
        } else {
            let redis = try EmbeddedRedis.startForRelay(config: &config, logger: logger)
            embedded = redis
            target = .single(.unix(path: redis.socketPath))
        }
        guard !config.environments.isEmpty else {
            throw ConfigError(description: "environments: none configured (set RELAY_ENVIRONMENTS or 'environments' in the config file)")
        }

        let loop = EventLoop()
        let backend = makeRedis(loop: loop, target: target)
        let redis = backend.commands
        let pubsub = backend.pubsub
        let keys = RedisKeys(prefix: config.keyPrefix)
        let forwarder = OutboxForwarder(redis: redis, keys: keys, waitReplicas: config.redisWaitReplicas, logger: logger)
        let store = SessionStore(redis: redis, keys: keys, retentionSeconds: config.retentionSeconds, forwarder: forwarder)
        let channels = ChannelStore(redis: redis, sessions: store, settings: ChannelSettings(
            maxRecordsPerChannel: config.maxRecordsPerChannel, dedupWindowSeconds: config.dedupWindowSeconds,
            waitReplicas: config.redisWaitReplicas))
        let hub = FanoutHub(loop: loop, pubsub: pubsub, channels: channels, settings: FanoutSettings(
            maxUnsentBytes: config.maxUnsentBytes, pingIntervalSeconds: config.pingIntervalSeconds,
            retryMilliseconds: config.sseRetryMilliseconds))
        let (host, port) = try config.listenAddress()
        let server = RelayServer(
            config: RelayServerConfig(environments: config.environments, allowedOrigins: config.allowedOrigins,
                                      requestLog: config.requestLog, tokenTTLSeconds: Int64(config.tokenTTLSeconds),
                                      sweepIntervalSeconds: config.sweepIntervalSeconds),
            redis: redis, store: store, channels: channels, hub: hub, logger: logger)
        let environments = config.environments
        redis.onConnected.append { [logger] in
            store.ensureRunGroups(environments: environments, failed: { env, error in
                logger.error("cannot create the run consumer group; runs of this environment are not dispatched",
                             metadata: ["environment": "\(env)", "error": "\(error)"])
            })
            RedisVersion.check(redis) { problem in
                guard let problem else { return }
                logger.critical("\(problem)")
                print("relay: \(problem)")
                exit(2)
            }
        }

        let http = HTTPServer(loop: loop, limits: config.httpLimits(openFileLimit: fileLimit))
        http.onHead = { server.admit($0) }
        http.onRequest = { server.handle($0) }
        http.onRefusal = { server.refuse($0, status: $1, message: $2) }
        http.onWarning = { [logger] in logger.warning("\($0)") }
        server.openRequests = { [unowned http] in http.outstanding }
        server.httpCounters = { [unowned http] in
            HTTPCountersSnapshot(openConnections: http.openConnections, bufferedBodyBytes: http.bufferedBodyBytes,
                                 counters: http.counters)
        }
        server.renderMetrics = { [registry] in registry.emitToBuffer() }
        let bound = try http.listen(host: host, port: port, reusePort: reusePort)
        server.nodeName = config.nodeName.isEmpty ? "\(ProcessInfo.processInfo.hostName):\(bound)/\(getpid())" : config.nodeName
        // Heartbeat to Redis every second; /status, /status.json, /status/stream. Workers
        // (`workers: N`) sharing a configured name are told apart by their process id.
        let statusName = reusePort && !config.nodeName.isEmpty ? "\(server.nodeName)/\(getpid())" : server.nodeName
        let status = server.enableStatus(StatusSettings(token: config.statusToken, nodeName: statusName))
        backend.start()

        logger.info("relay listening", metadata: [
            "listen": "\(host):\(bound)", "redis": "\(target)", "environments": "\(environments.map(\.slug))",
            "keyPrefix": "\(config.keyPrefix)", "allowedOrigins": "\(config.allowedOrigins)", "openFileLimit": "\(fileLimit)",
        ])
        print("relay: listening on http://\(host):\(bound)")
        fflush(stdout)

        var supervisor: LoopTimer?
        if let embedded {
            supervisor = loop.every(1.0) { [logger] in
                embedded.supervise(logger: logger)
            }
        }
        // Graceful drain: stop accepting, say not-ready, end streams cleanly (clients resume on
        // other nodes), wait for in-flight requests (appends) up to the drain timeout, exit 0.
        var drainTimer: LoopTimer?
        let drainTimeout = max(config.drainTimeoutSeconds, config.drainGraceSeconds)
        let drainGrace = config.drainGraceSeconds
        let shutdown = { [logger] (name: String) in
            guard drainTimer == nil else { return }
            logger.info("draining", metadata: ["signal": "\(name)", "openRequests": "\(http.outstanding)"])
            http.stopListening()
            http.closeAfterEveryResponse = true
            server.beginDrain()
            status.beginDrain()
            supervisor?.cancel()
            let started = Clock.monotonicSeconds()
            drainTimer = loop.every(0.02) {
                let elapsed = Clock.monotonicSeconds() - started
                guard (http.outstanding == 0 && elapsed >= drainGrace) || elapsed >= drainTimeout else { return }
                logger.info("drained", metadata: ["unfinished": "\(http.outstanding)"])
                drainTimer?.cancel()
                backend.stop()
                loop.stop()
            }
        }
        let term = SignalWatcher(loop: loop, signal: SIGTERM) { shutdown("SIGTERM") }
        let int = SignalWatcher(loop: loop, signal: SIGINT) { shutdown("SIGINT") }
        loop.run()
        withExtendedLifetime((term, int, http, server, supervisor)) {}
        embedded?.stop()
        logger.info("stopped")
    }


    /// The Redis side: a node per endpoint, the command router and the sharded pub/sub over them.
    private func makeRedis(loop: EventLoop, target: RedisTarget) -> RedisBackend {
        RedisBackend(loop: loop, target: target, options: RedisNodeOptions(
            waitTimeoutMilliseconds: config.redisWaitTimeoutMs, replicatedWrites: config.redisWaitReplicas > 0), logger: logger)
    }
}

func bootstrapLogging(level: String) {
    let level = Logger.Level(rawValue: level) ?? .info
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}


extension EmbeddedRedis {
    /// Starts the embedded redis-server for `relay serve` without a Redis URL, and gives the
    /// config a dev environment (printing its key) when none is configured.
    static func startForRelay(config: inout RelayConfig, logger: Logger) throws -> EmbeddedRedis {
        let redis = EmbeddedRedis(dataDir: config.dataDir, binary: config.redisServer)
        try redis.start()
        logger.info("embedded redis-server started", metadata: ["socket": "\(redis.socketPath)"])
        if config.environments.isEmpty {
            config.environments = [try devEnvironment(dataDir: redis.dataDir)]
            print("relay: dev environment env_dev, secret key: \(config.environments[0].secretKeys[0])")
        }
        return redis
    }

    /// The embedded mode's dev environment; its key is kept in the data directory.
    private static func devEnvironment(dataDir: URL) throws -> RelayEnvironment {
        let file = dataDir.appendingPathComponent("dev-secret-key")
        if let key = try? String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), !key.isEmpty {
            return RelayEnvironment(id: "env_dev", slug: "dev", secretKeys: [key])
        }
        let key = "tr_dev_" + String(FriendlyID.session().dropFirst("session_".count))
        try Data(key.utf8).write(to: file)
        return RelayEnvironment(id: "env_dev", slug: "dev", secretKeys: [key])
    }
}
