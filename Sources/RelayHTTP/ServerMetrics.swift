// ServerMetrics: counters the HTTP layer keeps; exported by /metrics (plain values here, so the
// hot path stays a few integer increments).
public final class ServerMetrics {
    public var responsesByStatus: [Int: Int] = [:]
    public var recordsAppended = 0
    public init() {}
    func responded(status: Int) { responsesByStatus[status, default: 0] += 1 }
}
