// ChannelSetup and Preloader: the work before a measurement, each a batch of requests over a
// RequestPool. Setup creates the benchmark's sessions on the relay (create is idempotent on
// externalId, so every process may run it); the preloader appends records for drain runs.
import BenchCore
import RelayIO

/// Sends `count` requests over `lanes` keep-alive connections, one in flight on each, and calls
/// `done` with the number of failures (a status other than 2xx) when all have answered.
final class RequestPool {
    private let loop: EventLoop
    private let clients: [HTTPClient]
    private let count: Int
    private let request: (Int) -> (path: String, body: [UInt8])
    private let headers: [(String, String)]
    private var done: ((Int) -> Void)?
    private var next = 0
    private var finished = 0
    private var failures = 0

    init(loop: EventLoop, node: Node, lanes: Int, count: Int, headers: [(String, String)],
         request: @escaping (Int) -> (path: String, body: [UInt8])) {
        self.loop = loop
        self.count = count
        self.headers = headers
        self.request = request
        clients = (0..<max(1, min(lanes, count))).map { _ in HTTPClient(loop: loop, host: node.host, port: node.port) }
    }

    /// The pool keeps itself alive until the last answer (its callbacks hold it).
    func run(_ done: @escaping (Int) -> Void) {
        guard count > 0 else { return done(0) }
        self.done = done
        clients.forEach(issue)
    }

    private func issue(_ client: HTTPClient) {
        guard next < count else { return }
        let (path, body) = request(next)
        next += 1
        client.request(.post, path, headers: headers, body: body) { [self] response in
            if !(200..<300).contains(response.status) { failures += 1 }
            finished += 1
            guard finished == count else { return issue(client) }
            let done = self.done
            self.done = nil
            done?(failures)
            // Not freed inside one of its own clients' callbacks: libevent still uses the
            // connection when the callback returns. Let go on the next loop turn.
            loop.after(0) { withExtendedLifetime(self) {} }
        }
    }
}

enum ChannelSetup {
    static func run(loop: EventLoop, target: BenchTarget, channels: Int, done: @escaping (Int) -> Void) {
        guard target.kind == .relay else { return done(0) }
        RequestPool(loop: loop, node: target.nodes[0], lanes: 32, count: channels,
                    headers: target.authorization + [("Content-Type", "application/json")]) { index in
            ("/api/v1/sessions",
             Array(#"{"type":"bench","taskIdentifier":"bench","externalId":"\#(target.channel(index))"}"#.utf8))
        }.run(done)
    }
}

/// Appends `records` stamped records to every channel (for drain runs), 16 at a time.
enum Preloader {
    static func run(loop: EventLoop, target: BenchTarget, channels: Int, records: Int, done: @escaping () -> Void) {
        let started = Clock.monotonicSeconds()
        let total = channels * records
        RequestPool(loop: loop, node: target.nodes[0], lanes: 16, count: total, headers: target.authorization) { index in
            (target.appendPath(target.channel(index % channels)),
             Array(#"{"n":\#(index / channels + 1),"t":\#(Clock.nowMicroseconds())}"#.utf8))
        }.run { failures in
            if total > 0 {
                print("preload: \(total) records in \(String(format: "%.1f", Clock.monotonicSeconds() - started)) s, \(failures) failed")
            }
            done()
        }
    }
}
