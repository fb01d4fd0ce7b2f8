// SubscriberOutput: what an SSE subscriber writes to. HTTPExchange (real sockets) is the one
// the server uses; unit tests record the calls instead.
import RelayIO

protocol SubscriberOutput: AnyObject {
    /// The streamed response has started and has not ended.
    var isStreaming: Bool { get }
    /// A response (complete or streamed) is finished; nothing more can be written.
    var isAnswered: Bool { get }
    /// Bytes accepted but not yet written to the socket.
    var unsentBytes: Int { get }
    /// Sends a complete response (used when the stream never started).
    func respond(status: Int, headers: [(String, String)], body: [UInt8])
    /// Starts the streamed response; `onClose` runs if the client goes away before it ends
    /// (at once if it already has).
    func startStream(status: Int, headers: [(String, String)], onClose: @escaping () -> Void)
    /// Writes frames in order; returns the bytes left unsent.
    @discardableResult
    func write(_ frames: [SharedFrame]) -> Int
    /// Ends the stream cleanly.
    func endStream()
    /// Drops the connection.
    func abort()
    /// The stream has started: what was kept for the request alone can go (a stream may live
    /// for hours, and there may be 100,000 of them).
    func releaseRequestState()
    /// No record for a while (a keepalive is due): what an idle stream need not hold can go.
    func streamIdle()
}

extension SubscriberOutput {
    func releaseRequestState() {}
    func streamIdle() {}
}

extension HTTPExchange: SubscriberOutput {
    /// The route and caller worked out when the head arrived (RelayServer's admission).
    func releaseRequestState() { attachment = nil }
}
