// The fan-out without processes: a FanoutHub on a real (idle) libevent loop, with the channel
// log, pub/sub and each subscriber's socket replaced by the fakes of FanoutFakes.swift.
import RelayCore
@testable import RelayHTTP
@testable import RelayIO
@testable import RelayRedis
@testable import RelayStorage
import XCTest

/// glibc's usable size of an object's allocation (malloc.h is not in the Glibc module).
@_silgen_name("malloc_usable_size")
private func mallocUsableSize(_ pointer: UnsafeMutableRawPointer?) -> Int

private func allocatedBytes(_ object: AnyObject) -> Int { mallocUsableSize(Unmanaged.passUnretained(object).toOpaque()) }

final class FanoutHubTests: XCTestCase {
    var loop: EventLoop!
    /// The hub's time: moved only by `spin`.
    var time: VirtualTime!
    var log: FakeLog!
    var pubsub: FakePubSub!
    var hub: FanoutHub!
    var channel: String { log.channelName(session: "s1", io: .output) }

    /// One subscribe request as the HTTP handler would hand it over.
    final class Client {
        let output = FakeOutput()
        var refusals: [APIError] = []
        var started = 0
    }

    override func setUp() {
        makeHub()
    }

    override func tearDown() {
        hub = nil
        loop = nil
    }

    func makeHub(maxUnsentBytes: Int = 4 << 20, lingerSeconds: Double = 2, retryMilliseconds: Int = 0) {
        loop = EventLoop()
        time = VirtualTime()
        log = FakeLog()
        pubsub = FakePubSub()
        hub = FanoutHub(clock: HubClock(loop: loop, virtual: time), pubsub: pubsub, channels: log, settings: FanoutSettings(
            maxUnsentBytes: maxUnsentBytes, pingIntervalSeconds: 15, lingerSeconds: lingerSeconds,
            retryMilliseconds: retryMilliseconds))
    }

    func open(session: String = "s1", lastEventId: UInt64? = nil, endWhenCaughtUp: Bool = false, draining: Bool = false,
              idleSeconds: Int = 60, expiresAt: Int64? = nil) -> Client {
        let client = Client()
        hub.open(client.output, StreamOpening(
            session: session, io: .output, lastEventId: lastEventId, endWhenCaughtUp: endWhenCaughtUp,
            idleSeconds: idleSeconds, expiresAt: expiresAt, headers: [("X-Relay-Node", "test")],
            refusal: { draining ? .serviceUnavailable("draining") : nil },
            refuse: { [unowned client] in client.refusals.append($0) },
            started: { [unowned client] in client.started += 1 }))
        return client
    }

    /// The end of the loop iteration: subscribers with queued frames write them.
    func flush() { hub.flushQueue.flush() }

    /// Moves the hub's virtual time on (timers: linger, retries, paused catch-up, idle and
    /// token expiry), 10 ms at a time, letting the loop run what each step queued (flushes).
    func spin(_ seconds: Double) {
        let loop = self.loop!
        var left = seconds
        while left > 0 {
            let step = min(0.01, left)
            time.advance(by: step)
            left -= step
            loop.after(0) { loop.stop() }
            loop.run()
        }
    }

    func subscriber(_ client: Client) -> SSESubscriber? {
        hub.feed(session: "s1", io: .output).subscribers.first { $0.output === client.output }
    }

    func state(_ client: Client) -> String {
        guard let subscriber = subscriber(client) else { return "gone" }
        switch subscriber.state {
        case .starting: return "starting"
        case .catchingUp(.reading): return "reading"
        case .catchingUp(.writing): return "writing"
        case .catchingUp(.retrying): return "retrying"
        case .live: return "live"
        case .ended: return "ended"
        }
    }

    /// A subscriber that has read records 1...n from the log and is live.
    func liveClient(upTo n: UInt64) -> Client {
        log.append(channel, 1...n)
        let client = open()
        pubsub.confirm(channel)
        log.answerNext()
        flush()
        XCTAssertEqual(state(client), "live")
        XCTAssertEqual(client.output.ids, Array(1...n))
        return client
    }

    // MARK: The record wire format

