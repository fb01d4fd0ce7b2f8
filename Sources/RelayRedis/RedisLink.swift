// RedisLink: one Redis connection kept up. It connects, reconnects with a backoff (50 ms
// doubling to 1 s) after a failure or a drop, and tells its owner both ways. RedisClient
// (commands) and PubSubShard (one primary's subscriptions) each hold one.
import Logging
import RelayIO

final class RedisLink {
    private let loop: EventLoop
    let endpoint: RedisEndpoint
    private let logger: Logger
    private let role: String
    private(set) var connection: RedisConnection?
    private var reconnectTimer: LoopTimer?
    private var backoff = ReconnectBackoff()
    private var stopped = false
    var onConnected: [() -> Void] = []
    var onDisconnected: [() -> Void] = []

    init(loop: EventLoop, endpoint: RedisEndpoint, logger: Logger, role: String) {
        self.loop = loop
        self.endpoint = endpoint
        self.logger = logger
        self.role = role
    }

    /// The connection, when it is up.
    var live: RedisConnection? { connection?.isConnected == true ? connection : nil }

    func start() {
        stopped = false
        connect()
    }

    func stop() {
        stopped = true
        reconnectTimer?.cancel()
        connection?.disconnect()
    }

    /// Called by the owner once Redis has really answered. The backoff is not reset by the TCP
    /// connect alone: a Redis that accepts and then refuses (maxclients, LOADING) must not be
    /// hammered.
    func answered() { backoff.reset() }

    private func connect() {
        let connection = RedisConnection(loop: loop, endpoint: endpoint)
        self.connection = connection
        connection.onConnect = { [weak self, weak connection] error in
            guard let self, let connection, connection === self.connection else { return }
            if let error {
                self.logger.debug("redis connect failed", metadata: ["redis": "\(self.endpoint)", "role": "\(self.role)", "error": "\(error)"])
                self.connection = nil
                self.scheduleReconnect()
            } else {
                self.logger.info("redis connected", metadata: ["redis": "\(self.endpoint)", "role": "\(self.role)"])
                self.onConnected.forEach { $0() }
            }
        }
        connection.onDisconnect = { [weak self, weak connection] error in
            guard let self, let connection, connection === self.connection else { return }
            self.connection = nil
            self.logger.warning("redis disconnected", metadata: ["redis": "\(self.endpoint)", "role": "\(self.role)", "error": "\(error ?? "closed")"])
            self.onDisconnected.forEach { $0() }
            self.scheduleReconnect()
        }
        connection.connect()
    }

    private func scheduleReconnect() {
        guard !stopped else { return }
        let delay = backoff.next()
        reconnectTimer = loop.after(delay) { [weak self] in self?.connect() }
    }
}
