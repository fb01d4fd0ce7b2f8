// Assertions.swift: assertions shared by the API tests.

import XCTest
import Foundation

private let sessionIdPattern = try! Regex("session_[0-9a-z]{25}")

func isFriendlySessionId(_ text: String?) -> Bool {
    guard let text else { return false }
    return text.wholeMatch(of: sessionIdPattern) != nil
}

/// Asserts `response` has `status` and an `{"error": "<non-empty string>"}` body whose message
/// mentions at least one of `mentioning` (when given).
func assertError(_ response: HTTPResponse, _ status: Int, mentioning: [String] = [], _ context: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    let prefix = context.isEmpty ? "" : "\(context): "
    XCTAssertEqual(response.status, status, "\(prefix)\(response)", file: file, line: line)
    guard let message = response.errorMessage else {
        XCTFail("\(prefix)error body is not {\"error\": \"...\"}: \(response)", file: file, line: line)
        return
    }
    XCTAssertFalse(message.isEmpty, "\(prefix)empty error message", file: file, line: line)
    if !mentioning.isEmpty {
        XCTAssertTrue(mentioning.contains { message.contains($0) },
                      "\(prefix)error \(message.debugDescription) should name \(mentioning.joined(separator: " or "))",
                      file: file, line: line)
    }
}

/// Asserts `response` has `status` and returns its JSON body (throws if it is not JSON).
@discardableResult
func assertStatus(_ response: HTTPResponse, _ status: Int, _ context: String = "",
                  file: StaticString = #filePath, line: UInt = #line) throws -> JSON {
    let prefix = context.isEmpty ? "" : "\(context): "
    XCTAssertEqual(response.status, status, "\(prefix)\(response)", file: file, line: line)
    guard response.status == status else {
        throw HarnessError("\(prefix)expected HTTP \(status), got \(response)")
    }
    return try response.json()
}

/// Asserts the shape every session row has (docs/API.md, Sessions), whatever its state.
func assertSessionRow(_ row: JSON, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertTrue(isFriendlySessionId(row["id"]?.stringValue), "id: \(row)", file: file, line: line)
    XCTAssertNotNil(row["type"]?.stringValue, "type: \(row)", file: file, line: line)
    XCTAssertNotNil(row["taskIdentifier"]?.stringValue, "taskIdentifier: \(row)", file: file, line: line)
    XCTAssertNotNil(row["tags"]?.arrayValue, "tags: \(row)", file: file, line: line)
    for field in ["createdAt", "updatedAt"] {
        XCTAssertTrue(RFC3339.isMillisecondUTC(row[field]?.stringValue ?? ""),
                      "\(field) must be RFC 3339 with milliseconds in UTC: \(row)", file: file, line: line)
    }
    for field in ["externalId", "closedAt", "closedReason", "expiresAt"] {
        let value = row[field]
        XCTAssertTrue(value?.stringValue != nil || value == .null,
                      "\(field) must be present, a string or null: \(row)", file: file, line: line)
    }
    for field in ["closedAt", "expiresAt"] {
        if let text = row[field]?.stringValue {
            XCTAssertNotNil(RFC3339.parse(text), "\(field) must be RFC 3339: \(row)", file: file, line: line)
        }
    }
    XCTAssertNotNil(row["metadata"], "metadata must be present (null when unset): \(row)", file: file, line: line)
    XCTAssertTrue(["ACTIVE", "CLOSED", "EXPIRED"].contains(row["status"]?.stringValue ?? ""),
                  "status: \(row)", file: file, line: line)
    if let run = row["currentRunId"], run != .null {
        XCTAssertTrue(run.stringValue?.hasPrefix("run_") == true, "currentRunId: \(row)", file: file, line: line)
    }
}
