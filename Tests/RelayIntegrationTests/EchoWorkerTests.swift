// EchoWorkerTests.swift: the example worker end to end (SPEC section 4): a run request from
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
}
