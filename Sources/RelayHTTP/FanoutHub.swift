// FanoutHub: this node's channels with local subscribers. One Redis subscription per channel
// (not per client), dropped a little after the last local subscriber leaves; catch-up of new
// and lagging subscribers from the stream; pings; the end of every stream at shutdown.
// Ownership: the hub holds its feeds; a feed holds its subscription state and its subscriber
// list, the one registry of this node's subscribers (the hub's counts, pings and shutdown walk
// the feeds); a subscriber holds its own life cycle (SSESubscriber.State). The hub
// reaches Redis only through the ChannelLog and PubSubChannels protocols, and subscribers
// write through SubscriberOutput, so all of it runs in unit tests without processes.
import RelayCore
import RelayIO
import RelayRedis
import RelayStorage

public struct FanoutSettings: Sendable {
    /// Unsent output a subscriber may accumulate before it is disconnected.
    public var maxUnsentBytes: Int
    public var pingIntervalSeconds: Double
    /// How long a channel stays subscribed after its last local subscriber left.
    public var lingerSeconds: Double
    /// Sent first on every stream as `retry:` (how soon a browser reconnects); 0: not sent.
    public var retryMilliseconds: Int

    public init(maxUnsentBytes: Int = 4 << 20, pingIntervalSeconds: Double = 15, lingerSeconds: Double = 2,
                retryMilliseconds: Int = 0) {
        self.maxUnsentBytes = maxUnsentBytes
        self.pingIntervalSeconds = pingIntervalSeconds
        self.lingerSeconds = lingerSeconds
        self.retryMilliseconds = retryMilliseconds
    }
}

public final class FanoutMetrics {
    public var recordsDelivered = 0
    public var slowSubscribersDropped = 0
    public var idleTimeouts = 0
    /// Streams ended because their public token expired.
    public var tokenExpiries = 0
    /// Losses of a channel's history this node's feeds saw: loss markers framed, and channels
    /// found to end before what a feed had framed (docs/API.md, History guarantees).
    public var historyLosses = 0
    public init() {}
}

/// What the HTTP handler hands to the hub with an authorized subscribe request.
struct StreamOpening {
    var session: String
    var io: ChannelIO
    /// Last-Event-ID: the stream resumes after it (nil: from the start of the log).
    var lastEventId: UInt64?
    /// The session was closed or expired when the request came: end once the log is read.
    var endWhenCaughtUp: Bool
    /// The stream ends after this long without a record.
    var idleSeconds: Int
    /// The exp of the public token the stream was opened with.
    var expiresAt: Int64?
    /// Response headers besides the SSE ones (CORS, node name).
    var headers: [(String, String)]
    /// The framing of the stream (documented, v2 for the Trigger.dev SDK, S2S for S2 read sessions).
    var framing: Framing = .documented
    /// End (normally) after this many records (an S2 read's `count`); nil: no limit.
    var recordLimit: Int?
    /// Asked when the first batch arrives: an error answers the request instead (draining).
    var refusal: () -> APIError?
    /// Answers the request with an error (the first read failed, or `refusal`); the stream is over.
    var refuse: (APIError) -> Void
    /// The stream's response is starting (200).
    var started: () -> Void
}

/// Subscribers with frames queued in this loop iteration, written together at its end, so
/// records that arrive together leave together (one system call per subscriber). A class of
/// its own, never weakly referenced, that every subscriber holds strongly: reaching it on the
/// fan-out path costs no weak-reference side table.
final class FlushQueue {
    private var dirty: [SSESubscriber] = []
    private var task: LoopTask?

    init(loop: EventLoop) {
        task = LoopTask(loop: loop) { [unowned self] in self.flush() }
    }

    func add(_ subscriber: SSESubscriber) {
        dirty.append(subscriber)
        task?.schedule()
    }

    func flush() {
        let batch = dirty
        dirty.removeAll(keepingCapacity: true)
        for subscriber in batch { subscriber.flush() }
    }
}

public final class FanoutHub {
    static let batchSize = 500

    let loop: EventLoop
    /// The fan-out's time: the loop's, or virtual in the hub's unit tests.
    let clock: HubClock
    let pubsub: PubSubChannels
    let log: ChannelLog
    let settings: FanoutSettings
    public let metrics = FanoutMetrics()
    let flushQueue: FlushQueue
    private var feeds: [String: ChannelFeed] = [:]
    /// Every subscriber's idle deadline, on one timer.
    private(set) lazy var idleDeadlines = IdleDeadlines(clock: clock)
    private var pingTimer: HubTimer?
    let pingFrame = SharedFrame(SSEFrame.ping)
    /// The `retry:` every stream starts with, framed once for all of them (nil: not sent).
    private(set) lazy var retryFrame: SharedFrame? =
        settings.retryMilliseconds > 0 ? SharedFrame(SSEFrame.retry(milliseconds: settings.retryMilliseconds)) : nil

    public convenience init(loop: EventLoop, pubsub: PubSubChannels, channels: ChannelLog, settings: FanoutSettings) {
        self.init(clock: HubClock(loop: loop), pubsub: pubsub, channels: channels, settings: settings)
    }