    /// A live record is framed from the stored field by the same code as a catch-up read, so the
    /// bytes are the same either way; the previous version's messages (whole record JSON) too.
    func testLiveRecordsAreFramedLikeCatchUpRecords() {
        let client = liveClient(upTo: 1)
        let caughtUp = client.output.text
        log.records[channel]?.append(record(2))
        pubsub.publish(channel, 2, kind: "D")
        pubsub.publish(channel, 3, kind: "d")
        flush()
        XCTAssertEqual(client.output.ids, [1, 2, 3])
        let frames = client.output.text.dropFirst(caughtUp.count)
        XCTAssertEqual(String(frames), "id: 2\ndata: {\"data\":\"r2\",\"id\":2}\n\nid: 3\ndata: {\"data\":\"r3\",\"id\":3}\n\n")
        XCTAssertTrue(caughtUp.hasSuffix("id: 1\ndata: {\"data\":\"r1\",\"id\":1}\n\n"), caughtUp)
    }

    // MARK: Starting

    func testStreamStartsAfterSubscriptionWithFirstBatch() {
        log.append(channel, 1...3)
        let client = open()
        XCTAssertEqual(pubsub.subscribes, [channel])
        XCTAssertEqual(state(client), "starting")
        XCTAssertTrue(log.pending.isEmpty, "the first read waits for the subscription")
        pubsub.confirm(channel)
        XCTAssertEqual(log.pendingAfters, [0])
        XCTAssertNil(client.output.status, "no response before the first read")
        log.answerNext()
        flush()
        XCTAssertEqual(client.output.status, 200)
        XCTAssertEqual(client.output.header("Content-Type"), "text/event-stream")
        XCTAssertEqual(client.output.header("X-Relay-Node"), "test")
        XCTAssertEqual(client.started, 1)
        XCTAssertEqual(client.output.ids, [1, 2, 3])
        XCTAssertEqual(state(client), "live")
        XCTAssertEqual(hub.metrics.recordsDelivered, 3)
    }

    func testStreamsOpenWithRetryWhenConfigured() {
        makeHub(retryMilliseconds: 1500)
        log.append(channel, 1...1)
        let client = open(lastEventId: 0)
        pubsub.confirm(channel)
        log.answerNext()
        flush()
        XCTAssertTrue(client.output.text.hasPrefix("retry: 1500\n\nid: 1\n"), client.output.text)
    }

    func testFirstReadFailureRefusesTheRequest() {
        let client = open()
        pubsub.confirm(channel)
        log.failNext()
        XCTAssertEqual(client.refusals.map(\.status), [500])
        XCTAssertNil(client.output.status, "the opener answers, not the subscriber")
        XCTAssertEqual(hub.subscriberCount, 0)
    }

    func testDrainingNodeRefusesWhenTheFirstBatchArrives() {
        log.append(channel, 1...2)
        let client = open(draining: true)
        pubsub.confirm(channel)
        log.answerNext()
        XCTAssertEqual(client.refusals.map(\.status), [503])
        XCTAssertEqual(client.started, 0)
        XCTAssertEqual(hub.subscriberCount, 0)
    }

    func testResumePastTrimmedLogSendsGapNotice() {
        log.append(channel, 8...9)
        let client = open(lastEventId: 3)
        pubsub.confirm(channel)
        log.answerNext()
        flush()
        XCTAssertEqual(client.output.header("X-Relay-First-Id"), "8")
        XCTAssertTrue(client.output.text.hasPrefix("event: gap\ndata: {\"requested\":3,\"firstAvailable\":8}"))
        XCTAssertEqual(client.output.ids, [8, 9])
    }

    // MARK: History guarantees (loss markers, past-the-end positions, trims mid-resume)

    /// A live subscriber that was given records a failover then lost gets the loss marker (an
    /// `event: lost` with its id) and goes on with the records after it, with no read of its own.
    func testLossMarkerReachesLiveSubscribersThatSawTheLostRecords() {
        let client = liveClient(upTo: 5)
        pubsub.publish(channel, 5)
        log.loseHistory(channel, after: 3, marker: 1_000_000)
        log.append(channel, 1_000_001...1_000_001)
        pubsub.publishLoss(channel, 1_000_000, after: 3)
        pubsub.publish(channel, 1_000_001)
        flush()
        XCTAssertEqual(client.output.ids, [1, 2, 3, 4, 5, 1_000_000, 1_000_001])
        XCTAssertTrue(client.output.text.contains(
            "id: 1000000\nevent: lost\ndata: {\"data\":null,\"id\":1000000,\"lost\":{\"after\":3,\"before\":1000000}}\n\n"))
        XCTAssertEqual(state(client), "live")
        XCTAssertTrue(log.pending.isEmpty, "a marker follows what the subscriber has: no read")
        XCTAssertEqual(hub.metrics.historyLosses, 1)
    }

