// The two things the fan-out (RelayHTTP's FanoutHub and ChannelFeed) needs from Redis, as small
// protocols: the log of a channel (range reads for catch-up and gap filling, the closed state)
// and the pub/sub connection (one subscription per channel, reconnect notifications).
// ChannelStore and ShardedPubSub are the real ones; unit tests use in-memory fakes.
import RelayCore
import RelayIO

/// What a pub/sub subscription reports.
public enum PubSubEvent: Equatable, Sendable {
    case subscribed
    case message([UInt8])
    case unsubscribed
    /// The connection went away; the subscription is over.
    case connectionLost
}

/// Reads of a channel's log (a Redis stream).
public protocol ChannelLog: AnyObject {
    /// The pub/sub channel on which a channel's live records are published.
    func channelName(session: String, io: ChannelIO) -> String
    /// Entries with seq > `after` up to the high watermark, at most `count`, oldest first,
    /// and where the channel ends.
    func range(session: String, io: ChannelIO, after: UInt64, count: Int,
               _ completion: @escaping (Result<ChannelPage, APIError>) -> Void)
    /// The channel's last sequence number if the session is closed or expired, nil if open.
    func closedState(session: String, io: ChannelIO, _ completion: @escaping (Result<UInt64?, APIError>) -> Void)
}

/// The node's pub/sub connection(s): one per primary in ShardedPubSub (see there for what
/// "connected" means with several).
public protocol PubSubChannels: AnyObject {
    var isConnected: Bool { get }
    /// Run after every (re)connect, and after every drop (ShardedPubSub: of the last connection).
    var onConnected: [() -> Void] { get set }
    var onDisconnected: [() -> Void] { get set }
    /// Subscribes; `handler` gets `.subscribed`, the messages, then `.unsubscribed` or
    /// `.connectionLost` (at once if the connection is down).
    func subscribe(_ channel: String, _ handler: @escaping (PubSubEvent) -> Void)
    func unsubscribe(_ channel: String)
}

extension ChannelStore: ChannelLog {
    public func channelName(session: String, io: ChannelIO) -> String {
        keys.channel(session: session, io: io)
    }
}
