// HTTPService: the node's HTTP server as a Service. It is bound while the node is built (the
// node's name carries the bound port); nothing is accepted before the loop runs. Drain: stop
// accepting, close each connection after its next response, and wait until no request is in
// flight (streams end through the API's and the status board's drains), at least `grace` and
// at most `timeout` seconds.
import Foundation
import Logging
import RelayIO

final class HTTPService: Service {
    let name = "http"
    private let http: HTTPServer
    private let loop: EventLoop
    private let url: String
    private let grace: Double
    private let timeout: Double
    private let logger: Logger
    /// Logged with "relay listening" once every service has started.
    private let metadata: Logger.Metadata
    private var drainTimer: LoopTimer?

    /// `grace`: the least time a draining node keeps answering (503 on /readyz); `timeout`:
    /// the most it waits for in-flight requests (never less than `grace`).
    init(http: HTTPServer, loop: EventLoop, url: String, grace: Double, timeout: Double, logger: Logger,
         metadata: Logger.Metadata = [:]) {
        self.http = http
        self.loop = loop
        self.url = url
        self.grace = grace
        self.timeout = max(timeout, grace)
        self.logger = logger
        self.metadata = metadata
    }

    /// The last service to start: the node is ready once the loop runs.
    func start() {
        logger.info("relay listening", metadata: metadata)
        print("relay: listening on \(url)")
        fflush(stdout)
    }

    func drain(_ completion: @escaping () -> Void) {
        logger.info("stopped accepting", metadata: ["openRequests": "\(http.outstanding)"])
        http.stopListening()
        http.closeAfterEveryResponse = true
        let started = Clock.monotonicSeconds()
        drainTimer = loop.every(0.02) { [self] in
            let elapsed = Clock.monotonicSeconds() - started
            guard (http.outstanding == 0 && elapsed >= grace) || elapsed >= timeout else { return }
            logger.info("drained", metadata: ["unfinished": "\(http.outstanding)"])
            drainTimer?.cancel()
            drainTimer = nil
            completion()
        }
    }

    func stop() {
        drainTimer?.cancel()
        drainTimer = nil
        http.stopListening()
    }
}
