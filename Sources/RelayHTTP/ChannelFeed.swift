// ChannelFeed: one channel that has subscribers on this node. It holds the node's single
// Redis subscription for the channel, puts live records in sequence order (filling gaps from
// the stream with XRANGE), frames each record once and offers the same bytes to every live
// subscriber. It owns its subscription state and its subscriber list; the subscribers' own
// life cycle is theirs (SSESubscriber): the feed only reports records and closes to them.
import RelayCore
import RelayIO
import RelayRedis
import RelayStorage

final class ChannelFeed {
    enum Subscription { case idle, subscribing, subscribed, unsubscribing }

    let name: String
    let session: String
    let io: ChannelIO
    /// An array, not a dictionary: 8 bytes a subscriber (each knows its place, `feedIndex`,
    /// so leaving is O(1)), and the fan-out walks it in order.
    private(set) var subscribers: [SSESubscriber] = []
    private(set) var subscription = Subscription.idle
    /// Highest sequence number framed by this feed (valid when `lastSeqKnown`).
    private(set) var lastSeq: UInt64 = 0
    private(set) var lastSeqKnown = false
    /// Set when the session was closed: the channel's final sequence number.
    private(set) var closedSeq: UInt64?
    private var generation = 0
    private var everSubscribed = false
    private var readyWaiters: [() -> Void] = []
    private var filling = false
    /// Fills in a row that found nothing (a gap the stream cannot fill yet): the next waits.
    private var emptyFills = 0
    private var pending: [LiveRecord] = []
    private var lingerTimer: HubTimer?
    unowned let hub: FanoutHub

    init(name: String, session: String, io: ChannelIO, hub: FanoutHub) {
        self.name = name
        self.session = session
        self.io = io
        self.hub = hub
    }

    // MARK: Subscribers

    func attach(_ subscriber: SSESubscriber) {
        guard subscriber.feedIndex < 0 else { return }
        subscriber.feedIndex = subscribers.count
        subscribers.append(subscriber)
        hub.countSubscriber(io, 1)
        lingerTimer?.cancel()
        lingerTimer = nil
    }

    func detach(_ subscriber: SSESubscriber) {
        let index = subscriber.feedIndex
        guard index >= 0, index < subscribers.count, subscribers[index] === subscriber else { return }
        subscriber.feedIndex = -1
        hub.countSubscriber(io, -1)
        let last = subscribers.removeLast()
        if index < subscribers.count {
            subscribers[index] = last
            last.feedIndex = index
        }
        scheduleLinger()
    }

    /// Drops the Redis subscription a little after the last local subscriber left.
    private func scheduleLinger() {
        guard subscribers.isEmpty, lingerTimer == nil else { return }
        lingerTimer = hub.clock.after(hub.settings.lingerSeconds) { [weak self] in
            guard let self else { return }
            self.lingerTimer = nil
            guard self.subscribers.isEmpty else { return }
            switch self.subscription {
            case .subscribed:
                self.subscription = .unsubscribing
                self.hub.pubsub.unsubscribe(self.name)
            case .idle:
                self.hub.forget(self)
            case .subscribing, .unsubscribing:
                break
            }
        }
    }

    // MARK: Subscription

    /// Runs `then` once the subscription is confirmed (at once if it is, or if Redis pub/sub
    /// is down: the reconnect backfills).
    func whenReady(_ then: @escaping () -> Void) {
        switch subscription {
        case .subscribed: then()
        case .subscribing, .unsubscribing: readyWaiters.append(then)
        case .idle:
            readyWaiters.append(then)
            subscribe()
        }
    }

    /// Pub/sub is back: subscribe again if anyone is listening.
    func pubSubReconnected() {
        if !subscribers.isEmpty { subscribe() }
    }

    /// The pub/sub connection dropped: the subscription is gone until the reconnect.
    func pubSubDisconnected() {
        generation += 1
        subscription = .idle
    }

