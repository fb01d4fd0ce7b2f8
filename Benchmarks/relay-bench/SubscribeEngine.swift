// SubscribeEngine: one process's share of the SSE subscribers. Subscribers are opened at the
// ramp rate, spread over channels, nodes and loopback source addresses; every event's stamp
// gives its append-to-delivery latency and its place in the channel's sequence.
// Over HTTP/1.1 each subscriber is a connection of its own; over HTTP/2 (h2c) subscribers are
// streams, `streamsPerConnection` to a connection, the connections spread over nodes and
// sources in turn.
import BenchCore
import RelayIO

final class SubscribeEngine {
    struct Settings {
        var indices: [Int]              // global subscriber numbers this process opens
        var channels: Int
        var rampPerSecond: Double
        var sources: [String]
        var timeoutSeconds: Int
        /// nil: HTTP/1.1, a connection per subscriber; else HTTP/2 with this many streams each.
        var streamsPerConnection: Int?
    }

    private final class Subscription {
        var client: HTTPClient?
        var stream: HTTPClientStream?
        var http2Stream: HTTP2ClientStream?
        var scanner = StampScanner()
        var tracker = SequenceTracker()
        var connected = false
        var answered = false
    }

    private let loop: EventLoop
    private let target: BenchTarget
    private let settings: Settings
    private var subscriptions: [Subscription] = []
    private var http2Clients: [HTTP2Client] = []
    private(set) var report = LatencyReport()
    private(set) var open = 0
    private(set) var ended = 0
    /// HTTP/2 connections up now.
    private(set) var http2Open = 0
    private var opened = 0
    private var rampTimer: LoopTimer?
    private var rampStart = 0.0

    init(loop: EventLoop, target: BenchTarget, settings: Settings) {
        self.loop = loop
        self.target = target
        self.settings = settings
        if settings.streamsPerConnection != nil { report.protocolName = "h2" }
    }

    func start() {
        rampStart = Clock.monotonicSeconds()
        rampTimer = loop.every(0.01) { [weak self] in self?.ramp() }
        ramp()
    }

    private func ramp() {
        let due = min(settings.indices.count, Int((Clock.monotonicSeconds() - rampStart) * settings.rampPerSecond) + 1)
        while opened < due {
            let subscription = Subscription()
            subscriptions.append(subscription)
            if let perConnection = settings.streamsPerConnection {
                openStream(subscription, index: settings.indices[opened], client: http2Client(opened / perConnection))
            } else {
                openConnection(subscription, index: settings.indices[opened])
            }
            opened += 1
        }
        if opened == settings.indices.count { rampTimer?.cancel() }
    }

    private var subscribeHeaders: [(String, String)] {
        target.subscribeHeaders + [("Timeout-Seconds", String(min(settings.timeoutSeconds, 600))),
                                   ("Accept", "text/event-stream")]
    }

    private func openConnection(_ subscription: Subscription, index: Int) {
        let node = target.nodes[index % target.nodes.count]
        let source = settings.sources.isEmpty ? nil : settings.sources[index % settings.sources.count]
        let client = HTTPClient(loop: loop, host: node.host, port: node.port, localAddress: source,
                                timeoutSeconds: Int32(settings.timeoutSeconds + 60))
        subscription.client = client
        subscription.stream = client.stream(
            target.subscribePath(target.channel(index % settings.channels)), headers: subscribeHeaders,
            onHeaders: { [weak self, unowned subscription] status in self?.responded(subscription, status: status) },
            onChunk: { [weak self, unowned subscription] bytes in self?.received(subscription, bytes) },
            onEnd: { [weak self, unowned subscription] _ in
                // No response at all (refused, reset, timed out) is an error; an answered stream that ends is not.
                self?.streamEnded(subscription, error: subscription.answered ? nil : "no response")
            })
    }

    /// This process's HTTP/2 connection number `number` (a local count), opened on first use.
    private func http2Client(_ number: Int) -> HTTP2Client {
        if number < http2Clients.count { return http2Clients[number] }
        let node = target.nodes[number % target.nodes.count]
        let source = settings.sources.isEmpty ? nil : settings.sources[number % settings.sources.count]
        let client = HTTP2Client(loop: loop, host: node.host, port: node.port, sourceAddress: source)
        client.onConnect = { [weak self, unowned client] error in
            guard let self else { return }
            guard error == nil else { return self.warnOnce("HTTP/2 connection to \(node.host):\(node.port) failed: \(error!)") }
            self.http2Open += 1
            self.report.httpConnections += 1
            if let limit = client.serverMaxConcurrentStreams, let wanted = self.settings.streamsPerConnection, limit < wanted {
                self.warnOnce("the server allows \(limit) streams per connection: \(wanted - limit) of every \(wanted) subscribers wait")
            }
        }
        client.onClose = { [weak self] _ in self?.http2Open -= 1 }
        client.connect()
        http2Clients.append(client)
        return client
    }

    private func openStream(_ subscription: Subscription, index: Int, client: HTTP2Client) {
        subscription.http2Stream = client.request(
            .get, target.subscribePath(target.channel(index % settings.channels)), headers: subscribeHeaders,
            onResponse: { [weak self, unowned subscription] status, _ in self?.responded(subscription, status: status) },
            onData: { [weak self, unowned subscription] bytes in self?.received(subscription, bytes) },
            onEnd: { [weak self, unowned subscription] error in self?.streamEnded(subscription, error: error) })
    }

    private var warned = false

    private func warnOnce(_ message: String) {
        guard !warned else { return }
        warned = true
        print("warning: \(message)")
    }

    // MARK: Accounting (the same for both protocols)

    private func responded(_ subscription: Subscription, status: Int) {
        subscription.answered = true
        if status == 200 {
            subscription.connected = true
            open += 1
            report.connections += 1
        } else {
            report.errors += 1
        }
    }

    private func received(_ subscription: Subscription, _ bytes: [UInt8]) {
        let now = Clock.nowMicroseconds()
        subscription.scanner.feed(bytes) { stamp in
            if subscription.tracker.received == 0 { report.receivers += 1 }
            report.noteArrival(stamp: stamp.t, at: now)
            report.events += 1
            report.record(latencyMicroseconds: now > stamp.t ? now - stamp.t : 0)
            subscription.tracker.observe(stamp.n)
        }
    }

    /// A stream that failed before any response counts as an error (evhttp reports a failed
    /// connect as an end without a status; the HTTP/1.1 path passes "no response" for it).
    private func streamEnded(_ subscription: Subscription, error: String?) {
        if subscription.connected {
            open -= 1
            subscription.connected = false
        } else if error != nil {
            report.errors += 1
        }
        ended += 1
        // Free an ended HTTP/1.1 connection (evhttp's connection, its buffers and socket) once
        // out of its own callback: a run with many failures held every failed one (~10 KiB each).
        if subscription.client != nil {
            loop.after(0) { [weak subscription] in
                subscription?.stream = nil
                subscription?.client = nil
            }
        }
    }

    /// Closes every stream; the report's gap and duplicate counts are final after this.
    func stop() {
        rampTimer?.cancel()
        for subscription in subscriptions {
            subscription.stream?.cancel()
            subscription.http2Stream?.cancel()
            report.missing += subscription.tracker.missing
            report.duplicates += subscription.tracker.duplicates
        }
        subscriptions.removeAll()
        for client in http2Clients { client.close() }
        http2Clients.removeAll()
    }
}
