// HTTP2Stream: one HTTP/2 request stream of an HTTP2Connection, the carrier of one HTTPExchange.
//
// It gathers the request's header fields (bounded by the head limit), turns them into the same
// HTTPRequestHead an HTTP/1.1 request gets, asks the server's admission (route, credentials,
// body limit) before any body byte is kept, reads the body within the limit, the server-wide
// body budget and the body deadline, and hands the exchange to the handler. Responses leave
// through nghttp2's data provider: the bytes wait in this stream's queue, and nghttp2 takes
// them (without a copy: NGHTTP2_DATA_FLAG_NO_COPY) as the peer's flow-control window allows.
// A shared SSE frame is queued by reference; only the 9-byte frame header is this stream's.
// Ownership: the connection's table holds the stream from its first HEADERS frame until
// nghttp2 closes it; the exchange holds it while it is unanswered. See Interop.md.
internal import CLibevent
internal import CNghttp2
import RelayWire

final class HTTP2Stream: ExchangeCarrier {
    enum Phase {
        /// Header fields arriving (HEADERS and CONTINUATION frames).
        case head
        /// The body arriving.
        case body
        /// The handler has the exchange.
        case handling
        /// A streamed response is open.
        case streaming
        /// Answered (or refused); what the client still sends is dropped.
        case done
    }

    /// A queued piece of response body: a shared frame by reference, or bytes of our own.
    private enum Piece {
        case shared(SharedFrame, offset: Int, length: Int)
        case owned([UInt8], offset: Int)
    }

    let id: Int32
    /// Strong: the connection removes the stream from its table when either closes, which ends
    /// the cycle.
    let connection: HTTP2Connection
    private(set) var phase = Phase.head
    private var fields: [(name: [UInt8], value: [UInt8])] = []
    private var headBytes = 0
    private var fieldCount = 0
    private var headTooLarge = false
    private(set) var exchange: HTTPExchange?
    private var body: [UInt8] = []
    private var bodyLimit = 0
    /// Body bytes reserved against the server's cap, released when the exchange is answered.
    private var reserved = 0
    /// The client ended its side (END_STREAM received).
    private(set) var requestEnded = false
    /// The body goes to the handler piece by piece (HeadDecision.streamBody).
    private var streamedBody = false
    /// Bytes of a streamed body so far (against `bodyLimit`).
    private var streamedBytes = 0
    /// While the handler has paused a streamed body: pieces held (not yet acknowledged to the
    /// peer's flow control, so at most a window's worth) and whether the end came too.
    private var bodyPaused = false
    private var heldPieces: [[UInt8]] = []
    private var heldEnd = false
    private var timer: LoopTimer?

    private var pending: [Piece] = []
    private var pendingStart = 0
    private(set) var pendingBytes = 0
    /// The response ends once the queue is empty.
    private var responseEnded = false
    /// nghttp2 holds the stream's DATA until `resume` (NGHTTP2_ERR_DEFERRED was returned).
    private var deferred = false
    /// When queued bytes last moved (for the flow-control stall check).
    var lastProgress = 0.0
    private var closed = false

    init(id: Int32, connection: HTTP2Connection) {
        self.id = id
        self.connection = connection
        lastProgress = Clock.monotonicSeconds()
    }

    private var server: HTTPServer { connection.server }

    // MARK: The request

    /// Starts the head deadline (a header block that never ends must not hold the stream).
    func begin() {
        timer = LoopTimer(loop: server.loop) { [unowned self] in self.deadlinePassed() }
        if let common = server.headTimeout { timer?.arm(common: common) } else { timer?.arm(server.limits.headTimeoutSeconds) }
    }

    /// One header field (of the request head or of trailers). Past the head limit the fields
    /// are no longer kept; the request is then refused with 431 once the block is complete.
    /// False when the block has gone far past the limit (four times its bytes, or its field
    /// count): the stream is then reset rather than decoded on.
    func addField(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) -> Bool {
        headBytes += name.count + value.count + 32   // RFC 9113's accounting (section 6.5.2)
        fieldCount += 1
        if headBytes > 4 * server.limits.maxHeadBytes || fieldCount > 4 * HTTPRequestHead.maxFieldCount {
            server.count(\.malformedRequests)
            return false
        }
        guard phase == .head else { return true }   // trailers: dropped
        if headBytes > server.limits.maxHeadBytes { headTooLarge = true }
        guard !headTooLarge else { return true }
        fields.append((Array(name), Array(value)))
        return true
    }

