// ListQuery.swift — the query of GET /api/v1/sessions: page size, cursor and filters
// (docs/API.md, Sessions). Errors are 400s naming the parameter; unknown parameters are ignored.

public struct ListQuery: Sendable, Equatable {
    public enum Cursor: Sendable, Equatable {
        case none
        case after(String)
        case before(String)
    }

    public var pageSize: Int = 20
    public var cursor: Cursor = .none
    public var types: [String] = []
    public var tags: [String] = []
    public var taskIdentifiers: [String] = []
    public var externalIds: [String] = []
    /// Empty = any status.
    public var statuses: [SessionStatus] = []
    /// ms since epoch, inclusive.
    public var createdFrom: Int64?
    /// ms since epoch, inclusive.
    public var createdTo: Int64?

    public init() {}

    /// `items` are decoded query pairs (see QueryString.parse).
    public static func parse(_ items: [(String, String)], nowMs: Int64) throws -> ListQuery {
        var q = ListQuery()
        var after: String?
        var before: String?
        func bad(_ name: String, _ rule: String) -> APIError {
            .badRequest("Invalid query parameter \(name): \(rule)")
        }
        for (name, value) in items {
            switch name {
            case "page[size]":
                guard let n = decimal(value), (1...100).contains(n) else {
                    throw bad(name, "must be an integer from 1 to 100")
                }
                q.pageSize = Int(n)
            case "page[after]":
                guard !value.isEmpty else { throw bad(name, "must be a session id") }
                after = value
            case "page[before]":
                guard !value.isEmpty else { throw bad(name, "must be a session id") }
                before = value
            case "filter[type]": q.types += list(value)
            case "filter[tags]": q.tags += list(value)
            case "filter[taskIdentifier]": q.taskIdentifiers += list(value)
            case "filter[externalId]": q.externalIds += list(value)
            case "filter[status]":
                for entry in list(value) {
                    guard let status = SessionStatus(rawValue: entry.uppercased()) else {
                        throw bad(name, "unknown status \(entry) (use ACTIVE, CLOSED or EXPIRED)")
                    }
                    if !q.statuses.contains(status) { q.statuses.append(status) }
                }
            case "filter[createdAt][period]":
                guard let period = periodMilliseconds(value) else {
                    throw bad(name, "must be a number followed by s, m, h, d or w (e.g. 7d)")
                }
                q.createdFrom = max(q.createdFrom ?? .min, nowMs - period)
            case "filter[createdAt][from]":
                guard let ms = timestamp(value) else { throw bad(name, "must be an RFC 3339 date-time or epoch milliseconds") }
                q.createdFrom = max(q.createdFrom ?? .min, ms)
            case "filter[createdAt][to]":
                guard let ms = timestamp(value) else { throw bad(name, "must be an RFC 3339 date-time or epoch milliseconds") }
                q.createdTo = min(q.createdTo ?? .max, ms)
            default:
                continue
            }
        }
        switch (after, before) {
        case (.some, .some):
            throw APIError.badRequest("Invalid query parameters: page[after] and page[before] cannot be used together")
        case (.some(let id), nil): q.cursor = .after(id)
        case (nil, .some(let id)): q.cursor = .before(id)
        case (nil, nil): break
        }
        return q
    }

    /// Comma separated entries, empty ones dropped.
    static func list(_ value: String) -> [String] {
        value.split(separator: ",").map(String.init).filter { !$0.isEmpty }
    }

    /// A string of ASCII digits only (at most 18) as a number.
    static func decimal(_ s: String) -> Int64? {
        guard !s.isEmpty, s.utf8.count <= 18, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int64(s)
    }

    /// "30s", "15m", "2h", "7d", "1w" in milliseconds.
    static func periodMilliseconds(_ s: String) -> Int64? {
        guard let unit = s.last else { return nil }
        let unitMs: Int64
        switch unit {
        case "s": unitMs = 1000
        case "m": unitMs = 60_000
        case "h": unitMs = 3_600_000
        case "d": unitMs = 86_400_000
        case "w": unitMs = 604_800_000
        default: return nil
        }
        guard let n = decimal(String(s.dropLast())), n > 0 else { return nil }
        let (ms, overflow) = n.multipliedReportingOverflow(by: unitMs)
        return overflow ? nil : ms
    }

    /// RFC 3339 or epoch milliseconds.
    static func timestamp(_ s: String) -> Int64? {
        decimal(s) ?? RFC3339.parse(s)
    }
}
