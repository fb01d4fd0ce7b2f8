// SSEFrame+V2.swift — the v2 framing of a channel stream (S2's SSE read format, which the
// Trigger.dev SDK parses when the response says `X-Stream-Version: v2`; docs/trigger-sdk.md):
//
//   event: batch\nid: N\ndata: {"records":[<S2 record JSON>,…],"tail":{"seq_num":T,"timestamp":MS}}\n\n
//   event: ping\ndata: {"timestamp":NOW,"tail":{"seq_num":T,"timestamp":MS}}\n\n
//   data: [DONE]\n\n                       the stream ended normally
//
// `id` is the batch's last seq (the SDK resumes from the last seq_num it saw: Last-Event-ID);
// the tail is the next seq and the time of the last record.

extension SSEFrame {
    /// One batch event from its records' JSON texts, already joined with commas.
    public static func v2Batch(lastSeq: UInt64, recordsJSON: [UInt8], tailSeq: UInt64, tailTime: UInt64) -> [UInt8] {
        var payload: [UInt8] = []
        payload.reserveCapacity(recordsJSON.count + 64)
        payload.append(contentsOf: #"{"records":["#.utf8)
        payload.append(contentsOf: recordsJSON)
        payload.append(contentsOf: #"],"tail":"#.utf8)
        appendPosition(seq: tailSeq, time: tailTime, to: &payload)
        payload.append(0x7D)
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + 48)
        out.append(contentsOf: "event: batch\nid: ".utf8)
        JSONBytes.appendDecimal(lastSeq, to: &out)
        out.append(0x0A)
        appendData(payload[...], to: &out)
        out.append(0x0A)
        return out
    }

    public static func v2Ping(now: UInt64, tailSeq: UInt64, tailTime: UInt64) -> [UInt8] {
        var out: [UInt8] = Array(#"event: ping"#.utf8)
        out.append(contentsOf: "\ndata: {\"timestamp\":".utf8)
        JSONBytes.appendDecimal(now, to: &out)
        out.append(contentsOf: #","tail":"#.utf8)
        appendPosition(seq: tailSeq, time: tailTime, to: &out)
        out.append(contentsOf: "}\n\n".utf8)
        return out
    }

    /// The last event of a stream that ended normally (caught up and idle, closed, settled).
    public static let v2Done: [UInt8] = Array("data: [DONE]\n\n".utf8)

    /// `{"seq_num":N,"timestamp":MS}`, an S2 stream position.
    public static func appendPosition(seq: UInt64, time: UInt64, to out: inout [UInt8]) {
        out.append(contentsOf: #"{"seq_num":"#.utf8)
        JSONBytes.appendDecimal(seq, to: &out)
        out.append(contentsOf: #","timestamp":"#.utf8)
        JSONBytes.appendDecimal(time, to: &out)
        out.append(0x7D)
    }
}
