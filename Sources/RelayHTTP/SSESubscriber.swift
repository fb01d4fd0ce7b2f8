// SSESubscriber: one open SSE response, and the one owner of its life cycle. The state is
// private to this type and every transition is one of its methods: the hub, the feed and the
// HTTP handlers only report events to it (the feed is ready, a record was published, the
// channel closed, the pub/sub position was lost, the client left, a timer fired).
//
//   starting ──first batch──▶ catchingUp(reading ⇄ writing, retrying) ──caught up──▶ live
//                                   ▲                                                 │
//                                   └──── gap, close ahead of `delivered`, position lost
//   any state ──finish / leave──▶ ended
//
// `delivered` is the last sequence number written, so nothing is written twice and a gap sends
// the subscriber back to catching up.
import RelayCore
import RelayIO
import RelayRedis
import RelayStorage

final class SSESubscriber {
    enum State {
        /// Registered with its feed, waiting for the feed's subscription, then for the first
        /// read of the log. No response has been sent yet. (Indirect: the opening is boxed, so
        /// the state of every long-lived subscriber is not as large as it.)
        indirect case starting(StreamOpening)
        /// Reading the log; live records are not taken meanwhile (the log has them).
        case catchingUp(CatchUp)
        /// Takes each record from the feed as it is published.
        case live
        /// The response is finished (or was never started) and the hub has let go of it.
        case ended
    }

    enum CatchUp {
        /// A read of the records after `delivered` is in flight.
        case reading
        /// Writing a batch (framed for this subscriber alone); writing pauses while more than
        /// half the unsent-output cap is queued, so a long catch-up never trips the cap.
        /// (Indirect: boxed per batch, so the state of a live subscriber stays small.)
        indirect case writing(backlog: ArraySlice<StoredRecord>, read: ChannelPage)
        /// The read failed (Redis unreachable): read again shortly; the stream stays open.
        case retrying
    }

    private(set) var state: State {
        didSet {
            switch state {
            case .live: isLive = true; isEnded = false
            case .ended: isLive = false; isEnded = true
            case .starting, .catchingUp: isLive = false; isEnded = false
            }
        }
    }
    /// Mirrors of `state` (set only by its didSet) for the fan-out path, which checks them per record.
    private(set) var isLive = false
    private(set) var isEnded = false
    /// Last sequence number written to this client.
    private(set) var delivered: UInt64
    /// The time of the last record written (epoch ms): the tail a v2 ping reports.
    private var deliveredTime: UInt64 = 0
    /// How records are framed for this client.
    let framing: Framing
    /// Records this stream still writes before it ends (an S2 read's `count`); -1: no limit.
    private var recordsLeft: Int
    /// The client asked for a position or has been given records: a trim or a loss after
    /// `delivered` is news to it (ChannelContinuity).
    private var positioned: Bool
    /// Reads in a row that found nothing while the feed had framed more (see `caughtUp`).
    private var emptyReads = 0

    let output: SubscriberOutput
    let feed: ChannelFeed
    /// The session was closed or expired when the stream began: end once the log is read.
    private let endWhenCaughtUp: Bool
    /// Which of the hub's ping slices this stream is pinged in.
    let pingSlot: Int
    /// The hub outlives its subscribers. Used only off the fan-out path (reads, timers, leaving):
    /// what the fan-out path needs is held directly (`flushQueue`, `metrics`, `maxUnsentBytes`)
    /// through strong references to objects that are never weakly referenced, so retaining them
    /// needs no weak-reference side table.
    unowned let hub: FanoutHub
    private let flushQueue: FlushQueue
    private let metrics: FanoutMetrics
    private let maxUnsentBytes: Int

    private var pumpTimer: HubTimer?
    /// Ends the stream when the public token it was opened with expires.
    private var expiryTimer: HubTimer?
    private let idleSeconds: Double
    /// When the idle time ends as last armed, and this subscriber's place among the hub's
    /// idle deadlines (-1: not there). Kept by IdleDeadlines.
    var idleDeadline = 0.0
    var idleIndex = -1
    /// This subscriber's place in its feed's list (-1: not in it). Kept by ChannelFeed.
    var feedIndex = -1
    /// When the last record was written (monotonic, coarse). The idle timer is not re-armed per
    /// record: when it fires it checks this and re-arms for the rest of the time if needed.
    private var lastRecordAt: Double
    /// Frames taken this loop iteration, written together by `flush()` (one system call). Its
    /// capacity is kept between writes, except after a ping: an idle stream holds no array.
    private var outbox: [SharedFrame] = []
    private var pingQueued = false
    /// When the last ping was queued (monotonic): a stream with no record since is idle.
    private var lastPingAt = 0.0
    /// Whether the outbox holds an array (tests).
    var holdsOutbox: Bool { outbox.capacity > 0 }

