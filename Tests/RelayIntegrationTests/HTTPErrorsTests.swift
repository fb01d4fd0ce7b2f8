// HTTPErrorsTests.swift: routing errors (docs/API.md, Conventions): unknown routes 404, wrong methods
// 405 with `Allow`, JSON error bodies.

import XCTest
import Foundation

final class HTTPErrorsTests: RelayTestCase {

    func testHealthzAnswers200() throws {
        XCTAssertEqual(try http.request("GET", "/healthz").status, 200)
    }

    func testUnknownRoutesAre404() throws {
        let id = try XCTUnwrap(try createSession()["id"]?.stringValue)
        let routes: [(String, String)] = [
            ("GET", "/"),
            ("GET", "/nope"),
            ("GET", "/api/v1"),
            ("GET", "/api/v1/nope"),
            ("GET", "/api/v2/sessions"),
            ("GET", "/api/v1/sessions/\(id)/nope"),
            ("POST", "/api/v1/sessions/\(id)/close/again"),
            ("POST", "/api/v1/runs/run_abc"),
            ("POST", "/api/v1/runs/run_abc/cancel"),
        ]
        for (method, path) in routes {
            assertError(try api.http.request(method, path), 404, "\(method) \(path)")
        }
    }

    func testWrongMethodOnAKnownRouteIs405WithAllow() throws {
        let id = try XCTUnwrap(try createSession()["id"]?.stringValue)
        let routes: [(method: String, path: String, allowed: Set<String>)] = [
            ("DELETE", "/api/v1/sessions", ["GET", "POST"]),
            ("PUT", "/api/v1/sessions", ["GET", "POST"]),
            ("PUT", "/api/v1/sessions/\(id)", ["GET", "PATCH"]),
            ("DELETE", "/api/v1/sessions/\(id)", ["GET", "PATCH"]),
            ("POST", "/api/v1/sessions/\(id)", ["GET", "PATCH"]),
            ("GET", "/api/v1/sessions/\(id)/close", ["POST"]),
            ("GET", "/api/v1/runs/run_abc/complete", ["POST"]),
            ("POST", "/healthz", ["GET"]),
        ]
        for route in routes {
            let name = "\(route.method) \(route.path)"
            let response = try api.http.request(route.method, route.path)
            assertError(response, 405, name)
            let allow = Set(response.headers.listValues("Allow").map { $0.uppercased() })
            XCTAssertTrue(route.allowed.isSubset(of: allow), "\(name): Allow \(allow) should list \(route.allowed)")
            XCTAssertFalse(allow.contains(route.method), "\(name): Allow \(allow) lists the refused method")
        }
    }
}
