// RedisKeys: the names of the keys Swift code touches directly (the scripts derive the rest;
// the full layout is in Lua/lib.lua and the README).
import RelayCore

public struct RedisKeys: Sendable {
    public let prefix: String
    public init(prefix: String) { self.prefix = prefix }

    /// The run dispatch stream of an environment; workers read it with `runConsumerGroup`.
    public func runs(environment: String) -> String { "\(prefix){env:\(environment)}:runs" }
    public static let runConsumerGroup = "relay-workers"

    /// A session's row (hash); the scripts spell it `meta_key` in lib.lua.
    public func sessionMeta(_ session: String) -> String { "\(prefix){s:\(session)}:meta" }

    /// A channel's stream; its live pub/sub channel has the same name.
    public func channel(session: String, io: ChannelIO) -> String { "\(prefix){s:\(session)}:\(io.rawValue)" }
}