    init(clock: HubClock, pubsub: PubSubChannels, channels: ChannelLog, settings: FanoutSettings) {
        self.clock = clock
        let loop = clock.loop
        self.loop = loop
        self.pubsub = pubsub
        self.log = channels
        self.settings = settings
        flushQueue = FlushQueue(loop: loop)
        pubsub.onDisconnected.append { [weak self] in
            self?.feeds.values.forEach { $0.pubSubDisconnected() }
        }
        pubsub.onConnected.append { [weak self] in
            self?.feeds.values.forEach { $0.pubSubReconnected() }
        }
        // Pings go out in 16 slices over the interval, not to every subscriber at once: a burst
        // of 10,000 writes would hold back the records behind it.
        pingTimer = clock.every(settings.pingIntervalSeconds / Double(FanoutHub.pingSlices)) { [weak self] in self?.ping() }
    }

    /// The feeds' subscribers, kept as they attach and detach (`countSubscriber`): the status
    /// heartbeat and the metrics read them every second, and counting the feeds then walked
    /// every channel (10,000 of them in the many-channels benchmark).
    private var inputSubscribers = 0
    private var outputSubscribers = 0
    public var subscriberCount: Int { inputSubscribers + outputSubscribers }
    public var feedCount: Int { feeds.count }
    public func subscriberCount(io: ChannelIO) -> Int { io == .input ? inputSubscribers : outputSubscribers }

    /// Called by a feed as a subscriber attaches (+1) or detaches (-1).
    func countSubscriber(_ io: ChannelIO, _ change: Int) {
        if io == .input { inputSubscribers += change } else { outputSubscribers += change }
    }

    /// Takes an authorized subscribe request: the stream starts once its channel is subscribed
    /// and the first batch of the log is read (or the request is refused through `opening`).
    func open(_ output: SubscriberOutput, _ opening: StreamOpening) {
        let feed = feed(session: opening.session, io: opening.io)
        let subscriber = SSESubscriber(output: output, opening: opening, feed: feed, hub: self)
        if let expiresAt = opening.expiresAt { subscriber.end(atEpochSeconds: expiresAt) }
        feed.attach(subscriber)
        pingSlots[subscriber.pingSlot].append(subscriber)
        subscriber.start()
    }

    func feed(session: String, io: ChannelIO) -> ChannelFeed {
        let name = log.channelName(session: session, io: io)
        if let feed = feeds[name] { return feed }
        let feed = ChannelFeed(name: name, session: session, io: io, hub: self)
        feeds[name] = feed
        return feed
    }

    /// Called by a subscriber as it ends.
    func remove(_ subscriber: SSESubscriber) {
        subscriber.feed.detach(subscriber)
        endedInPingSlots += 1
        // Ended subscribers leave the ping slices as their slice comes round; under churn they
        // could pile up for a ping interval: then every slice is swept at once.
        if endedInPingSlots > 1024 && endedInPingSlots > subscriberCount {
            for slot in pingSlots.indices { pingSlots[slot].removeAll { $0.isEnded } }
            endedInPingSlots = 0
        }
    }

    /// Called by a feed once it has no subscribers and no subscription.
    func forget(_ feed: ChannelFeed) {
        if feeds[feed.name] === feed && feed.subscribers.isEmpty { feeds[feed.name] = nil }
    }

    static let pingSlices = 16
    private var pingSlice = 0
    private var nextPingSlot = 0
    /// Each slice's subscribers, so a slice's pings reach them without walking every feed (a
    /// walk of 10,000 feeds took about 3 ms of the loop, 16 times per interval). Ended
    /// subscribers stay until their slice comes round (or the sweep in `remove`).
    private var pingSlots = [[SSESubscriber]](repeating: [], count: FanoutHub.pingSlices)
    /// Ended subscribers still in `pingSlots` (at most; some may have been dropped since).
    private var endedInPingSlots = 0
    /// Entries in the ping slices, ended ones included (for tests).
    var pingSlotEntries: Int { pingSlots.reduce(0) { $0 + $1.count } }

    /// The slice a new subscriber's pings go out in.
    func assignPingSlot() -> Int {
        nextPingSlot = (nextPingSlot + 1) % FanoutHub.pingSlices
        return nextPingSlot
    }

    private func ping() {
        pingSlice = (pingSlice + 1) % FanoutHub.pingSlices
        let before = pingSlots[pingSlice].count
        pingSlots[pingSlice].removeAll { $0.isEnded }
        endedInPingSlots = max(0, endedInPingSlots - (before - pingSlots[pingSlice].count))
        // (A ping only queues a frame: nothing here opens or ends a stream.)
        for subscriber in pingSlots[pingSlice] { subscriber.ping(pingFrame) }
    }

    /// Ends every open stream cleanly (graceful shutdown); clients resume elsewhere.
    public func endAll() {
        let open = feeds.values.flatMap { $0.subscribers }
        for subscriber in open { subscriber.finish(clean: true) }
    }
}
