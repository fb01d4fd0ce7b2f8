// S2AppendSession: one S2S append session (POST …/records, content-type s2s/proto), over HTTP/2
// full duplex. The client sends AppendInput frames as its body; each is appended to the channel
// in the order it came, and answered with one AppendAck frame, in the same order. A failure ends
// the session with a terminal frame (S2's status and JSON error); the client resumes with a new
// session. Inputs wait in a short queue: past its cap the body is paused (HTTP/2 flow control
// holds the client back), so one writer never makes the relay buffer without bound.
//
//   frame: 3-byte big-endian length (of what follows), flag byte, protobuf message
//   flag 0x80: terminal (body: 2-byte status, JSON error); 0x60: compression (refused here)
import RelayCore
import RelayIO

final class S2AppendSession {
    /// Frames larger than this are refused (S2's own cap).
    static let maxFrameBytes = 2 << 20
    /// Inputs decoded and not yet appended, and their frames' bytes: at either cap the relay
    /// stops taking frames and pauses the body (HTTP/2 flow control then holds the client).
    static let maxQueuedInputs = 16
    static let maxQueuedBytes = 4 << 20

    private weak var server: RelayServer?
    private let exchange: HTTPExchange
    private let target: S2Target
    /// A public token's exp: the session takes no input after it.
    private let expiresAt: Int64?
    private var buffer: [UInt8] = []
    private var queue: [(input: S2AppendInput, bytes: Int)] = []
    private var queuedBytes = 0
    private var appending = false
    private var paused = false
    private var bodyEnded = false
    private var finished = false
    /// Why the session must end (a bad frame, a refused body): it ends with that once the
    /// inputs before it are appended and acked (S2 answers a session's inputs in order, the
    /// failure included).
    private var failure: APIError?

    init(server: RelayServer, exchange: HTTPExchange, target: S2Target, expiresAt: Int64?) {
        self.server = server
        self.exchange = exchange
        self.target = target
        self.expiresAt = expiresAt
    }

    /// Answers 200 at once (S2's clients wait for the headers before sending), then reads frames.
    func start() {
        // The exchange holds these closures and they hold the session: the cycle ends with the exchange.
        exchange.onBodyChunk = { [self] chunk in received(chunk) }
        exchange.onBodyEnd = { [self] end in bodyEnded(end) }
        server?.metrics.responded(status: 200)
        exchange.startStream(status: 200, headers: [("Content-Type", "s2s/proto"), ("Cache-Control", "no-cache, no-transform")]
                                + (server?.commonHeaders(exchange) ?? [])) { [self] in
            finished = true
            queue.removeAll()
        }
    }

    private func received(_ chunk: [UInt8]) {
        guard !finished, failure == nil else { return }
        buffer.append(contentsOf: chunk)
        takeFrames()
        appendNext()
    }

    /// Decodes whole frames from the front of the buffer while the queue has room; a part of a
    /// frame (or frames past the caps) waits in the buffer.
    private func takeFrames() {
        var at = 0
        while failure == nil, queue.count < Self.maxQueuedInputs, queuedBytes < Self.maxQueuedBytes, buffer.count - at >= 4 {
            let length = Int(buffer[at]) << 16 | Int(buffer[at + 1]) << 8 | Int(buffer[at + 2])
            guard length >= 1, length <= Self.maxFrameBytes else {
                failure = APIError(400, "Bad frame length", detail: "bad_frame")
                break
            }
            guard buffer.count - at >= 3 + length else { break }
            let flag = buffer[at + 3]
            let body = buffer[(at + 4)..<(at + 3 + length)]
            if flag & 0x80 != 0 {
                failure = APIError(400, "A client does not send terminal frames", detail: "bad_frame")
                break
            }
            if flag & 0x60 != 0 {
                failure = APIError(400, "Compressed frames are not accepted; send them uncompressed", detail: "bad_frame")
                break
            }
            do {
                queue.append((try S2AppendInput(protobuf: body), 3 + length))
                queuedBytes += 3 + length
            } catch {
                failure = APIError(400, "Invalid protobuf: \(error.reason)", detail: "bad_proto")
                break
            }
            at += 3 + length
        }
        if failure != nil {
            // Nothing after the bad frame is read; the inputs before it go on.
            buffer = []
            if !paused { paused = true; exchange.pauseBody() }
            return
        }
        if at > 0 { buffer.removeFirst(at) }
        if !paused && (queue.count >= Self.maxQueuedInputs || queuedBytes >= Self.maxQueuedBytes) {
            paused = true
            exchange.pauseBody()
        }
    }

    private func bodyEnded(_ end: HTTPBodyEnd) {
        bodyEnded = true
        switch end {
        case .complete:
            // (What is left in the buffer is taken, or found to end inside a frame, by appendNext.)
            appendNext()
        case .refused(let status, let message):
            // (An append in flight is acked first: its record is written.)
            if failure == nil { failure = APIError(status, message) }
            queue.removeAll()
            queuedBytes = 0
            buffer = []
            appendNext()
        case .clientGone:
            finished = true
            queue.removeAll()
            exchange.abort()
        }
    }

    /// Appends the oldest queued input, acks it, and goes on: one at a time, so acks keep order.
    private func appendNext() {
        guard !finished, !appending else { return }
        if queue.isEmpty && bodyEnded && failure == nil && !buffer.isEmpty { takeFrames() }
        guard !queue.isEmpty else {
            if let failure { return fail(failure) }
            if bodyEnded {
                if !buffer.isEmpty { return fail(APIError(400, "The body ended inside a frame", detail: "bad_frame")) }
                finished = true
                exchange.endStream()
            }
            return
        }
        guard let server else { return exchange.abort() }
        if let expiresAt, Clock.nowSeconds() >= expiresAt {
            return fail(APIError(401, "The access token expired; ask for new credentials"))
        }
        let (input, bytes) = queue.removeFirst()
        queuedBytes -= bytes
        // Marked before more frames are taken or the body resumes: resumeBody delivers held
        // chunks at once, and received() must not start the next input while this one is on its
        // way (it would be appended first).
        appending = true
        takeFrames()
        if paused && failure == nil && queue.count < Self.maxQueuedInputs / 2 && queuedBytes < Self.maxQueuedBytes / 2 {
            paused = false
            exchange.resumeBody()
        }
        server.s2AppendInput(input, target) { [self] result in
            appending = false
            guard !finished else { return }
            switch result {
            case .failure(let error): fail(error)
            case .success(let ack):
                // A writer that does not read its acks is cut, as a slow SSE reader is: the
                // acks must not pile up in the relay.
                if exchange.write([SharedFrame(Self.frame(flag: 0, ack.protobuf))]) > server.hub.settings.maxUnsentBytes {
                    finished = true
                    queue.removeAll()
                    return exchange.abort()
                }
                appendNext()
            }
        }
    }

    /// Ends the session with a terminal frame: the status, then S2's JSON error.
    private func fail(_ error: APIError) {
        guard !finished else { return }
        finished = true
        queue.removeAll()
        let status = UInt16(clamping: error.status)
        let body = [UInt8(status >> 8), UInt8(status & 0xFF)] + S2ErrorBody.json(error)
        _ = exchange.write([SharedFrame(Self.frame(flag: 0x80, body))])
        exchange.endStream()
    }

    static func frame(flag: UInt8, _ body: [UInt8]) -> [UInt8] {
        let length = body.count + 1
        return [UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), flag] + body
    }
}
