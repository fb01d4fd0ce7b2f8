// EchoWorkerTests.swift: the example worker end to end (docs/API.md, Runs): a run request from
// the dispatch stream, .in records echoed on .out with a turn-complete each, the run completed
// after idleTimeoutInSeconds of silence, and the next .in append starting a continuation run.

import XCTest
import Foundation

final class EchoWorkerTests: RelayTestCase {
    private var worker: ChildProcess?

    override func tearDown() {
        _ = worker?.stop(timeout: 5)
        worker = nil
        super.tearDown()
    }

    private func startWorker() throws {
        let binary = try RelayProcess.binaryURL().deletingLastPathComponent().appendingPathComponent("relay-echo-worker")
        let directory = try makeTemporaryDirectory(prefix: "relay-it-worker")
        let process = ChildProcess(
            name: "relay-echo-worker", executable: binary,
            arguments: ["--relay", "http://127.0.0.1:\(relay.port)", "--redis", redis.url,
                        "--environment", TestEnvironments.devId, "--secret-key", TestEnvironments.devKey],
            environment: nil, logURL: directory.appendingPathComponent("worker.log"))
        try process.launch()
        worker = process
    }

    func testEchoWorkerAnswersEachMessageAndCompletesTheRunWhenIdle() throws {
        try startWorker()
        let session = try api.newSession(externalId: unique("echo"),
                                         extra: ["triggerConfig": .object(["idleTimeoutInSeconds": 2])])
        let firstRun = try XCTUnwrap(try api.retrieveSession(session).json()["currentRunId"]?.stringValue)
        let out = try api.subscribe(session, "out", headers: [("Timeout-Seconds", "20")])
        XCTAssertEqual(try api.append(session, "in", #"{"type":"user-message","text":"hello"}"#).status, 200)
        XCTAssertEqual(try api.append(session, "in", "plain words").status, 200)

        for expected in ["echo: hello", "echo: plain words"] {
            let echo = try XCTUnwrap(try out.nextDataEvent(timeout: 15), "no echo for \(expected)")
            XCTAssertEqual(try echo.json()["data"]?["type"]?.stringValue, "text")
            XCTAssertEqual(try echo.json()["data"]?["text"]?.stringValue, expected)
            let control = try XCTUnwrap(try out.nextDataEvent(timeout: 15))
            XCTAssertEqual(control.event, "control")
            XCTAssertEqual(try control.json()["headers"]?[0]?[1]?.stringValue, "turn-complete")
        }

        try waitUntil(timeout: 15, "the worker to complete the idle run") {
            try api.retrieveSession(session).json()["currentRunId"]?.isNull == true
        }
        // The next message starts a continuation run, which the worker also answers.
        XCTAssertEqual(try api.append(session, "in", "again").status, 200)
        let secondRun = try XCTUnwrap(try api.retrieveSession(session).json()["currentRunId"]?.stringValue)
        XCTAssertNotEqual(secondRun, firstRun)
        let echo = try XCTUnwrap(try out.nextDataEvent(timeout: 15))
        XCTAssertEqual(try echo.json()["data"]?["text"]?.stringValue, "echo: again")
        let entries = try redis.client().xrange("relay:{env:env_dev}:runs")
        let continuation = try XCTUnwrap(entries.first { $0.fields["runId"] == secondRun })
        XCTAssertEqual(continuation.fields["continuation"], "true")
        XCTAssertEqual(continuation.fields["previousRunId"], firstRun)
    }

    /// Each finished run used to leak its follower, its HTTP client and that client's
    /// connection (the request callbacks held the follower). Now they are freed when the run
    /// completes: the worker's open descriptors return to where they were.
    func testFinishedRunsReleaseTheirConnections() throws {
        try startWorker()
        let pid = try XCTUnwrap(worker?.pid)
        func openFiles() throws -> Int { try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count }
        try waitUntil(timeout: 10, "the worker to connect") { try openFiles() >= 5 }
        // One run first: the worker opens some connections only when it first needs them
        // (its API client, its command connections), so a baseline taken right after start
        // could miss them and count them as leaked.
        let warmUp = try api.newSession(externalId: unique("warm-up"), extra: ["triggerConfig": .object(["idleTimeoutInSeconds": 1])])
        try waitUntil(timeout: 30, "the worker to complete a first run") {
            try api.retrieveSession(warmUp).json()["currentRunId"]?.isNull == true
        }
        let baseline = try openFiles()
        let sessions = try (0..<40).map { _ in
            try api.newSession(externalId: unique("leak"), extra: ["triggerConfig": .object(["idleTimeoutInSeconds": 1])])
        }
        try waitUntil(timeout: 30, "the worker to complete all 40 runs") {
            try sessions.allSatisfy { try api.retrieveSession($0).json()["currentRunId"]?.isNull == true }
        }
        // The relay keeps idle keep-alive connections 15 s: freed clients close theirs now.
        try waitUntil(timeout: 20, "the worker's descriptors to return to \(baseline) (now \((try? openFiles()) ?? -1))") {
            try openFiles() <= baseline + 2
        }
    }

    /// An error reply to the worker's blocking read (here: its consumer group was deleted) used
    /// to stop it for good. It now logs, recreates the group and goes on serving runs.
    func testTheWorkerRecoversWhenItsConsumerGroupIsDeleted() throws {
        try startWorker()
        let first = try api.newSession(externalId: unique("before"), extra: ["triggerConfig": .object(["idleTimeoutInSeconds": 1])])
        try waitUntil(timeout: 15, "the worker to serve a run") {
            try api.retrieveSession(first).json()["currentRunId"]?.isNull == true
        }
        XCTAssertEqual(try redis.client().checked("XGROUP", "DESTROY", "relay:{env:env_dev}:runs", "relay-workers").integer, 1)
        let session = try api.newSession(externalId: unique("after"), extra: ["triggerConfig": .object(["idleTimeoutInSeconds": 1])])
        XCTAssertEqual(try api.append(session, "in", "still there?").status, 200)
        try waitUntil(timeout: 20, "the worker to echo after its group was recreated") {
            let records = try api.drain(session, "out").json()["records"]?.arrayValue ?? []
            return records.contains { $0["data"]?["text"]?.stringValue == "echo: still there?" }
        }
    }
}
