// RedisClient: the command side for a single Redis instance, a view over its one RedisNode
// (which serves every key: the routing key is not needed). Commands fail fast with
// `.notConnected` while the node is down; see RedisNode for scripts, WAIT and liveness.
import Logging
import RelayIO

public final class RedisClient: RedisCommands {
    public let node: RedisNode
    /// The node set the node lives in (shared with the pub/sub side).
    public let redisNodes: RedisNodeSet
    private let ownsNodes: Bool

    public var onConnected: [() -> Void] = []
    public var onDisconnected: [() -> Void] = []

    /// The view of `endpoint`'s node in `nodes` (`ownsNodes`: started and stopped with this;
    /// otherwise the set's owner does).
    public init(endpoint: RedisEndpoint, nodes: RedisNodeSet, ownsNodes: Bool = false) {
        let node = nodes.node(for: endpoint)
        redisNodes = nodes
        self.node = node
        self.ownsNodes = ownsNodes
        nodes.needs.append { $0 === node }
        redisNodes.onNodeReady.append { [weak self] ready in
            guard let self, ready === self.node else { return }
            self.onConnected.forEach { $0() }
        }
        redisNodes.onNodeLost.append { [weak self] lost in
            guard let self, lost === self.node else { return }
            self.onDisconnected.forEach { $0() }
        }
    }

    /// A client with a node of its own.
    public convenience init(loop: EventLoop, endpoint: RedisEndpoint,
                            options: RedisNodeOptions = RedisNodeOptions(subscriptions: false), logger: Logger) {
        self.init(endpoint: endpoint, nodes: RedisNodeSet(loop: loop, options: options, logger: logger), ownsNodes: true)
    }

    public var endpoint: RedisEndpoint { node.endpoint }
    public var isConnected: Bool { node.isReady }
    public var scriptsSpanSlots: Bool { true }

    public func start() {
        if ownsNodes { redisNodes.start() }
    }

    public func stop() {
        if ownsNodes { redisNodes.stop() }
    }

    /// Sends a command; a node that is not ready answers `.failure(.notConnected)` at once.
    public func send(_ args: [[UInt8]], _ completion: @escaping (RedisReply) -> Void) {
        node.send(args, completion)
    }

    public func send(_ args: [String], _ completion: @escaping (RedisReply) -> Void) {
        node.send(args, completion)
    }

    public func send(key: [UInt8]?, _ args: [[UInt8]], _ completion: @escaping (RedisReply) -> Void) {
        node.send(args, completion)
    }

    public func run(_ script: LuaScript, keys: [[UInt8]], _ args: [[UInt8]], waitReplicas: Int,
                    unconfirmed: ((RedisReply) -> Void)?, _ completion: @escaping (RedisReply) -> Void) {
        node.run(script, keys: keys, args, waitReplicas: waitReplicas, asking: false, unconfirmed: unconfirmed, completion)
    }
}
