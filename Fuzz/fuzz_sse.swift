// fuzz_sse — SSEParser and SSEFrame.
// SOURCES: SSEParser.swift SSEFrame.swift JSONBytes.swift RecordEncoding.swift
// EXTRA: Fuzz/support/FuzzSupport.swift
//
// Input: byte 0 seeds the split points and the frame options, the rest is both an arbitrary
// event stream and a record payload.
// Invariants:
//  - the parser fed in arbitrary splits (and byte by byte) returns the same events as fed whole;
//  - every event it returns has data or fields, or is a comment;
//  - SSEFrame.record(id:recordJSON:isControl:) for an arbitrary payload, parsed back, is exactly
//    one event with that id, event "control" or none, and data = the payload with CRLF / CR
//    turned into LF; several frames with pings in between parse back in order;
//  - SSEFrame.gap parses back to the gap event with its two numbers, SSEFrame.lost (a loss
//    marker, and a resume point past the end) to the lost event with its id and range.

private func feed(_ stream: [UInt8], pieces: [Int]) -> [SSEEvent] {
    var parser = SSEParser()
    var events: [SSEEvent] = []
    var i = 0, k = 0
    while i < stream.count {
        let n = min(pieces[k % pieces.count], stream.count - i)
        k += 1
        events += parser.feed(Array(stream[i..<(i + n)]))
        i += n
    }
    return events
}

/// Payload lines as the client sees them: CRLF, CR and LF each end one line.
private func normalizedLines(_ p: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    var i = 0
    while i < p.count {
        if p[i] == 0x0D {
            out.append(0x0A)
            i += (i + 1 < p.count && p[i + 1] == 0x0A) ? 2 : 1
        } else {
            out.append(p[i])
            i += 1
        }
    }
    return out
}

private func same(_ a: [SSEEvent], _ b: [SSEEvent]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { x, y in
        x.id?.utf8.elementsEqual(y.id?.utf8 ?? "".utf8) ?? (y.id == nil)
            && x.event?.utf8.elementsEqual(y.event?.utf8 ?? "".utf8) ?? (y.event == nil)
            && x.comment?.utf8.elementsEqual(y.comment?.utf8 ?? "".utf8) ?? (y.comment == nil)
            && x.data.utf8.elementsEqual(y.data.utf8)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard let seed = input.first else { return 0 }
    var rng = SplitMix(state: UInt64(seed) << 32 | UInt64(size))
    let rest = Array(input.dropFirst())

    // 1. Arbitrary stream: splits do not matter.
    let whole = feed(rest, pieces: [max(rest.count, 1)])
    var pieces: [Int] = []
    for _ in 0..<(1 + rng.below(5)) { pieces.append(1 + rng.below(rng.below(2) == 0 ? 3 : 50)) }
    check(same(feed(rest, pieces: pieces), whole), "split feeding \(pieces) differs from whole", input)
    check(same(feed(rest, pieces: [1]), whole), "byte-by-byte feeding differs from whole", input)
    for e in whole where e.comment != nil {
        check(e.id == nil && e.event == nil && e.data.isEmpty, "comment event carries fields", input)
    }

    // 2. Frames round trip.
    let id = rng.next() >> (rng.below(64))
    let isControl = seed & 1 == 1
    let frame = SSEFrame.record(id: id, recordJSON: rest, isControl: isControl)
    let expectedData = String(decoding: normalizedLines(rest), as: UTF8.self)
    let expected = SSEEvent(id: String(id), event: isControl ? "control" : nil, data: expectedData)
    check(same(feed(frame, pieces: [frame.count]), [expected]), "frame did not parse back to its record", input)
    check(same(feed(frame, pieces: pieces), [expected]), "split frame did not parse back to its record", input)

    // Several frames with pings, a slice-based frame and a gap between them, split anywhere.
    let half = rest.count / 2
    let second = SSEFrame.record(id: id &+ 1, recordJSON: rest[half...], isControl: !isControl)
    let requested = rng.next(), first = rng.next()
    let marker = rng.next() >> 11, kept = rng.next() >> 12
    let stream = SSEFrame.ping + frame + SSEFrame.gap(requested: requested, firstAvailable: first) + second
        + SSEFrame.lost(id: marker, after: kept, before: marker) + SSEFrame.lost(id: nil, after: kept, before: requested)
        + SSEFrame.tokenExpired
    let events = feed(stream, pieces: pieces)
    let secondExpected = SSEEvent(id: String(id &+ 1), event: isControl ? nil : "control",
                                  data: String(decoding: normalizedLines(Array(rest[half...])), as: UTF8.self))
    let gap = SSEEvent(event: "gap", data: "{\"requested\":\(requested),\"firstAvailable\":\(first)}")
    let lostMarker = SSEEvent(id: String(marker), event: "lost",
                              data: "{\"data\":null,\"id\":\(marker),\"lost\":{\"after\":\(kept),\"before\":\(marker)}}")
    let pastEnd = SSEEvent(id: String(kept), event: "lost", data: "{\"data\":null,\"lost\":{\"after\":\(kept),\"before\":\(requested)}}")
    check(same(events, [SSEEvent(comment: "ping"), expected, gap, secondExpected, lostMarker, pastEnd, SSEEvent(comment: "token expired")]),
          "frame stream parsed as \(events)", input)
    return 0
}
