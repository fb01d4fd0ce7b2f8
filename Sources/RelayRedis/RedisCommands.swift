// RedisCommands: what the stores need from Redis, the same in both modes. A single instance
// (RedisClient) ignores the routing key; a cluster (ClusterClient) sends each command to the
// primary that owns the slot of its routing key, following MOVED and ASK. Every command and
// script touches one slot: its routing key's (see docs/cluster.md, Key layout).
import RelayIO

public protocol RedisCommands: AnyObject {
    /// True when commands can be sent now (cluster: the slot map is known and at least one
    /// primary is connected).
    var isConnected: Bool { get }
    /// Run after every (re)connect of the first connection, and after it drops.
    var onConnected: [() -> Void] { get set }
    var onDisconnected: [() -> Void] { get set }
    /// True when one script may name keys of any slot (a single instance); false in a cluster,
    /// where a script's keys must share one slot.
    var scriptsSpanSlots: Bool { get }
    func start()
    func stop()

    /// Sends a command. `key`: a key the command touches (every key it touches is in that key's
    /// slot); nil: any primary (PING, TIME). Completion runs once, on the loop thread.
    func send(key: [UInt8]?, _ args: [[UInt8]], _ completion: @escaping (RedisReply) -> Void)

    /// Runs a script (EVALSHA, EVAL on NOSCRIPT) with `keys` as KEYS, routed by `keys[0]`.
    /// With `waitReplicas` > 0, a successful reply is held until `WAIT waitReplicas timeout`
    /// on the same primary answers (over a connection kept for such writes: WaitLane); fewer
    /// replicas than asked make the reply `.failure(.notReplicated)` (RedisError.notReplicated).
    /// The write did happen then: `unconfirmed` gets the script's reply first.
    func run(_ script: LuaScript, keys: [[UInt8]], _ args: [[UInt8]], waitReplicas: Int,
             unconfirmed: ((RedisReply) -> Void)?, _ completion: @escaping (RedisReply) -> Void)
}

extension RedisCommands {
    public func send(key: String?, _ args: [String], _ completion: @escaping (RedisReply) -> Void) {
        send(key: key.map { Array($0.utf8) }, args.map { Array($0.utf8) }, completion)
    }

    public func run(_ script: LuaScript, keys: [String], _ args: [String], _ completion: @escaping (RedisReply) -> Void) {
        run(script, keys: keys.map { Array($0.utf8) }, args.map { Array($0.utf8) }, waitReplicas: 0, completion)
    }

    public func run(_ script: LuaScript, keys: [[UInt8]], _ args: [[UInt8]], _ completion: @escaping (RedisReply) -> Void) {
        run(script, keys: keys, args, waitReplicas: 0, completion)
    }

    public func run(_ script: LuaScript, keys: [[UInt8]], _ args: [[UInt8]], waitReplicas: Int,
                    _ completion: @escaping (RedisReply) -> Void) {
        run(script, keys: keys, args, waitReplicas: waitReplicas, unconfirmed: nil, completion)
    }
}

/// Who serves each slot, for the pub/sub side (ShardedPubSub). The cluster's map comes from
/// CLUSTER SLOTS (ClusterClient keeps it); a single instance serves every slot.
public protocol SlotOwners: AnyObject {
    /// The primary serving `slot`, as far as this node knows (nil: unknown right now).
    func primary(slot: Int) -> RedisEndpoint?
    /// Every primary known now.
    var primaries: [RedisEndpoint] { get }
    /// Run after every change of the map.
    var onChange: [() -> Void] { get set }
    /// A MOVED reply said `slot` is served by `endpoint`: update the map now, refresh soon.
    func moved(slot: Int, to endpoint: RedisEndpoint)
}

/// A single instance serves every slot.
public final class SingleNodeSlots: SlotOwners {
    public let endpoint: RedisEndpoint
    public var onChange: [() -> Void] = []
    public init(endpoint: RedisEndpoint) { self.endpoint = endpoint }
    public func primary(slot: Int) -> RedisEndpoint? { endpoint }
    public var primaries: [RedisEndpoint] { [endpoint] }
    public func moved(slot: Int, to endpoint: RedisEndpoint) {}
}
