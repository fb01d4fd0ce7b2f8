// StoredRecord+S2: a channel's entry as S2 shows it (docs/trigger-sdk.md): the record's body and
// headers as the S2 records API and the v2 stream framing give them, and the drain record of
// an environment in the v2 format. A record's bytes are decided here once; readers of every
// kind (SSE v2, S2 JSON, S2 protobuf) take them from here.
import RelayCore

extension StoredRecord {
    /// The S2 body: a raw S2 body as written; a data record as the Trigger.dev envelope
    /// `{"data":…,"id":"…"}` (an S2 writer's envelope as its data and id; an appended record's
    /// body as a string, with its X-Part-Id or its seq as the id, as the Trigger.dev webapp
    /// stores an append); nil for a record without a body (control and command records).
    public var s2Body: [UInt8]? {
        if let body { return body }
        guard let data, lostAfter == nil else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 32)
        out.append(contentsOf: #"{"data":"#.utf8)
        appendWriterData(data, to: &out)
        out.append(contentsOf: #","id":"#.utf8)
        appendS2Id(to: &out)
        out.append(0x7D)
        return out
    }

    /// A data record's data as its writer sent it: an S2 writer's envelope data as it is; an
    /// appended record's body as a string (a body that was not JSON is stored as one already).
    func appendWriterData(_ data: [UInt8], to out: inout [UInt8]) {
        if envelopeId != nil || data.first == UInt8(ascii: "\"") {
            out.append(contentsOf: data)
        } else {
            RecordEncoding.appendJSONString(of: data, to: &out)
        }
    }

    /// The S2 headers as a JSON array text; a loss marker is shown as a command record
    /// `[["","lost"],["after","K"]]` (S2 readers skip command records).
    public var s2HeadersJSON: [UInt8]? {
        if let lostAfter { return RecordEncoding.headersJSON([("", "lost"), ("after", String(lostAfter))]) }
        return headers
    }

    /// The writer's id of a data record as a JSON string: the S2 envelope's id, else the
    /// X-Part-Id, else the seq.
    func appendS2Id(to out: inout [UInt8]) {
        if let id = envelopeId ?? partId {
            RecordEncoding.appendJSONString(of: id, to: &out)
        } else {
            out.append(0x22)
            JSONBytes.appendDecimal(seq, to: &out)
            out.append(0x22)
        }
    }

    /// `{"seq_num":N,"timestamp":T[,"headers":[…]][,"body":"…"]}`: the record in S2's JSON
    /// (format raw: headers and body as UTF-8 text; bytes that are not are replaced).
    public func appendS2JSON(to out: inout [UInt8]) {
        out.append(contentsOf: #"{"seq_num":"#.utf8)
        JSONBytes.appendDecimal(seq, to: &out)
        out.append(contentsOf: #","timestamp":"#.utf8)
        JSONBytes.appendDecimal(time, to: &out)
        if let headers = s2HeadersJSON {
            out.append(contentsOf: #","headers":"#.utf8)
            out.append(contentsOf: headers)
        }
        if let body = s2Body, !body.isEmpty {
            out.append(contentsOf: #","body":"#.utf8)
            RecordEncoding.appendJSONString(of: body, to: &out)
        }
        out.append(0x7D)
    }

    /// The drain record of the v2 format, the Trigger.dev SDK's shape:
    /// `{"data":…,"id":"…","seqNum":N[,"headers":[…]]}`: a data record's data and writer's id
    /// (an appended record's data is its body as a string; an S2 record kept as written: its
    /// body as a string and `""` as its id), `""` for both in a control record.
    /// nil for command records and loss markers, which a v2 drain leaves out.
    public var v2DrainJSON: [UInt8]? {
        guard lostAfter == nil, !isCommand else { return nil }
        var out: [UInt8] = []
        out.append(contentsOf: #"{"data":"#.utf8)
        if body != nil, let data {
            out.append(contentsOf: data)
            out.append(contentsOf: #","id":"""#.utf8)
        } else if let data {
            appendWriterData(data, to: &out)
            out.append(contentsOf: #","id":"#.utf8)
            appendS2Id(to: &out)
        } else {
            out.append(contentsOf: #""","id":"""#.utf8)
        }
        out.append(contentsOf: #","seqNum":"#.utf8)
        JSONBytes.appendDecimal(seq, to: &out)
        if let headers {
            out.append(contentsOf: #","headers":"#.utf8)
            out.append(contentsOf: headers)
        }
        out.append(0x7D)
        return out
    }
}
