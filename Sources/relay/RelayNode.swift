// RelayNode: one relay process. Wires the loop, Redis, the HTTP server and signals together.
import Foundation
import Logging
import RelayCore
import RelayHTTP
import RelayIO
import RelayRedis

final class RelayNode {
    private var config: RelayConfig
    private let logger: Logger

    init(config: RelayConfig) {
        self.config = config
        let level = Logger.Level(rawValue: config.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        self.logger = Logger(label: "relay")
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        var embedded: EmbeddedRedis?
        let endpoint: RedisEndpoint
        if let configured = try config.redisEndpoint() {
            endpoint = configured
        } else {
            let redis = EmbeddedRedis(dataDir: config.dataDir, binary: config.redisServer)
            try redis.start()
            embedded = redis
            endpoint = .unix(path: redis.socketPath)
            logger.info("embedded redis-server started", metadata: ["socket": "\(redis.socketPath)"])
            if config.environments.isEmpty {
                config.environments = [try devEnvironment(dataDir: redis.dataDir)]
                print("relay: dev environment env_dev, secret key: \(config.environments[0].secretKeys[0])")
            }
        }
        guard !config.environments.isEmpty else {
            throw ConfigError(description: "environments: none configured (set RELAY_ENVIRONMENTS or 'environments' in the config file)")
        }

        let loop = EventLoop()
        let redis = RedisClient(loop: loop, endpoint: endpoint, logger: logger)
        let pubsub = PubSubClient(loop: loop, endpoint: endpoint, logger: logger)
        let keys = RedisKeys(prefix: config.keyPrefix)
        let store = SessionStore(redis: redis, keys: keys, retentionSeconds: config.retentionSeconds)
        let channels = ChannelStore(redis: redis, keys: keys, settings: ChannelSettings(
            maxRecordsPerChannel: config.maxRecordsPerChannel, dedupWindowSeconds: config.dedupWindowSeconds))
        let hub = FanoutHub(loop: loop, pubsub: pubsub, channels: channels, settings: FanoutSettings(
            maxUnsentBytes: config.maxUnsentBytes, pingIntervalSeconds: config.pingIntervalSeconds))
        let server = RelayServer(
            config: RelayServerConfig(environments: config.environments, allowedOrigins: config.allowedOrigins,
                                      requestLog: config.requestLog, tokenTTLSeconds: Int64(config.tokenTTLSeconds)),
            redis: redis, store: store, channels: channels, hub: hub, logger: logger)
        let environments = config.environments
        redis.onConnected.append { store.ensureRunGroups(environments: environments) }

        let http = HTTPServer(loop: loop, maxBodySize: BodyLimit.record, timeoutSeconds: Int32(config.httpTimeoutSeconds))
        http.onRequest = { server.handle($0) }
        let (host, port) = try config.listenAddress()
        let bound = try http.listen(host: host, port: port)
        redis.start()
        pubsub.start()

        logger.info("relay listening", metadata: [
            "listen": "\(host):\(bound)", "redis": "\(endpoint)", "environments": "\(environments.map(\.slug))",
            "keyPrefix": "\(config.keyPrefix)", "allowedOrigins": "\(config.allowedOrigins)",
        ])
        print("relay: listening on http://\(host):\(bound)")
        fflush(stdout)

        var supervisor: LoopTimer?
        if let embedded {
            supervisor = loop.every(1.0) { [logger] in
                if embedded.superviseTick() { logger.warning("embedded redis-server died; restarted it") }
            }
        }
        let shutdown = { [logger] (name: String) in
            logger.info("shutting down", metadata: ["signal": "\(name)"])
            server.beginDrain()
            http.stopListening()
            supervisor?.cancel()
            redis.stop()
            pubsub.stop()
            loop.stop()
        }
        let term = SignalWatcher(loop: loop, signal: SIGTERM) { shutdown("SIGTERM") }
        let int = SignalWatcher(loop: loop, signal: SIGINT) { shutdown("SIGINT") }
        loop.run()
        withExtendedLifetime((term, int, http, server, supervisor)) {}
        embedded?.stop()
        logger.info("stopped")
    }

    /// The embedded mode's dev environment; its key is kept in the data directory.
    private func devEnvironment(dataDir: URL) throws -> RelayEnvironment {
        let file = dataDir.appendingPathComponent("dev-secret-key")
        if let key = try? String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), !key.isEmpty {
            return RelayEnvironment(id: "env_dev", slug: "dev", secretKeys: [key])
        }
        let key = "tr_dev_" + String(FriendlyID.session().dropFirst("session_".count))
        try Data(key.utf8).write(to: file)
        return RelayEnvironment(id: "env_dev", slug: "dev", secretKeys: [key])
    }
}