    /// A resume point inside a lost range catches up through the marker.
    func testResumeInsideALostRangeGetsTheMarker() {
        log.append(channel, 1...3)
        log.loseHistory(channel, after: 3, marker: 900)
        log.append(channel, 901...902)
        let client = open(lastEventId: 7)
        pubsub.confirm(channel)
        log.answerNext()
        flush()
        XCTAssertEqual(client.output.ids, [900, 901, 902])
        XCTAssertNil(client.output.header("X-Relay-First-Id"), "a loss is not a trim")
        XCTAssertFalse(client.output.text.contains("event: gap"))
        XCTAssertTrue(client.output.text.contains("event: lost\ndata: {\"data\":null,\"id\":900,\"lost\":{\"after\":3,\"before\":900}}"))
    }

    /// A Last-Event-ID past the channel's end (a position from a lost history) is told at once,
    /// and the stream goes on from where the channel ends.
    func testResumePastTheEndIsToldAtOnce() {
        log.append(channel, 1...3)
        let client = open(lastEventId: 10)
        pubsub.confirm(channel)
        log.answerNext()
        flush()
        XCTAssertTrue(client.output.text.contains("id: 3\nevent: lost\ndata: {\"data\":null,\"lost\":{\"after\":3,\"before\":11}}\n\n"),
                      client.output.text)
        XCTAssertEqual(state(client), "live")
        log.append(channel, 4...4)
        pubsub.publish(channel, 4)
        flush()
        XCTAssertEqual(client.output.ids, [3, 4], "the notice's id is where the channel ended")
    }

    /// The feed finds, after a resubscribe, that the channel ends before what it framed: live
    /// subscribers that were given the lost records are told without waiting for an append.
    func testFeedThatFindsTheChannelShorterTellsItsSubscribers() {
        let client = liveClient(upTo: 5)
        pubsub.publish(channel, 5)
        pubsub.drop()
        log.loseHistory(channel, after: 3)
        pubsub.reconnect()
        pubsub.confirm(channel)
        XCTAssertEqual(log.answerNext(), [])
        flush()
        XCTAssertTrue(client.output.text.hasSuffix("id: 3\nevent: lost\ndata: {\"data\":null,\"lost\":{\"after\":3,\"before\":6}}\n\n"),
                      client.output.text)
        log.loseHistory(channel, after: 3, marker: 700)
        log.append(channel, 701...701)
        pubsub.publishLoss(channel, 700, after: 3)
        pubsub.publish(channel, 701)
        flush()
        XCTAssertEqual(client.output.ids, [1, 2, 3, 4, 5, 3, 700, 701])
        XCTAssertEqual(state(client), "live")
        XCTAssertEqual(hub.metrics.historyLosses, 2, "the shortened channel, then its marker")
    }

    /// A resume past the end whose read is older than a record the feed has framed since (the
    /// read's reply and the publish come on different connections) is told its own position is
    /// past the end, but the feed reads for itself before it believes the channel shrank: no
    /// live subscriber hears of a loss, and nothing is written twice.
    func testAStaleReadPastTheEndIsNoLossForTheOthers() {
        let live = liveClient(upTo: 5)
        pubsub.publish(channel, 5)
        let late = open(lastEventId: 1_000)
        pubsub.confirm(channel)
        log.answerNext(upTo: 4)        // read before record 5 was appended
        flush()
        XCTAssertTrue(late.output.text.contains("event: lost"), "its own position is past the end")
        XCTAssertEqual(log.answerNext(), [], "the feed's own read: the channel still ends at 5")
        log.append(channel, 6...6)
        pubsub.publish(channel, 6)
        flush()
        XCTAssertFalse(live.output.text.contains("event: lost"), live.output.text)
        XCTAssertEqual(live.output.ids, Array(1...6), "nothing twice")
        XCTAssertEqual(hub.metrics.historyLosses, 0)
    }

