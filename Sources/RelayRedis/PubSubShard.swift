// PubSubShard: the node's pub/sub connection to one primary (a RespConnection), kept up with
// the backoff of RedisLink (50 ms doubling to 1 s, reset once Redis really answered), and the
// matching of what Redis sends back to what was asked. RESP2 replies carry no request id:
// requests are answered in order, so a FIFO of outstanding requests tells replies apart from
// pushes. `ssubscribe` confirmations and error replies pop it; a `sunsubscribe` pops it only
// when the head is an SUNSUBSCRIBE of that channel, otherwise it is the server's own push
// (the channel's slot left this primary); `smessage` is always a push. Anything else, or a
// reply that does not fit the head, means the two sides disagree: the connection is dropped
// (its subscriptions report `.connectionLost`, and their feeds resubscribe and fill the gap).
// ShardedPubSub owns the subscriptions; this class only reports what happened.
//
// Liveness: a primary that hangs (SIGSTOP, a network partition) keeps its TCP connection up
// (its kernel still answers), so a drop never comes. A heartbeat watches every connection
// from its connect on: PING when nothing came for `heartbeatIntervalSeconds` and nothing is
// outstanding, and when the oldest request (the first PING, a heartbeat PING, an SSUBSCRIBE)
// has waited `replyTimeoutSeconds` while nothing at all came meanwhile, or 3 times that in
// any case, the connection is dropped like a lost one (`.lost`, then a reconnect). In RESP2
// subscribed mode PING is answered `["pong", ""]`, otherwise `+PONG`: both are matched.
import Logging
import RelayIO

final class PubSubShard {
    enum Request: Equatable {
        case ping
        case subscribe(String)
        case unsubscribe(String)
    }

    enum Event {
        /// The connection is up and Redis answered PING.
        case ready
        /// The connection dropped (after `ready`); every subscription on it is gone.
        case lost
        /// SSUBSCRIBE `request` of `channel` is confirmed.
        case subscribed(channel: String, request: Int)
        /// SUNSUBSCRIBE `request` is confirmed, or (request nil) the server dropped the channel.
        case unsubscribed(channel: String, request: Int?)
        /// An error reply (MOVED, TRYAGAIN, CLUSTERDOWN...) to a SSUBSCRIBE or SUNSUBSCRIBE.
        case refused(channel: String, request: Int, isSubscribe: Bool, error: String)
        case message(channel: String, payload: [UInt8])
    }

    struct Heartbeat {
        /// PING after this long without anything from Redis (and nothing outstanding).
        var intervalSeconds = 2.0
        /// A request unanswered this long, with nothing received meanwhile, drops the connection.
        var replyTimeoutSeconds = 3.0
        static let standard = Heartbeat()
    }

    let endpoint: RedisEndpoint
    private let loop: EventLoop
    private let logger: Logger
    private let maxBufferedBytes: Int
    private let heartbeat: Heartbeat
    private var connection: RespConnection?
    /// Sent and not yet answered, oldest first (`head` indexes the oldest), with when it was sent.
    private var outstanding: [(id: Int, request: Request, sentAt: Double)] = []
    private var head = 0
    /// When the connection last received anything (or connected).
    private var lastReceived = 0.0
    private var heartbeatTimer: LoopTimer?
    /// Slots of SUNSUBSCRIBEs that a `sunsubscribe` was taken to answer although it may have
    /// been the server's push (the slot left this primary while the request was in flight):
    /// the request's real answer, MOVED for that slot, may still come. Cleared by any later
    /// reply that is not an error (the late answer would have come before it).
    private var unsureSlots: [Int] = []
    private var reconnectTimer: LoopTimer?
    private var backoff = ReconnectBackoff()
    private var stopped = true
    /// Connected and PING answered: requests can be sent.
    private(set) var isReady = false
    var onEvent: (Event) -> Void = { _ in }

    init(loop: EventLoop, endpoint: RedisEndpoint, logger: Logger, maxBufferedBytes: Int,
         heartbeat: Heartbeat = .standard) {
        self.loop = loop
        self.endpoint = endpoint
        self.logger = logger
        self.maxBufferedBytes = maxBufferedBytes
        self.heartbeat = heartbeat
    }

    func start() {
        guard stopped else { return }
        stopped = false
        connect()
    }

    /// Closes without reporting anything; no reconnect follows.
    func stop() {
        stopped = true
        reconnectTimer?.cancel()
        reconnectTimer = nil
        reset()
    }

