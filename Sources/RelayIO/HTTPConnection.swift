// HTTPConnection: one client connection of HTTPServer, a bufferevent and a small state machine.
//
//   awaitingHead --head parsed--> readingBody --body read--> handling --respond--> awaitingHead
//                                                                    \--startStream--> streaming
//   any refusal, a timeout, or a response that ends the connection --> closing --> lingering
//
// One deadline timer per connection, re-armed for each phase: a new or keep-alive connection
// waiting for its next request (keepAliveTimeout), a request head once its first byte arrived
// (headTimeout, counted from that byte, not from the last one), a body (bodyTimeout), and the
// lingering close. A response the client does not read is bounded by the bufferevent's write
// timeout. Input is read at most `readHighWater` bytes ahead, so a connection holds little
// besides the body it was allowed to send.
// An idle stream is parked: a plain-TCP connection streaming a response with nothing queued and
// nothing to read gives its bufferevent (about 1 KiB with its two buffers) and its timer back,
// and keeps only a read event on the socket. Frames go straight to the socket as before; what
// the socket does not take, input, or the end of the stream brings a bufferevent back. A stream
// unparked by a backlog is parked again only once its owner has found it idle (`streamIdle`,
// before a keepalive), so a busy slow reader does not make and free a bufferevent per record.
// A connection whose first bytes are the HTTP/2 preface is handed, bufferevent and all, to an
// HTTP2Connection (h2c with prior knowledge); a TLS connection arrives here only when ALPN chose
// HTTP/1.1 (or nothing).
// Ownership: HTTPServer keeps every open connection in its table; the bufferevent's callbacks
// get the connection unretained, and `close()` frees the bufferevent before the table lets the
// connection go, so no callback can reach a freed connection. See Interop.md.
internal import CLibevent
internal import CRelayShims
import RelayWire

/// An open connection in the server's table (HTTP/1.1, HTTP/2, or a TLS handshake).
protocol ServerConnection: AnyObject {
    /// Frees the socket at once; exchanges still open learn that their client is gone.
    func close()
    /// The server is draining: finish what is in flight, take nothing new.
    func drain()
    /// Its place in the server's table (-1: not in it). Kept by HTTPServer.
    var tableIndex: Int { get set }
}

final class HTTPConnection: ServerConnection, ExchangeCarrier {
    enum Phase: Equatable {
        case awaitingHead(started: Bool)
        case readingBody
        case handling
        case streaming
        /// The last answer is queued; the connection ends once it is written.
        case closing
        /// Written and half-closed; reading (and dropping) what the client still sends, briefly,
        /// so that the answer is not lost to a reset.
        case lingering
    }

    private enum Deadline { case idle, head, body, linger }

    static let readHighWater = 64 * 1024
    /// Pipelined requests wait while this much output is queued (a client that sends requests
    /// without reading the answers must not make the relay hold them all).
    static let writeHighWater = 64 * 1024
    /// Bytes a lingering connection may still send before it is cut off.
    static let lingerDiscardLimit = 1 << 20

    /// Strong: the server's table holds the connection until `close()`, which removes it, so
    /// the cycle ends with the connection; the server (and its loop) outlive every connection.
    let server: HTTPServer
    /// The bufferevent, nil while parked (then `watch` is set).
    private var socketBev: OpaquePointer?
    /// While parked: a read event on the socket (input, the client's end or an error unpark it).
    private var watch: OpaquePointer?
    /// Only where the connection is known not to be parked.
    private var bev: OpaquePointer { socketBev! }
    let fd: Int32
    var tableIndex = -1
    private(set) var phase = Phase.awaitingHead(started: false)
    private(set) var closed = false
    private var exchange: HTTPExchange?
    /// Created when first armed, dropped while parked.
    private var timer: LoopTimer?
    private var deadline = Deadline.idle
    private var keepAlive = true
    private var inProcess = false
    private var peerFinished = false
    /// How far the input has been searched for the end of the head.
    private var scanned = 0
    private var body: [UInt8] = []
    private var remaining = 0
    private var decoder: ChunkedBodyDecoder?
    private var bodyLimit = 0
    /// Body bytes reserved against the server's cap, released when the response is done.
    private var reserved = 0
    private var discarded = 0
    /// Input arrived while streaming: what follows the stream cannot be trusted as a request.
    private var discardedWhileStreaming = false

