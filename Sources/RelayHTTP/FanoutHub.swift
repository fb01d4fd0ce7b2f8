// FanoutHub: this node's channels with local subscribers. One Redis subscription per channel
// (not per client), dropped a little after the last local subscriber leaves; catch-up of new
// and lagging subscribers from the stream; pings; the end of every stream at shutdown.
import RelayCore
import RelayIO
import RelayRedis

public struct FanoutSettings: Sendable {
    /// Unsent output a subscriber may accumulate before it is disconnected.
    public var maxUnsentBytes: Int
    public var pingIntervalSeconds: Double
    /// How long a channel stays subscribed after its last local subscriber left.
    public var lingerSeconds: Double

    public init(maxUnsentBytes: Int = 4 << 20, pingIntervalSeconds: Double = 15, lingerSeconds: Double = 2) {
        self.maxUnsentBytes = maxUnsentBytes
        self.pingIntervalSeconds = pingIntervalSeconds
        self.lingerSeconds = lingerSeconds
    }
}

public final class FanoutMetrics {
    public var recordsDelivered = 0
    public var slowSubscribersDropped = 0
    public var idleTimeouts = 0
    /// Streams ended because their public token expired.
    public var tokenExpiries = 0
    public init() {}
}

public final class FanoutHub {
    static let batchSize = 500

    let loop: EventLoop
    let pubsub: PubSubClient
    let channels: ChannelStore
    let settings: FanoutSettings
    public let metrics = FanoutMetrics()
    private var feeds: [String: ChannelFeed] = [:]
    private var subscribers: [ObjectIdentifier: SSESubscriber] = [:]
    private var commonTimeouts: [Int: CommonTimeout] = [:]
    private var pingTimer: LoopTimer?
    private let pingFrame = SharedFrame(SSEFrame.ping)
    /// Subscribers with frames queued in this loop iteration.
    private var dirty: [SSESubscriber] = []
    private var flushTask: LoopTask?

    public init(loop: EventLoop, pubsub: PubSubClient, channels: ChannelStore, settings: FanoutSettings) {
        self.loop = loop
        self.pubsub = pubsub
        self.channels = channels
        self.settings = settings
        pubsub.onDisconnected.append { [weak self] in
            self?.feeds.values.forEach { $0.connectionLost() }
        }
        pubsub.onConnected.append { [weak self] in
            guard let self else { return }
            for feed in self.feeds.values where !feed.subscribers.isEmpty { feed.subscribe() }
        }
        // Pings go out in 16 slices over the interval, not to every subscriber at once: a burst
        // of 10,000 writes would hold back the records behind it.
        pingTimer = loop.every(settings.pingIntervalSeconds / Double(FanoutHub.pingSlices)) { [weak self] in self?.ping() }
        flushTask = LoopTask(loop: loop) { [weak self] in self?.flushDirty() }
    }

    func markDirty(_ subscriber: SSESubscriber) {
        dirty.append(subscriber)
        flushTask?.schedule()
    }

    private func flushDirty() {
        let batch = dirty
        dirty.removeAll(keepingCapacity: true)
        for subscriber in batch { subscriber.flush() }
    }

    private var inputSubscribers = 0

    public var subscriberCount: Int { subscribers.count }
    public var feedCount: Int { feeds.count }
    public func subscriberCount(io: ChannelIO) -> Int {
        io == .input ? inputSubscribers : subscribers.count - inputSubscribers
    }

    func feed(session: String, io: ChannelIO) -> ChannelFeed {
        let name = channels.keys.channel(session: session, io: io)
        if let feed = feeds[name] { return feed }
        let feed = ChannelFeed(name: name, session: session, io: io, hub: self)
        feeds[name] = feed
        return feed
    }

    /// A libevent common timeout for T seconds; nil once 200 distinct values are in use
    /// (libevent allows 256 per loop), after which timers use the ordinary heap.
    func idleTimeout(seconds: Int) -> CommonTimeout? {
        if let timeout = commonTimeouts[seconds] { return timeout }
        guard commonTimeouts.count < 200 else { return nil }
        // libevent's clock here is CLOCK_MONOTONIC_COARSE (a few ms of resolution): 10 ms more
        // keep a stream from ending a hair before its T seconds.
        guard let timeout = loop.commonTimeout(Double(seconds) + 0.01) else { return nil }
        commonTimeouts[seconds] = timeout
        return timeout
    }

