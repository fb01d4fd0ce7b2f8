// RFC3339.swift: the timestamp format of session rows.

import Foundation

enum RFC3339 {
    /// Parses RFC 3339 timestamps with or without fractional seconds.
    static func parse(_ text: String) -> Date? {
        let withFraction = ISO8601DateFormatter()
        withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = withFraction.date(from: text) { return date }
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        return plain.date(from: text)
    }

    /// `2024-01-02T03:04:05.678Z`.
    static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    /// True for exactly `YYYY-MM-DDTHH:MM:SS.mmmZ`, the form the relay writes.
    static func isMillisecondUTC(_ text: String) -> Bool {
        text.wholeMatch(of: millisecondUTCPattern) != nil && parse(text) != nil
    }

    private static let millisecondUTCPattern = try! Regex(#"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"#)

    /// Milliseconds since the epoch of a timestamp the relay wrote (0 if it does not parse).
    static func epochMilliseconds(_ text: String) -> Int64 {
        guard let date = parse(text) else { return 0 }
        return Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    static func date(epochMilliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(epochMilliseconds) / 1000)
    }
}