    /// Under TLS the socket carries ciphertext: streamed frames go through the bufferevent.
    private let tls: Bool
    /// Requests read on this connection; only the first may be the HTTP/2 preface.
    private var requestsRead = 0
    /// Handed to an HTTP2Connection: the bufferevent is no longer this connection's.
    private var handedOver = false

    /// Takes `bev` (which owns the socket); plain TCP unless `tls`.
    init(server: HTTPServer, bev: OpaquePointer, tls: Bool) {
        self.server = server
        self.socketBev = bev
        self.fd = bufferevent_getfd(bev)
        self.tls = tls
    }

    func start() {
        configure(bev)
        arm(.idle)
        // A request sent together with the TLS handshake is already in the input.
        if evbuffer_get_length(input) > 0 { process() }
    }

    /// Callbacks, watermarks and timeouts of the connection's bufferevent (new, or unparked).
    private func configure(_ bev: OpaquePointer) {
        bufferevent_setcb(bev, { _, arg in
            Unmanaged<HTTPConnection>.fromOpaque(arg!).takeUnretainedValue().process()
        }, { _, arg in
            Unmanaged<HTTPConnection>.fromOpaque(arg!).takeUnretainedValue().outputDrained()
        }, { _, events, arg in
            Unmanaged<HTTPConnection>.fromOpaque(arg!).takeUnretainedValue().event(events)
        }, Unmanaged.passUnretained(self).toOpaque())
        bufferevent_setwatermark(bev, Int16(EV_READ), 0, Self.readHighWater)
        // The write callback runs whenever queued output falls to this level: pipelined
        // requests resume, a finished answer starts the idle timer or the lingering close.
        bufferevent_setwatermark(bev, Int16(EV_WRITE), Self.writeHighWater, 0)
        var write = timeval(server.limits.writeTimeoutSeconds)
        bufferevent_set_timeouts(bev, nil, &write)
        bufferevent_enable(bev, Int16(EV_READ | EV_WRITE))
    }

    // MARK: Parking idle streams

    /// Parks the connection if it is an idle stream: plain TCP, streaming a response (no request
    /// body still arriving), nothing queued, nothing read and unhandled. Its bufferevent is freed
    /// without closing the socket, its timer too; a read event watches the socket meanwhile.
    private func parkIfIdle() {
        guard !tls, !closed, phase == .streaming, !streamingBody, !wokenByInput, !recentBacklog, let bev = socketBev,
              evbuffer_get_length(bufferevent_get_output(bev)) == 0,
              evbuffer_get_length(bufferevent_get_input(bev)) == 0 else { return }
        // Unretained: close() frees the event before the server's table lets the connection go.
        guard let watch = event_new(server.loop.base, fd, Int16(EV_READ | EV_PERSIST), { _, _, arg in
            Unmanaged<HTTPConnection>.fromOpaque(arg!).takeUnretainedValue().wokeUp()
        }, Unmanaged.passUnretained(self).toOpaque()) else { return }
        // fd -1 first: the socket outlives this bufferevent (BEV_OPT_CLOSE_ON_FREE closes the fd
        // its read event holds). Freeing it inside its own callback is safe: libevent holds a
        // reference until the callback returns.
        bufferevent_setfd(bev, -1)
        bufferevent_free(bev)
        socketBev = nil
        timer?.cancel()
        timer = nil
        event_add(watch, nil)
        self.watch = watch
        server.parkedStreams += 1
    }

    /// The client sent something, closed, or the socket failed: a bufferevent takes over, and
    /// its own read callback (the socket is still readable) handles what woke the connection.
    private func wokeUp() {
        guard unpark() != nil else { return }
        // Not parked again before the bufferevent has read what woke it: an unparked
        // bufferevent's write callback runs at once, with nothing queued (outputDrained).
        wokenByInput = true
    }

    /// Unparked by input (or the client's end) that the bufferevent has not read yet.
    private var wokenByInput = false
    /// The socket did not take everything written straight to it since the stream was last
    /// found idle: not parked until it is found idle again.
    private var recentBacklog = false

    func streamIdle() {
        if recentBacklog {
            recentBacklog = false
            return
        }
        if socketBev != nil { parkIfIdle() }
    }

