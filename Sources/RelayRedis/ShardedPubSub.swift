// ShardedPubSub: the node's live-record subscriptions, with SSUBSCRIBE on the primary that owns
// each channel's slot, in both modes (a single Redis 7 serves SSUBSCRIBE and SPUBLISH too, for
// every slot: SingleNodeSlots). A record then crosses only its own shard.
//
// Connections: the pub/sub side (PubSubShard) of the RedisNode of every known primary, a view
// over the RedisNodeSet it shares with the command router. Nodes are made at start and whenever
// the slot map names a new primary, not only when a channel needs one: primaries are few (3 to
// 9), a subscription then never waits for a connect, and `isConnected` reflects the cluster,
// not the channels that happen to be open. A node that is no longer a primary is let go once no
// subscription uses it (the node set closes it when the router is done with it too).
//
// What the hub sees (the PubSubChannels contract):
// - `isConnected`: at least one primary's connection is up. A channel on a primary that is
//   down is refused with `.connectionLost` at once and retried at the next `onConnected`.
//   (Not "every primary": one failing primary must not make every relay node unready.)
// - `onConnected`: after every (re)connect of any primary, after every change of the slot
//   map, and shortly after the server dropped a channel or a subscription failed, so that
//   idle feeds (and the status probe) subscribe again; callers ignore it when subscribed.
// - `.connectionLost` goes to exactly the channels of a connection that dropped. Only when
//   no primary is left connected do the `onDisconnected` hooks run (after those events): the
//   hub resets every feed on it, which must not happen to channels on healthy primaries.
// - a slot that moved: the server pushes `sunsubscribe`; the channel's handler gets
//   `.unsubscribed` and the feed subscribes again (on the new owner, following MOVED) and
//   fills the gap from the stream.
// - the slot map changed (a failover, a reshard seen through MOVED or a refresh): every channel
//   whose shard no longer owns its slot in the new map is dropped there (SUNSUBSCRIBE when its
//   node is up; a node that is down has no subscriptions left, and the node of a former
//   primary is closed once neither side uses it) and its handler gets `.unsubscribed`, so the feed subscribes again on the new owner and fills the
//   gap. A primary that hangs (SIGSTOP, a partition) never drops its connection nor pushes
//   `sunsubscribe`: without this its channels would wait for it for ever.
// - a primary that stops answering: its node's liveness verdict (RedisNode) drops its
//   connections (a PING or SSUBSCRIBE unanswered for 3 s, a command for 2 s), which is reported
//   as a drop.
// - MOVED in answer to SSUBSCRIBE updates the map (`owners.moved`) and is retried on the new
//   owner here, at most `maxRedirects` times; the handler sees only the delay.
import Logging
import RelayIO

/// What a pub/sub subscription reports.
public enum PubSubEvent: Equatable, Sendable {
    case subscribed
    case message([UInt8])
    case unsubscribed
    /// The connection went away; the subscription is over.
    case connectionLost
}

public final class ShardedPubSub {
    static let maxRedirects = 5
    /// How soon `onConnected` runs again after a subscription failed (not after a drop: the
    /// reconnect itself runs it).
    static let retryDelaySeconds = 1.0

    private enum State { case subscribing, subscribed, unsubscribing }

    private final class Entry {
        var handler: (PubSubEvent) -> Void
        var shard: PubSubShard
        var state = State.subscribing
        /// The last request sent for the channel: only its answer counts.
        var request: Int
        var redirects: Int
        init(handler: @escaping (PubSubEvent) -> Void, shard: PubSubShard, request: Int, redirects: Int) {
            self.handler = handler
            self.shard = shard
            self.request = request
            self.redirects = redirects
        }
    }