    /// The request head is complete.
    func headComplete(endStream: Bool) {
        guard phase == .head else { return }
        timer?.cancel()
        requestEnded = endStream
        if headTooLarge {
            server.count(\.malformedRequests)
            return refuse(431, "Request head too large")
        }
        let head: HTTPRequestHead
        do {
            head = try HTTPRequestHead.fromHTTP2(fields, endStream: endStream)
        } catch let error as HTTPHeadError {
            server.count(\.malformedRequests)
            return refuse(error.status, error.message)
        } catch {
            server.count(\.malformedRequests)
            return refuse(400, "Malformed request")
        }
        fields = []
        let exchange = HTTPExchange(head: head, carrier: self, server: server)
        self.exchange = exchange
        server.exchangeStarted()
        phase = head.framing == .none ? .handling : .body
        let decision = server.onHead(exchange)
        guard !closed, self.exchange === exchange, !exchange.isAnswered else { return }
        let limit: Int
        switch decision {
        case .answered: return
        case .readBody(let value): limit = value
        case .streamBody(let value):
            if case .length(let declared) = head.framing, declared > value {
                return server.onRefusal(exchange, 413, "Request body too large (at most \(value) bytes)")
            }
            bodyLimit = value
            streamedBody = head.framing != .none
            if head.value("expect") != nil && streamedBody { connection.submitContinue(stream: id) }
            if streamedBody { armBodyDeadline() }
            dispatch()
            // A streamed body of nothing: its end at once.
            if !streamedBody { exchange.deliverBodyEnd(.complete) }
            return
        }
        switch head.framing {
        case .none:
            return dispatch()
        case .length(let declared) where declared > limit:
            return server.onRefusal(exchange, 413, "Request body too large (at most \(limit) bytes)")
        default:
            break
        }
        bodyLimit = limit
        if head.value("expect") != nil { connection.submitContinue(stream: id) }
        armBodyDeadline()
    }

    private func armBodyDeadline() {
        if let common = server.bodyTimeout { timer?.arm(common: common) } else { timer?.arm(server.limits.bodyTimeoutSeconds) }
    }

    /// A piece of the request body (a DATA frame's payload). Returns the bytes to acknowledge
    /// to the peer's flow control now (all of them, unless a streamed body is paused).
    func receive(_ data: UnsafeBufferPointer<UInt8>) -> Int {
        if streamedBody { return receiveStreamed(data) }
        guard phase == .body, let exchange else { return data.count }   // after an answer: dropped
        guard body.count + data.count <= bodyLimit else {
            server.onRefusal(exchange, 413, "Request body too large (at most \(bodyLimit) bytes)")
            return data.count
        }
        guard server.reserveBody(data.count) else {
            server.onRefusal(exchange, 503, "Too many request bodies in flight, try again")
            return data.count
        }
        reserved += data.count
        body.append(contentsOf: data)
        return data.count
    }

    private func receiveStreamed(_ data: UnsafeBufferPointer<UInt8>) -> Int {
        guard let exchange, !requestEnded, !closed else { return data.count }
        streamedBytes += data.count
        guard streamedBytes <= bodyLimit else {
            endStreamedBody(.refused(status: 413, message: "Request body too large (at most \(bodyLimit) bytes)"))
            return data.count
        }
        if bodyPaused || !heldPieces.isEmpty {
            // Held against the server's body budget, and unacknowledged to flow control, until
            // delivered. The deadline waits too: the client is not the one holding things up.
            guard server.reserveBody(data.count) else {
                endStreamedBody(.refused(status: 503, message: "Too many request bodies in flight, try again"))
                return data.count
            }
            reserved += data.count
            heldPieces.append(Array(data))
            return 0
        }
        armBodyDeadline()
        exchange.deliverBodyChunk(Array(data))
        return data.count
    }

    /// The streamed body ends: whatever is still held is dropped, and acknowledged to flow
    /// control so that the connection's window is whole again.
    private func endStreamedBody(_ end: HTTPBodyEnd) {
        guard streamedBody else { return }
        streamedBody = false
        timer?.cancel()
        dropHeldPieces()
        releaseBody()
        exchange?.deliverBodyEnd(end)
    }

