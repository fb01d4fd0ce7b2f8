// HTTP2ClientStream: one request/response exchange on an HTTP2Client connection (a stream).
// The handle the caller keeps: it receives the response's head, its body as it arrives and
// its end, and can be cancelled (RST_STREAM CANCEL). Every callback runs at most once per
// phase on the loop, and all of them are dropped when the stream is over (ended or cancelled)
// so that closures capturing the caller's objects do not keep them alive.
// See Interop.md ("HTTP2Client") for the ownership rules.

public final class HTTP2ClientStream {
    /// The connection; weak: its owner keeps it (a dropped client closes its streams quietly).
    private weak var client: HTTP2Client?
    let method: String
    let path: String
    let headers: [(String, String)]
    /// The request body; with `streamsBody`, what `send` has added and nghttp2 not yet taken.
    var body: [UInt8]?
    /// How much of `body` nghttp2 has taken.
    var bodyOffset = 0
    /// The body is sent piece by piece (`send`, then `finish`), while the response arrives.
    let streamsBody: Bool
    /// `finish()` was called: the body ends once `body` is sent.
    private(set) var bodyFinished = false
    /// nghttp2 was told to wait for more of the body (NGHTTP2_ERR_DEFERRED).
    var bodyDeferred = false
    /// The stream id once submitted to nghttp2 (0 while the connection is being set up).
    var id: Int32 = 0
    /// The response head being received (HEADERS, possibly after 1xx heads).
    var status = 0
    var responseHeaders: [(String, String)] = []
    private(set) var responded = false
    private(set) var isOver = false

    private var onResponse: ((Int, [(String, String)]) -> Void)?
    private var onData: (([UInt8]) -> Void)?
    private var onEnd: ((String?) -> Void)?

    init(client: HTTP2Client, method: String, path: String, headers: [(String, String)], body: [UInt8]?,
         streamsBody: Bool = false, onResponse: @escaping (Int, [(String, String)]) -> Void, onData: @escaping ([UInt8]) -> Void,
         onEnd: @escaping (String?) -> Void) {
        self.client = client
        self.method = method
        self.path = path
        self.headers = headers
        self.body = streamsBody ? [] : body
        self.streamsBody = streamsBody
        self.onResponse = onResponse
        self.onData = onData
        self.onEnd = onEnd
    }

    /// Resets the stream (RST_STREAM CANCEL) or withdraws it if not sent yet. `onEnd` is not
    /// called. No-op once the stream is over.
    public func cancel() {
        guard !isOver else { return }
        isOver = true
        release()
        client?.cancel(self)
    }

    /// Adds bytes to a streamed request body (see `HTTP2Client.request(streamingBody:)`).
    public func send(_ bytes: [UInt8]) {
        guard streamsBody, !bodyFinished, !isOver else { return }
        body?.append(contentsOf: bytes)
        client?.bodyReady(self)
    }

    /// Ends a streamed request body.
    public func finish() {
        guard streamsBody, !bodyFinished, !isOver else { return }
        bodyFinished = true
        client?.bodyReady(self)
    }

    // MARK: Called by HTTP2Client

    /// A final (non-1xx) response head arrived.
    func deliverResponse() {
        guard !responded, !isOver else { return }
        responded = true
        onResponse?(status, responseHeaders)
        responseHeaders = []
    }

    func deliverData(_ bytes: [UInt8]) {
        onData?(bytes)
    }

    /// The stream is over: nil when it ended normally, else why. At most once.
    func end(_ error: String?) {
        guard !isOver else { return }
        isOver = true
        let onEnd = self.onEnd
        release()
        onEnd?(error)
    }

    /// The connection was closed by its owner: nothing more is reported.
    func drop() {
        isOver = true
        release()
    }

    private func release() {
        onResponse = nil
        onData = nil
        onEnd = nil
    }
}