    private let loop: EventLoop
    private let owners: SlotOwners
    private let logger: Logger
    /// Every node of this process (shared with the command router).
    public let redisNodes: RedisNodeSet
    private let ownsNodes: Bool
    /// The nodes' pub/sub sides in use, by endpoint description (RedisEndpoint is not Hashable).
    private var shards: [String: PubSubShard] = [:]
    private var entries: [String: Entry] = [:]
    private var nextRequest = 1
    private var stopped = true
    private var retryTimer: LoopTimer?
    private var followTimer: LoopTimer?
    /// `isConnected` as last reported through the hooks.
    private var reportedConnected = false

    public var onConnected: [() -> Void] = []
    public var onDisconnected: [() -> Void] = []

    /// A view over `nodes`, shared with the command router (`ownsNodes`: started and stopped
    /// with this; otherwise the set's owner does).
    public init(loop: EventLoop, owners: SlotOwners, nodes: RedisNodeSet, ownsNodes: Bool = false, logger: Logger) {
        self.loop = loop
        self.owners = owners
        self.logger = logger
        redisNodes = nodes
        self.ownsNodes = ownsNodes
        precondition(redisNodes.options.subscriptions, "ShardedPubSub needs nodes with subscriptions on")
        owners.onChange.append { [weak self] in self?.slotMapChanged() }
        redisNodes.needs.append { [weak self] node in
            guard let self, let shard = node.pubsub, self.shards[node.endpoint.description] === shard else { return false }
            return self.owners.primaries.contains(node.endpoint) || self.isUsed(shard)
        }
        redisNodes.onPubSubEvent = { [weak self] node, event in
            // Per live message: a flag, not a lookup by the endpoint's name.
            guard let self, let shard = node.pubsub, shard.inUse else { return }
            self.handle(event, from: shard)
        }
    }

    /// Pub/sub with nodes of its own.
    public convenience init(loop: EventLoop, owners: SlotOwners, options: RedisNodeOptions = RedisNodeOptions(), logger: Logger) {
        self.init(loop: loop, owners: owners, nodes: RedisNodeSet(loop: loop, options: options, logger: logger),
                  ownsNodes: true, logger: logger)
    }

    public var isConnected: Bool { shards.values.contains { $0.isReady } }

    /// The primaries with a pub/sub connection up, and the number of channels subscribed.
    public var connectedPrimaries: [RedisEndpoint] { shards.values.filter(\.isReady).map(\.endpoint) }
    public var channelCount: Int { entries.count }

    public func start() {
        guard stopped else { return }
        stopped = false
        if ownsNodes { redisNodes.start() }
        syncShards()
    }

    /// Closes every connection: subscriptions report `.connectionLost`, then `onDisconnected`.
    public func stop() {
        guard !stopped else { return }
        stopped = true
        retryTimer?.cancel()
        retryTimer = nil
        followTimer?.cancel()
        followTimer = nil
        shards.values.forEach { $0.inUse = false }
        shards = [:]
        if ownsNodes { redisNodes.stop() } else { redisNodes.prune() }
        let lost = entries.values
        entries = [:]
        lost.forEach { $0.handler(.connectionLost) }
        reportDisconnectedIfDown()
    }

    // MARK: PubSubChannels

    public func subscribe(_ channel: String, _ handler: @escaping (PubSubEvent) -> Void) {
        if let entry = entries[channel] {
            // One handler per channel: a second subscribe takes the channel over.
            entry.handler = handler
            switch entry.state {
            case .subscribed: handler(.subscribed)
            case .subscribing: break
            case .unsubscribing:
                // Queued behind the SUNSUBSCRIBE; its answer is then ignored.
                entry.state = .subscribing
                entry.request = send(.subscribe(channel), on: entry.shard)
            }
            return
        }
        route(channel, handler, redirects: 0)
    }

    public func unsubscribe(_ channel: String) {
        guard let entry = entries[channel], entry.state != .unsubscribing else { return }
        entry.state = .unsubscribing
        entry.request = send(.unsubscribe(channel), on: entry.shard)
    }

    // MARK: Routing