    private func subscribe() {
        guard subscription == .idle else { return }
        subscription = .subscribing
        generation += 1
        let current = generation
        hub.pubsub.subscribe(name) { [weak self] event in
            guard let self, self.generation == current else { return }
            self.handle(event)
        }
    }

    private func handle(_ event: PubSubEvent) {
        switch event {
        case .subscribed:
            let wasResubscribe = everSubscribed
            everSubscribed = true
            subscription = .subscribed
            let waiters = readyWaiters
            readyWaiters = []
            waiters.forEach { $0() }
            if wasResubscribe { backfillAfterReconnect() }
            checkClosed()
            if subscribers.isEmpty { scheduleLinger() }
        case .message(let payload):
            // Decoded by the storage layer, which wrote it (LiveRecord); other payloads are ignored.
            guard let record = LiveRecord(payload: payload) else { return }
            receive(record)
        case .unsubscribed:
            subscription = .idle
            if subscribers.isEmpty && readyWaiters.isEmpty {
                hub.forget(self)
            } else {
                subscribe()
            }
        case .connectionLost:
            subscription = .idle
            // Streams started now go live unsubscribed: the next subscription must backfill.
            everSubscribed = everSubscribed || !readyWaiters.isEmpty
            let waiters = readyWaiters
            readyWaiters = []
            waiters.forEach { $0() }
            if subscribers.isEmpty { hub.forget(self) }
        }
    }

    /// A close published while this feed was not subscribed (starting, or Redis away) is not
    /// replayed by pub/sub: after each subscription, ask the session row.
    private func checkClosed() {
        guard closedSeq == nil else { return }
        hub.log.closedState(session: session, io: io) { [weak self] result in
            guard let self, self.closedSeq == nil, case .success(let lastSeq?) = result else { return }
            self.receive(.closed(lastSeq: lastSeq))
        }
    }

    // MARK: Records

    /// Live messages arrive in publish order, but some may be missing (a reconnect): an entry
    /// whose predecessor this feed has not framed is held until the stream fills the gap.
    func receive(_ message: LiveRecord) {
        if filling { pending.append(message); return }
        if case .closed(let lastSeq) = message { return closed(at: lastSeq) }
        let seq = message.seq
        let previous = message.previous
        if lastSeqKnown && seq > lastSeq && previous > lastSeq {
            pending.append(message)
            fill()
            return
        }
        switch message {
        case .entry(let record):
            // The stored fields: each format's frame is built here, once per node, by the same
            // code as catch-up and drains.
            deliver(record)
        case .closed:
            break
        }
    }

    private func deliver(_ record: StoredRecord) {
        deliver(seq: record.seq, previous: record.previous, time: record.time, isLoss: record.isLossMarker) {
            record.sseFrame($0)
        }
    }

    /// Frames the entry once per framing its live subscribers read and offers the same frame to
    /// each of them. `frame` is nil for a framing that does not show the entry.
    private func deliver(seq: UInt64, previous: UInt64, time: UInt64, isLoss: Bool = false,
                         frame: (Framing) -> [UInt8]?) {
        if lastSeqKnown && seq <= lastSeq { return }
        emptyFills = 0
        if isLoss {
            hub.metrics.historyLosses += 1
            forgetClose(after: previous)
        }
        lastSeq = seq
        lastSeqKnown = true
        guard !subscribers.isEmpty else { return }
        // One frame per framing, built when the first subscriber reading it is offered the entry.
        var frames: (documented: SharedFrame??, v2: SharedFrame??, s2s: SharedFrame??)
        for subscriber in subscribers where subscriber.isLive {
            let shared: SharedFrame?
            switch subscriber.framing {
            case .documented:
                if frames.documented == nil { frames.documented = .some(frame(.documented).map(SharedFrame.init)) }
                shared = frames.documented!
            case .v2:
                if frames.v2 == nil { frames.v2 = .some(frame(.v2).map(SharedFrame.init)) }
                shared = frames.v2!
            case .s2s:
                if frames.s2s == nil { frames.s2s = .some(frame(.s2s).map(SharedFrame.init)) }
                shared = frames.s2s!
            }
            subscriber.offer(seq: seq, previous: previous, time: time, frame: shared)
        }
    }

