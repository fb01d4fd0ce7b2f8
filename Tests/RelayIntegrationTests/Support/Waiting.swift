// Waiting.swift: bounded polling, the only way these tests wait for something.

import Foundation

/// Polls `condition` every `interval` until it returns true; throws a message naming `what`
/// after `timeout` seconds. Errors thrown by `condition` end the wait at once.
func waitUntil(timeout: TimeInterval, interval: TimeInterval = 0.05, _ what: String,
               _ condition: () throws -> Bool) throws {
    _ = try waitForValue(timeout: timeout, interval: interval, what) { try condition() ? () : nil }
}

/// Polls `produce` until it returns a value and returns it; throws after `timeout`.
func waitForValue<T>(timeout: TimeInterval, interval: TimeInterval = 0.05, _ what: String,
                     _ produce: () throws -> T?) throws -> T {
    let deadline = Deadline.after(timeout)
    while true {
        if let value = try produce() { return value }
        if deadline.hasPassed { throw HarnessError("timed out after \(timeout) s waiting for \(what)") }
        Thread.sleep(forTimeInterval: interval)
    }
}