    private func dropHeldPieces() {
        let held = heldPieces.reduce(0) { $0 + $1.count }
        heldPieces = []
        heldEnd = false
        if held > 0 { connection.consume(stream: id, held) }
    }

    /// While paused no piece is delivered and the body deadline waits.
    /// An idle stream lets its queue's array go (the connection's buffers are shared).
    func streamIdle() {
        if pendingBytes == 0 && pendingStart == 0 && pending.isEmpty { pending = [] }
    }

    func pauseBody() {
        guard streamedBody, !bodyPaused else { return }
        bodyPaused = true
        timer?.cancel()
    }

    /// Delivers the held pieces in order, one at a time (a handler may pause again in any of
    /// them, or resume inside one: the loop already running goes on), then the end if it came.
    func resumeBody() {
        guard streamedBody, bodyPaused else { return }
        bodyPaused = false
        guard !resuming else { return }
        resuming = true
        defer { resuming = false }
        while streamedBody, !bodyPaused, !heldPieces.isEmpty {
            let piece = heldPieces.removeFirst()
            server.releaseBody(piece.count)
            reserved -= piece.count
            connection.consume(stream: id, piece.count)
            exchange?.deliverBodyChunk(piece)
        }
        guard streamedBody, !bodyPaused else { return }
        if heldEnd { endStreamedBody(.complete) } else if !requestEnded { armBodyDeadline() }
    }

    private var resuming = false

    /// END_STREAM arrived (on a DATA frame or on trailers).
    func requestComplete() {
        requestEnded = true
        if streamedBody {
            if bodyPaused || !heldPieces.isEmpty { heldEnd = true } else { endStreamedBody(.complete) }
            return
        }
        if phase == .body { dispatch() }
    }

    /// Hands the exchange to the handler; a streamed body keeps its deadline and arrives later.
    private func dispatch() {
        guard let exchange else { return }
        if !streamedBody {
            timer?.cancel()
            timer = nil
        }
        phase = .handling
        exchange.receivedBody(body)
        body = []
        server.onRequest(exchange)
    }

    private func deadlinePassed() {
        if streamedBody {
            server.count(\.bodyTimeouts)
            return endStreamedBody(.refused(status: 408, message: "Request body not received in time"))
        }
        switch phase {
        case .head:
            server.count(\.headTimeouts)
            refuse(408, "Request head not received in time")
        case .body:
            server.count(\.bodyTimeouts)
            if let exchange { server.onRefusal(exchange, 408, "Request body not received in time") }
        default:
            break
        }
    }

    /// A request refused before it became an exchange: answered plainly.
    private func refuse(_ status: Int, _ message: String) {
        fields = []
        sendResponse(status: status, headers: [("Content-Type", "application/json; charset=utf-8")],
                     body: server.plainRefusal(status, message), headOnly: false)
    }

    // MARK: ExchangeCarrier

    func sendResponse(status: Int, headers: [(String, String)], body: [UInt8], headOnly: Bool) {
        answered()
        guard !closed else { return }
        var fields = HTTP2Stream.responseFields(headers)
        if status != 204 && status != 304 { fields.append(("content-length", String(body.count))) }
        if !headOnly && !body.isEmpty { enqueue(.owned(body, offset: 0), body.count) }
        responseEnded = true
        connection.submitResponse(stream: id, status: status, fields: fields, hasBody: !headOnly && !body.isEmpty)
    }

    func startStream(status: Int, headers: [(String, String)]) -> Bool {
        guard !closed, phase == .handling else { return false }
        phase = .streaming
        releaseBody()
        connection.submitResponse(stream: id, status: status, fields: HTTP2Stream.responseFields(headers), hasBody: true)
        return true
    }

    func writeStream(_ frames: [SharedFrame]) -> Int {
        guard !closed, phase == .streaming, !responseEnded else { return 0 }
        for frame in frames where frame.count > 0 {
            enqueue(.shared(frame, offset: frame.payloadOffset, length: frame.count), frame.count)
        }
        resume()
        return unsentStreamBytes
    }

    /// This stream's queue, and the connection's output that nghttp2 has not written yet (a
    /// connection whose client stops reading holds every stream back).
    var unsentStreamBytes: Int {
        closed ? 0 : pendingBytes + connection.outputLength
    }

    func endStream() {
        guard !closed, phase == .streaming else { return }
        phase = .done
        responseEnded = true
        resume()
    }