    /// Records trimmed away between two catch-up batches of one resume are announced with a
    /// gap notice (before, only a trim at the start was).
    func testTrimBetweenCatchUpBatchesSendsGapNotice() {
        let n = UInt64(FanoutHub.batchSize)
        log.append(channel, 1...(n + 10))
        let client = open(lastEventId: 0)
        pubsub.confirm(channel)
        log.answerNext()
        flush()
        XCTAssertEqual(client.output.ids.last, n)
        log.records[channel] = log.records[channel]!.filter { $0.seq > n + 5 }
        log.answerNext()
        flush()
        XCTAssertTrue(client.output.text.contains("event: gap\ndata: {\"requested\":\(n),\"firstAvailable\":\(n + 6)}"))
        XCTAssertEqual(Array(client.output.ids.suffix(5)), Array((n + 6)...(n + 10)))
    }

    func testClosedSessionEndsOnceTheLogIsRead() {
        log.append(channel, 1...2)
        let client = open(endWhenCaughtUp: true)
        pubsub.confirm(channel)
        log.answerNext()
        XCTAssertEqual(client.output.ids, [1, 2])
        XCTAssertTrue(client.output.endedCleanly)
        XCTAssertEqual(hub.subscriberCount, 0)
    }

    // MARK: Catch-up → live seam

    /// Records published while the subscriber reads the log are neither lost nor doubled:
    /// the feed saw them, so the subscriber reads on before it goes live.
    func testRecordsPublishedWhileCatchingUpAreNeitherLostNorDuplicated() {
        log.append(channel, 1...2)
        let client = open()
        pubsub.confirm(channel)
        // 3 is appended and published while the first read is on its way (it misses 3).
        log.append(channel, 3...3)
        pubsub.publish(channel, 3)
        XCTAssertEqual(log.answerNext(upTo: 2), [1, 2])
        flush()
        XCTAssertEqual(client.output.ids, [1, 2], "3 is not taken from the feed while catching up")
        XCTAssertEqual(state(client), "reading", "the feed has seen 3: read on")
        XCTAssertEqual(log.pendingAfters, [2])
        // 4 arrives during the second read, which does see it.
        log.append(channel, 4...4)
        pubsub.publish(channel, 4)
        XCTAssertEqual(log.answerNext(), [3, 4])
        XCTAssertEqual(state(client), "live")
        // A record the read already returned arrives late on pub/sub, then a new one.
        log.append(channel, 5...5)
        pubsub.publish(channel, 4)
        pubsub.publish(channel, 5)
        flush()
        XCTAssertEqual(client.output.ids, [1, 2, 3, 4, 5])
        XCTAssertEqual(hub.metrics.recordsDelivered, 5)
    }

    /// The read saw a record before its pub/sub message arrived: the message is not written again.
    func testRecordReadBeforeItsMessageArrivesIsWrittenOnce() {
        log.append(channel, 1...3)
        let client = open()
        pubsub.confirm(channel)
        log.answerNext()
        XCTAssertEqual(state(client), "live")
        pubsub.publish(channel, 3)
        log.append(channel, 4...4)
        pubsub.publish(channel, 4)
        flush()
        XCTAssertEqual(client.output.ids, [1, 2, 3, 4])
    }

    /// A long catch-up pauses while the client's output is backed up instead of tripping the cap.
    func testCatchUpPausesOnBackedUpOutputInsteadOfCutting() {
        makeHub(maxUnsentBytes: 400)
        log.append(channel, 1...20)
        let client = open()
        client.output.socketTakes = 0
        pubsub.confirm(channel)
        log.answerNext()
        XCTAssertEqual(state(client), "writing")
        let written = client.output.ids.count
        XCTAssertLessThan(written, 20)
        XCTAssertFalse(client.output.aborted)
        // The socket drains; the paused catch-up resumes on its timer.
        client.output.socketTakes = nil
        client.output.unsentBytes = 0
        spin(0.1)
        XCTAssertEqual(client.output.ids, Array(1...20))
        XCTAssertEqual(state(client), "live")
        XCTAssertEqual(hub.metrics.slowSubscribersDropped, 0)
    }

    // MARK: Live fan-out

    /// Every live subscriber gets the same frame object: each record is framed once per node.
    func testEachRecordIsFramedOnceForAllSubscribers() {
        let a = liveClient(upTo: 1)
        let b = open()
        log.answerNext()
        flush()
        XCTAssertEqual(state(b), "live")
        log.append(channel, 2...3)
        pubsub.publish(channel, 2)
        pubsub.publish(channel, 3)
        flush()
        XCTAssertEqual(a.output.ids, [1, 2, 3])
        XCTAssertEqual(b.output.ids, [1, 2, 3])
        let lastA = a.output.frames.suffix(2), lastB = b.output.frames.suffix(2)
        XCTAssertTrue(zip(lastA, lastB).allSatisfy { $0 === $1 })
        XCTAssertEqual(a.output.writeCalls, 2, "records of one loop iteration leave in one write")
        XCTAssertEqual(pubsub.subscribes, [channel], "one subscription per channel, not per client")
    }