    /// Sends a request when ready; false (nothing sent) otherwise. A connection that cannot
    /// take it (its output over the cap) is dropped, and `.lost` follows from the loop.
    @discardableResult
    func send(_ request: Request, id: Int) -> Bool {
        guard isReady else { return false }
        return write(request, id: id)
    }

    private func write(_ request: Request, id: Int) -> Bool {
        guard let connection else { return false }
        outstanding.append((id, request, Clock.monotonicSeconds()))
        switch request {
        case .ping: return connection.send([Array("PING".utf8)])
        case .subscribe(let channel): return connection.send([Array("SSUBSCRIBE".utf8), Array(channel.utf8)])
        case .unsubscribe(let channel): return connection.send([Array("SUNSUBSCRIBE".utf8), Array(channel.utf8)])
        }
    }

    /// Whether a request about `channel` is still waiting for its answer.
    func isWaiting(on channel: String) -> Bool {
        outstanding[head...].contains { $0.request == .subscribe(channel) || $0.request == .unsubscribe(channel) }
    }

    // MARK: Connection

    private func connect() {
        let connection = RespConnection(loop: loop, endpoint: endpoint, maxBufferedBytes: maxBufferedBytes)
        self.connection = connection
        connection.onConnect = { [weak self, weak connection] error in
            guard let self, let connection, connection === self.connection else { return }
            if let error {
                self.logger.debug("redis connect failed", metadata: ["redis": "\(self.endpoint)", "role": "pub/sub", "error": "\(error)"])
                self.connection = nil
                self.scheduleReconnect()
            } else {
                // Ready once Redis answers: a server that accepts and then refuses (maxclients,
                // LOADING) answers PING with an error, and the connection is retried later.
                self.outstanding = []
                self.head = 0
                self.unsureSlots = []
                self.lastReceived = Clock.monotonicSeconds()
                self.startHeartbeat()
                _ = self.write(.ping, id: 0)
            }
        }
        connection.onDisconnect = { [weak self, weak connection] error in
            guard let self, let connection, connection === self.connection else { return }
            self.drop(error ?? "closed by the server")
        }
        connection.onReply = { [weak self, weak connection] reply in
            guard let self, let connection, connection === self.connection else { return }
            self.received(reply)
        }
        if !connection.connect() {
            self.connection = nil
            scheduleReconnect()
        }
    }

    /// The connection is gone (or dropped on purpose): report it and reconnect later.
    private func drop(_ reason: String) {
        let wasReady = isReady
        reset()
        if wasReady {
            logger.warning("redis disconnected", metadata: ["redis": "\(endpoint)", "role": "pub/sub", "error": "\(reason)"])
            onEvent(.lost)
        } else {
            logger.debug("redis connect failed", metadata: ["redis": "\(endpoint)", "role": "pub/sub", "error": "\(reason)"])
        }
        scheduleReconnect()
    }

    private func reset() {
        heartbeatTimer?.cancel()
        heartbeatTimer = nil
        connection?.disconnect()
        connection = nil
        isReady = false
        outstanding = []
        head = 0
        unsureSlots = []
    }

    // MARK: Heartbeat

    private func startHeartbeat() {
        heartbeatTimer?.cancel()
        let tick = min(heartbeat.intervalSeconds, heartbeat.replyTimeoutSeconds) / 4
        heartbeatTimer = loop.every(tick) { [weak self] in self?.checkAlive() }
    }

    private func checkAlive() {
        guard connection != nil else { return }
        let now = Clock.monotonicSeconds()
        let timeout = heartbeat.replyTimeoutSeconds
        if head < outstanding.count {
            let waited = now - outstanding[head].sentAt
            // Pushes still arriving mean Redis is alive and working through its backlog.
            if waited > timeout && (now - lastReceived > timeout || waited > 3 * timeout) {
                let what = outstanding[head].request
                return drop("no reply to \(what) within \(String(format: "%.1f", waited)) s: Redis is not answering")
            }
        } else if isReady && now - lastReceived >= heartbeat.intervalSeconds {
            _ = write(.ping, id: 0)
        }
    }

    private func scheduleReconnect() {
        guard !stopped else { return }
        let delay = backoff.next()
        reconnectTimer = loop.after(delay) { [weak self] in
            guard let self, !self.stopped else { return }
            self.reconnectTimer = nil
            self.connect()
        }
    }

    // MARK: Replies

