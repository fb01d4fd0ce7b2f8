// HTTPExchange: one HTTP request and its response, plain or streamed (SSE), whichever protocol
// carried it: an HTTP/1.1 connection or an HTTP/2 stream (an `ExchangeCarrier`). Handlers see
// only this type. Holds its carrier until it is answered; after that every call is a no-op.
// See Interop.md for the threading and ownership rules of this module.
internal import CLibevent
internal import CRelayShims
import RelayWire

public enum HTTPMethod: String, Sendable {
    case get = "GET", post = "POST", head = "HEAD", put = "PUT", delete = "DELETE"
    case options = "OPTIONS", patch = "PATCH", other = "OTHER"
}

/// What carries an exchange: an HTTP/1.1 connection (one exchange at a time) or an HTTP/2
/// stream. Called only by HTTPExchange, and only while the exchange holds it.
protocol ExchangeCarrier: AnyObject {
    /// A complete response; HEAD answers carry the length of the body they do not send.
    func sendResponse(status: Int, headers: [(String, String)], body: [UInt8], headOnly: Bool)
    /// Starts a streamed response; false when the client has gone (nothing was sent).
    func startStream(status: Int, headers: [(String, String)]) -> Bool
    /// Queues shared frames on the open stream, in order, without copying their bytes.
    /// Returns the bytes this stream has not yet handed to the kernel (Int.max: hopelessly
    /// behind, drop it).
    func writeStream(_ frames: [SharedFrame]) -> Int
    /// Bytes accepted for the stream and not yet written to the socket.
    var unsentStreamBytes: Int { get }
    /// Ends the stream cleanly.
    func endStream()
    /// Ends the stream without a clean end: the HTTP/1.1 connection closes, the HTTP/2 stream
    /// is reset.
    func abortStream()
    /// A streamed request body: stop handing pieces over (the client is held back by TCP or
    /// by HTTP/2 flow control), and start again.
    func pauseBody()
    func resumeBody()
    /// The stream's owner found it idle (nothing written to it for a while, a keepalive is
    /// due): what an idle stream need not hold can go.
    func streamIdle()
}

/// How a streamed request body ended.
public enum HTTPBodyEnd: Equatable, Sendable {
    /// Every byte was delivered.
    case complete
    /// The server refused the rest (too large, too slow); `status` and `message` say why. The
    /// exchange, if still unanswered, is then answered with them.
    case refused(status: Int, message: String)
    /// The client went away (or reset the stream) first.
    case clientGone
}

public final class HTTPExchange {
    /// The carrier, until the exchange is answered (or its client has gone).
    private var carrier: ExchangeCarrier?
    private var answered = false
    /// The request's header fields (not the whole head: an exchange that streams lives long,
    /// and what else the head says is kept below, or was needed only to read the request).
    private var fields: [(name: String, value: String)]
    public let method: HTTPMethod
    /// The path as sent, not percent-decoded. Empty once a stream has started (see `startStream`).
    public private(set) var path: String
    /// The raw query string (after "?"), or nil; nil once a stream has started.
    public private(set) var query: String?
    /// 0 for HTTP/1.0, 1 for HTTP/1.1 and HTTP/2.
    public let minorVersion: Int
    /// Whether the request arrived over HTTP/2.
    public let isHTTP2: Bool
    /// Whatever the server's user decided about this request when its head arrived (the relay
    /// keeps the route and the caller here, so that they are worked out once).
    public var attachment: Any?
    private var requestBody: [UInt8] = []
    /// A streamed body (HeadDecision.streamBody): each piece as it arrives, then its end (once).
    /// Set them in `onRequest`; pieces are never delivered before it returns.
    public var onBodyChunk: (([UInt8]) -> Void)?
    public var onBodyEnd: ((HTTPBodyEnd) -> Void)?
    private var bodyEnded = false
    private var onClose: (() -> Void)?
    private var streaming = false
    /// Strong: an exchange keeps its server (and so the loop) alive; the server holds no
    /// exchange, so there is no cycle.
    private let server: HTTPServer

    init(head: HTTPRequestHead, carrier: ExchangeCarrier, server: HTTPServer) {
        fields = head.fields
        isHTTP2 = head.majorVersion == 2
        self.carrier = carrier
        self.server = server
        method = HTTPMethod(rawValue: head.method) ?? .other
        path = head.path
        query = head.query
        minorVersion = head.minorVersion
    }

    /// A request header (case-insensitive name), or nil. Values never hold control characters:
    /// the server refused such requests before any handler saw them.
    public func header(_ name: String) -> String? {
        let name = name.lowercased()
        return fields.first { $0.name == name }?.value
    }