    /// SSUBSCRIBE on the primary the map names for the channel's slot, or `.connectionLost`.
    private func route(_ channel: String, _ handler: @escaping (PubSubEvent) -> Void, redirects: Int,
                       to endpoint: RedisEndpoint? = nil) {
        guard !stopped, let endpoint = endpoint ?? owners.primary(slot: ClusterSlot.of(channel)) else {
            scheduleRetry()
            return handler(.connectionLost)
        }
        let shard = shard(for: endpoint)
        // A primary that is not connected now: its `.ready` runs the onConnected hooks.
        guard shard.isReady else { return handler(.connectionLost) }
        let entry = Entry(handler: handler, shard: shard, request: 0, redirects: redirects)
        entries[channel] = entry
        entry.request = send(.subscribe(channel), on: shard)
    }

    private func send(_ request: PubSubShard.Request, on shard: PubSubShard) -> Int {
        let id = nextRequest
        nextRequest += 1
        // A refused send means the connection is going away: `.lost` follows and settles it.
        shard.send(request, id: id)
        return id
    }

    private func shard(for endpoint: RedisEndpoint) -> PubSubShard {
        if let shard = shards[endpoint.description] { return shard }
        // The set's options have subscriptions on (checked at init): every node has a shard.
        let shard = redisNodes.node(for: endpoint).pubsub!
        shards[endpoint.description] = shard
        shard.inUse = true
        if shard.isReady && !stopped {
            // A node already up (kept for the router, now a primary again): no `.ready` comes.
            reportedConnected = true
            scheduleRetry(after: 0)
        }
        return shard
    }

    /// Lets a shard go (the node set closes its node once no view needs it).
    private func release(_ shard: PubSubShard) {
        guard shards[shard.endpoint.description] === shard else { return }
        shards[shard.endpoint.description] = nil
        shard.inUse = false
        redisNodes.prune()
    }

    /// A connection per primary; a shard that is no longer a primary goes once unused.
    private func syncShards() {
        guard !stopped else { return }
        let primaries = owners.primaries
        for endpoint in primaries { _ = shard(for: endpoint) }
        for shard in shards.values where !primaries.contains(shard.endpoint) && !isUsed(shard) {
            release(shard)
        }
    }

    private func isUsed(_ shard: PubSubShard) -> Bool {
        entries.values.contains { $0.shard === shard }
    }

    private func slotMapChanged() {
        guard !stopped else { return }
        syncShards()
        // From the loop: this may run inside `owners.moved`, itself called while a reply is
        // being handled. Coalesced: a burst of MOVED replies is one pass.
        guard followTimer == nil else { return }
        followTimer = loop.after(0) { [weak self] in
            guard let self else { return }
            self.followTimer = nil
            guard !self.stopped else { return }
            self.followMap()
            // Idle channels may now have an owner: let them subscribe.
            self.scheduleRetry(after: 0)
            self.reportDisconnectedIfDown()
        }
    }

    /// Takes every channel off a shard that the map no longer names as its slot's owner, and
    /// tells its handler `.unsubscribed` (the feed subscribes again, on the new owner).
    private func followMap() {
        var moved: [(channel: String, entry: Entry)] = []
        for (channel, entry) in entries {
            guard let owner = owners.primary(slot: ClusterSlot.of(channel)), owner != entry.shard.endpoint else { continue }
            moved.append((channel, entry))
        }
        guard !moved.isEmpty else { return syncShards() }
        logger.info("redis pub/sub: channels follow the slot map", metadata: [
            "channels": "\(moved.count)", "from": "\(Set(moved.map { $0.entry.shard.endpoint.description }).sorted())"])
        for (channel, entry) in moved {
            entries[channel] = nil
            // Best effort: its answer (or MOVED) finds no entry and is ignored. Also on a former
            // primary: its node may stay open a while for the router. One that is down has
            // nothing to undo; one that hangs fails its node's liveness check.
            if entry.state != .unsubscribing, entry.shard.isReady {
                _ = send(.unsubscribe(channel), on: entry.shard)
            }
        }
        syncShards()
        for (_, entry) in moved { entry.handler(.unsubscribed) }
    }

