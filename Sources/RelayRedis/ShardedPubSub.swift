// ShardedPubSub: the node's live-record subscriptions, with SSUBSCRIBE on the primary that owns
// each channel's slot, in both modes (a single Redis 7 serves SSUBSCRIBE and SPUBLISH too, for
// every slot: SingleNodeSlots). A record then crosses only its own shard.
//
// Connections: one PubSubShard (a raw RESP connection, see RelayIO/RespConnection.swift) per
// known primary, opened at start and whenever the slot map names a new primary, not only when
// a channel needs it: primaries are few (3 to 9), a subscription then never waits for a
// connect, and `isConnected` reflects the cluster, not the channels that happen to be open.
// A shard that is no longer a primary is closed once no subscription uses it.
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
//   whose shard no longer owns its slot in the new map is dropped there (SUNSUBSCRIBE when that
//   shard is still a primary and up; otherwise it is only forgotten here, and the connection of
//   a former primary is closed once nothing uses it, which ends its subscriptions) and its
//   handler gets `.unsubscribed`, so the feed subscribes again on the new owner and fills the
//   gap. A primary that hangs (SIGSTOP, a partition) never drops its connection nor pushes
//   `sunsubscribe`: without this its channels would wait for it for ever.
// - a primary that stops answering: PubSubShard's heartbeat drops its connection (PING unanswered
//   for 3 s, an SSUBSCRIBE likewise), which is reported as a drop.
// - MOVED in answer to SSUBSCRIBE updates the map (`owners.moved`) and is retried on the new
//   owner here, at most `maxRedirects` times; the handler sees only the delay.
import Logging
import RelayIO

public final class ShardedPubSub: PubSubChannels {
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
    private let maxBufferedBytes: Int
    private let heartbeat: PubSubShard.Heartbeat
    /// By endpoint description (RedisEndpoint is not Hashable).
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

    public convenience init(loop: EventLoop, owners: SlotOwners, logger: Logger,
                            maxBufferedBytes: Int = RespConnection.defaultMaxBufferedBytes) {
        self.init(loop: loop, owners: owners, logger: logger, maxBufferedBytes: maxBufferedBytes, heartbeat: .standard)
    }

    init(loop: EventLoop, owners: SlotOwners, logger: Logger, maxBufferedBytes: Int, heartbeat: PubSubShard.Heartbeat) {
        self.loop = loop
        self.owners = owners
        self.logger = logger
        self.maxBufferedBytes = maxBufferedBytes
        self.heartbeat = heartbeat
        owners.onChange.append { [weak self] in self?.slotMapChanged() }
    }

    public var isConnected: Bool { shards.values.contains { $0.isReady } }

    /// The primaries with a pub/sub connection up, and the number of channels subscribed.
    public var connectedPrimaries: [RedisEndpoint] { shards.values.filter(\.isReady).map(\.endpoint) }
    public var channelCount: Int { entries.count }

    public func start() {
        guard stopped else { return }
        stopped = false
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
        shards.values.forEach { $0.stop() }
        shards = [:]
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
        let shard = PubSubShard(loop: loop, endpoint: endpoint, logger: logger, maxBufferedBytes: maxBufferedBytes,
                                heartbeat: heartbeat)
        shard.onEvent = { [weak self, unowned shard] event in self?.handle(event, from: shard) }
        shards[endpoint.description] = shard
        if !stopped { shard.start() }
        return shard
    }

    /// A connection per primary; a shard that is no longer a primary goes once unused.
    private func syncShards() {
        guard !stopped else { return }
        let primaries = owners.primaries
        for endpoint in primaries { _ = shard(for: endpoint) }
        for (key, shard) in shards where !primaries.contains(shard.endpoint) && !isUsed(shard) {
            shard.stop()
            shards[key] = nil
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
        let primaries = owners.primaries
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
            // Best effort: its answer (or MOVED) finds no entry and is ignored. A shard that is
            // no longer a primary is closed below instead; one that is down has nothing to undo.
            if entry.state != .unsubscribing, entry.shard.isReady, primaries.contains(entry.shard.endpoint) {
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
            if !owners.primaries.contains(shard.endpoint) && !isUsed(shard) {
                shard.stop()
                shards[shard.endpoint.description] = nil
            }
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
            } else if let moved = Self.moved(error, from: shard.endpoint), entry.redirects < Self.maxRedirects {
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
        shard.stop()
        shards[shard.endpoint.description] = nil
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

    /// "MOVED <slot> <host>:<port>"; an empty host means the host already connected to.
    static func moved(_ error: String, from current: RedisEndpoint) -> (slot: Int, endpoint: RedisEndpoint)? {
        let parts = error.split(separator: " ")
        guard parts.count == 3, parts[0] == "MOVED", let slot = Int(parts[1]),
              let colon = parts[2].lastIndex(of: ":"), let port = Int(parts[2][parts[2].index(after: colon)...]) else { return nil }
        var host = String(parts[2][..<colon])
        if host.isEmpty, case .tcp(let currentHost, _) = current { host = currentHost }
        guard !host.isEmpty else { return nil }
        return (slot, .tcp(host: host, port: port))
    }
}
