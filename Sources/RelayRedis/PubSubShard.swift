// PubSubShard: the pub/sub side of one RedisNode: what was asked on the node's pub/sub
// connection and what Redis sent back. RESP2 replies carry no request id: requests are
// answered in order, so a FIFO of outstanding requests (a PendingQueue) tells replies apart
// from pushes. `ssubscribe` confirmations and error replies pop it; a `sunsubscribe` pops it
// only when the head is an SUNSUBSCRIBE of that channel, otherwise it is the server's own push
// (the channel's slot left this primary); `smessage` is always a push. Anything else, or a
// reply that does not fit the head, means the two sides disagree: `onFailure` tells the node,
// which drops all its connections (the subscriptions report `.connectionLost`, and their feeds
// resubscribe and fill the gap). ShardedPubSub owns the subscriptions; this class only reports
// what happened.
//
// The node owns the connection, its reconnects and the liveness verdict; this class supplies
// the pub/sub part of that verdict (`overdue`): a request unanswered for `replyTimeoutSeconds`
// while nothing at all came meanwhile, or 3 times that in any case, and the heartbeat PING
// after `intervalSeconds` of silence. In RESP2 subscribed mode PING is answered `["pong", ""]`,
// otherwise `+PONG`: both are matched.
import RelayIO

final class PubSubShard {
    enum Request: Equatable {
        case ping
        case subscribe(String)
        case unsubscribe(String)
    }

    enum Event {
        /// The node is up and every connection of it answered PING.
        case ready
        /// The node went down (after `ready`); every subscription on it is gone.
        case lost
        /// SSUBSCRIBE `request` of `channel` is confirmed.
        case subscribed(channel: String, request: Int)
        /// SUNSUBSCRIBE `request` is confirmed, or (request nil) the server dropped the channel.
        case unsubscribed(channel: String, request: Int?)
        /// An error reply (MOVED, TRYAGAIN, CLUSTERDOWN...) to a SSUBSCRIBE or SUNSUBSCRIBE.
        case refused(channel: String, request: Int, isSubscribe: Bool, error: String)
        case message(channel: String, payload: [UInt8])
    }

    let endpoint: RedisEndpoint
    private let heartbeat: RedisHeartbeat
    private var connection: (any RedisConnection)?
    /// Sent and not yet answered, oldest first, with when each was sent.
    private var outstanding = PendingQueue<(id: Int, request: Request, sentAt: Double)>()
    /// When the connection last received anything (or connected).
    private var lastReceived = 0.0
    /// Slots of SUNSUBSCRIBEs that a `sunsubscribe` was taken to answer although it may have
    /// been the server's push (the slot left this primary while the request was in flight):
    /// the request's real answer, MOVED for that slot, may still come. Cleared by any later
    /// reply that is not an error (the late answer would have come before it).
    private var unsureSlots: [Int] = []
    /// The first PING of this connection was answered.
    private(set) var answered = false
    /// The node is ready: requests can be sent.
    private(set) var isReady = false
    var onEvent: (Event) -> Void = { _ in }
    /// ShardedPubSub uses this shard now (its events are for it); set and cleared by it.
    var inUse = false
    /// The first PING was answered (the node may now be ready).
    var onAnswered: () -> Void = {}
    /// The connection is unusable (a refused PING, replies out of step): the node drops it.
    var onFailure: (String) -> Void = { _ in }

    init(endpoint: RedisEndpoint, heartbeat: RedisHeartbeat = .standard) {
        self.endpoint = endpoint
        self.heartbeat = heartbeat
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
        outstanding.contains { $0.request == .subscribe(channel) || $0.request == .unsubscribe(channel) }
    }

    // MARK: Connection (the node's)

    /// The node's pub/sub connection is up: PING it (its answer counts towards the node's
    /// readiness, through `onAnswered`).
    func attach(_ connection: any RedisConnection) {
        self.connection = connection
        outstanding = PendingQueue()
        unsureSlots = []
        answered = false
        lastReceived = Clock.monotonicSeconds()
        _ = write(.ping, id: 0)
    }

    /// The connection is gone (the node reports `.lost` itself when it was ready).
    func detach() {
        connection = nil
        isReady = false
        answered = false
        outstanding = PendingQueue()
        unsureSlots = []
    }

    /// The node is ready (every connection of it answered): requests can be sent.
    func ready() {
        isReady = true
        onEvent(.ready)
    }

    // MARK: Liveness (read by the node's verdict)

    /// Why this connection counts as hung now, or nil. Pushes still arriving mean Redis is
    /// alive and working through its backlog, so the oldest request may wait up to 3 timeouts
    /// while they do.
    func overdue(now: Double) -> String? {
        guard connection != nil, let oldest = outstanding.first else { return nil }
        let waited = now - oldest.sentAt
        let timeout = heartbeat.replyTimeoutSeconds
        guard waited > timeout && (now - lastReceived > timeout || waited > 3 * timeout) else { return nil }
        return "no reply to \(oldest.request) within \(seconds(waited)) s: Redis is not answering"
    }

    /// PINGs when nothing came for the heartbeat interval and nothing is outstanding.
    func heartbeatIfIdle(now: Double) {
        guard isReady, outstanding.isEmpty, now - lastReceived >= heartbeat.intervalSeconds else { return }
        _ = write(.ping, id: 0)
    }

    // MARK: Replies

    private func popHead() -> (id: Int, request: Request, sentAt: Double)? { outstanding.popFirst() }

    private var headRequest: Request? { outstanding.first?.request }

    func received(_ reply: RedisReply) {
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
            if !answered {
                answered = true
                onAnswered()
            }
        case .error(let message):
            if let slot = ClusterRedirect.parse(message, replyingHost: endpoint.host)?.slot, let index = unsureSlots.firstIndex(of: slot) {
                // The late answer of a SUNSUBSCRIBE whose `sunsubscribe` was the server's push.
                unsureSlots.remove(at: index)
                return
            }
            guard let (id, request, _) = popHead() else { return desync("an error reply nobody asked for: \(message)") }
            if case .subscribe(let channel) = request, !isAbout(channel, message) { return desync("\(message) for \(channel)") }
            if case .unsubscribe(let channel) = request, !isAbout(channel, message) { return desync("\(message) for \(channel)") }
            switch request {
            case .ping: onFailure("PING refused: \(message)")
            case .subscribe(let channel): onEvent(.refused(channel: channel, request: id, isSubscribe: true, error: message))
            case .unsubscribe(let channel): onEvent(.refused(channel: channel, request: id, isSubscribe: false, error: message))
            }
        default:
            desync("an unexpected reply \(reply)")
        }
    }

    /// A redirect names the slot it is about: one for another slot answers some other request
    /// (a push was taken for a reply), so the two sides no longer line up.
    func isAbout(_ channel: String, _ error: String) -> Bool {
        guard let redirect = ClusterRedirect.parse(error, replyingHost: endpoint.host) else { return true }
        return redirect.slot == ClusterSlot.of(channel)
    }

    /// What may be a push (`smessage`, `sunsubscribe`) rather than the answer to a request.
    static func isPush(_ reply: RedisReply) -> Bool {
        guard case .array(let items) = reply, let kind = items.first?.string else { return false }
        return kind == "smessage" || kind == "sunsubscribe"
    }

    /// The replies no longer line up with the requests: start over on a new connection.
    private func desync(_ what: String) {
        onFailure("pub/sub protocol mismatch: \(what)")
    }
}