    // MARK: Gap filling

    /// A jump in sequence numbers is filled from the log before anything after it is written.
    func testGapIsFilledFromTheLogBeforeLaterRecords() {
        let client = liveClient(upTo: 2)
        let other = open()
        log.answerNext()
        pubsub.publish(channel, 2)     // the feed learns its position
        log.append(channel, 3...6)
        pubsub.publish(channel, 3)
        pubsub.publish(channel, 6)     // 4 and 5 were lost
        flush()
        XCTAssertEqual(client.output.ids, [1, 2, 3])
        XCTAssertEqual(log.pendingAfters, [3], "the feed reads the gap once, not per subscriber")
        log.append(channel, 7...7)
        pubsub.publish(channel, 7)     // arrives during the fill: held back
        flush()
        XCTAssertEqual(client.output.ids, [1, 2, 3])
        XCTAssertEqual(log.answerNext(upTo: 6), [4, 5, 6])
        flush()
        XCTAssertEqual(client.output.ids, Array(1...7))
        XCTAssertEqual(other.output.ids, Array(1...7))
        XCTAssertEqual(state(client), "live")
        XCTAssertTrue(log.pending.isEmpty)
    }

    /// A subscriber that finds a gap on its own (the feed did not know its position) reads the
    /// log from its last delivered record, then goes live again.
    func testSubscriberBehindTheFeedCatchesUpAlone() {
        let client = liveClient(upTo: 2)
        log.append(channel, 3...5)
        pubsub.publish(channel, 5)     // feed position unknown: 5 is framed and offered
        flush()
        XCTAssertEqual(client.output.ids, [1, 2])
        XCTAssertEqual(state(client), "reading")
        XCTAssertEqual(log.pendingAfters, [2])
        XCTAssertEqual(log.answerNext(), [3, 4, 5])
        XCTAssertEqual(state(client), "live")
        log.append(channel, 6...6)
        pubsub.publish(channel, 6)
        flush()
        XCTAssertEqual(client.output.ids, Array(1...6))
    }

    // MARK: Pub/sub reconnect

    /// After the pub/sub connection comes back, the feed subscribes again and backfills from the
    /// last record it framed: records published meanwhile arrive once, in order.
    func testResubscribeAfterReconnectBackfillsWithoutLossOrDuplicates() {
        let client = liveClient(upTo: 2)
        pubsub.publish(channel, 2)
        log.append(channel, 3...3)
        pubsub.publish(channel, 3)
        pubsub.drop()
        XCTAssertFalse(pubsub.isSubscribed(channel))
        log.append(channel, 4...5)     // published to nobody
        pubsub.reconnect()
        XCTAssertEqual(pubsub.subscribes, [channel, channel])
        pubsub.confirm(channel)
        XCTAssertEqual(log.pendingAfters, [3])
        log.append(channel, 6...6)
        pubsub.publish(channel, 5)     // the backfill's records, live as well
        pubsub.publish(channel, 6)
        XCTAssertEqual(log.answerNext(upTo: 5), [4, 5])
        flush()
        XCTAssertEqual(client.output.ids, Array(1...6))
        XCTAssertEqual(state(client), "live")
    }

    /// The backfill read fails too: the feed forgets its position and each subscriber reads
    /// from its own last delivered record.
    func testReconnectWithFailedBackfillFallsBackToPerSubscriberCatchUp() {
        let client = liveClient(upTo: 2)
        pubsub.publish(channel, 2)
        pubsub.drop()
        log.append(channel, 3...4)
        pubsub.reconnect()
        pubsub.confirm(channel)
        log.failNext()
        log.append(channel, 5...5)
        pubsub.publish(channel, 5)
        XCTAssertEqual(state(client), "reading")
        XCTAssertEqual(log.pendingAfters, [2])
        log.answerNext()
        flush()
        XCTAssertEqual(client.output.ids, Array(1...5))
        XCTAssertEqual(state(client), "live")
    }

