// RedisBackend: the relay's whole Redis client side, built from the target and the options:
// one RedisNodeSet (a RedisNode per endpoint), the command router over it (RedisClient for
// one instance, ClusterClient for a cluster) and the sharded pub/sub over it. Start and stop
// it as one.
import Logging
import RelayIO

public final class RedisBackend {
    public let nodes: RedisNodeSet
    /// Commands and scripts, routed by key.
    public let commands: any RedisCommands
    /// Who serves each slot (the cluster's map, or the one instance).
    public let slots: any SlotOwners
    /// Live-record subscriptions (SSUBSCRIBE on each channel's primary).
    public let pubsub: ShardedPubSub

    public init(loop: EventLoop, target: RedisTarget, options: RedisNodeOptions, logger: Logger) {
        nodes = RedisNodeSet(loop: loop, options: options, logger: logger)
        switch target {
        case .single(let endpoint):
            commands = RedisClient(endpoint: endpoint, nodes: nodes)
            slots = SingleNodeSlots(endpoint: endpoint)
        case .cluster(let seeds):
            let router = ClusterClient(loop: loop, seeds: seeds, nodes: nodes, logger: logger)
            commands = router
            slots = router
        }
        pubsub = ShardedPubSub(loop: loop, owners: slots, nodes: nodes, logger: logger)
    }

    public func start() {
        nodes.start()
        commands.start()
        pubsub.start()
    }

    /// Subscriptions end (`.connectionLost`), pending commands complete, connections close.
    public func stop() {
        pubsub.stop()
        commands.stop()
        nodes.stop()
    }
}
