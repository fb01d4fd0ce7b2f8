// RedisConnection: what a RedisNode (and a ClusterProbe) needs of one connection to a Redis
// server. RespConnection (RelayIO) is the real one; the router's unit tests put scripted
// in-memory servers under the nodes through RedisNodeSet's `connector`.
// The contract (RespConnection's): `connect` reports through `onConnect` later, from the loop,
// never inside the call; `send` queues a command (false: the connection is going away, and a
// callback says so later); every reply and push goes to `onReply` in arrival order;
// `onDisconnect` reports the end of a connection that was up; `disconnect` closes at once and
// reports nothing.
import RelayIO

public protocol RedisConnection: AnyObject {
    var onConnect: ((_ error: String?) -> Void)? { get set }
    var onDisconnect: ((_ error: String?) -> Void)? { get set }
    var onReply: ((RedisReply) -> Void)? { get set }
    func connect() -> Bool
    func send(_ args: [[UInt8]]) -> Bool
    func disconnect()
}

extension RespConnection: RedisConnection {}

/// Makes the connections of a node (one per call).
public typealias RedisConnector = (RedisEndpoint) -> any RedisConnection
