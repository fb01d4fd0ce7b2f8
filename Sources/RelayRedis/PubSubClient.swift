// PubSubClient: the node's one pub/sub connection to Redis, with reconnects. Live records reach
// this node through it: one SUBSCRIBE per channel that has local subscribers (the hub decides).
// After a reconnect every subscription is gone; `onConnected` lets the hub subscribe again.
import Logging
import RelayIO

public final class PubSubClient {
    private let link: RedisLink

    public init(loop: EventLoop, endpoint: RedisEndpoint, logger: Logger) {
        link = RedisLink(loop: loop, endpoint: endpoint, logger: logger, role: "pub/sub")
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

    public func start() { link.start() }
    public func stop() { link.stop() }

    /// Subscribes; a down connection reports `.connectionLost` at once.
    public func subscribe(_ channel: String, _ handler: @escaping (PubSubEvent) -> Void) {
        guard let connection = link.live else { return handler(.connectionLost) }
        connection.subscribe(Array(channel.utf8)) { [link] event in
            if event == .subscribed { link.answered() }
            handler(event)
        }
    }

    public func unsubscribe(_ channel: String) {
        link.live?.unsubscribe(Array(channel.utf8))
    }
}
