// TestHelpers.swift — small assertion helpers shared by the RelayCore tests.

import XCTest
@testable import RelayCore

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

/// Asserts that `body` throws an APIError with `status` whose message contains `fragment`.
func assertAPIError<T>(_ status: Int, _ fragment: String, file: StaticString = #filePath, line: UInt = #line,
                       _ body: () throws -> T) {
    do {
        let value = try body()
        XCTFail("expected APIError \(status) containing '\(fragment)', got \(value)", file: file, line: line)
    } catch let error as APIError {
        XCTAssertEqual(error.status, status, error.message, file: file, line: line)
        XCTAssertTrue(error.message.contains(fragment), "'\(error.message)' lacks '\(fragment)'", file: file, line: line)
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
}