    func add(_ subscriber: SSESubscriber) {
        let id = ObjectIdentifier(subscriber)
        guard subscribers.updateValue(subscriber, forKey: id) == nil else { return }
        if subscriber.feed.io == .input { inputSubscribers += 1 }
        subscriber.feed.subscribers[id] = subscriber
        subscriber.feed.lingerTimer?.cancel()
        subscriber.feed.lingerTimer = nil
    }

    func remove(_ subscriber: SSESubscriber) {
        let id = ObjectIdentifier(subscriber)
        guard subscribers.removeValue(forKey: id) != nil else { return }
        if subscriber.feed.io == .input { inputSubscribers -= 1 }
        let feed = subscriber.feed
        feed.subscribers[id] = nil
        scheduleLinger(feed)
    }

    /// Drops the feed's Redis subscription a little after its last local subscriber left.
    func scheduleLinger(_ feed: ChannelFeed) {
        guard feed.subscribers.isEmpty, feed.lingerTimer == nil else { return }
        feed.lingerTimer = loop.after(settings.lingerSeconds) { [weak self, weak feed] in
            guard let self, let feed else { return }
            feed.lingerTimer = nil
            guard feed.subscribers.isEmpty else { return }
            switch feed.state {
            case .subscribed:
                feed.state = .unsubscribing
                self.pubsub.unsubscribe(feed.name)
            case .idle:
                self.forget(feed)
            case .subscribing, .unsubscribing:
                break
            }
        }
    }

    func forget(_ feed: ChannelFeed) {
        if feeds[feed.name] === feed && feed.subscribers.isEmpty { feeds[feed.name] = nil }
    }

    /// Reads the log for a subscriber that is not live (new, or behind) until it has everything
    /// the feed has seen, then makes it live. Ends the stream there if the session is closed.
    func catchUp(_ subscriber: SSESubscriber) {
        guard !subscriber.ended, !subscriber.catchingUp else { return }
        subscriber.catchingUp = true
        channels.range(session: subscriber.feed.session, io: subscriber.feed.io, after: subscriber.delivered,
                       count: FanoutHub.batchSize) { [weak self] result in
            guard let self, !subscriber.ended else { return }
            switch result {
            case .failure:
                // Redis is unreachable: try again shortly; the stream stays open.
                subscriber.catchingUp = false
                self.loop.after(0.25) { [weak self] in self?.catchUp(subscriber) }
            case .success(let records):
                subscriber.catchUp(with: records, fullBatch: records.count == FanoutHub.batchSize)
            }
        }
    }

    func afterCatchUpBatch(_ subscriber: SSESubscriber, full: Bool) {
        let feed = subscriber.feed
        if full || (feed.lastSeqKnown && feed.lastSeq > subscriber.delivered) {
            return catchUp(subscriber)
        }
        if let closed = feed.closedSeq, subscriber.delivered >= closed {
            return subscriber.finish(clean: true)
        }
        if subscriber.endWhenCaughtUp {
            return subscriber.finish(clean: true)
        }
        subscriber.live = true
    }

    static let pingSlices = 16
    private var pingSlice = 0
    private var nextPingSlot = 0

    /// The slice a new subscriber's pings go out in.
    func assignPingSlot() -> Int {
        nextPingSlot = (nextPingSlot + 1) % FanoutHub.pingSlices
        return nextPingSlot
    }

    private func ping() {
        pingSlice = (pingSlice + 1) % FanoutHub.pingSlices
        for subscriber in subscribers.values where subscriber.pingSlot == pingSlice {
            subscriber.writeComment(pingFrame)
        }
    }

    /// Ends every open stream cleanly (graceful shutdown); clients resume elsewhere.
    public func endAll() {
        for subscriber in Array(subscribers.values) { subscriber.finish(clean: true) }
    }
}
