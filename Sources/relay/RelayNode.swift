// RelayNode: one relay process, and its composition root: `makeServices` builds every part of
// the node in start order as Services (Service.swift), `makeRedis` is the one place the Redis
// objects are made, and `run` runs the group until SIGTERM/SIGINT has drained it or a fatal
// condition (a Redis older than 7.0) has stopped it, and returns the exit status.
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

    /// Runs the node until it has drained (SIGTERM, SIGINT) or failed; returns the exit status
    /// for `relay serve` (0 after a drain).
    func run() throws -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        let loop = EventLoop()
        let services = try makeServices(loop: loop)
        let term = SignalWatcher(loop: loop, signal: SIGTERM) { services.drain(signal: "SIGTERM") }
        let int = SignalWatcher(loop: loop, signal: SIGINT) { services.drain(signal: "SIGINT") }
        let status = try withExtendedLifetime((term, int)) { try services.run() }
        logger.info("stopped", metadata: ["exitStatus": "\(status)"])
        return status
    }

    /// The node's services, in start order (each uses those before it); they drain and stop
    /// in reverse:
    ///   embedded redis-server (without a Redis URL) > Redis clients > index sweeper > outbox
    ///   sweeper > API (RelayServer) > status board > HTTP server.
    /// So on SIGTERM the node stops accepting, says not-ready (/readyz 503), ends its streams,
    /// stops the sweepers and the embedded server's supervision, waits for in-flight requests
    /// (HTTPService), and only then closes Redis and stops the embedded server.
    private func makeServices(loop: EventLoop) throws -> ServiceGroup {
        let services = ServiceGroup(loop: loop, logger: logger)
        let fileLimit = raiseOpenFileLimit()

        let target: RedisTarget
        if let configured = try config.redisTarget() {
            target = configured
        } else {
            let embedded = EmbeddedRedis(dataDir: config.dataDir, binary: config.redisServer)
            try embedded.addDevEnvironmentIfNone(&config)
            services.add(embedded.service(loop: loop, logger: logger))
            target = .single(.unix(path: embedded.socketPath))
        }
        guard !config.environments.isEmpty else {
            throw ConfigError(description: "environments: none configured (set RELAY_ENVIRONMENTS or 'environments' in the config file)")
        }

        let redis = makeRedis(loop: loop, target: target)
        services.add(redis.service)

        let keys = RedisKeys(prefix: config.keyPrefix)
        let forwarder = OutboxForwarder(redis: redis.commands, keys: keys, waitReplicas: config.redisWaitReplicas, logger: logger)
        let store = SessionStore(redis: redis.commands, keys: keys, retentionSeconds: config.retentionSeconds, forwarder: forwarder)
        let channels = ChannelStore(loop: loop, redis: redis.commands, sessions: store, settings: ChannelSettings(
            maxRecordsPerChannel: config.maxRecordsPerChannel, dedupWindowSeconds: config.dedupWindowSeconds,
            waitReplicas: config.redisWaitReplicas))
        let hub = FanoutHub(loop: loop, pubsub: redis.pubsub, channels: channels, settings: FanoutSettings(
            maxUnsentBytes: config.maxUnsentBytes, pingIntervalSeconds: config.pingIntervalSeconds,
            retryMilliseconds: config.sseRetryMilliseconds))
        let environments = config.environments
        redis.commands.onConnected.append { [logger] in
            store.ensureRunGroups(environments: environments, failed: { env, error in
                logger.error("cannot create the run consumer group; runs of this environment are not dispatched",
                             metadata: ["environment": "\(env)", "error": "\(error)"])
            })
            RedisVersion.check(redis.commands) { [weak services] problem in
                if let problem { services?.fail(status: 2, problem) }
            }
        }

        // Index sweeper: every sweepIntervalSeconds (0: off). The outbox walk is what keeps run
        // dispatch at least once: it never turns off (a short sweep interval, as tests use,
        // makes it faster).
        let sweeper = IndexSweeper(loop: loop, redis: redis.commands, keys: keys, environments: environments.map(\.id),
                                   intervalSeconds: config.sweepIntervalSeconds, logger: logger)
        services.add(ServiceHooks("index sweeper", start: sweeper.start, drain: { sweeper.stop(); $0() }))
        let outboxSweeper = OutboxSweeper(loop: loop, redis: redis.commands, keys: keys, forwarder: forwarder,
                                          intervalSeconds: config.sweepIntervalSeconds > 0 ? min(1, config.sweepIntervalSeconds) : 1,
                                          logger: logger)
        services.add(ServiceHooks("outbox sweeper", start: outboxSweeper.start, drain: { outboxSweeper.stop(); $0() }))

        // The HTTP server is bound now: the node's default name carries the bound port.
        let (host, port) = try config.listenAddress()
        let http = HTTPServer(loop: loop, limits: config.httpLimits(openFileLimit: fileLimit))
        if !config.tlsCertFile.isEmpty { try http.useTLS(certFile: config.tlsCertFile, keyFile: config.tlsKeyFile) }
        let bound = try http.listen(host: host, port: port, reusePort: reusePort)
        let nodeName = config.nodeName.isEmpty ? "\(ProcessInfo.processInfo.hostName):\(bound)/\(getpid())" : config.nodeName
        // Heartbeat to Redis every second; /status, /status.json, /status/stream. Workers
        // (`workers: N`) sharing a configured name are told apart by their process id.
        let statusName = reusePort && !config.nodeName.isEmpty ? "\(nodeName)/\(getpid())" : nodeName
        var serverConfig = RelayServerConfig(environments: environments, allowedOrigins: config.allowedOrigins,
                                             requestLog: config.requestLog, tokenTTLSeconds: Int64(config.tokenTTLSeconds),
                                             nodeName: nodeName, status: StatusSettings(token: config.statusToken, nodeName: statusName))
        serverConfig.s2.basin = config.s2Basin
        serverConfig.s2.endpoint = config.s2Endpoint.isEmpty ? nil : config.s2Endpoint
        serverConfig.s2.tokenTTLSeconds = Int64(config.s2TokenTTLSeconds)
        serverConfig.s2.flushIntervalMs = config.s2FlushIntervalMs
        serverConfig.s2.scheme = config.tlsCertFile.isEmpty ? "http" : "https"
        let server = RelayServer(
            config: serverConfig,
            redis: redis.commands, store: store, channels: channels, hub: hub,
            readings: RelayServerReadings(
                openRequests: { [unowned http] in http.outstanding },
                httpCounters: { [unowned http] in
                    HTTPCountersSnapshot(openConnections: http.openConnections, bufferedBodyBytes: http.bufferedBodyBytes,
                                         counters: http.counters)
                },
                renderMetrics: { [registry] in registry.emitToBuffer() },
                sweeper: sweeper),
            logger: logger)
        services.add(ServiceHooks("api", drain: { server.beginDrain(); $0() }))
        if let status = server.status {
            services.add(ServiceHooks("status", start: status.start, drain: { status.beginDrain(); $0() }, stop: status.stop))
        }

        http.onHead = { server.admit($0) }
        http.onRequest = { server.handle($0) }
        http.onRefusal = { server.refuse($0, status: $1, message: $2) }
        http.onWarning = { [logger] in logger.warning("\($0)") }
        services.add(HTTPService(http: http, loop: loop, url: "\(http.servesTLS ? "https" : "http")://\(host):\(bound)", grace: config.drainGraceSeconds,
                                 timeout: config.drainTimeoutSeconds, logger: logger, metadata: [
            "listen": "\(host):\(bound)", "redis": "\(target)", "environments": "\(environments.map(\.slug))",
            "keyPrefix": "\(config.keyPrefix)", "allowedOrigins": "\(config.allowedOrigins)", "openFileLimit": "\(fileLimit)",
        ]))
        return services
    }

    /// The node's Redis: a node object per endpoint, the command router and the sharded pub/sub
    /// over them (RedisBackend), and the service that starts and stops it. The only place they
    /// are constructed.
    private func makeRedis(loop: EventLoop, target: RedisTarget) -> (commands: any RedisCommands, pubsub: PubSubChannels, service: Service) {
        let backend = RedisBackend(loop: loop, target: target, options: RedisNodeOptions(
            waitTimeoutMilliseconds: config.redisWaitTimeoutMs, replicatedWrites: config.redisWaitReplicas > 0), logger: logger)
        let service = ServiceHooks("redis", start: backend.start, stop: backend.stop)
        return (backend.commands, backend.pubsub, service)
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
    /// Starts the embedded redis-server for the supervisor of `relay serve --workers N` without
    /// a Redis URL, and gives the config a dev environment when none is configured.
    static func startForRelay(config: inout RelayConfig, logger: Logger) throws -> EmbeddedRedis {
        let redis = EmbeddedRedis(dataDir: config.dataDir, binary: config.redisServer)
        try redis.start()
        logger.info("embedded redis-server started", metadata: ["socket": "\(redis.socketPath)"])
        try redis.addDevEnvironmentIfNone(&config)
        return redis
    }

    /// A node's embedded redis-server: started (waiting for its socket) before the Redis
    /// clients, supervised every second (restarted if it dies) until the node drains, stopped
    /// after the clients.
    func service(loop: EventLoop, logger: Logger) -> Service {
        var supervisor: LoopTimer?
        return ServiceHooks("embedded redis-server", start: {
            try self.start()
            logger.info("embedded redis-server started", metadata: ["socket": "\(self.socketPath)"])
            supervisor = loop.every(1.0) { self.supervise(logger: logger) }
        }, drain: {
            supervisor?.cancel()
            $0()
        }, stop: {
            supervisor?.cancel()
            self.stop()
        })
    }

    /// With no environment configured, the dev environment (printing its key); its key is
    /// kept in the data directory.
    func addDevEnvironmentIfNone(_ config: inout RelayConfig) throws {
        guard config.environments.isEmpty else { return }
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        let file = dataDir.appendingPathComponent("dev-secret-key")
        var key = (try? String(contentsOf: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if key.isEmpty {
            key = "tr_dev_" + String(FriendlyID.session().dropFirst("session_".count))
            try Data(key.utf8).write(to: file)
        }
        config.environments = [RelayEnvironment(id: "env_dev", slug: "dev", secretKeys: [key])]
        print("relay: dev environment env_dev, secret key: \(key)")
    }
}
