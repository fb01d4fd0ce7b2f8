// RelayMetrics: the node's metrics, reported through swift-metrics (the executable bootstraps
// Prometheus). Hot paths count with plain integers (ServerMetrics, FanoutMetrics); `refresh`
// moves the deltas into the swift-metrics objects when /metrics is scraped, so delivering a
// record to 10,000 subscribers costs 10,000 integer increments, not 10,000 atomics.
import Metrics
import RelayCore
import RelayIO
import RelayRedis
import RelayStorage

public final class RelayMetrics {
    private let appended = Counter(label: "relay_records_appended_total")
    private let delivered = Counter(label: "relay_records_delivered_total")
    private let slowDropped = Counter(label: "relay_slow_subscribers_dropped_total")
    private let idleTimeouts = Counter(label: "relay_idle_timeouts_total")
    private let tokenExpiries = Counter(label: "relay_sse_token_expiries_total")
    private let historyLosses = Counter(label: "relay_history_losses_total")
    private let appendCalls = Counter(label: "relay_redis_append_calls_total")
    private let appendsGrouped = Counter(label: "relay_redis_appends_grouped_total")
    private var reportedGroups = (calls: 0, appends: 0)
    private let subscribersIn = Gauge(label: "relay_sse_subscribers", dimensions: [("channel", "in")])
    private let subscribersOut = Gauge(label: "relay_sse_subscribers", dimensions: [("channel", "out")])
    private let channels = Gauge(label: "relay_channels_subscribed")
    private let openRequests = Gauge(label: "relay_http_open_requests")
    private let redisUp = Gauge(label: "relay_redis_connected")
    private let connections = Gauge(label: "relay_http_connections")
    private let bufferedBodyBytes = Gauge(label: "relay_http_buffered_body_bytes")
    private var httpEvents: [String: (counter: Counter, reported: Int)] = [:]
    private let sweepExamined = Counter(label: "relay_index_sweep_examined_total")
    private let sweepRemoved = Counter(label: "relay_index_sweep_removed_total")
    private let sweepPasses = Counter(label: "relay_index_sweep_passes_total")
    private var reportedSweep = (examined: 0, removed: 0, passes: 0)
    /// Its totals are reported with the rest at each scrape.
    private let sweeper: IndexSweeper?
    private var responses: [Int: Counter] = [:]
    private var reported = (appended: 0, delivered: 0, slow: 0, idle: 0, expired: 0, losses: 0)
    private var reportedResponses: [Int: Int] = [:]

    public init(sweeper: IndexSweeper? = nil) {
        self.sweeper = sweeper
    }

    func refresh(server: ServerMetrics, hub: FanoutHub, openRequests open: Int, http: HTTPCountersSnapshot,
                 redisConnected: Bool, appendGroups: (calls: Int, appends: Int)) {
        appendCalls.increment(by: Int64(appendGroups.calls - reportedGroups.calls))
        appendsGrouped.increment(by: Int64(appendGroups.appends - reportedGroups.appends))
        reportedGroups = appendGroups
        connections.record(http.openConnections)
        bufferedBodyBytes.record(http.bufferedBodyBytes)
        let c = http.counters
        let events: [(String, String, Int)] = [
            ("relay_http_refused_total", "accept_error", c.acceptErrors),
            ("relay_http_refused_total", "connection_cap", c.refusedOverCap),
            ("relay_http_refused_total", "body_budget", c.refusedBodyBudget),
            ("relay_http_refused_total", "malformed", c.malformedRequests),
            ("relay_http_timeouts_total", "head", c.headTimeouts),
            ("relay_http_timeouts_total", "body", c.bodyTimeouts),
            ("relay_http_timeouts_total", "keepalive", c.idleTimeouts),
            ("relay_http_timeouts_total", "write", c.writeTimeouts),
        ]
        for (label, kind, total) in events {
            let key = label + kind
            let dimension = label == "relay_http_refused_total" ? "reason" : "phase"
            let entry = httpEvents[key] ?? (Counter(label: label, dimensions: [(dimension, kind)]), 0)
            entry.counter.increment(by: Int64(total - entry.reported))
            httpEvents[key] = (entry.counter, total)
        }
        // HTTP/2 and TLS: one plain counter each.
        let plain: [(String, Int)] = [
            ("relay_http2_connections_total", c.http2Connections),
            ("relay_http2_streams_total", c.http2Streams),
            ("relay_http2_resets_received_total", c.http2ResetsReceived),
            ("relay_http2_floods_total", c.http2Floods),
            ("relay_http2_calm_goaways_total", c.http2CalmGoaways),
            ("relay_http2_protocol_errors_total", c.http2ProtocolErrors),
            ("relay_http2_stalled_streams_total", c.http2StalledStreams),
            ("relay_tls_handshake_failures_total", c.tlsHandshakeFailures),
        ]
        for (label, total) in plain {
            let entry = httpEvents[label] ?? (Counter(label: label), 0)
            entry.counter.increment(by: Int64(total - entry.reported))
            httpEvents[label] = (entry.counter, total)
        }
        appended.increment(by: Int64(server.recordsAppended - reported.appended))
        delivered.increment(by: Int64(hub.metrics.recordsDelivered - reported.delivered))
        slowDropped.increment(by: Int64(hub.metrics.slowSubscribersDropped - reported.slow))
        idleTimeouts.increment(by: Int64(hub.metrics.idleTimeouts - reported.idle))
        tokenExpiries.increment(by: Int64(hub.metrics.tokenExpiries - reported.expired))
        historyLosses.increment(by: Int64(hub.metrics.historyLosses - reported.losses))
        reported = (server.recordsAppended, hub.metrics.recordsDelivered, hub.metrics.slowSubscribersDropped,
                    hub.metrics.idleTimeouts, hub.metrics.tokenExpiries, hub.metrics.historyLosses)
        for (status, count) in server.responsesByStatus {
            let counter = responses[status] ?? Counter(label: "relay_http_responses_total", dimensions: [("status", String(status))])
            responses[status] = counter
            counter.increment(by: Int64(count - reportedResponses[status, default: 0]))
            reportedResponses[status] = count
        }
        if let sweeper {
            sweepExamined.increment(by: Int64(sweeper.examined - reportedSweep.examined))
            sweepRemoved.increment(by: Int64(sweeper.removed - reportedSweep.removed))
            sweepPasses.increment(by: Int64(sweeper.passes - reportedSweep.passes))
            reportedSweep = (sweeper.examined, sweeper.removed, sweeper.passes)
        }
        subscribersIn.record(hub.subscriberCount(io: .input))
        subscribersOut.record(hub.subscriberCount(io: .output))
        channels.record(hub.feedCount)
        openRequests.record(open)
        redisUp.record(redisConnected ? 1 : 0)
    }
}

/// The HTTP server's figures at one moment, for /metrics.
public struct HTTPCountersSnapshot: Sendable {
    public var openConnections = 0
    public var bufferedBodyBytes = 0
    public var counters = HTTPServerCounters()

    public init(openConnections: Int = 0, bufferedBodyBytes: Int = 0, counters: HTTPServerCounters = HTTPServerCounters()) {
        self.openConnections = openConnections
        self.bufferedBodyBytes = bufferedBodyBytes
        self.counters = counters
    }
}
