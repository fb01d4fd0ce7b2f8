// PubSubClient: the node's one pub/sub connection to Redis, with reconnects. Live records reach
// this node through it: one SUBSCRIBE per channel that has local subscribers (the hub decides).
// After a reconnect every subscription is gone; `onConnected` lets the hub subscribe again.
import Logging
import RelayIO

public final class PubSubClient {
    private let loop: EventLoop
    public let endpoint: RedisEndpoint
    private let logger: Logger
    private var connection: RedisConnection?
    private var reconnectTimer: LoopTimer?
    private var backoff = 0.05
    private var stopped = false
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
    }

    public func stop() {
        stopped = true
        reconnectTimer?.cancel()
        connection?.disconnect()
    }

    private func connect() {
        let connection = RedisConnection(loop: loop, endpoint: endpoint)
        self.connection = connection
        connection.onConnect = { [weak self, weak connection] error in
            guard let self, let connection, connection === self.connection else { return }
            if error != nil {
                self.connection = nil
                self.scheduleReconnect()
            } else {
                self.backoff = 0.05
                self.logger.info("redis pub/sub connected", metadata: ["redis": "\(self.endpoint)"])
                self.onConnected.forEach { $0() }
            }
        }
        connection.onDisconnect = { [weak self, weak connection] error in
            guard let self, let connection, connection === self.connection else { return }
            self.connection = nil
            self.logger.warning("redis pub/sub disconnected", metadata: ["error": "\(error ?? "closed")"])
            self.onDisconnected.forEach { $0() }
            self.scheduleReconnect()
        }
        connection.connect()
    }

    private func scheduleReconnect() {
        guard !stopped else { return }
        let delay = backoff
        backoff = min(backoff * 2, 1.0)
        reconnectTimer = loop.after(delay) { [weak self] in self?.connect() }
    }

    /// Subscribes; a down connection reports `.connectionLost` at once.
    public func subscribe(_ channel: String, _ handler: @escaping (PubSubEvent) -> Void) {
        guard let connection, connection.isConnected else { return handler(.connectionLost) }
        connection.subscribe(Array(channel.utf8), handler)
    }

    public func unsubscribe(_ channel: String) {
        connection?.unsubscribe(Array(channel.utf8))
    }
}