    /// A stream that starts while pub/sub is down goes live unsubscribed; the first subscription
    /// after the reconnect backfills it.
    func testStreamStartedWhilePubSubIsDownIsBackfilledOnReconnect() {
        pubsub.isConnected = false
        log.append(channel, 1...1)
        let client = open()
        log.answerNext()
        flush()
        XCTAssertEqual(state(client), "live")
        log.append(channel, 2...3)
        pubsub.reconnect()
        pubsub.confirm(channel)
        // The feed never framed a record: the live subscriber reads on by itself.
        XCTAssertEqual(log.pendingAfters, [1])
        log.answerNext()
        flush()
        XCTAssertEqual(client.output.ids, [1, 2, 3])
        XCTAssertEqual(state(client), "live")
    }

    /// A catch-up read that fails is retried; the stream stays open.
    func testFailedCatchUpReadIsRetried() {
        let client = liveClient(upTo: 1)
        log.append(channel, 2...3)
        pubsub.publish(channel, 3)
        log.failNext()
        XCTAssertEqual(state(client), "retrying")
        spin(0.4)
        XCTAssertEqual(log.pendingAfters, [1])
        log.answerNext()
        flush()
        XCTAssertEqual(client.output.ids, [1, 2, 3])
        XCTAssertEqual(state(client), "live")
    }

    // MARK: Slow subscribers

    /// Unsent output over maxUnsentBytes disconnects the subscriber; the others carry on.
    func testSlowSubscriberIsCutOverTheUnsentCap() {
        makeHub(maxUnsentBytes: 300)
        let slow = liveClient(upTo: 1)
        let fast = open()
        log.answerNext()
        slow.output.socketTakes = 0
        for seq: UInt64 in 2...12 {
            log.append(channel, seq...seq)
            pubsub.publish(channel, seq)
            flush()
        }
        XCTAssertTrue(slow.output.aborted)
        XCTAssertFalse(slow.output.endedCleanly)
        XCTAssertEqual(state(slow), "gone")
        XCTAssertEqual(hub.metrics.slowSubscribersDropped, 1)
        XCTAssertGreaterThan(slow.output.unsentBytes, 300)
        XCTAssertEqual(fast.output.ids, Array(1...12))
        XCTAssertFalse(fast.output.aborted)
        XCTAssertEqual(hub.subscriberCount, 1)
    }

    // MARK: End of stream

    /// A close message ends every live stream that has written up to the final record.
    func testCloseMessageEndsTheStream() {
        let client = liveClient(upTo: 3)
        pubsub.publish(channel, 3, kind: "x")
        XCTAssertTrue(client.output.endedCleanly)
        XCTAssertEqual(client.output.ids, [1, 2, 3])
        XCTAssertEqual(hub.subscriberCount, 0)
    }

    /// A close ahead of what the subscriber has: it reads the rest from the log, then ends.
    func testCloseAheadOfDeliveredReadsTheRestThenEnds() {
        let client = liveClient(upTo: 2)
        log.append(channel, 3...4)
        pubsub.publish(channel, 4, kind: "x")
        XCTAssertFalse(client.output.endedCleanly)
        XCTAssertEqual(log.answerNext(), [3, 4])
        XCTAssertTrue(client.output.endedCleanly)
        XCTAssertEqual(client.output.ids, [1, 2, 3, 4])
    }

    /// A close announced at 4 that was lost with the primary (the channel now ends at 2 and goes
    /// on behind a loss marker) no longer ends streams: a subscriber that reads past 4 stays.
    func testACloseLostWithTheHistoryEndsNoStream() {
        let client = liveClient(upTo: 2)
        pubsub.publish(channel, 2)
        pubsub.publish(channel, 4, kind: "x")      // records 3-4 and the close are then lost
        XCTAssertEqual(log.answerNext(), [])
        log.loseHistory(channel, after: 2, marker: 900)
        log.append(channel, 901...901)
        pubsub.publishLoss(channel, 900, after: 2)
        pubsub.publish(channel, 901)
        flush()
        XCTAssertEqual(client.output.ids, [1, 2, 900, 901])
        let late = open()
        pubsub.confirm(channel)
        log.answerNext()
        flush()
        XCTAssertEqual(late.output.ids, [1, 2, 900, 901])
        XCTAssertFalse(late.output.endedCleanly, "the lost close at 4 does not end a stream past it")
        XCTAssertEqual(state(late), "live")
    }