    init(output: SubscriberOutput, opening: StreamOpening, feed: ChannelFeed, hub: FanoutHub) {
        self.output = output
        self.feed = feed
        self.hub = hub
        state = .starting(opening)
        delivered = opening.lastEventId ?? 0
        framing = opening.framing
        recordsLeft = opening.recordLimit ?? -1
        positioned = opening.lastEventId != nil
        endWhenCaughtUp = opening.endWhenCaughtUp
        flushQueue = hub.flushQueue
        metrics = hub.metrics
        maxUnsentBytes = hub.settings.maxUnsentBytes
        idleSeconds = Double(opening.idleSeconds)
        lastRecordAt = hub.clock.monotonicSeconds
        pingSlot = hub.assignPingSlot()
        // libevent's clock is CLOCK_MONOTONIC_COARSE (a few ms of resolution): 10 ms more keep a
        // stream from ending a hair before its T seconds.
        hub.idleDeadlines.add(self, at: lastRecordAt + idleSeconds + 0.01)
    }

    // MARK: Starting

    /// Begins once the feed's subscription is confirmed: the first read decides whether the
    /// stream starts (and where, if the resume point was trimmed away).
    func start() {
        feed.whenReady { [self] in readFirstBatch() }
    }

    private func readFirstBatch() {
        guard case .starting = state else { return }
        hub.log.range(session: feed.session, io: feed.io, after: delivered, count: FanoutHub.batchSize) { [self] result in
            guard case .starting(let opening) = state else { return }
            switch result {
            case .failure(let error):
                leave()
                opening.refuse(error)
            case .success(let page):
                if let refusal = opening.refusal() {
                    leave()
                    return opening.refuse(refusal)
                }
                startResponse(opening, firstBatch: page)
            }
        }
    }

    /// Sends the headers (with `X-Relay-First-Id` if the resume point was trimmed away), then
    /// writes the first batch (the gap or loss notices it needs come first: `take(_:)`).
    private func startResponse(_ opening: StreamOpening, firstBatch page: ChannelPage) {
        var headers = [("Content-Type", framing.contentType), ("Cache-Control", "no-cache"),
                       ("X-Accel-Buffering", "no")] + opening.headers
        if let first = page.records.first,
           let (_, firstAvailable) = ChannelContinuity.trimmed(delivered: delivered, positioned: positioned,
                                                               seq: first.seq, previous: first.previous) {
            headers.append(("X-Relay-First-Id", String(firstAvailable)))
        }
        opening.started()
        // Catching up from here: a client already gone makes startStream end the stream at once.
        state = .catchingUp(.writing(backlog: page.records[...], read: page))
        // Strong: the output drops this closure when the stream ends, which breaks the cycle.
        output.startStream(status: 200, headers: headers) { self.leave() }
        output.releaseRequestState()
        // First `retry:` (browsers reconnect that soon after a drain), then the records.
        if framing != .s2s, let retry = hub.retryFrame { enqueue(retry) }
        flush()
        pump()
    }

    // MARK: Catching up

    /// Reads the records after `delivered` from the log.
    private func readNextBatch() {
        state = .catchingUp(.reading)
        hub.log.range(session: feed.session, io: feed.io, after: delivered, count: FanoutHub.batchSize) { [self] result in
            guard case .catchingUp(.reading) = state else { return }
            switch result {
            case .failure:
                state = .catchingUp(.retrying)
                hub.clock.after(0.25) { [self] in
                    guard case .catchingUp(.retrying) = state else { return }
                    readNextBatch()
                }
            case .success(let page):
                state = .catchingUp(.writing(backlog: page.records[...], read: page))
                pump()
            }
        }
    }

    private func pump() {
        while case .catchingUp(.writing(let backlog, let read)) = state {
            guard let record = backlog.first else {
                pumpTimer?.cancel()
                pumpTimer = nil
                return caughtUp(read)
            }
            if output.unsentBytes > maxUnsentBytes / 2 {
                if pumpTimer == nil {
                    pumpTimer = hub.clock.every(0.02) { [unowned self] in self.pump() }
                }
                return
            }
            state = .catchingUp(.writing(backlog: backlog.dropFirst(), read: read))
            guard record.seq > delivered else { continue }
            take(record)
            flush()
        }
    }

    /// Writes one entry read from the log: a gap notice first if records before it were
    /// trimmed away, then the record (or the loss marker's `event: lost`).
    private func take(_ record: StoredRecord) {
        if framing == .documented, let (requested, firstAvailable) = ChannelContinuity.trimmed(
            delivered: delivered, positioned: positioned, seq: record.seq, previous: record.previous) {
            enqueue(SharedFrame(SSEFrame.gap(requested: requested, firstAvailable: firstAvailable)))
        }
        delivered = record.seq
        positioned = true
        guard let frame = record.sseFrame(framing) else { return }
        enqueue(SharedFrame(frame))
        deliveredTime = max(deliveredTime, record.time)
        recordWritten()
        if recordsLeft == 0 { finish(clean: true, done: true) }
    }

