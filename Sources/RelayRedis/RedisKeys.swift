// RedisKeys: the names of the keys Swift code touches directly (the scripts derive the rest;
// the full layout is in Lua/lib.lua and the README).
public struct RedisKeys: Sendable {
    public let prefix: String
    public init(prefix: String) { self.prefix = prefix }

    /// The run dispatch stream of an environment; workers read it with `runConsumerGroup`.
    public func runs(environment: String) -> String { "\(prefix){env:\(environment)}:runs" }
    public static let runConsumerGroup = "relay-workers"
}
