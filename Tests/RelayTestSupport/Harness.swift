// Harness.swift: what every launcher and test helper is built on: the harness's error, a
// monotonic deadline, bounded polling (the only way the tests wait for another process) and
// temporary directories.

import Foundation

/// A failure of the harness itself (timeout, refused connection, bad reply, a server that would
/// not start), with a message meant to be read in a test log.
public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A point in monotonic time after which a blocking operation gives up.
public struct Deadline {
    public let uptimeNanoseconds: UInt64

    public init(uptimeNanoseconds: UInt64) { self.uptimeNanoseconds = uptimeNanoseconds }

    public static func after(_ seconds: TimeInterval) -> Deadline {
        let delta = UInt64(max(0, seconds) * 1_000_000_000)
        return Deadline(uptimeNanoseconds: DispatchTime.now().uptimeNanoseconds + delta)
    }

    public var hasPassed: Bool { DispatchTime.now().uptimeNanoseconds >= uptimeNanoseconds }

    /// Remaining time in whole milliseconds for poll(2), at least 0.
    public var pollMilliseconds: Int32 {
        let now = DispatchTime.now().uptimeNanoseconds
        guard now < uptimeNanoseconds else { return 0 }
        return Int32(min(UInt64(Int32.max), (uptimeNanoseconds - now + 999_999) / 1_000_000))
    }

    /// Remaining seconds, at least `floor` (a last short try rather than none).
    public func remainingSeconds(atLeast floor: TimeInterval = 0.1) -> TimeInterval {
        max(floor, Double(pollMilliseconds) / 1000)
    }
}

/// Polls `condition` every `interval` until it returns true; throws a message naming `what`
/// after `timeout` seconds. Errors thrown by `condition` end the wait at once.
public func waitUntil(timeout: TimeInterval, interval: TimeInterval = 0.05, _ what: String,
                      _ condition: () throws -> Bool) throws {
    _ = try waitForValue(timeout: timeout, interval: interval, what) { try condition() ? () : nil }
}

/// Polls `produce` until it returns a value and returns it; throws after `timeout`.
public func waitForValue<T>(timeout: TimeInterval, interval: TimeInterval = 0.05, _ what: String,
                            _ produce: () throws -> T?) throws -> T {
    let deadline = Deadline.after(timeout)
    while true {
        if let value = try produce() { return value }
        if deadline.hasPassed { throw HarnessError("timed out after \(timeout) s waiting for \(what)") }
        Thread.sleep(forTimeInterval: interval)
    }
}

/// A fresh temporary directory for one harness object.
public func makeTemporaryDirectory(prefix: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.lowercased())")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The repository root (this file is Tests/RelayTestSupport/Harness.swift).
public var repositoryRoot: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}