    /// A batch is written: read on if the log (or the feed) has more, end if the channel is
    /// closed, or go live. There is no await between the feed's `lastSeq` check and going
    /// live, so nothing the feed framed can fall between the two.
    private func caughtUp(_ read: ChannelPage) {
        // A position past the channel's end comes from a history that was lost: say so, and
        // go on from where the channel ends (its next entry is a loss marker, or a record the
        // lost history never had).
        if read.records.isEmpty, let (after, before) = ChannelContinuity.pastEnd(position: delivered, last: read.last) {
            // (v2 has no loss event: its readers resume from the seq they last saw, which the
            // channel's next entry, a loss marker, follows.)
            if framing == .documented { enqueue(SharedFrame(SSEFrame.lost(id: nil, after: after, before: before))) }
            delivered = after
            flush()
            // The feed checks for itself whether what it framed is gone: this read may be older
            // than a record the feed has framed since.
            feed.checkEnd(read.last)
        }
        if read.records.count == FanoutHub.batchSize { return readNextBatch() }
        if feed.lastSeqKnown && feed.lastSeq > delivered {
            // Framed while this read was in flight: read again. Twice in a row with nothing
            // found means the feed knows records this primary does not show yet (a high
            // watermark behind after a failover): look again shortly, not in a tight loop.
            emptyReads = read.records.isEmpty ? emptyReads + 1 : 0
            if emptyReads < 2 { return readNextBatch() }
            state = .catchingUp(.retrying)
            hub.clock.after(0.25) { [self] in
                guard case .catchingUp(.retrying) = state else { return }
                readNextBatch()
            }
            return
        }
        emptyReads = 0
        if let closed = feed.closedSeq, delivered >= closed {
            return finish(clean: true, done: true)
        }
        if endWhenCaughtUp {
            return finish(clean: true, done: true)
        }
        state = .live
        // Caught up: the catch-up's outbox array goes (live records are rare for most streams).
        if outbox.isEmpty { outbox = [] }
        // An S2 read session says at once that it is caught up (a heartbeat: the tail alone).
        if framing == .s2s { ping(hub.pingFrame) }
    }

    // MARK: Live (events from the feed)

    /// An entry the feed framed (offered to live subscribers only). Taken if it is the next
    /// one (its channel predecessor `previous` is at or before `delivered`); anything missing
    /// in between sends the subscriber back to catching up.
    /// `frame` nil: this subscriber's format does not show the entry (it is passed over).
    func offer(seq: UInt64, previous: UInt64, time: UInt64, frame: SharedFrame?) {
        switch ChannelContinuity.offer(delivered: delivered, seq: seq, previous: previous) {
        case .skip: return
        case .readLog: return catchUpFromLog()
        case .take:
            delivered = seq
            positioned = true
            guard let frame else { return }
            enqueue(frame)
            if time > deliveredTime { deliveredTime = time }
            recordWritten()
            if recordsLeft == 0 { finish(clean: true, done: true) }
        }
    }

    /// The feed found that the channel now ends at `last`, before what this subscriber was
    /// given: those records were lost with a primary. Say so (`event: lost`), go on from `last`.
    func historyEnded(at last: UInt64) {
        guard isLive, let (after, before) = ChannelContinuity.pastEnd(position: delivered, last: last) else { return }
        if framing == .documented { enqueue(SharedFrame(SSEFrame.lost(id: nil, after: after, before: before))) }
        delivered = after
    }

    /// The channel was closed at `seq`: end once everything up to it is written.
    func channelClosed(at seq: UInt64) {
        guard isLive else { return }
        if delivered >= seq { return finish(clean: true, done: true) }
        readNextBatch()
    }

    /// The feed no longer knows its position (pub/sub was away and Redis could not be read):
    /// each live subscriber reads on from its own position.
    func catchUpFromLog() {
        guard isLive else { return }
        readNextBatch()
    }

    // MARK: Output

    /// Queues a frame; the flush queue writes every subscriber with queued frames at the end of
    /// the loop iteration, so records that arrive together leave together.
    func enqueue(_ frame: SharedFrame) {
        guard !isEnded else { return }
        if outbox.isEmpty { flushQueue.add(self) }
        outbox.append(frame)
    }

    /// Writes the queued frames now.
    func flush() {
        guard !outbox.isEmpty, !isEnded else { return }
        let queued = output.write(outbox)
        if pingQueued {
            pingQueued = false
            outbox = []
        } else {
            outbox.removeAll(keepingCapacity: true)
        }
        if queued > maxUnsentBytes { dropSlow() }
    }

