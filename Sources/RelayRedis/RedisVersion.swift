// RedisVersion: the relay needs Redis 7.0 or later in both modes (sharded pub/sub: SPUBLISH,
// SSUBSCRIBE). An older server would fail the append script at SPUBLISH after it stored the
// record, so the relay checks once connected and refuses to run against one.
import RelayIO

public enum RedisVersion {
    public static let minimumMajor = 7

    /// The major version in an `INFO server` reply, if it names one.
    public static func major(inInfo text: String) -> Int? {
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("redis_version:") {
            return line.dropFirst("redis_version:".count).split(separator: ".").first.flatMap { Int($0) }
        }
        return nil
    }

    /// Asks a primary; `completion` gets a message when it is too old (nil when fine or unknown:
    /// an unanswered INFO is not a reason to stop).
    public static func check(_ redis: any RedisCommands, _ completion: @escaping (String?) -> Void) {
        redis.send(key: nil, ["INFO", "server"]) { reply in
            guard let text = reply.string, let major = major(inInfo: text) else { return completion(nil) }
            completion(major < minimumMajor
                ? "Redis \(major).x is too old: the relay needs Redis \(minimumMajor).0 or later (sharded pub/sub)" : nil)
        }
    }
}