    /// A subscriber still catching up when the close arrives ends once it has read to the close.
    func testCloseWhileCatchingUpEndsAfterTheLastRecord() {
        log.append(channel, 1...2)
        let client = open()
        pubsub.confirm(channel)
        log.append(channel, 3...4)
        pubsub.publish(channel, 3)
        pubsub.publish(channel, 4)
        pubsub.publish(channel, 4, kind: "x")
        XCTAssertEqual(log.answerNext(upTo: 2), [1, 2])
        XCTAssertFalse(client.output.endedCleanly)
        XCTAssertEqual(state(client), "reading")
        XCTAssertEqual(log.answerNext(), [3, 4])
        XCTAssertTrue(client.output.endedCleanly)
        XCTAssertEqual(client.output.ids, [1, 2, 3, 4])
    }

    /// The last subscriber left: the channel is unsubscribed after the linger and forgotten.
    func testChannelIsUnsubscribedAfterTheLastSubscriberLeaves() {
        makeHub(lingerSeconds: 0.02)
        let client = liveClient(upTo: 1)
        client.output.clientLeaves()
        XCTAssertEqual(hub.subscriberCount, 0)
        XCTAssertEqual(hub.feedCount, 1)
        spin(0.1)
        XCTAssertEqual(pubsub.unsubscribes, [channel])
        XCTAssertEqual(hub.feedCount, 0)
    }

    /// A record on one channel touches only that channel's subscribers.
    func testRecordsReachOnlyTheirChannel() {
        let a = liveClient(upTo: 1)
        let otherChannel = log.channelName(session: "s2", io: .output)
        log.append(otherChannel, 1...1)
        let b = open(session: "s2")
        pubsub.confirm(otherChannel)
        log.answerNext()
        flush()
        let writesA = a.output.writeCalls
        log.append(otherChannel, 2...2)
        pubsub.publish(otherChannel, 2)
        flush()
        XCTAssertEqual(b.output.ids, [1, 2])
        XCTAssertEqual(a.output.writeCalls, writesA)
        XCTAssertEqual(a.output.ids, [1])
        XCTAssertEqual(hub.feedCount, 2)
    }

    // MARK: Timers

    func testTokenExpiredBeforeTheStreamStartedIsAnswered401() {
        let client = open(expiresAt: Int64(hub.clock.epochMilliseconds / 1000) - 1)
        spin(0.05)
        XCTAssertEqual(client.output.status, 401)
        XCTAssertEqual(hub.metrics.tokenExpiries, 1)
        XCTAssertEqual(hub.subscriberCount, 0)
        pubsub.confirm(channel)
        XCTAssertTrue(log.pending.isEmpty, "no read for a stream that is over")
    }

    func testTokenExpiryEndsALiveStreamWithANotice() {
        log.append(channel, 1...1)
        let client = open(expiresAt: Int64(hub.clock.epochMilliseconds / 1000) + 1)
        pubsub.confirm(channel)
        log.answerNext()
        XCTAssertEqual(state(client), "live")
        spin(2.1)
        XCTAssertTrue(client.output.text.hasSuffix(": token expired\n\n"))
        XCTAssertTrue(client.output.endedCleanly)
        XCTAssertEqual(hub.subscriberCount, 0)
    }

    func testIdleStreamEndsAfterItsTimeout() {
        log.append(channel, 1...1)
        let client = open(idleSeconds: 60)
        pubsub.confirm(channel)
        log.answerNext()
        spin(59.9)
        XCTAssertFalse(client.output.endedCleanly, "not before its 60 s (virtual time)")
        spin(0.2)
        XCTAssertTrue(client.output.endedCleanly)
        XCTAssertEqual(hub.metrics.idleTimeouts, 1)
        XCTAssertEqual(hub.subscriberCount, 0)
    }