    /// A bufferevent again for a parked connection (the one it has otherwise); nil when none
    /// could be made, and then the connection is closed.
    private func unpark() -> OpaquePointer? {
        if let socketBev { return socketBev }
        guard let watch else { return nil }
        event_free(watch)
        self.watch = nil
        server.parkedStreams -= 1
        guard let bev = bufferevent_socket_new(server.loop.base, fd, Int32(BEV_OPT_CLOSE_ON_FREE.rawValue)) else {
            evutil_closesocket(fd)
            handedOver = true   // no bufferevent for close() to free
            close()
            return nil
        }
        socketBev = bev
        configure(bev)
        return bev
    }

    /// Whether the connection is parked (tests).
    var isParked: Bool { watch != nil }

    // MARK: Reading

    /// Reads as far as the input and the phase allow; re-entered calls return at once (the
    /// outer loop goes on), so pipelined requests are served one after another, not nested.
    private func process() {
        wokenByInput = false
        guard !inProcess else { return }
        inProcess = true
        defer { inProcess = false }
        while !closed {
            let progressed: Bool
            switch phase {
            case .awaitingHead: progressed = readHead()
            case .readingBody: progressed = readBody()
            case .handling: progressed = readStreamedBody()   // else the next request waits in the buffer
            case .streaming: progressed = streamingBody ? readStreamedBody() : discardInput()
            case .closing, .lingering: progressed = discardInput()
            }
            if !progressed { break }
        }
    }

    private var input: OpaquePointer { bufferevent_get_input(bev) }

    private var outputLength: Int { evbuffer_get_length(bufferevent_get_output(bev)) }

