// EventSourcePage.swift: a page of plain EventSources in headless Chromium (no relay client),
// one per session, that reports every open, message and error to a ReportingPageServer; used
// to prove how many streams a browser holds at once (through a balancer, or straight at the
// relay over HTTP/2).

#if canImport(Glibc)
import Glibc
#endif
import Foundation

enum EventSourcePage {
    /// A session and its public access token (what a browser gets).
    static func tokenSession(_ lb: RelayAPI) throws -> (id: String, token: String) {
        let response = try lb.createSession(.object(["type": "chat", "taskIdentifier": "t", "externalId": .string("edge-\(UUID().uuidString.lowercased())")]))
        let body = try response.json()
        guard response.status == 201, let id = body["id"]?.stringValue, let token = body["publicAccessToken"]?.stringValue else {
            throw HarnessError("create failed: \(response)")
        }
        return (id, token)
    }

    static func streamURL(_ base: String, _ session: (id: String, token: String), query: String = "") -> String {
        "\(base)\(RelayAPI.channelPath(session.id, "out"))?token=\(session.token)\(query)"
    }


    /// A page that opens one EventSource per session against `?relay=BASE` and reports every
    /// open, message and error to the page server (and lists the messages in its DOM).
    static func html(_ sessions: [(id: String, token: String)], timeoutSeconds: Int) throws -> String {
        let list = sessions.map { ["path": RelayAPI.channelPath($0.id, "out"), "token": $0.token] }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: list), as: UTF8.self)
        return """
            <!doctype html><html><head><meta charset="utf-8"><title>edge</title></head><body>
            <div id="streams"></div>
            <script>
            const relay = new URLSearchParams(location.search).get('relay');
            const streams = \(json);
            function report(o) { fetch('/report', {method: 'POST', body: JSON.stringify(o)}).catch(() => {}); }
            streams.forEach((s, i) => {
              const ol = document.createElement('ol');
              ol.id = 'stream' + i;
              document.getElementById('streams').appendChild(ol);
              const es = new EventSource(relay + s.path + '?timeoutSeconds=\(timeoutSeconds)&token=' + encodeURIComponent(s.token));
              es.onopen = () => report({i, kind: 'open'});
              es.onmessage = (e) => {
                const li = document.createElement('li');
                li.textContent = e.data;
                ol.appendChild(li);
                report({i, kind: 'message', id: e.lastEventId, data: JSON.parse(e.data).data, shown: ol.children.length});
              };
              es.onerror = () => report({i, kind: 'error', readyState: es.readyState});
            });
            report({kind: 'started', count: streams.length});
            </script></body></html>
            """
    }

    struct Report {
        let stream: Int?
        let kind: String
        let data: String?
        let shown: Int?
    }

    static func reports(_ server: ReportingPageServer) -> [Report] {
        server.received.compactMap { text in
            guard let json = try? JSON(parsing: text), let kind = json["kind"]?.stringValue else { return nil }
            return Report(stream: json["i"]?.intValue, kind: kind, data: json["data"]?.stringValue, shown: json["shown"]?.intValue)
        }
    }

    static func launchChromium(_ url: String) throws -> ChildProcess {
        guard let chromium = ChildProcess.findExecutable("chromium") else {
            throw HarnessError("chromium not found (Debian: apt-get install -y chromium; scripts/install-deps does it)")
        }
        let directory = try makeTemporaryDirectory(prefix: "relay-it-chromium")
        // No --dump-dom and no virtual time: it runs until stopped, the page reports as it goes.
        let browser = ChildProcess(name: "chromium", executable: chromium,
                                   arguments: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                               "--ignore-certificate-errors", "--user-data-dir=\(directory.path)/profile", url],
                                   environment: nil, logURL: directory.appendingPathComponent("chromium.log"))
        try browser.launch()
        return browser
    }
}