    /// Idle deadlines share one hub timer (IdleDeadlines): each stream still ends at its own
    /// T seconds after its last record, whatever the others do, and one that leaves is no
    /// longer among them.
    func testIdleDeadlinesOfManyStreamsOnOneTimer() {
        log.append(channel, 1...1)
        let short = open(idleSeconds: 5)
        let long = open(idleSeconds: 30)
        let reset = open(idleSeconds: 10)
        let leaving = open(idleSeconds: 3)
        pubsub.confirm(channel)
        log.answerNext()
        log.answerNext()
        log.answerNext()
        log.answerNext()
        XCTAssertEqual(hub.idleDeadlines.count, 4)
        leaving.output.clientLeaves()
        XCTAssertEqual(hub.idleDeadlines.count, 3, "a stream that left holds no deadline")
        spin(4.9)
        XCTAssertFalse(short.output.endedCleanly)
        spin(0.2)
        XCTAssertTrue(short.output.endedCleanly, "5 s")
        XCTAssertFalse(reset.output.endedCleanly)
        // A record at 6 s restarts the 10 s of `reset` (and of `long`, which has 30).
        spin(0.9)
        log.append(channel, 2...2)
        pubsub.publish(channel, 2)
        flush()
        XCTAssertTrue(reset.output.text.contains("id: 2\n"))
        spin(9.8)
        XCTAssertFalse(reset.output.endedCleanly, "its 10 s count from the record at 6 s")
        spin(0.3)
        XCTAssertTrue(reset.output.endedCleanly)
        XCTAssertFalse(long.output.endedCleanly)
        spin(20)
        XCTAssertTrue(long.output.endedCleanly)
        XCTAssertEqual(hub.metrics.idleTimeouts, 3)
        XCTAssertEqual(hub.idleDeadlines.count, 0)
        XCTAssertEqual(hub.subscriberCount, 0)
    }

    /// A stream keeps its outbox's array between records, and lets it go once caught up and
    /// with a ping (an idle stream holds none).
    func testAnIdleStreamHoldsNoOutboxAfterAPing() {
        let client = liveClient(upTo: 1)
        let sub = subscriber(client)
        XCTAssertEqual(sub?.holdsOutbox, false, "let go once caught up")
        log.append(channel, 2...2)
        pubsub.publish(channel, 2)
        flush()
        XCTAssertTrue(client.output.text.contains("id: 2\n"))
        XCTAssertEqual(sub?.holdsOutbox, true, "records keep it")
        spin(16)
        XCTAssertTrue(client.output.text.contains(": ping"), client.output.text)
        XCTAssertEqual(sub?.holdsOutbox, false, "a ping lets it go")
    }

    /// Before a ping, a stream with no record since the ping before is reported idle to its
    /// output (an HTTP/1.1 connection may then park again); one with records is not.
    func testIdleStreamsAreReportedIdleBeforeAPing() {
        let client = liveClient(upTo: 1)
        spin(15.5)
        XCTAssertEqual(client.output.idleCalls, 0, "the first ping: a record (the first batch) came since the stream began")
        spin(15)
        XCTAssertEqual(client.output.idleCalls, 1)
        log.append(channel, 2...2)
        pubsub.publish(channel, 2)
        flush()
        spin(15)
        XCTAssertEqual(client.output.idleCalls, 1, "a record came since the ping before")
        spin(15)
        XCTAssertEqual(client.output.idleCalls, 2)
    }

    /// The client leaves during a paused catch-up: the subscriber is gone and writes no more.
    func testClientLeavingDuringCatchUpStopsIt() {
        makeHub(maxUnsentBytes: 400)
        log.append(channel, 1...20)
        let client = open()
        client.output.socketTakes = 0
        pubsub.confirm(channel)
        log.answerNext()
        XCTAssertEqual(state(client), "writing")
        let written = client.output.frames.count
        client.output.clientLeaves()
        XCTAssertEqual(hub.subscriberCount, 0)
        client.output.unsentBytes = 0
        spin(0.1)
        XCTAssertEqual(client.output.frames.count, written)
    }

    /// A subscriber lives for minutes and there may be 100,000: the request's opening is boxed
    /// and dropped once the stream starts, so the state stays small.
    func testStateStaysSmall() {
        XCTAssertLessThanOrEqual(MemoryLayout<SSESubscriber.State>.size, 40)
        // The whole subscriber: one allocation of at most this (there may be 100,000).
        if let subscriber = subscriber(liveClient(upTo: 1)) {
            XCTAssertLessThanOrEqual(allocatedBytes(subscriber), 264)
        }
        let client = liveClient(upTo: 1)
        guard case .live = subscriber(client)?.state else { return XCTFail("not live") }
    }

    func testEndAllEndsEveryStream() {
        let a = liveClient(upTo: 1)
        let b = open()
        hub.endAll()
        XCTAssertTrue(a.output.endedCleanly)
        XCTAssertEqual(b.output.status, 503, "a stream not yet started is answered")
        XCTAssertEqual(hub.subscriberCount, 0)
    }
}
