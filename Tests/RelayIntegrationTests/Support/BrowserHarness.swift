// BrowserHarness.swift: a page of the browser client (/client.js) running in headless Chromium,
// and a small balanced cluster (relay nodes on one Redis behind haproxy) for it to run against.
//
// The page is a file written to a temporary directory (a file:// page, so the relay's CORS
// answers are exercised too); it imports <balancer>/client.js and runs the test's script. It
// reports what it sees by appending `{"kind": ..., "value": ...}` records to the `.in` channel of
// a report session (with the client's own append(), through the balancer); the test reads them
// back with a drain. Chromium runs without --dump-dom, until the test stops it.

import XCTest
import Foundation

/// haproxy (config/haproxy.cfg with its ports rewritten) in front of `nodes`.
final class Balancer {
    let port: UInt16
    private let process: ChildProcess

    init(nodes: [RelayProcess]) throws {
        port = try freeLocalPort()
        let config = try Haproxy.config(port: port, nodes: nodes)
        let directory = try makeTemporaryDirectory(prefix: "relay-it-haproxy")
        let file = directory.appendingPathComponent("haproxy.cfg")
        try config.write(to: file, atomically: true, encoding: .utf8)
        let haproxy = try Haproxy.executable()
        process = ChildProcess(name: "haproxy", executable: haproxy, arguments: ["-f", file.path, "-db"],
                               environment: nil, logURL: directory.appendingPathComponent("haproxy.log"))
        try process.launch()
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    func api(bearer: String? = TestEnvironments.devKey) -> RelayAPI { RelayAPI(port: port, bearer: bearer) }

    /// Waits until the balancer routes to a ready node.
    func waitUntilReady(timeout: TimeInterval = 15) throws {
        let lb = api(bearer: nil)
        try waitUntil(timeout: timeout, "haproxy on \(port) to route to a ready node") {
            (try? lb.http.request("GET", "/readyz", timeout: 2))?.status == 200
        }
    }

    func stop() { _ = process.stop(timeout: 5) }
}

/// One page of the browser client in headless Chromium, and the reports it makes.
final class BrowserPage {
    let reportSession: String
    private let reporter: RelayAPI
    private let process: ChildProcess
    let directory: URL

    /// `script` runs in a module after
    /// `import * as relay from "<base>/client.js"`, with `BASE` (the balancer's URL) and
    /// `report(kind, value)` in scope.
    init(balancer: Balancer, script: String) throws {
        guard let chromium = ChildProcess.findExecutable("chromium") else {
            throw HarnessError("chromium not found (Debian: apt-get install -y chromium; scripts/install-deps does it)")
        }
        reporter = balancer.api()
        reportSession = try reporter.newSession(externalId: "report-\(UUID().uuidString.lowercased())")
        let token = try TestToken.mint(envId: TestEnvironments.devId, scopes: ["write:sessions:\(reportSession)"],
                                       secret: TestEnvironments.devKey)
        directory = try makeTemporaryDirectory(prefix: "relay-it-browser")
        let html = """
            <!doctype html>
            <meta charset="utf-8">
            <title>relay client test</title>
            <script type="module">
            import * as relay from "\(balancer.baseURL)/client.js";
            const BASE = "\(balancer.baseURL)";
            let reportCount = 0;
            const reportPrefix = Math.random().toString(36).slice(2);
            function report(kind, value) {
              reportCount += 1;
              relay.append("\(reportSession)", "in", { kind, value: value === undefined ? null : value, n: reportCount },
                           { baseUrl: BASE, token: "\(token)", partId: `${reportPrefix}-${reportCount}`,
                             retries: 40, maxDelayMs: 1000 })
                .catch((error) => console.error("report failed", error));
            }
            window.addEventListener("error", (event) => report("page-error", String(event.message)));
            try {
            \(script)
            } catch (error) { report("page-error", String(error && error.stack || error)); }
            </script>
            """
        let page = directory.appendingPathComponent("page.html")
        try html.write(to: page, atomically: true, encoding: .utf8)
        process = ChildProcess(name: "chromium", executable: chromium,
                               arguments: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                           "--user-data-dir=\(directory.path)/profile", page.absoluteString],
                               environment: nil, logURL: directory.appendingPathComponent("chromium.log"))
        try process.launch()
    }

    /// Every report so far, in the order the relay appended them: (kind, value).
    func reports() throws -> [(kind: String, value: JSON)] {
        let response = try reporter.drain(reportSession, "in")
        guard response.status == 200, case .array(let records)? = try response.json()["records"] else {
            throw HarnessError("drain of the report session: \(response)")
        }
        return records.compactMap { record in
            guard let kind = record["data"]?["kind"]?.stringValue else { return nil }
            return (kind, record["data"]?["value"] ?? .null)
        }
    }

    /// The values reported under `kind`.
    func values(_ kind: String) throws -> [JSON] { try reports().filter { $0.kind == kind }.map(\.value) }

    /// Waits until `condition` holds for the reports; fails early on a page error.
    @discardableResult
    func waitForReports(timeout: TimeInterval, _ what: String,
                        _ condition: ([(kind: String, value: JSON)]) -> Bool) throws -> [(kind: String, value: JSON)] {
        var last: [(kind: String, value: JSON)] = []
        do {
            return try waitForValue(timeout: timeout, interval: 0.2, what) {
                // The balancer answers 503 while no node is ready (a test may make that happen).
                do { last = try reports() } catch let error as HarnessError where "\(error)".contains("HTTP 503") { return nil }
                if let error = last.first(where: { $0.kind == "page-error" }) {
                    throw HarnessError("the page failed: \(error.value)")
                }
                return condition(last) ? last : nil
            }
        } catch {
            throw HarnessError("\(error)\nreports so far: \(last.map { "\($0.kind)=\($0.value)" })")
        }
    }

    func stop() { _ = process.stop(timeout: 5) }
}

