// CatchUpTrimTests.swift: issue 15's "no silent skip" for a trim in the middle of a resume. A
// subscriber resumes from seq 1 on a channel of 1000 large records (the relay reads the log in
// batches of 500 and pauses writing while half its unsent-output cap is queued, so a client that
// does not read holds the resume inside the first batch); meanwhile 600 more records are
// appended and the channel (RELAY_MAX_RECORDS_PER_CHANNEL=1000) is trimmed past the end of that
// batch. When the client reads, it must get the first batch, then `event: gap`
// {"requested":<last delivered>,"firstAvailable":<next>}, then everything from there: every jump
// in ids is announced by a gap that names it. Runs in both modes.

import XCTest
import Foundation

final class CatchUpTrimTests: RelayTestCase {
    override class var relayEnvironment: [String: String] {
        ["RELAY_MAX_RECORDS_PER_CHANNEL": "1000", "RELAY_MAX_UNSENT_BYTES": "262144"]
    }

    func testATrimBetweenTwoCatchUpBatchesIsAnnouncedAsAGap() throws {
        let session = try api.newSession()
        let padding = String(repeating: "x", count: 20_000)  // 500 records: ~10 MB, more than the socket buffers hold
        func body(_ i: Int) -> String { "t\(i)-\(padding)" }
        var bodyBySeq: [Int: String] = [:]
        func append(_ range: ClosedRange<Int>) throws {
            let seqs = try concurrentMap(range.count, threads: 4) { index -> Int in
                let response = try self.api.append(session, "out", body(range.lowerBound + index))
                guard response.status == 200, let seq = try response.json()["seq"]?.intValue else {
                    throw HarnessError("append \(range.lowerBound + index): \(response)")
                }
                return seq
            }
            for (index, seq) in seqs.enumerated() { bodyBySeq[seq] = body(range.lowerBound + index) }
        }
        try append(1...1000)
        XCTAssertEqual(bodyBySeq.keys.max(), 1000)

        // The head comes once the first batch (2...501) is read; the client reads nothing yet.
        let stream = try api.subscribe(session, "out", headers: [("Last-Event-ID", "1"), ("Timeout-Seconds", "60")])
        XCTAssertEqual(stream.status, 200)
        XCTAssertNil(stream.headers.values("X-Relay-First-Id").first, "seq 1 is still retained: no gap at the start")
        try append(1001...1600)
        let drain = try drainHistory(api, session)
        let firstRetained = try XCTUnwrap(drain.first?.id)
        XCTAssertGreaterThan(firstRetained, 502, "the trim reached past the first batch (the scenario needs it)")

        var items: [HistoryItem] = []
        while items.last?.id != 1600 {
            guard let event = try stream.nextDataEvent(timeout: 15) else {
                return XCTFail("the stream ended after \(items.last.map(String.init(describing:)) ?? "nothing") (\(items.count) items):"
                    + " the relay dropped the client instead of pausing its catch-up, or the first batch never stalled")
            }
            if let item = try HistoryItem.parse(event) { items.append(item) }
        }
        let gaps = items.enumerated().filter { if case .gap = $0.element { return true }; return false }
        XCTAssertEqual(gaps.count, 1, "one gap: \(gaps.map { "#\($0.offset): \($0.element)" })")
        guard let (index, gapItem) = gaps.first.map({ ($0.offset, $0.element) }), case .gap(let requested, let firstAvailable) = gapItem else {
            return XCTFail("no gap event; ids jumped silently: \(silentJumps(items))")
        }
        print("\(name): \(index) records before the gap \(gapItem); first retained at the end \(firstRetained)")
        XCTAssertGreaterThanOrEqual(requested, 501, "the gap comes after the first catch-up batch, not at the start")
        XCTAssertEqual(items[..<index].compactMap(\.id), Array(2...requested), "before the gap: every record from 2 to \(requested), in order")
        XCTAssertEqual(items[index + 1].id, firstAvailable, "the gap names the next record")
        XCTAssertEqual(Array(items[(index + 1)...]), drain.filter { ($0.id ?? 0) >= firstAvailable },
                       "after the gap: everything retained from firstAvailable on, as the drain has it")
        XCTAssertEqual(silentJumps(items), [], "every jump in ids is announced by a gap")
        let wrong = items.filter { if case .record(let id, let text) = $0 { return bodyBySeq[id] != text }; return false }
        XCTAssertEqual(wrong.count, 0, "records whose body is not the one appended at that seq: \(wrong.prefix(3).map(\.id))")
    }

    /// Places where the ids jump without a gap event just before that names the jump.
    private func silentJumps(_ items: [HistoryItem]) -> [String] {
        var jumps: [String] = []
        var last: Int?
        var announced: (Int, Int)?
        for item in items {
            switch item {
            case .gap(let requested, let first): announced = (requested, first)
            case .record(let id, _), .lost(let id?, _, _):
                if let last, id != last + 1, !(announced.map { $0 == (last, id) } ?? false) { jumps.append("\(last) -> \(id)") }
                last = id
                announced = nil
            case .lost: break
            }
        }
        return jumps
    }
}
