// LatencyReport: append-to-delivery latencies in an HdrHistogram (microseconds, 3 significant
// digits, up to 10 minutes), mergeable across processes, with the summary the tool prints.
import Foundation
import Histogram

public struct LatencyReport: Codable, Sendable {
    public var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000,
                                             numberOfSignificantValueDigits: .three)
    public var events: UInt64 = 0
    public var missing: UInt64 = 0
    public var duplicates: UInt64 = 0
    public var errors: UInt64 = 0
    public var connections: UInt64 = 0
    /// "h1" or "h2" (subscribers as HTTP/2 streams, `httpConnections` of them in all).
    public var protocolName = "h1"
    public var httpConnections: UInt64 = 0
    /// Subscribers that got at least one stamped record (a broadcast reached them).
    public var receivers: UInt64 = 0
    /// The earliest publish stamp seen and the latest arrival, wall-clock microseconds (0: none):
    /// their difference is how long a broadcast took to reach its last subscriber.
    public var firstStampMicroseconds: UInt64 = 0
    public var lastArrivalMicroseconds: UInt64 = 0

    public init() {}

    /// Notes one stamped event's publish time and arrival (wall clock, microseconds).
    public mutating func noteArrival(stamp: UInt64, at now: UInt64) {
        if firstStampMicroseconds == 0 || stamp < firstStampMicroseconds { firstStampMicroseconds = stamp }
        lastArrivalMicroseconds = max(lastArrivalMicroseconds, now)
    }

    /// From the earliest publish stamp to the latest arrival, in milliseconds (0: no events).
    public var spreadMilliseconds: Double {
        guard firstStampMicroseconds > 0, lastArrivalMicroseconds > firstStampMicroseconds else { return 0 }
        return Double(lastArrivalMicroseconds - firstStampMicroseconds) / 1000
    }

    public mutating func record(latencyMicroseconds: UInt64) {
        _ = histogram.record(min(max(latencyMicroseconds, 1), 600_000_000))
    }

    public mutating func merge(_ other: LatencyReport) {
        histogram.add(other.histogram)
        events += other.events
        missing += other.missing
        duplicates += other.duplicates
        errors += other.errors
        connections += other.connections
        httpConnections += other.httpConnections
        protocolName = other.protocolName
        receivers += other.receivers
        if other.firstStampMicroseconds > 0 {
            noteArrival(stamp: other.firstStampMicroseconds, at: other.lastArrivalMicroseconds)
        }
    }

    /// Milliseconds at a percentile (0 when nothing was recorded).
    public func milliseconds(atPercentile p: Double) -> Double {
        histogram.totalCount == 0 ? 0 : Double(histogram.valueAtPercentile(p)) / 1000
    }

    public var maxMilliseconds: Double { histogram.totalCount == 0 ? 0 : Double(histogram.max) / 1000 }

    /// The human summary and the machine-readable last line (`RESULT {...}`).
    public func summary(label: String, seconds: Double) -> String {
        let rate = seconds > 0 ? Double(events) / seconds : 0
        func ms(_ v: Double) -> String { String(format: "%.2f", v) }
        let holders = protocolName == "h2" ? "\(connections) streams over \(httpConnections) HTTP/2 connections (protocol=h2)"
                                           : "\(connections) connections"
        var out = "\(label): \(holders), \(events) events in \(String(format: "%.1f", seconds)) s"
        out += " (\(String(format: "%.0f", rate))/s), errors \(errors), gaps \(missing), duplicates \(duplicates)\n"
        out += "latency ms: p50 \(ms(milliseconds(atPercentile: 50))) p90 \(ms(milliseconds(atPercentile: 90)))"
        out += " p99 \(ms(milliseconds(atPercentile: 99))) p99.9 \(ms(milliseconds(atPercentile: 99.9))) max \(ms(maxMilliseconds))\n"
        if receivers > 0 {
            out += "subscribers with a record: \(receivers); last arrival \(ms(spreadMilliseconds)) ms after the first publish stamp\n"
        }
        out += "RESULT {\"kind\":\"\(label)\",\"connections\":\(connections),\"events\":\(events),\"seconds\":\(String(format: "%.3f", seconds))"
        out += ",\"events_per_s\":\(String(format: "%.1f", rate)),\"errors\":\(errors),\"gaps\":\(missing),\"duplicates\":\(duplicates)"
        out += ",\"p50_ms\":\(ms(milliseconds(atPercentile: 50))),\"p90_ms\":\(ms(milliseconds(atPercentile: 90)))"
        out += ",\"p99_ms\":\(ms(milliseconds(atPercentile: 99))),\"p999_ms\":\(ms(milliseconds(atPercentile: 99.9)))"
        out += ",\"max_ms\":\(ms(maxMilliseconds)),\"protocol\":\"\(protocolName)\""
        if protocolName == "h2" { out += ",\"http_connections\":\(httpConnections)" }
        out += ",\"receivers\":\(receivers),\"spread_ms\":\(ms(spreadMilliseconds))"
        out += "}"
        return out
    }
}

/// Load is only ever sent to this machine: 127.0.0.0/8 or localhost.
public func isLoopback(host: String) -> Bool {
    if host == "localhost" { return true }
    let parts = host.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 4, parts[0] == "127" else { return false }
    return parts.allSatisfy { UInt8($0) != nil }
}
