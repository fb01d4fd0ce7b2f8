// RecordEncoding.swift — the record JSON of docs/API.md, Channels, built directly as bytes (hot path:
// once per appended record, then shared by every subscriber).
//
//   {"data":<body or body as a JSON string>,"id":N}
//   {"data":null,"id":N,"headers":[["trigger-control","turn-complete"],...]}   control record
//   with includeSeqNum (drain): {"data":...,"id":N,"seqNum":N[,"headers":...]}

public enum RecordEncoding {
    /// The record JSON from its stored parts: `dataJSON` (the record's `data`, already JSON;
    /// nil for a control record) and `headersJSON` (a control record's headers as a JSON array).
    /// Drains and catch-up build records from Redis with this.
    public static func json(id: UInt64, dataJSON: [UInt8]?, headersJSON: [UInt8]?, includeSeqNum: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((dataJSON?.count ?? 4) + (headersJSON?.count ?? 0) + 48)
        out.append(contentsOf: #"{"data":"#.utf8)
        out.append(contentsOf: dataJSON ?? Array("null".utf8))
        out.append(contentsOf: #","id":"#.utf8)
        JSONBytes.appendDecimal(id, to: &out)
        if includeSeqNum {
            out.append(contentsOf: #","seqNum":"#.utf8)
            JSONBytes.appendDecimal(id, to: &out)
        }
        if let headersJSON {
            out.append(contentsOf: #","headers":"#.utf8)
            out.append(contentsOf: headersJSON)
        }
        out.append(0x7D)
        return out
    }

    /// A loss signal (docs/API.md, History guarantees): records with `after` < seq < `before`
    /// may have existed and are gone. `{"data":null,"id":N[,"seqNum":N],"lost":{"after":K,"before":B}}`
    /// for a loss marker (id N = B); without `id` (nil) for a resume point past the channel's end.
    public static func lossJSON(id: UInt64?, after: UInt64, before: UInt64, includeSeqNum: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(96)
        out.append(contentsOf: #"{"data":null"#.utf8)
        if let id {
            out.append(contentsOf: #","id":"#.utf8)
            JSONBytes.appendDecimal(id, to: &out)
            if includeSeqNum {
                out.append(contentsOf: #","seqNum":"#.utf8)
                JSONBytes.appendDecimal(id, to: &out)
            }
        }
        out.append(contentsOf: #","lost":"#.utf8)
        out.append(contentsOf: lostRange(after: after, before: before))
        out.append(0x7D)
        return out
    }

    /// `{"after":K,"before":B}`
    public static func lostRange(after: UInt64, before: UInt64) -> [UInt8] {
        var out: [UInt8] = Array(#"{"after":"#.utf8)
        JSONBytes.appendDecimal(after, to: &out)
        out.append(contentsOf: #","before":"#.utf8)
        JSONBytes.appendDecimal(before, to: &out)
        out.append(0x7D)
        return out
    }

    /// `[["name","value"],...]`
    public static func headersJSON(_ headers: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = [0x5B]
        for (i, (name, value)) in headers.enumerated() {
            if i > 0 { out.append(0x2C) }
            out.append(0x5B)
            JSONBytes.appendQuoted(name, to: &out)
            out.append(0x2C)
            JSONBytes.appendQuoted(value, to: &out)
            out.append(0x5D)
        }
        out.append(0x5D)
        return out
    }

    /// Appends `bytes` (UTF-8 text) as a JSON string literal: escapes `"`, `\` and control
    /// bytes; a byte that is not well-formed UTF-8 becomes U+FFFD so the output stays valid JSON.
    public static func appendJSONString(of bytes: [UInt8], to out: inout [UInt8]) {
        bytes.withUnsafeBytes { JSONBytes.appendQuoted($0, sanitizeUTF8: true, to: &out) }
    }
}
