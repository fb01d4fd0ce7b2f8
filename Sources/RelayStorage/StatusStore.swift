// StatusStore: the status page's keys in Redis. Every node writes its heartbeat each second;
// any node reads every live node's latest heartbeat (docs/API.md, Status). The keys (spelled in
// RedisKeys, "The status page's slot"):
//
//   P{status}:node:<nodeName>   string, the node's latest heartbeat (JSON), SET ... EX ttl
//   P{status}:nodes             sorted set of node names, scored by the writer's clock (ms)
//
// The heartbeat key's TTL decides who is alive: a node that stops writing drops off once its key
// expires. The sorted set only says which keys to read; every write trims names not seen for a
// minute, and the set itself expires a minute after the last write, so nothing outlives the
// deployment. Reads are two commands (ZRANGE, MGET), bounded by `maxNodes`.
// The hash tag {status} keeps every key in one cluster slot.
import RelayIO
import RelayRedis

public final class StatusStore {
    /// Heartbeats read at most (a deployment of more nodes shows the first ones by name).
    public static let maxNodes = 1000
    /// Names not seen for this long are trimmed from the set (a generous margin over the TTL,
    /// so that a node whose clock is behind is not trimmed while its key lives).
    public static let staleNameMilliseconds: Int64 = 60_000

    private let redis: any RedisCommands
    public let keys: RedisKeys
    public var prefix: String { keys.prefix }
    public let ttlSeconds: Int

    public init(redis: any RedisCommands, keys: RedisKeys, ttlSeconds: Int = 5) {
        self.redis = redis
        self.keys = keys
        self.ttlSeconds = ttlSeconds
    }

    public convenience init(redis: any RedisCommands, prefix: String, ttlSeconds: Int = 5) {
        self.init(redis: redis, keys: RedisKeys(prefix: prefix), ttlSeconds: ttlSeconds)
    }

    public func nodeKey(_ node: String) -> String { keys.statusNode(node) }
    public var nodesKey: String { keys.statusNodes }
    /// The pub/sub channel of one process's latency probe (`instance` is random per process).
    public func probeChannel(_ instance: String) -> String { keys.statusProbe(instance) }

    /// Writes a heartbeat (pipelined, answered once all four commands have been).
    public func write(node: String, heartbeat: [UInt8], nowMilliseconds: Int64,
                      _ completion: @escaping (RedisReply) -> Void) {
        let ttl = String(ttlSeconds)
        redis.send(key: Array(nodesKey.utf8), [Array("SET".utf8), Array(nodeKey(node).utf8), heartbeat, Array("EX".utf8), Array(ttl.utf8)]) { _ in }
        redis.send(key: nodesKey, ["ZADD", nodesKey, String(nowMilliseconds), node]) { _ in }
        redis.send(key: nodesKey, ["ZREMRANGEBYSCORE", nodesKey, "-inf", "(\(nowMilliseconds - Self.staleNameMilliseconds)"]) { _ in }
        redis.send(key: nodesKey, ["PEXPIRE", nodesKey, String(Self.staleNameMilliseconds)], completion)
    }

    /// Every live node's latest heartbeat (raw JSON as written), ordered by node name.
    public func readAll(_ completion: @escaping (Result<[[UInt8]], RedisFailureText>) -> Void) {
        redis.send(key: nodesKey, ["ZRANGE", nodesKey, "0", String(Self.maxNodes - 1)]) { [weak self] reply in
            guard let self else { return }
            if let error = reply.errorMessage { return completion(.failure(RedisFailureText(error))) }
            let names = (reply.array ?? []).compactMap(\.string).sorted()
            guard !names.isEmpty else { return completion(.success([])) }
            self.redis.send(key: self.nodesKey, ["MGET"] + names.map(self.nodeKey)) { reply in
                if let error = reply.errorMessage { return completion(.failure(RedisFailureText(error))) }
                var beats: [[UInt8]] = []
                for item in reply.array ?? [] {
                    if case .bulk(let bytes) = item { beats.append(bytes) }
                }
                completion(.success(beats))
            }
        }
    }

    /// Publishes a latency probe.
    public func publishProbe(channel: String, payload: String, _ completion: @escaping (RedisReply) -> Void) {
        redis.send(key: channel, ["SPUBLISH", channel, payload], completion)
    }

    /// A PING round trip on the command connection, in nanoseconds (nil if it failed).
    public func ping(_ completion: @escaping (Int64?) -> Void) {
        let started = Clock.monotonicNanoseconds()
        redis.send(key: nil, ["PING"]) { reply in
            completion(reply.errorMessage == nil ? Clock.monotonicNanoseconds() - started : nil)
        }
    }
}

/// Why a status read failed (Redis' text or the client's), for the log; never shown to callers.
public struct RedisFailureText: Error, CustomStringConvertible {
    public let description: String
    public init(_ text: String) { description = text }
}
