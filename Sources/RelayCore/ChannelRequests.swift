// ChannelRequests.swift — request parameters of the channel endpoints (docs/API.md, Channels):
// which channel, SSE timeout and resume point, drain paging, and the control-record body.

public enum ChannelIO: String, Sendable {
    case input = "in"
    case output = "out"
}

public enum ChannelParams {
    public static let defaultTimeoutSeconds = 60
    public static let timeoutRange = 1...600
    public static let defaultDrainLimit = 1000
    public static let drainLimitRange = 1...1000

    /// Timeout-Seconds header, else ?timeoutSeconds=; digits only, 1...600; absent -> 60.
    public static func timeoutSeconds(header: String?, query: String?) throws -> Int {
        guard let text = header ?? query else { return defaultTimeoutSeconds }
        guard let n = digits(text), n <= UInt64(timeoutRange.upperBound), timeoutRange.contains(Int(n)) else {
            throw APIError.badRequest("Timeout-Seconds must be an integer from 1 to 600")
        }
        return Int(n)
    }

    /// Last-Event-ID header, else ?lastEventId=; a non-negative integer; absent -> nil.
    public static func lastEventId(header: String?, query: String?) throws -> UInt64? {
        guard let text = header ?? query else { return nil }
        guard let n = digits(text) else {
            throw APIError.badRequest("Last-Event-ID must be a non-negative integer")
        }
        return n
    }

    /// Where a stream starts: after a given id, from the beginning, or at the end of the channel.
    public enum ResumePoint: Equatable, Sendable {
        case beginning
        case after(UInt64)
        /// `latest`: only what is appended from now on (no history).
        case latest
    }

    /// Last-Event-ID header, else ?lastEventId=: a non-negative integer, or `latest`.
    public static func resumePoint(header: String?, query: String?) throws -> ResumePoint {
        if (header ?? query) == "latest" { return .latest }
        do {
            return try lastEventId(header: header, query: query).map(ResumePoint.after) ?? .beginning
        } catch {
            throw APIError.badRequest("Last-Event-ID must be a non-negative integer or latest")
        }
    }

    /// ?afterEventId=N (default 0) and ?limit=L (1...1000, default 1000) of the drain endpoint.
    public static func drain(afterEventId: String?, limit: String?) throws -> (after: UInt64, limit: Int) {
        var after: UInt64 = 0
        if let afterEventId {
            guard let n = digits(afterEventId) else {
                throw APIError.badRequest("afterEventId must be a non-negative integer")
            }
            after = n
        }
        var count = defaultDrainLimit
        if let limit {
            guard let n = digits(limit), n <= UInt64(drainLimitRange.upperBound), drainLimitRange.contains(Int(n)) else {
                throw APIError.badRequest("limit must be an integer from 1 to 1000")
            }
            count = Int(n)
        }
        return (after, count)
    }

    /// ASCII digits only (surrounding spaces and tabs ignored) as a UInt64; nil otherwise or on overflow.
    static func digits(_ text: String) -> UInt64? {
        let trimmed = text.utf8.drop { $0 == 0x20 || $0 == 0x09 }
        var value: UInt64 = 0
        var count = 0
        var trailing = false
        for c in trimmed {
            if c == 0x20 || c == 0x09 {
                trailing = true
                continue
            }
            guard !trailing, c >= 0x30 && c <= 0x39 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(c - 0x30))
            guard !o1 && !o2 else { return nil }
            value = s
            count += 1
        }
        return count > 0 ? value : nil
    }
}

/// Body of POST .../out/control: {"subtype": non-empty string, "headers": {name: value}}.
public struct ControlRequest: Sendable, Equatable {
    public var subtype: String
    /// In body order.
    public var headers: [(String, String)]

    public init(subtype: String, headers: [(String, String)] = []) {
        self.subtype = subtype
        self.headers = headers
    }

    public static func == (a: ControlRequest, b: ControlRequest) -> Bool {
        a.subtype == b.subtype && a.headers.elementsEqual(b.headers, by: { $0 == $1 })
    }

    public static func parse(_ body: [UInt8]) throws -> ControlRequest {
        typealias V = RequestValidation
        let json = try V.object(body, emptyIsObject: false)
        guard let subtypeValue = json["subtype"], !subtypeValue.isNull else { throw V.invalid("subtype is required") }
        guard let subtype = subtypeValue.stringValue, !subtype.isEmpty else {
            throw V.invalid("subtype must be a non-empty string")
        }
        var request = ControlRequest(subtype: subtype)
        if let headers = json["headers"], !headers.isNull {
            guard let members = headers.objectValue else { throw V.invalid("headers must be an object of strings") }
            for member in members {
                guard let value = member.value.stringValue else {
                    throw V.invalid("headers.\(member.key) must be a string")
                }
                request.headers.append((member.key, value))
            }
        }
        return request
    }
}