    private func readHead() -> Bool {
        var length = evbuffer_get_length(input)
        guard length > 0, outputLength <= Self.writeHighWater else { return false }
        if requestsRead == 0 && !tls, let preface = http2Preface(length) {
            guard preface else { return false }   // the start of it: wait for the rest
            handOverToHTTP2()
            return false
        }
        if phase == .awaitingHead(started: false) {
            // Empty lines before a request are allowed (RFC 9112 section 2.2); a few at most.
            var skipped = 0
            while length >= 2, skipped < 8, startsWithCRLF() {
                evbuffer_drain(input, 2)
                length -= 2
                skipped += 1
            }
            guard length > 0 else { return false }
            phase = .awaitingHead(started: true)
            scanned = 0
            arm(.head)
        }
        var from = evbuffer_ptr()
        evbuffer_ptr_set(input, &from, max(0, scanned - 3), EVBUFFER_PTR_SET)
        let end = evbuffer_search(input, "\r\n\r\n", 4, &from)
        guard end.pos >= 0 else {
            if evbuffer_search(input, "\n\n", 2, &from).pos >= 0 {
                // A head ended with bare LFs: refused now, not at the head deadline.
                server.count(\.malformedRequests)
                refuseHead(400, "Bare LF in request head")
                return false
            }
            scanned = length
            if length > server.limits.maxHeadBytes {
                server.count(\.malformedRequests)
                refuseHead(431, "Request head too large")
            }
            return false
        }
        let headLength = end.pos + 2
        guard headLength + 2 <= server.limits.maxHeadBytes else {
            server.count(\.malformedRequests)
            refuseHead(431, "Request head too large")
            return false
        }
        var bytes = [UInt8](repeating: 0, count: headLength)
        bytes.withUnsafeMutableBytes { _ = evbuffer_remove(input, $0.baseAddress, headLength) }
        evbuffer_drain(input, 2)
        let head: HTTPRequestHead
        do {
            head = try HTTPRequestHead.parse(bytes)
        } catch let error as HTTPHeadError {
            server.count(\.malformedRequests)
            refuseHead(error.status, error.message)
            return false
        } catch {
            server.count(\.malformedRequests)
            refuseHead(400, "Malformed request")
            return false
        }
        timer?.cancel()
        requestsRead += 1
        keepAlive = head.keepAlive
        let exchange = HTTPExchange(head: head, carrier: self, server: server)
        self.exchange = exchange
        server.exchangeStarted()
        // Until the body is read, an answer ends the connection (its body is still on the wire).
        phase = head.framing == .none ? .handling : .readingBody
        let decision = server.onHead(exchange)
        guard !closed, self.exchange === exchange else { return true }
        let limit: Int
        switch decision {
        case .answered: return true
        case .readBody(let value): limit = value
        case .streamBody(let value):
            limit = value
            streamingBody = head.framing != .none
        }
        switch head.framing {
        case .none:
            dispatch()
            // A streamed body of nothing: its end at once.
            if case .streamBody = decision { exchange.deliverBodyEnd(.complete) }
            return true
        case .length(let declared):
            guard declared <= limit else {
                server.onRefusal(exchange, 413, "Request body too large (at most \(limit) bytes)")
                return true
            }
            // Memory is reserved as bytes arrive, not as declared: a client must send a body
            // to hold budget, and the body deadline bounds for how long.
            remaining = declared
            body = []
        case .chunked, .streamed:
            decoder = ChunkedBodyDecoder(limit: limit)
            body = []
        }
        bodyLimit = limit
        if head.expectsContinue { write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
        arm(.body)
        if streamingBody {
            // The handler gets the exchange now; the body follows piece by piece.
            phase = .handling
            server.onRequest(exchange)
        }
        return true
    }

    // MARK: Streamed request bodies (HeadDecision.streamBody)

    /// A streamed body is still arriving (in `.handling` or `.streaming`).
    private var streamingBody = false
    private var bodyPaused = false

    private func readStreamedBody() -> Bool {
        guard streamingBody, !bodyPaused, let exchange else { return false }
        let available = evbuffer_get_length(input)
        guard available > 0 else { return false }
        var piece: [UInt8] = []
        if var chunked = decoder {
            let take = min(available, Self.readHighWater)
            var raw = [UInt8](repeating: 0, count: take)
            raw.withUnsafeMutableBytes { _ = evbuffer_copyout(input, $0.baseAddress, take) }
            let consumed: Int
            do {
                consumed = try chunked.feed(raw[...], into: &piece)
            } catch {
                switch error {
                case .tooLarge: endStreamedBody(.refused(status: 413, message: "Request body too large (at most \(bodyLimit) bytes)"))
                case .malformed(let message): endStreamedBody(.refused(status: 400, message: message))
                }
                return true
            }
            decoder = chunked
            evbuffer_drain(input, consumed)
            if !piece.isEmpty { deliver(piece, to: exchange) }
            if chunked.isComplete { bodyArrived() }
            return consumed > 0
        }
        let take = min(available, remaining, Self.readHighWater)
        piece = [UInt8](repeating: 0, count: take)
        piece.withUnsafeMutableBytes { _ = evbuffer_remove(input, $0.baseAddress, take) }
        remaining -= take
        deliver(piece, to: exchange)
        if remaining == 0 { bodyArrived() }
        return true
    }

    /// The last byte is in: the end goes to the handler now, or on resume if it has paused.
    private func bodyArrived() {
        if bodyPaused { endPending = true } else { endStreamedBody(.complete) }
    }

    /// The body's end arrived while the handler had paused it.
    private var endPending = false

    /// One piece, within the server's body budget while the handler has it; each piece restarts
    /// the body deadline.
    private func deliver(_ piece: [UInt8], to exchange: HTTPExchange) {
        guard server.reserveBody(piece.count) else {
            return endStreamedBody(.refused(status: 503, message: "Too many request bodies in flight, try again"))
        }
        arm(.body)
        exchange.deliverBodyChunk(piece)
        server.releaseBody(piece.count)
        // Paused in that call: the deadline waits (the client is not the one holding things up).
        if bodyPaused && deadline == .body { timer?.cancel() }
    }

    private func endStreamedBody(_ end: HTTPBodyEnd) {
        guard streamingBody else { return }
        streamingBody = false
        bodyPaused = false
        endPending = false
        decoder = nil
        if deadline == .body { timer?.cancel() }
        // A refused body is still on the wire: this connection cannot carry another request.
        if end != .complete { keepAlive = false }
        exchange?.deliverBodyEnd(end)
    }

    func pauseBody() {
        guard streamingBody, !bodyPaused else { return }
        bodyPaused = true
        if deadline == .body { timer?.cancel() }
    }

    func resumeBody() {
        guard streamingBody, bodyPaused else { return }
        bodyPaused = false
        if endPending { return endStreamedBody(.complete) }
        arm(.body)
        process()
        // A client that half-closed while the body was paused: what it sent has been read now.
        if peerFinished && streamingBody && !bodyPaused { close() }
    }

    private func startsWithCRLF() -> Bool {
        var two: (UInt8, UInt8) = (0, 0)
        let copied = withUnsafeMutableBytes(of: &two) { evbuffer_copyout(input, $0.baseAddress, 2) }
        return copied == 2 && two.0 == 0x0D && two.1 == 0x0A
    }

    private func readBody() -> Bool {
        guard let exchange else { return false }
        let available = evbuffer_get_length(input)
        guard available > 0 else { return false }
        if var chunked = decoder {
            let take = min(available, Self.readHighWater)
            var piece = [UInt8](repeating: 0, count: take)
            piece.withUnsafeMutableBytes { _ = evbuffer_copyout(input, $0.baseAddress, take) }
            let before = body.count
            let consumed: Int
            do {
                consumed = try chunked.feed(piece[...], into: &body)
            } catch {
                switch error {
                case .tooLarge: server.onRefusal(exchange, 413, "Request body too large (at most \(bodyLimit) bytes)")
                case .malformed(let message): server.onRefusal(exchange, 400, message)
                }
                return true
            }
            decoder = chunked
            evbuffer_drain(input, consumed)
            let grown = body.count - before
            guard server.reserveBody(grown) else {
                server.onRefusal(exchange, 503, "Too many request bodies in flight, try again")
                return true
            }
            reserved += grown
            if chunked.isComplete { dispatch() }
            return true
        }
        let take = min(available, remaining)
        guard server.reserveBody(take) else {
            server.onRefusal(exchange, 503, "Too many request bodies in flight, try again")
            return true
        }
        reserved += take
        let start = body.count
        body.append(contentsOf: repeatElement(0, count: take))
        body.withUnsafeMutableBytes { _ = evbuffer_remove(input, $0.baseAddress! + start, take) }
        remaining -= take
        if remaining == 0 { dispatch() }
        return true
    }

    private func dispatch() {
        guard let exchange else { return }
        timer?.cancel()
        decoder = nil
        phase = .handling
        exchange.receivedBody(body)
        body = []
        server.onRequest(exchange)
    }

    /// While streaming or closing the client has nothing more to say: drop what it sends.
    private func discardInput() -> Bool {
        let length = evbuffer_get_length(input)
        guard length > 0 else { return false }
        evbuffer_drain(input, length)
        switch phase {
        case .streaming:
            discardedWhileStreaming = true
        case .closing, .lingering:
            discarded += length
            if discarded > Self.lingerDiscardLimit { close() }
        default:
            break
        }
        return false
    }

    // MARK: Writing

    private func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { _ = bufferevent_write(bev, $0.baseAddress, $0.count) }
    }