    func abortStream() {
        answered()
        guard !closed else { return }
        dropQueue()
        connection.resetStream(id, code: NGHTTP2_CANCEL.rawValue)
    }

    private func answered() {
        phase = .done
        if !streamedBody {
            timer?.cancel()
            timer = nil
            releaseBody()
        }
    }

    private func releaseBody() {
        body = []
        if reserved > 0 {
            server.releaseBody(reserved)
            reserved = 0
        }
    }

    /// Response header fields for HTTP/2: lowercase names, no connection-specific fields, and
    /// nothing a control byte could split.
    static func responseFields(_ headers: [(String, String)]) -> [(String, String)] {
        var fields: [(String, String)] = []
        fields.reserveCapacity(headers.count + 1)
        for (name, value) in headers {
            let lower = String(decoding: name.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
            guard !lower.isEmpty, !HTTPRequestHead.connectionSpecificFields.contains(lower), lower != "content-length",
                  !lower.utf8.contains(where: { $0 < 0x21 || $0 == 0x7F || $0 == UInt8(ascii: ":") }),
                  !value.utf8.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) else { continue }
            fields.append((lower, value))
        }
        return fields
    }

    // MARK: The response body queue (nghttp2's data provider)

    /// Queued bytes start the stall check: a window that never opens must not hold them forever.
    private func enqueue(_ piece: Piece, _ length: Int) {
        if pendingBytes == 0 { lastProgress = Clock.monotonicSeconds() }
        pending.append(piece)
        pendingBytes += length
        connection.armStallCheck()
    }

    private func resume() {
        guard deferred else { return connection.scheduleSend() }
        deferred = false
        connection.resumeData(stream: id)
    }

    private func dropQueue() {
        pending = []
        pendingStart = 0
        pendingBytes = 0
    }

    /// nghttp2 asks how much of the body it may send now (at most `length`).
    /// Returns the byte count, with `eof` set on the last piece, or nil to wait for more.
    func readData(length: Int, eof: inout Bool) -> Int? {
        if pendingBytes > 0 {
            let n = min(pendingBytes, length)
            eof = responseEnded && n == pendingBytes
            return n
        }
        if responseEnded {
            eof = true
            return 0
        }
        deferred = true
        return nil
    }

    /// nghttp2 sends `length` bytes of the queue now: they are appended to `output` (shared
    /// frames by reference). False if libevent refused a reference.
    func emit(_ length: Int, into output: OpaquePointer) -> Bool {
        var left = length
        lastProgress = Clock.monotonicSeconds()
        while left > 0, pendingStart < pending.count {
            switch pending[pendingStart] {
            case .shared(let frame, let offset, let count):
                let take = min(left, count)
                guard frame.addReference(to: output, offset: offset, length: take) else { return false }
                left -= take
                pendingBytes -= take
                if take == count {
                    pending[pendingStart] = .owned([], offset: 0)
                    pendingStart += 1
                } else {
                    pending[pendingStart] = .shared(frame, offset: offset + take, length: count - take)
                }
            case .owned(let bytes, let offset):
                let take = min(left, bytes.count - offset)
                bytes.withUnsafeBytes { _ = evbuffer_add(output, $0.baseAddress! + offset, take) }
                left -= take
                pendingBytes -= take
                if offset + take == bytes.count {
                    pending[pendingStart] = .owned([], offset: 0)
                    pendingStart += 1
                } else {
                    pending[pendingStart] = .owned(bytes, offset: offset + take)
                }
            }
        }
        if pendingStart == pending.count {
            pending.removeAll(keepingCapacity: pending.count <= 16)
            pendingStart = 0
        } else if pendingStart > 32 && pendingStart * 2 > pending.count {
            pending.removeFirst(pendingStart)
            pendingStart = 0
        }
        return left == 0
    }

    // MARK: The end

    /// nghttp2 closed the stream (both sides ended, a reset, or the connection went).
    func closedByPeerOrConnection() {
        guard !closed else { return }
        closed = true
        timer?.cancel()
        timer = nil
        dropHeldPieces()
        streamedBody = false
        releaseBody()
        dropQueue()
        let pending = exchange
        let handlerOwnsExchange = phase == .handling || phase == .streaming
        exchange = nil
        pending?.carrierClosed(handlerWillAnswer: handlerOwnsExchange)
    }
}
