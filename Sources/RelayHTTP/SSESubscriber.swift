// SSESubscriber: one open SSE response. It is either catching up (reading the log from Redis)
// or live (taking frames from its channel's feed). `delivered` is the last sequence number
// written, so nothing is written twice and a gap sends it back to catching up.
import RelayCore
import RelayIO
import RelayRedis

final class SSESubscriber {
    let exchange: HTTPExchange
    let feed: ChannelFeed
    /// Last sequence number written to this client.
    var delivered: UInt64
    var live = false
    var catchingUp = false
    /// The session was closed or expired when the stream began: end once the log is read.
    var endWhenCaughtUp: Bool
    private(set) var ended = false
    /// Which of the hub's ping slices this stream is pinged in.
    let pingSlot: Int
    /// Catch-up records not yet written (writing pauses while the client's output is backed up).
    private var backlog: ArraySlice<StoredRecord> = []
    private var backlogWasFullBatch = false
    private var pumpTimer: LoopTimer?
    private let idleTimer: LoopTimer
    /// Ends the stream when the public token it was opened with expires.
    private var expiryTimer: LoopTimer?
    private let idleTimeout: CommonTimeout?
    private let idleSeconds: Double
    /// When the last record was written (monotonic, coarse). The idle timer is not re-armed per
    /// record: when it fires it checks this and re-arms for the rest of the time if needed.
    private var lastRecordAt: Double
    /// The hub outlives its subscribers; unowned keeps this object free of weak-reference side
    /// tables, so retaining it on the fan-out path stays cheap.
    unowned(unsafe) let hub: FanoutHub   // the hub lives as long as the process

    init(exchange: HTTPExchange, feed: ChannelFeed, delivered: UInt64, endWhenCaughtUp: Bool,
         loop: EventLoop, idleTimeout: CommonTimeout?, idleSeconds: Double, hub: FanoutHub) {
        self.exchange = exchange
        self.feed = feed
        self.delivered = delivered
        self.endWhenCaughtUp = endWhenCaughtUp
        self.idleTimeout = idleTimeout
        self.idleSeconds = idleSeconds
        self.lastRecordAt = Clock.monotonicCoarse()
        self.hub = hub
        self.pingSlot = hub.assignPingSlot()
        var onIdle: () -> Void = {}
        idleTimer = LoopTimer(loop: loop) { onIdle() }
        onIdle = { [unowned self] in self.idleTimedOut() }
        if let idleTimeout { idleTimer.arm(common: idleTimeout) } else { idleTimer.arm(idleSeconds + 0.01) }
    }

    /// Frames taken this loop iteration, written together by `flush()` (one system call).
    private var outbox: [SharedFrame] = []

    /// Takes one record's frame if it is the next one; returns false if a gap was found.
    @discardableResult
    func offer(seq: UInt64, frame: SharedFrame) -> Bool {
        if seq <= delivered { return true }
        guard seq == delivered + 1 else { return false }
        enqueue(frame)
        delivered = seq
        recordWritten()
        return true
    }

    /// Queues a frame; the hub flushes every subscriber with queued frames at the end of the
    /// loop iteration, so records that arrive together leave together.
    func enqueue(_ frame: SharedFrame) {
        guard !ended else { return }
        if outbox.isEmpty { hub.markDirty(self) }
        outbox.append(frame)
    }

    /// Writes the queued frames now.
    func flush() {
        guard !outbox.isEmpty, !ended else { return }
        let queued = exchange.write(outbox)
        outbox.removeAll(keepingCapacity: true)
        if queued > hub.settings.maxUnsentBytes { dropSlow() }
    }

    /// Writes catch-up records (framed for this subscriber alone). Writing pauses while more
    /// than half the unsent-output cap is queued, so a long catch-up never trips the cap; the
    /// feed is told when the batch is written.
    func catchUp(with records: [StoredRecord], fullBatch: Bool) {
        backlog = records[...]
        backlogWasFullBatch = fullBatch
        pump()
    }