    private func popHead() -> (id: Int, request: Request, sentAt: Double)? {
        guard head < outstanding.count else { return nil }
        let first = outstanding[head]
        head += 1
        if head >= 64 && head * 2 >= outstanding.count {
            outstanding.removeFirst(head)
            head = 0
        }
        return first
    }

    private var headRequest: Request? { head < outstanding.count ? outstanding[head].request : nil }

    private func received(_ reply: RedisReply) {
        lastReceived = Clock.monotonicSeconds()
        if case .error = reply {} else if !unsureSlots.isEmpty && !Self.isPush(reply) { unsureSlots = [] }
        switch reply {
        case .array(let items):
            guard let kind = items.first?.string else { return desync("an array reply without a kind") }
            let channel = items.count >= 2 ? items[1].string : nil
            switch (kind, channel) {
            case ("smessage", let channel?):
                guard items.count >= 3, case .bulk(let payload) = items[2] else { return desync("an smessage without a payload") }
                onEvent(.message(channel: channel, payload: payload))
            case ("ssubscribe", let channel?):
                guard let (id, request, _) = popHead(), request == .subscribe(channel) else {
                    return desync("an ssubscribe confirmation of \(channel) out of order")
                }
                onEvent(.subscribed(channel: channel, request: id))
            case ("sunsubscribe", let channel?):
                if headRequest == .unsubscribe(channel), let (id, _, _) = popHead() {
                    unsureSlots.append(ClusterSlot.of(channel))
                    if unsureSlots.count > 64 { unsureSlots.removeFirst() }
                    onEvent(.unsubscribed(channel: channel, request: id))
                } else {
                    onEvent(.unsubscribed(channel: channel, request: nil))
                }
            case ("pong", _):
                guard let (_, request, _) = popHead(), request == .ping else { return desync("a pong out of order") }
            default:
                desync("an unexpected \(kind) reply")
            }
        case .status(let status) where status == "PONG":
            guard let (_, request, _) = popHead(), request == .ping else { return desync("a PONG out of order") }
            if !isReady {
                isReady = true
                backoff.reset()
                logger.info("redis connected", metadata: ["redis": "\(endpoint)", "role": "pub/sub"])
                onEvent(.ready)
            }
        case .error(let message):
            if let slot = Self.redirectSlot(message), let index = unsureSlots.firstIndex(of: slot) {
                // The late answer of a SUNSUBSCRIBE whose `sunsubscribe` was the server's push.
                unsureSlots.remove(at: index)
                return
            }
            guard let (id, request, _) = popHead() else { return desync("an error reply nobody asked for: \(message)") }
            if case .subscribe(let channel) = request, !Self.isAbout(channel, message) { return desync("\(message) for \(channel)") }
            if case .unsubscribe(let channel) = request, !Self.isAbout(channel, message) { return desync("\(message) for \(channel)") }
            switch request {
            case .ping: drop("PING refused: \(message)")
            case .subscribe(let channel): onEvent(.refused(channel: channel, request: id, isSubscribe: true, error: message))
            case .unsubscribe(let channel): onEvent(.refused(channel: channel, request: id, isSubscribe: false, error: message))
            }
        default:
            desync("an unexpected reply \(reply)")
        }
    }

    /// A redirect names the slot it is about: one for another slot answers some other request
    /// (a push was taken for a reply), so the two sides no longer line up.
    static func isAbout(_ channel: String, _ error: String) -> Bool {
        let parts = error.split(separator: " ")
        guard parts.count >= 2, parts[0] == "MOVED" || parts[0] == "ASK", let slot = Int(parts[1]) else { return true }
        return slot == ClusterSlot.of(channel)
    }

    /// The slot a MOVED or ASK error names.
    static func redirectSlot(_ error: String) -> Int? {
        let parts = error.split(separator: " ")
        guard parts.count >= 2, parts[0] == "MOVED" || parts[0] == "ASK" else { return nil }
        return Int(parts[1])
    }

    /// What may be a push (`smessage`, `sunsubscribe`) rather than the answer to a request.
    static func isPush(_ reply: RedisReply) -> Bool {
        guard case .array(let items) = reply, let kind = items.first?.string else { return false }
        return kind == "smessage" || kind == "sunsubscribe"
    }

    /// The replies no longer line up with the requests: start over on a new connection.
    private func desync(_ what: String) {
        logger.error("redis pub/sub protocol mismatch; reconnecting", metadata: ["redis": "\(endpoint)", "reply": "\(what)"])
        drop("protocol mismatch")
    }
}