    /// A complete response. HEAD answers carry the length of the body they do not send.
    internal func sendResponse(status: Int, headers: [(String, String)], body: [UInt8], headOnly: Bool) {
        guard !closed else { return responseComplete() }
        if phase == .readingBody || streamingBody || server.closeAfterEveryResponse { keepAlive = false }
        // Built as bytes (an answer per append: String concatenation here was 1.5% of a node).
        var head: [UInt8] = []
        head.reserveCapacity(160 + headers.count * 48)
        head.append(contentsOf: statusLine(status).utf8)
        appendHeaders(headers, to: &head)
        if status != 204 && status != 304 && status >= 200 {
            head.append(contentsOf: "Content-Length: ".utf8)
            head.append(contentsOf: String(body.count).utf8)
            head.append(contentsOf: "\r\n".utf8)
        }
        if !keepAlive {
            head.append(contentsOf: "Connection: close\r\n".utf8)
        } else if exchange?.minorVersion == 0 {
            head.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
        head.append(contentsOf: "\r\n".utf8)
        writeAnswer(head, headOnly ? [] : body)
        responseComplete()
    }

    /// A whole answer. When nothing is queued for this connection it goes straight to the socket
    /// in one sendmsg: through the bufferevent it waited for the next poll to report the socket
    /// writable (an epoll_ctl to watch it, another loop iteration, an epoll_ctl to stop). What
    /// the socket does not take, and everything under TLS, is queued in the bufferevent.
    private func writeAnswer(_ head: [UInt8], _ body: [UInt8]) {
        var sent = 0
        if !tls && outputLength == 0 {
            sent = head.withUnsafeBytes { h in
                body.withUnsafeBytes { b in
                    withUnsafeTemporaryAllocation(of: UnsafeRawPointer?.self, capacity: 2) { bases in
                        withUnsafeTemporaryAllocation(of: UInt.self, capacity: 2) { lengths in
                            bases[0] = h.baseAddress
                            bases[1] = b.baseAddress
                            lengths[0] = UInt(h.count)
                            lengths[1] = UInt(b.count)
                            // A failed send (the client is gone) leaves it all to the bufferevent,
                            // whose own write then reports the error.
                            return max(0, relay_send_buffers(fd, bases.baseAddress, lengths.baseAddress, b.isEmpty ? 1 : 2))
                        }
                    }
                }
            }
        }
        if sent < head.count {
            head.withUnsafeBytes { _ = bufferevent_write(bev, $0.baseAddress! + sent, $0.count - sent) }
            sent = 0
        } else {
            sent -= head.count
        }
        if sent < body.count {
            body.withUnsafeBytes { _ = bufferevent_write(bev, $0.baseAddress! + sent, $0.count - sent) }
        }
    }

    /// Starts a streamed response: chunked on HTTP/1.1, close-delimited on HTTP/1.0.
    func startStream(status: Int, headers: [(String, String)]) -> Bool {
        guard !closed, phase == .handling else { return false }
        if peerFinished {
            // The client hung up while the stream was being prepared: nobody will read it.
            close()
            return false
        }
        chunkedStream = exchange?.minorVersion == 1
        phase = .streaming
        if !chunkedStream { keepAlive = false }
        var head = Array(statusLine(status).utf8)
        appendHeaders(headers, to: &head)
        head.append(contentsOf: (chunkedStream ? "Transfer-Encoding: chunked\r\n" : "Connection: close\r\n").utf8)
        head.append(contentsOf: "\r\n".utf8)
        write(head)
        return true
    }

    /// Chunked transfer encoding (HTTP/1.1) or a close-delimited stream (HTTP/1.0).
    private var chunkedStream = true

    /// When nothing is queued for this connection the frames go straight to the socket in one
    /// sendmsg (no epoll change); whatever the socket does not take is queued in libevent's
    /// output buffer by reference (no copy), in order, and libevent writes it when the socket
    /// drains. Under TLS everything is queued: the bufferevent encrypts it.
    func writeStream(_ frames: [SharedFrame]) -> Int {
        guard !closed, phase == .streaming else { return 0 }
        var output: OpaquePointer? = nil
        if let socketBev { output = bufferevent_get_output(socketBev) }
        var sent = 0
        var direct = false
        // Parked (no output buffer): nothing is queued.
        if !tls && (output == nil || evbuffer_get_length(output) == 0) {
            direct = true
            if frames.count == 1, let frame = frames.first {
                let (start, length) = region(frame)
                sent = max(0, relay_send_now(fd, frame.bytes + start, UInt(length)))
            } else {
                var bases: [UnsafeRawPointer?] = []
                var lengths: [UInt] = []
                bases.reserveCapacity(min(frames.count, 64))
                lengths.reserveCapacity(min(frames.count, 64))
                for frame in frames.prefix(64) {
                    let (start, length) = region(frame)
                    bases.append(frame.bytes + start)
                    lengths.append(UInt(length))
                }
                sent = max(0, relay_send_buffers(fd, &bases, &lengths, Int32(bases.count)))
            }
        }
        var queued = 0
        for frame in frames {
            let (start, length) = region(frame)
            if sent >= length { sent -= length; continue }
            if output == nil {
                // Parked, and the socket did not take everything: the rest waits in a
                // bufferevent, which goes again once it has written it (outputDrained).
                guard let bev = unpark() else { return Int.max }
                output = bufferevent_get_output(bev)
            }
            // A refused reference would lose bytes mid-stream: report the connection as
            // hopelessly behind, so that its subscriber is dropped (it resumes with its id).
            guard frame.addReference(to: output, offset: start + sent, length: length - sent) else { return Int.max }
            queued += length - sent
            sent = 0
        }
        if queued == 0 {
            // Unparked by input it has since discarded: park again.
            if socketBev != nil { parkIfIdle() }
            return 0
        }
        if direct { recentBacklog = true }
        return evbuffer_get_length(output)
    }

    private func region(_ frame: SharedFrame) -> (start: Int, length: Int) {
        chunkedStream ? (0, frame.chunkedCount) : (frame.payloadOffset, frame.count)
    }

    var unsentStreamBytes: Int {
        guard !closed, let socketBev else { return 0 }
        return evbuffer_get_length(bufferevent_get_output(socketBev))
    }

    /// Ends a stream cleanly: the last chunk on HTTP/1.1, the end of the connection on 1.0.
    func endStream() {
        guard !closed, phase == .streaming, unpark() != nil else { return }
        if chunkedStream { write(Array("0\r\n\r\n".utf8)) }
        if server.closeAfterEveryResponse || discardedWhileStreaming || streamingBody { keepAlive = false }
        responseComplete()
    }

    func abortStream() { close() }

    /// Nothing to do now: the next answer on this connection closes it (closeAfterEveryResponse),
    /// so a request already on its way is still answered.
    func drain() {}

    // MARK: HTTP/2 with prior knowledge

    private static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// nil: not the HTTP/2 preface; false: the input so far is its start; true: it is there.
    private func http2Preface(_ length: Int) -> Bool? {
        let n = min(length, Self.preface.count)
        var first = [UInt8](repeating: 0, count: n)
        first.withUnsafeMutableBytes { _ = evbuffer_copyout(input, $0.baseAddress, n) }
        guard first[...] == Self.preface[..<n] else { return nil }
        return n == Self.preface.count
    }

    /// The connection becomes an HTTP/2 connection; the bufferevent and the input read so far
    /// (the preface included) go with it.
    private func handOverToHTTP2() {
        withExtendedLifetime(self) {
            handedOver = true
            closed = true
            timer?.cancel()
            server.startHTTP2(bev: bev, tls: false)
            server.connectionClosed(self)
        }
    }

    private func statusLine(_ status: Int) -> String {
        "HTTP/1.1 \(status) \(reasonPhrase(status))\r\n"
    }

    private func appendHeaders(_ headers: [(String, String)], to head: inout [UInt8]) {
        for (name, value) in headers {
            // Values come from the relay, but a control byte must never split a response. Bytes,
            // not Characters: "\r\n" is one Character, equal to neither "\r" nor "\n".
            guard !name.utf8.contains(where: { $0 < 0x21 || $0 == 0x7F || $0 == UInt8(ascii: ":") }),
                  !value.utf8.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) else { continue }
            head.append(contentsOf: name.utf8)
            head.append(contentsOf: ": ".utf8)
            head.append(contentsOf: value.utf8)
            head.append(contentsOf: "\r\n".utf8)
        }
    }