    func receivedBody(_ bytes: [UInt8]) { requestBody = bytes }

    /// The request body (empty for a streamed body).
    public func body() -> [UInt8] { requestBody }

    /// Holds back the rest of a streamed body until `resumeBody()`.
    public func pauseBody() { if !bodyEnded { carrier?.pauseBody() } }
    public func resumeBody() { if !bodyEnded { carrier?.resumeBody() } }

    /// Carriers: a piece of a streamed body.
    func deliverBodyChunk(_ bytes: [UInt8]) {
        guard !bodyEnded else { return }
        onBodyChunk?(bytes)
    }

    /// Carriers: a streamed body ended. A refusal answers the exchange if it is still
    /// unanswered, or drops a stream already started.
    func deliverBodyEnd(_ end: HTTPBodyEnd) {
        guard !bodyEnded else { return }
        bodyEnded = true
        let callback = onBodyEnd
        onBodyChunk = nil
        onBodyEnd = nil
        callback?(end)
        if case .refused(let status, let message) = end {
            if streaming { abort() } else if !answered { server.onRefusal(self, status, message) }
        }
    }

    public var isAnswered: Bool { answered }
    public var isStreaming: Bool { streaming && !answered }

    /// Sends a complete response.
    public func respond(status: Int, headers: [(String, String)], body: [UInt8]) {
        server.loop.assertOnLoopThread()
        guard !answered, !streaming else { return }
        let carrier = self.carrier
        finished()
        carrier?.sendResponse(status: status, headers: headers, body: body, headOnly: method == .head)
    }

    /// Starts a streamed response (chunked on HTTP/1.1, close-delimited on HTTP/1.0, DATA
    /// frames on HTTP/2): the head is queued at once. `onClose` runs if the client goes away
    /// before `endStream()`. The request's header fields, path and query are dropped here.
    public func startStream(status: Int, headers: [(String, String)], onClose: @escaping () -> Void) {
        guard !answered, !streaming else { return }
        guard let carrier, carrier.startStream(status: status, headers: headers) else {
            // The client is gone: the stream ends before it began.
            finished()
            return onClose()
        }
        streaming = true
        self.onClose = onClose
        // A stream lives for minutes and there may be 100,000: drop the request's header fields,
        // path and query (read when the request was handled, never after).
        fields = []
        path = ""
        query = nil
        requestBody = []
    }

    /// Writes shared frames on an open stream, in order: the same bytes go to every stream
    /// (each frame is framed once per node; only HTTP/2's 9-byte frame header is per stream).
    /// Returns the bytes left unsent (Int.max when the stream is hopelessly behind).
    @discardableResult
    public func write(_ frames: [SharedFrame]) -> Int {
        guard streaming, !answered, !frames.isEmpty, let carrier else { return 0 }
        return carrier.writeStream(frames)
    }

    /// Bytes accepted for this stream but not yet written to the socket.
    public var unsentBytes: Int {
        guard streaming, !answered, let carrier else { return 0 }
        return carrier.unsentStreamBytes
    }

    /// Tells the carrier that this stream has been idle (no record for a while; the relay calls
    /// it before each keepalive): an HTTP/1.1 connection that stopped parking after a backlog
    /// may park again.
    public func streamIdle() {
        guard streaming, !answered else { return }
        carrier?.streamIdle()
    }

    /// Ends a streamed response cleanly.
    public func endStream() {
        guard streaming, !answered else { return }
        let carrier = self.carrier
        onClose = nil
        finished()
        carrier?.endStream()
    }

    /// Drops the stream without a clean end (slow subscriber, shutdown).
    public func abort() {
        guard streaming, !answered else { return }
        let carrier = self.carrier
        onClose = nil
        finished()
        carrier?.abortStream()
    }

    /// Answered: the carrier is no longer this exchange's to use.
    private func finished() {
        guard !answered else { return }
        answered = true
        carrier = nil
        server.exchangeFinished()
    }

    /// The carrier closed under the exchange: a stream ends (onClose runs); a request still
    /// being handled stays unanswered until its handler responds, which then writes nothing;
    /// a request whose body never arrived had no handler and is finished here.
    func carrierClosed(handlerWillAnswer: Bool) {
        carrier = nil
        deliverBodyEnd(.clientGone)
        if !handlerWillAnswer { return finished() }
        guard streaming, !answered else { return }
        let callback = onClose
        onClose = nil
        finished()
        callback?()
    }
}