    /// A subscriber read that the channel ends at `last`, before what this feed framed: the
    /// feed reads the stream itself to tell a loss from a read older than its last record.
    func checkEnd(_ last: UInt64) {
        if lastSeqKnown && lastSeq > last && !filling { fill() }
    }

    /// The channel ends at `last`, before what this feed framed: the records after it were lost
    /// with a primary (a failover, a restart from older data). Subscribers given any of them
    /// are told; the feed goes on from `last` (the channel's next entry is a loss marker). A
    /// close past `last` was lost too: ask the session row again.
    private func historyEnds(at last: UInt64) {
        guard lastSeqKnown, lastSeq > last else { return }
        hub.metrics.historyLosses += 1
        lastSeq = last
        forgetClose(after: last)
        for subscriber in subscribers where subscriber.isLive {
            subscriber.historyEnded(at: last)
        }
    }

    /// A close announced past the last seq the channel kept was lost with the history.
    private func forgetClose(after kept: UInt64) {
        guard let closedSeq, closedSeq > kept else { return }
        self.closedSeq = nil
        checkClosed()
    }

    private func closed(at seq: UInt64) {
        closedSeq = seq
        for subscriber in subscribers where subscriber.isLive {
            subscriber.channelClosed(at: seq)
        }
    }

    /// Reads the records after `lastSeq` from the stream, then replays what arrived meanwhile.
    /// After a read that found nothing, the next one waits a little: a gap the stream cannot
    /// fill yet (its watermark behind a message) must not become a loop of reads.
    private func fill() {
        filling = true
        guard emptyFills == 0 else {
            hub.clock.after(0.25) { [weak self] in self?.readForFill() }
            return
        }
        readForFill()
    }

    private func readForFill() {
        hub.log.range(session: session, io: io, after: lastSeq, count: FanoutHub.batchSize) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let page):
                page.records.forEach(self.deliver)
                self.emptyFills = page.records.isEmpty ? self.emptyFills + 1 : 0
                if page.records.count == FanoutHub.batchSize { return self.readForFill() }
                if page.records.isEmpty { self.historyEnds(at: page.last) }
            case .failure:
                // Redis is unreachable: forget the position; subscribers catch up one by one.
                self.lastSeqKnown = false
            }
            self.filling = false
            let queued = self.pending
            self.pending = []
            queued.forEach { self.receive($0) }
        }
    }

    private func backfillAfterReconnect() {
        if lastSeqKnown {
            if !filling { fill() }
        } else {
            for subscriber in subscribers where subscriber.isLive {
                subscriber.catchUpFromLog()
            }
        }
    }
}

extension StoredRecord {
    /// The entry as one event of a stream in `framing`, the same from the log (catch-up, gap
    /// fill) as live; nil where the framing does not show it (a command record in the
    /// documented format).
    func sseFrame(_ framing: Framing) -> [UInt8]? {
        switch framing {
        case .documented:
            if let lostAfter { return SSEFrame.lost(id: seq, after: lostAfter, before: seq) }
            if isCommand { return nil }
            return SSEFrame.record(id: seq, recordJSON: json(includeSeqNum: false), isControl: isControl)
        case .v2:
            var record: [UInt8] = []
            appendS2JSON(to: &record)
            return SSEFrame.v2Batch(lastSeq: seq, recordsJSON: record, tailSeq: seq + 1, tailTime: time)
        case .s2s:
            return Framing.s2sBatch([s2Record], tail: S2Position(seqNum: seq + 1, timestamp: time))
        }
    }
}