    private func responseComplete() {
        // Answered before its body ended: the rest of the body will not be read (the
        // connection closes, see sendResponse), and the handler is told so.
        if streamingBody { endStreamedBody(.clientGone) }
        if reserved > 0 {
            server.releaseBody(reserved)
            reserved = 0
        }
        exchange = nil
        body = []
        decoder = nil
        guard !closed else { return }
        if keepAlive {
            phase = .awaitingHead(started: false)
            scanned = 0
            // The idle timer starts once the answer is written (until then the write timeout
            // guards it), so a large answer to a slow reader is not cut by the idle timeout.
            if outputLength == 0 { arm(.idle) } else { timer?.cancel() }
            process()
            finishIfPeerDone()
        } else {
            beginClosing()
        }
    }

    private func beginClosing() {
        phase = .closing
        timer?.cancel()
        if outputLength == 0 { linger() }
    }

    /// A client that half-closed gets the answers to every request it sent, then the end.
    private func finishIfPeerDone() {
        guard peerFinished, !closed, phase == .awaitingHead(started: false) || phase == .awaitingHead(started: true) else { return }
        beginClosing()
    }

    private func outputDrained() {
        switch phase {
        case .streaming:
            if outputLength == 0 { parkIfIdle() }
        case .closing:
            if outputLength == 0 { linger() }
        case .awaitingHead(started: false):
            if outputLength == 0 && !peerFinished && !(timer?.isPending ?? false) { arm(.idle) }
            process()
            finishIfPeerDone()
        default:
            break
        }
    }

