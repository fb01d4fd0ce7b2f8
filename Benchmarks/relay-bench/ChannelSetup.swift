// ChannelSetup: creates the benchmark's sessions on the relay (create is idempotent on
// externalId, so every process may run it), 32 requests in flight.
import BenchCore
import RelayIO

enum ChannelSetup {
    static func run(loop: EventLoop, target: BenchTarget, channels: Int, done: @escaping (Int) -> Void) {
        guard target.kind == .relay, channels > 0 else { return done(0) }
        let node = target.nodes[0]
        let clients = (0..<min(32, channels)).map { _ in HTTPClient(loop: loop, host: node.host, port: node.port) }
        var next = 0
        var finished = 0
        var failures = 0
        func issue(_ client: HTTPClient) {
            guard next < channels else { return }
            let index = next
            next += 1
            let body = #"{"type":"bench","taskIdentifier":"bench","externalId":"\#(target.channel(index))"}"#
            client.request(.post, "/api/v1/sessions", headers: target.authorization + [("Content-Type", "application/json")],
                           body: Array(body.utf8)) { response in
                if response.status != 200 && response.status != 201 { failures += 1 }
                finished += 1
                if finished == channels { done(failures) } else { issue(client) }
            }
        }
        clients.forEach(issue)
        withExtendedLifetime(clients) {}
        // The clients live as long as their closures need them.
        retained.append(contentsOf: clients)
    }

    nonisolated(unsafe) private static var retained: [HTTPClient] = []
}
