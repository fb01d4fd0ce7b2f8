// RedisNodeSet: the RedisNodes of this process, one per endpoint, all with the same options.
// The command router (ClusterClient, or RedisClient for one instance) and the pub/sub
// (ShardedPubSub) are views over it: they ask it for the node of an endpoint (made, and
// started, on first use) and hear through it when a node becomes ready or goes down. Each view
// says which nodes it still needs (`needs`); `prune` stops and forgets the nodes that no view
// needs any more (a former primary once its last commands and subscriptions are done).
import Logging
import RelayIO

public final class RedisNodeSet {
    public let options: RedisNodeOptions
    private let loop: EventLoop
    private let logger: Logger
    /// Makes each connection of each node (and of the router's probes).
    let connector: RedisConnector
    /// By endpoint description (RedisEndpoint is not Hashable).
    private var nodes: [String: RedisNode] = [:]
    private var started = false

    /// Run when a node becomes ready, and when a node that was ready goes down.
    var onNodeReady: [(RedisNode) -> Void] = []
    var onNodeLost: [(RedisNode) -> Void] = []
    /// What a node's pub/sub side reports (one pub/sub view per set).
    var onPubSubEvent: (RedisNode, PubSubShard.Event) -> Void = { _, _ in }
    /// Whether a view still needs a node; a node no view needs is stopped by `prune`.
    var needs: [(RedisNode) -> Bool] = []

    /// `connector`: nil for real connections (RespConnection); tests pass scripted ones.
    public init(loop: EventLoop, options: RedisNodeOptions, logger: Logger, connector: RedisConnector? = nil) {
        self.loop = loop
        self.options = options
        self.logger = logger
        self.connector = connector ?? { [maxBufferedBytes = options.maxBufferedBytes] endpoint in
            RespConnection(loop: loop, endpoint: endpoint, maxBufferedBytes: maxBufferedBytes)
        }
    }

    /// The node of `endpoint`, made (and started, once the set is) when there is none.
    public func node(for endpoint: RedisEndpoint) -> RedisNode {
        if let node = nodes[endpoint.description] { return node }
        let node = RedisNode(loop: loop, endpoint: endpoint, options: options, logger: logger, connector: connector)
        node.onReady.append { [weak self, unowned node] in self?.onNodeReady.forEach { $0(node) } }
        node.onLost.append { [weak self, unowned node] in self?.onNodeLost.forEach { $0(node) } }
        node.pubsub?.onEvent = { [weak self, unowned node] event in self?.onPubSubEvent(node, event) }
        nodes[endpoint.description] = node
        if started { node.start() }
        return node
    }

    /// Stops and forgets every node that no view needs.
    func prune() {
        for (name, node) in nodes where !needs.contains(where: { $0(node) }) {
            // A stop's completions may have pruned (or even remade) it already.
            guard nodes[name] === node else { continue }
            nodes[name] = nil
            node.stop()
        }
    }

    public func start() {
        guard !started else { return }
        started = true
        nodes.values.forEach { $0.start() }
    }

    /// Stops every node (pending commands complete with `.connectionLost`; no hook runs).
    /// `start` starts them again.
    public func stop() {
        guard started else { return }
        started = false
        nodes.values.forEach { $0.stop() }
    }
}