    private func linger() {
        guard !closed else { return }
        if peerFinished { return close() }
        phase = .lingering
        relay_shutdown_write(fd)
        arm(.linger)
        _ = discardInput()
    }

    // MARK: Refusals, timeouts, the end

    /// A request refused before it became an exchange: answered plainly, then closed.
    private func refuseHead(_ status: Int, _ message: String) {
        timer?.cancel()
        keepAlive = false
        let body = server.plainRefusal(status, message)
        let head = statusLine(status) + "Content-Type: application/json; charset=utf-8\r\n"
            + "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        write(Array(head.utf8) + body)
        responseComplete()
    }

    private func arm(_ kind: Deadline) {
        deadline = kind
        let common: CommonTimeout?
        let seconds: Double
        switch kind {
        case .idle: (common, seconds) = (server.idleTimeout, server.limits.keepAliveTimeoutSeconds)
        case .head: (common, seconds) = (server.headTimeout, server.limits.headTimeoutSeconds)
        case .body: (common, seconds) = (server.bodyTimeout, server.limits.bodyTimeoutSeconds)
        case .linger: (common, seconds) = (server.lingerTimeout, 2)
        }
        if timer == nil { timer = LoopTimer(loop: server.loop) { [unowned self] in self.deadlinePassed() } }
        if let common { timer?.arm(common: common) } else { timer?.arm(seconds) }
    }