    private func pump() {
        guard !ended else { return }
        while let record = backlog.first {
            if exchange.unsentBytes > hub.settings.maxUnsentBytes / 2 {
                if pumpTimer == nil {
                    pumpTimer = hub.loop.every(0.02) { [unowned self] in self.pump() }
                }
                return
            }
            backlog = backlog.dropFirst()
            guard record.seq > delivered else { continue }
            enqueue(SharedFrame(SSEFrame.record(id: record.seq, recordJSON: record.json(includeSeqNum: false),
                                                isControl: record.isControl)))
            delivered = record.seq
            recordWritten()
            flush()
            if ended { return }
        }
        pumpTimer?.cancel()
        pumpTimer = nil
        backlog = []   // an empty slice would still hold the batch's storage
        catchingUp = false
        hub.afterCatchUpBatch(self, full: backlogWasFullBatch)
    }

    func writeComment(_ frame: SharedFrame) {
        enqueue(frame)
    }

    private func recordWritten() {
        // A record resets the idle timer; pings do not.
        lastRecordAt = Clock.monotonicCoarse()
        hub.metrics.recordsDelivered += 1
    }

    /// Past the cap on unsent output: disconnect (the client resumes with Last-Event-ID).
    private func dropSlow() {
        guard !ended else { return }
        hub.metrics.slowSubscribersDropped += 1
        finish(clean: false)
    }

    private func idleTimedOut() {
        let remaining = lastRecordAt + idleSeconds - Clock.monotonicCoarse()
        if remaining > 0.005 {
            // Records came since the timer was armed: wait for the rest of the idle time.
            return idleTimer.arm(remaining + 0.01)
        }
        hub.metrics.idleTimeouts += 1
        finish(clean: true)
    }

    /// A stream lives no longer than its credential: at `expiresAt` (epoch seconds, a public
    /// token's exp) it ends cleanly and the client reconnects with a fresh token.
    func end(atEpochSeconds expiresAt: Int64) {
        let timer = LoopTimer(loop: hub.loop) { [unowned self] in self.tokenExpired(at: expiresAt) }
        expiryTimer = timer
        armExpiry(expiresAt)
    }

    /// Armed for at most a day at a time: an `exp` far in the future must not overflow the timer.
    private func armExpiry(_ expiresAt: Int64) {
        let remaining = Double(expiresAt) - Double(Clock.nowMilliseconds()) / 1000
        expiryTimer?.arm(min(max(remaining, 0), 86_400))
    }

    private func tokenExpired(at expiresAt: Int64) {
        guard !ended else { return }
        if Clock.nowMilliseconds() / 1000 < expiresAt { return armExpiry(expiresAt) }
        hub.metrics.tokenExpiries += 1
        if exchange.isStreaming {
            enqueue(SharedFrame(SSEFrame.tokenExpired))
            return finish(clean: true)
        }
        if !exchange.isAnswered {
            // Still reading the first batch: the token ran out before the stream began.
            exchange.respond(status: 401, headers: [("Content-Type", "application/json")],
                             body: Array(Authenticator.expiredToken.bodyJSON.utf8))
        }
        leave()
    }

    /// Ends the response (cleanly, or by dropping the connection) and leaves the feed.
    func finish(clean: Bool) {
        guard !ended else { return }
        if exchange.isStreaming {
            if clean {
                exchange.write(outbox)
                exchange.endStream()
            } else {
                exchange.abort()
            }
            outbox.removeAll()
        } else if !exchange.isAnswered {
            // Timed out before the first read came back.
            exchange.respond(status: 503, headers: [("Content-Type", "application/json")], body: Array(#"{"error":"timed out"}"#.utf8))
        }
        leave()
    }

    /// Leaves the feed without touching the exchange: the client went away, or the stream
    /// never started (its first read failed and the caller answers the request).
    func leave() {
        guard !ended else { return }
        ended = true
        idleTimer.cancel()
        expiryTimer?.cancel()
        pumpTimer?.cancel()
        hub.remove(self)
    }
}
