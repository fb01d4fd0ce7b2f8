// ClientScriptTests.swift: GET /client.js serves the browser client (clients/js/relay-client.js)
// byte for byte, as JavaScript, cacheable, with an ETag that If-None-Match turns into a 304.

import XCTest
import Foundation

final class ClientScriptTests: RelayTestCase {
    private var sourceBytes: Data {
        get throws {
            let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            return try Data(contentsOf: repo.appendingPathComponent("clients/js/relay-client.js"))
        }
    }

    func testServesTheClientModuleAsCacheableJavaScriptWithAnETag() throws {
        let response = try http.request("GET", "/client.js")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.headers["Content-Type"], "text/javascript; charset=utf-8")
        XCTAssertEqual(response.headers["Cache-Control"], "public, max-age=86400")
        XCTAssertEqual(response.body, try sourceBytes, "the bytes of clients/js/relay-client.js")
        XCTAssertEqual(response.headers["Content-Length"], String(try sourceBytes.count))
        XCTAssertTrue(response.text.contains("export function subscribe("))
        let etag = try XCTUnwrap(response.headers["ETag"])
        XCTAssertTrue(etag.hasPrefix("\"") && etag.hasSuffix("\"") && etag.count > 2, "a strong ETag: \(etag)")
        XCTAssertNotNil(response.headers["X-Relay-Node"])
        // Stable: the same bytes, the same validator.
        XCTAssertEqual(try http.request("GET", "/client.js").headers["ETag"], etag)
    }

    func testIfNoneMatchWithTheETagAnswers304WithoutABody() throws {
        let etag = try XCTUnwrap(try http.request("GET", "/client.js").headers["ETag"])
        for value in [etag, "W/\(etag)", "\"other\", \(etag)", "*"] {
            let response = try http.request("GET", "/client.js", headers: [("If-None-Match", value)])
            XCTAssertEqual(response.status, 304, "If-None-Match: \(value)")
            XCTAssertEqual(response.body.count, 0)
            XCTAssertNil(response.headers["Content-Length"], "no Content-Length on 304")
            XCTAssertEqual(response.headers["ETag"], etag)
            XCTAssertEqual(response.headers["Cache-Control"], "public, max-age=86400")
        }
        let stale = try http.request("GET", "/client.js", headers: [("If-None-Match", "\"0-0000000000000000\"")])
        XCTAssertEqual(stale.status, 200, "another ETag gets the script")
        XCTAssertEqual(stale.body, try sourceBytes)
    }

    func testHEADAndCrossOriginImport() throws {
        let head = try http.request("HEAD", "/client.js")
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.body.count, 0)
        XCTAssertEqual(head.headers["Content-Length"], String(try sourceBytes.count))
        XCTAssertNotNil(head.headers["ETag"])
        // A page of another origin imports the module (a module script is a CORS request).
        let cors = try http.request("GET", "/client.js", headers: [("Origin", "https://app.example")])
        XCTAssertEqual(cors.status, 200)
        XCTAssertNotNil(cors.headers["Access-Control-Allow-Origin"])
        XCTAssertEqual(try http.request("POST", "/client.js").status, 405)
    }

    func testTheDemoPageIsBuiltOnTheClient() throws {
        let page = try http.request("GET", "/demo")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.text.contains(#"import { subscribe, append } from "/client.js";"#), page.text)
        XCTAssertTrue(page.text.contains(#"id="last-id""#))
        XCTAssertTrue(page.text.contains(#"id="status""#))
    }
}