    private func deadlinePassed() {
        switch (deadline, phase) {
        case (.idle, .awaitingHead(started: false)):
            server.count(\.idleTimeouts)
            close()
        case (.head, .awaitingHead(started: true)):
            server.count(\.headTimeouts)
            refuseHead(408, "Request head not received in time")
        case (.body, .handling), (.body, .streaming):
            guard streamingBody, !bodyPaused else { break }
            server.count(\.bodyTimeouts)
            endStreamedBody(.refused(status: 408, message: "Request body not received in time"))
        case (.body, .readingBody):
            server.count(\.bodyTimeouts)
            if let exchange { server.onRefusal(exchange, 408, "Request body not received in time") } else { close() }
        case (.linger, _):
            close()
        default:
            break
        }
    }

    private func event(_ events: Int16) {
        wokenByInput = false
        if events & Int16(BEV_EVENT_TIMEOUT) != 0 {
            server.count(\.writeTimeouts)
            return close()
        }
        if events & Int16(BEV_EVENT_ERROR) != 0 { return close() }
        if events & Int16(BEV_EVENT_EOF) != 0 {
            peerFinished = true
            switch phase {
            case .handling, .closing:
                // The client stopped sending; the answers may still reach it (see
                // responseComplete and finishIfPeerDone). A streamed body it did not finish
                // never will be.
                if streamingBody {
                    process()
                    if streamingBody && !bodyPaused { close() }   // paused: resumeBody reads the rest
                }
            case .awaitingHead:
                // Serve what it sent before it stopped, then end.
                process()
                finishIfPeerDone()
            case .streaming where streamingBody:
                // A full-duplex exchange: the body it sent is read first (on resume, if paused).
                process()
                if streamingBody && !bodyPaused { close() }
            case .readingBody, .streaming, .lingering:
                close()
            }
        }
    }

    /// Frees the socket at once; an exchange still open learns that its client is gone.
    func close() {
        guard !closed else { return }
        closed = true
        timer?.cancel()
        if let watch {
            // Parked: the socket is this connection's own to close.
            event_free(watch)
            self.watch = nil
            server.parkedStreams -= 1
            evutil_closesocket(fd)
        } else if !handedOver {
            bufferevent_free(bev)
        }
        if reserved > 0 {
            server.releaseBody(reserved)
            reserved = 0
        }
        let pending = exchange
        let handlerOwnsExchange = phase == .handling || phase == .streaming
        exchange = nil
        body = []
        server.connectionClosed(self)
        pending?.carrierClosed(handlerWillAnswer: handlerOwnsExchange)
    }
}

func reasonPhrase(_ status: Int) -> String {
    switch status {
    case 100: return "Continue"
    case 200: return "OK"
    case 201: return "Created"
    case 202: return "Accepted"
    case 204: return "No Content"
    case 304: return "Not Modified"
    case 400: return "Bad Request"
    case 401: return "Unauthorized"
    case 403: return "Forbidden"
    case 404: return "Not Found"
    case 405: return "Method Not Allowed"
    case 408: return "Request Timeout"
    case 409: return "Conflict"
    case 412: return "Precondition Failed"
    case 413: return "Content Too Large"
    case 416: return "Range Not Satisfiable"
    case 417: return "Expectation Failed"
    case 422: return "Unprocessable Content"
    case 431: return "Request Header Fields Too Large"
    case 500: return "Internal Server Error"
    case 501: return "Not Implemented"
    case 503: return "Service Unavailable"
    case 505: return "HTTP Version Not Supported"
    default: return "Status"
    }
}
