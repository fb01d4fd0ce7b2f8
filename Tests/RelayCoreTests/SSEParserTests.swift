// SSEParser (the client side of SSE framing) and Route parsing.
import XCTest
@testable import RelayCore

final class SSEParserTests: XCTestCase {
    func testEventsCommentsAndMultilineData() {
        var parser = SSEParser()
        let events = parser.feed(Array("id: 4\nevent: control\ndata: a\ndata: b\n\n: ping\n\n".utf8))
        XCTAssertEqual(events, [SSEEvent(id: "4", event: "control", data: "a\nb"), SSEEvent(comment: "ping")])
    }

    func testChunkBoundariesAndCRLF() {
        var parser = SSEParser()
        var events: [SSEEvent] = []
        for byte in Array("id: 1\r\ndata: {\"x\":1}\r\n\r\n".utf8) { events += parser.feed([byte]) }
        XCTAssertEqual(events, [SSEEvent(id: "1", data: "{\"x\":1}")])
    }

    func testFramingRoundTrip() {
        var parser = SSEParser()
        let frame = SSEFrame.record(id: 9, recordJSON: Array("{\"data\":1,\"id\":9}".utf8), isControl: true)
        XCTAssertEqual(parser.feed(frame), [SSEEvent(id: "9", event: "control", data: "{\"data\":1,\"id\":9}")])
    }
}

final class RouteTests: XCTestCase {
    func testRoutes() {
        XCTAssertEqual(Route.parse(path: "/api/v1/sessions"), .sessions)
        XCTAssertEqual(Route.parse(path: "/api/v1/sessions/chat%3A1"), .session("chat:1"))
        XCTAssertEqual(Route.parse(path: "/api/v1/sessions/s/close"), .closeSession("s"))
        XCTAssertEqual(Route.parse(path: "/api/v1/runs/run_1/complete"), .completeRun("run_1"))
        XCTAssertEqual(Route.parse(path: "/realtime/v1/sessions/s/in"), .subscribe("s", .input))
        XCTAssertEqual(Route.parse(path: "/realtime/v1/sessions/s/out/append"), .append("s", .output))
        XCTAssertEqual(Route.parse(path: "/realtime/v1/sessions/s/in/records"), .records("s", .input))
        XCTAssertEqual(Route.parse(path: "/realtime/v1/sessions/s/out/control"), .control("s"))
        XCTAssertNil(Route.parse(path: "/realtime/v1/sessions/s/in/control"), "control records are .out only")
        XCTAssertNil(Route.parse(path: "/realtime/v1/sessions/s/sideways"))
        XCTAssertNil(Route.parse(path: "/api/v1/sessions/%FF"), "invalid UTF-8")
        XCTAssertEqual(Route.parse(path: "/healthz"), .healthz)
        XCTAssertEqual(Route.session("x").allowedMethods, ["GET", "PATCH"])
    }

    func testS2RoutesAtBothPrefixesWithTheStreamNameAsOneSegment() {
        let stream = "sessions/session_1/out"
        XCTAssertEqual(Route.parse(path: "/v1/streams/sessions%2Fsession_1%2Fout/records"), .s2Records(stream))
        XCTAssertEqual(Route.parse(path: "/s2/v1/streams/sessions%2Fsession_1%2Fout/records"), .s2Records(stream))
        XCTAssertEqual(Route.parse(path: "/s2/v1/streams/%2Fsessions%2Fs%2Fin/records/tail"), .s2Tail("/sessions/s/in"))
        XCTAssertNil(Route.parse(path: "/s2/v1/streams/x/records/head"))
        XCTAssertNil(Route.parse(path: "/s2/v1/streams//records"), "an empty stream name")
        XCTAssertNil(Route.parse(path: "/s2/v2/streams/x/records"))
        XCTAssertNil(Route.parse(path: "/v1/basins"), "S2's account API is not served")
        XCTAssertEqual(Route.s2Records(stream).allowedMethods, ["GET", "POST"])
        XCTAssertEqual(Route.subscribe("s", .output).allowedMethods, ["GET", "HEAD", "PUT"], "PUT: the S2 handshake")
    }

    func testTheTriggerPlatformRoutesTheRelayLeavesOut() {
        XCTAssertEqual(Route.parse(path: "/api/v1/sessions/s/end-and-continue"), .notServed("end-and-continue"))
        XCTAssertEqual(Route.parse(path: "/api/v1/sessions/s/snapshot-url"), .notServed("snapshot-url"))
        XCTAssertEqual(Route.parse(path: "/api/v1/runs/run_1/session-streams/wait"), .notServed("waitpoints"))
    }
}