    /// A keepalive: the hub's comment frame, in v2 a ping event with this stream's tail, in S2S
    /// a heartbeat (a batch with only the tail).
    func ping(_ comment: SharedFrame) {
        // (`delivered` is the client's Last-Event-ID until the first read: any number at all.)
        let tail = delivered == .max ? .max : delivered + 1
        // Idle since the last ping: the output may let go of what it held for a backlog.
        if lastRecordAt < lastPingAt && outbox.isEmpty { output.streamIdle() }
        lastPingAt = hub.clock.monotonicSeconds
        pingQueued = true
        switch framing {
        case .documented: enqueue(comment)
        case .v2:
            enqueue(SharedFrame(SSEFrame.v2Ping(now: UInt64(max(0, hub.clock.epochMilliseconds)), tailSeq: tail, tailTime: deliveredTime)))
        case .s2s:
            guard output.isStreaming else { return }
            enqueue(SharedFrame(Framing.s2sBatch([], tail: S2Position(seqNum: tail, timestamp: deliveredTime))))
        }
    }

    private func recordWritten() {
        // A record resets the idle timer; pings do not.
        lastRecordAt = hub.clock.monotonicSeconds
        metrics.recordsDelivered += 1
        if recordsLeft > 0 { recordsLeft -= 1 }
    }

    // MARK: Ending

    private static let v2Done = SharedFrame(SSEFrame.v2Done)

    /// Past the cap on unsent output: disconnect (the client resumes with Last-Event-ID).
    private func dropSlow() {
        guard !isEnded else { return }
        metrics.slowSubscribersDropped += 1
        finish(clean: false)
    }

    /// Called by the hub's IdleDeadlines when the deadline last set passes.
    func idleDeadlinePassed() {
        guard !isEnded else { return }
        let now = hub.clock.monotonicSeconds
        let remaining = lastRecordAt + idleSeconds - now
        if remaining > 0.005 {
            // Records came since the deadline was set: wait for the rest of the idle time.
            return hub.idleDeadlines.add(self, at: now + remaining + 0.01)
        }
        metrics.idleTimeouts += 1
        finish(clean: true, done: true)
    }

    /// A stream lives no longer than its credential: at `expiresAt` (epoch seconds, a public
    /// token's exp) it ends cleanly and the client reconnects with a fresh token.
    func end(atEpochSeconds expiresAt: Int64) {
        let timer = hub.clock.timer { [unowned self] in self.tokenExpired(at: expiresAt) }
        expiryTimer = timer
        armExpiry(expiresAt)
    }

    /// Armed for at most a day at a time: an `exp` far in the future must not overflow the timer.
    private func armExpiry(_ expiresAt: Int64) {
        let remaining = Double(expiresAt) - Double(hub.clock.epochMilliseconds) / 1000
        expiryTimer?.arm(min(max(remaining, 0), 86_400))
    }

    private func tokenExpired(at expiresAt: Int64) {
        guard !isEnded else { return }
        if hub.clock.epochMilliseconds / 1000 < expiresAt { return armExpiry(expiresAt) }
        metrics.tokenExpiries += 1
        if output.isStreaming {
            if framing != .s2s { enqueue(SharedFrame(SSEFrame.tokenExpired)) }
            return finish(clean: true)
        }
        if !output.isAnswered {
            // Still reading the first batch: the token ran out before the stream began.
            output.respond(status: 401, headers: [("Content-Type", "application/json")],
                           body: Array(Authenticator.expiredToken.bodyJSON.utf8))
        }
        leave()
    }

    /// Ends the response (cleanly, or by dropping the connection) and leaves the feed. `done`:
    /// the stream is over for the client (caught up and idle, closed, settled), which v2 says
    /// with `[DONE]`; a stream ended for the node's sake (shutdown, an expired credential) is not,
    /// and its client reconnects.
    func finish(clean: Bool, done: Bool = false) {
        guard !isEnded else { return }
        if output.isStreaming {
            if clean {
                if framing == .v2 && done { outbox.append(Self.v2Done) }
                output.write(outbox)
                output.endStream()
            } else {
                output.abort()
            }
            outbox.removeAll()
        } else if !output.isAnswered {
            // Timed out before the first read came back.
            output.respond(status: 503, headers: [("Content-Type", "application/json")], body: Array(#"{"error":"timed out"}"#.utf8))
        }
        leave()
    }

    /// Leaves the feed without touching the output: the client went away, or the stream never
    /// started (its first read failed and the opener answers the request).
    func leave() {
        guard !isEnded else { return }
        state = .ended
        hub.idleDeadlines.remove(self)
        expiryTimer?.cancel()
        pumpTimer?.cancel()
        hub.remove(self)
    }
}