    // MARK: Events

    private func handle(_ event: PubSubShard.Event, from shard: PubSubShard) {
        switch event {
        case .ready:
            reportedConnected = true
            onConnected.forEach { $0() }

        case .lost:
            // Taken out first: a handler may subscribe again at once (and is refused).
            let lost = entries.filter { $0.value.shard === shard }
            for channel in lost.keys { entries[channel] = nil }
            lost.values.forEach { $0.handler(.connectionLost) }
            if !owners.primaries.contains(shard.endpoint) && !isUsed(shard) { release(shard) }
            // Channels whose slot another connected primary serves now need not wait for this one.
            if !lost.isEmpty { scheduleRetry() }
            reportDisconnectedIfDown()

        case .subscribed(let channel, let request):
            if let entry = entries[channel], entry.shard === shard {
                guard entry.request == request else { return }
                entry.state = .subscribed
                entry.handler(.subscribed)
            } else if !shard.isWaiting(on: channel) {
                // Subscribed on a primary nobody wants it on now: undo it quietly.
                _ = send(.unsubscribe(channel), on: shard)
            }

        case .unsubscribed(let channel, let request?):
            guard let entry = entries[channel], entry.shard === shard, entry.request == request else { return }
            entries[channel] = nil
            entry.handler(.unsubscribed)
            releaseIfUnused(shard)

        case .unsubscribed(let channel, nil):
            // The server's push: the slot left this primary. A SSUBSCRIBE still queued for the
            // channel will be answered (MOVED) and routed then.
            guard let entry = entries[channel], entry.shard === shard, entry.state != .subscribing else { return }
            logger.debug("redis dropped a channel (slot moved)", metadata: ["redis": "\(shard.endpoint)", "channel": "\(channel)"])
            entries[channel] = nil
            entry.handler(.unsubscribed)
            scheduleRetry(after: 0.05)
            releaseIfUnused(shard)

        case .refused(let channel, let request, let isSubscribe, let error):
            guard let entry = entries[channel], entry.shard === shard, entry.request == request else { return }
            entries[channel] = nil
            if !isSubscribe {
                // SUNSUBSCRIBE answered MOVED: the server holds no subscription there any more.
                entry.handler(.unsubscribed)
            } else if let moved = ClusterRedirect.parse(error, replyingHost: shard.endpoint.host), moved.kind == .moved,
                      entry.redirects < Self.maxRedirects {
                owners.moved(slot: moved.slot, to: moved.endpoint)
                route(channel, entry.handler, redirects: entry.redirects + 1, to: moved.endpoint)
            } else {
                logger.warning("SSUBSCRIBE refused", metadata: ["redis": "\(shard.endpoint)", "channel": "\(channel)", "error": "\(error)"])
                scheduleRetry()
                entry.handler(.connectionLost)
            }
            releaseIfUnused(shard)

        case .message(let channel, let payload):
            guard let entry = entries[channel], entry.shard === shard else { return }
            entry.handler(.message(payload))
        }
    }

    private func releaseIfUnused(_ shard: PubSubShard) {
        guard !owners.primaries.contains(shard.endpoint), !isUsed(shard),
              shards[shard.endpoint.description] === shard else { return }
        release(shard)
        reportDisconnectedIfDown()
    }

    /// The hooks' "disconnected" means: no primary at all is connected now.
    private func reportDisconnectedIfDown() {
        guard reportedConnected, !isConnected else { return }
        reportedConnected = false
        onDisconnected.forEach { $0() }
    }

    /// Runs the onConnected hooks from the loop, a little later (coalesced).
    private func scheduleRetry(after seconds: Double = ShardedPubSub.retryDelaySeconds) {
        guard !stopped, retryTimer == nil else { return }
        retryTimer = loop.after(seconds) { [weak self] in
            guard let self else { return }
            self.retryTimer = nil
            guard !self.stopped, self.isConnected else { return }
            self.onConnected.forEach { $0() }
        }
    }
}
