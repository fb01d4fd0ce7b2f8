// BenchSmokeTests.swift: a short relay-bench run in CI (a few hundred subscribers over two
// processes and two source addresses, a few seconds of publishing), over HTTP/1.1 and over
// HTTP/2 (the subscribers as streams, 50 to a connection, publishing over HTTP/2 too). It
// fails on any gap, duplicate or error, and checks every subscriber got every record. And a
// short run of scenario 11's driver (append_script.py) against a Redis of its own, so the
// benchmark keeps speaking append_records.lua's arguments.

import XCTest
import Foundation

final class BenchSmokeTests: RelayTestCase {
    private func bench(_ arguments: [String], log: URL) throws -> Process {
        let process = Process()
        process.executableURL = try RelayProcess.binaryURL().deletingLastPathComponent().appendingPathComponent("relay-bench")
        process.arguments = arguments + ["--url", "http://127.0.0.1:\(relay.port)", "--key", TestEnvironments.devKey]
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = process.standardOutput
        try process.run()
        return process
    }

    private func result(_ log: URL) throws -> [String: Any] {
        let text = try String(contentsOf: log, encoding: .utf8)
        let line = try XCTUnwrap(text.split(separator: "\n").last { $0.hasPrefix("RESULT ") }, "no RESULT line in:\n\(text)")
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.dropFirst(7).utf8)) as? [String: Any])
    }

    func testShortLoadRunHasNoGapsNoDuplicatesAndDeliversEverything() throws {
        try shortLoadRun(http2: false)
    }

    func testShortLoadRunOverHTTP2HasNoGapsNoDuplicatesAndDeliversEverything() throws {
        try shortLoadRun(http2: true)
    }

    func testAppendScriptBenchmarkRunsAgainstTheScriptAsTheRelaySendsIt() throws {
        let server = try RedisServer()
        try server.start()
        defer { server.stop() }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Benchmarks/scenarios/append_script.py").standardized
        for part in ["0", "1"] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = [script.path, String(server.port), "16", "20", part]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, text)
            XCTAssertTrue(text.contains("320 appends, Redis CPU"), text)
        }
    }

    private func shortLoadRun(http2: Bool) throws {
        let protocolArguments = http2 ? ["--http2", "--streams-per-connection", "50"] : []
        let directory = try makeTemporaryDirectory(prefix: "relay-it-bench")
        let prefix = unique("smoke")
        let subscribers = 300, channels = 3, rate = 150.0, seconds = 2.0
        let subscribeLog = directory.appendingPathComponent("subscribe.log")
        let subscribe = try bench(["subscribe", "--prefix", prefix, "--channels", "\(channels)", "--connections", "\(subscribers)",
                                   "--processes", "2", "--sources", "2", "--ramp", "3000", "--duration", "9"] + protocolArguments,
                                  log: subscribeLog)
        defer { if subscribe.isRunning { subscribe.terminate() } }
        try waitUntil(timeout: 15, "\(subscribers) subscribers on the relay") {
            let metrics = try http.request("GET", "/metrics").text
            return metrics.contains("relay_sse_subscribers{channel=\"out\"} \(subscribers).0")
        }
        let publishLog = directory.appendingPathComponent("publish.log")
        let publish = try bench(["publish", "--prefix", prefix, "--channels", "\(channels)", "--rate", "\(rate)",
                                 "--duration", "\(seconds)", "--no-setup"] + protocolArguments, log: publishLog)
        try waitUntil(timeout: 30, "relay-bench publish to finish") { !publish.isRunning }
        try waitUntil(timeout: 30, "relay-bench subscribe to finish") { !subscribe.isRunning }

        let published = try result(publishLog)
        let received = try result(subscribeLog)
        let appended = try XCTUnwrap(published["events"] as? Int)
        XCTAssertGreaterThan(appended, 200)
        XCTAssertEqual(published["errors"] as? Int, 0)
        XCTAssertEqual(received["connections"] as? Int, subscribers)
        XCTAssertEqual(received["protocol"] as? String, http2 ? "h2" : "h1")
        if http2 { XCTAssertEqual(received["http_connections"] as? Int, subscribers / 50, "50 streams to a connection") }
        XCTAssertEqual(received["errors"] as? Int, 0)
        XCTAssertEqual(received["gaps"] as? Int, 0, "no gaps")
        XCTAssertEqual(received["duplicates"] as? Int, 0, "no duplicates")
        // The publisher counts appends acknowledged within its run; one sent just before the end
        // may be acknowledged after it, and is delivered all the same. So count what the
        // channels hold: every subscriber must have got every record of its channel.
        var stored = 0
        for i in 0..<channels {
            let last = try api.http.request("HEAD", RelayAPI.channelPath("\(prefix)-\(i)", "out")).headers["X-Last-Event-Id"]
            stored += try XCTUnwrap(last.flatMap { Int($0) }, "the last id of channel \(i)")
        }
        XCTAssertGreaterThanOrEqual(stored, appended)
        XCTAssertEqual(received["events"] as? Int, stored * subscribers / channels, "every subscriber got every record")
        print("bench smoke: \(received)")
    }
}
