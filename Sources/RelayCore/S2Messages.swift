// S2Messages.swift — the messages of S2's records API (its public s2.v1 schema) that the relay
// speaks at /s2/v1 (docs/trigger-sdk.md): appends in, acks and read batches out, as protobuf and
// as S2's JSON (format "raw": headers and bodies as UTF-8 text; "base64": as base64).
//
//   message Header { bytes name = 1; bytes value = 2; }
//   message AppendRecord { optional uint64 timestamp = 1; repeated Header headers = 2; bytes body = 3; }
//   message AppendInput { repeated AppendRecord records = 1; optional uint64 match_seq_num = 2;
//                         optional string fencing_token = 3; }
//   message StreamPosition { uint64 seq_num = 1; uint64 timestamp = 2; }
//   message AppendAck { StreamPosition start = 1; StreamPosition end = 2; StreamPosition tail = 3; }
//   message SequencedRecord { uint64 seq_num = 1; uint64 timestamp = 2; repeated Header headers = 3; bytes body = 4; }
//   message ReadBatch { repeated SequencedRecord records = 1; optional StreamPosition tail = 2; }

public struct S2Header: Equatable, Sendable {
    public var name: [UInt8]
    public var value: [UInt8]
    public init(name: [UInt8], value: [UInt8]) { self.name = name; self.value = value }
}

public struct S2AppendRecord: Equatable, Sendable {
    public var timestamp: UInt64?
    public var headers: [S2Header]
    public var body: [UInt8]
    public init(timestamp: UInt64? = nil, headers: [S2Header] = [], body: [UInt8] = []) {
        self.timestamp = timestamp; self.headers = headers; self.body = body
    }

    /// S2's metered size: 8 bytes, plus 2 and the name and value per header, plus the body.
    public var meteredBytes: Int {
        8 + body.count + headers.reduce(0) { $0 + 2 + $1.name.count + $1.value.count }
    }

    /// A command record: one header with an empty name; its value names the command.
    public var command: [UInt8]? {
        guard headers.count == 1, headers[0].name.isEmpty else { return nil }
        return headers[0].value
    }
}

public struct S2AppendInput: Equatable, Sendable {
    public var records: [S2AppendRecord]
    public var matchSeqNum: UInt64?
    public var fencingToken: String?
    public init(records: [S2AppendRecord], matchSeqNum: UInt64? = nil, fencingToken: String? = nil) {
        self.records = records; self.matchSeqNum = matchSeqNum; self.fencingToken = fencingToken
    }
}

public struct S2Position: Equatable, Sendable {
    public var seqNum: UInt64
    public var timestamp: UInt64
    public init(seqNum: UInt64, timestamp: UInt64) { self.seqNum = seqNum; self.timestamp = timestamp }
}

public struct S2AppendAck: Equatable, Sendable {
    public var start: S2Position
    public var end: S2Position
    public var tail: S2Position
    public init(start: S2Position, end: S2Position, tail: S2Position) { self.start = start; self.end = end; self.tail = tail }
}

/// A record as S2 reads give it.
public struct S2SequencedRecord: Equatable, Sendable {
    public var seqNum: UInt64
    public var timestamp: UInt64
    public var headers: [S2Header]
    public var body: [UInt8]
    public init(seqNum: UInt64, timestamp: UInt64, headers: [S2Header], body: [UInt8]) {
        self.seqNum = seqNum; self.timestamp = timestamp; self.headers = headers; self.body = body
    }
}

/// How S2's JSON spells bytes (the `s2-format` header).
public enum S2Format: Sendable {
    case raw, base64

    public static func parse(_ header: String?) -> S2Format? {
        switch header?.lowercased() {
        case nil, "raw": return .raw
        case "base64": return .base64
        default: return nil
        }
    }
}

public enum S2Limits {
    /// Records in one append (S2's limit).
    public static let maxRecordsPerBatch = 1000
    /// Metered bytes of one append (S2's limit: 1 MiB).
    public static let maxBatchBytes = 1 << 20
    /// A fencing token's length (S2's limit).
    public static let maxFencingTokenBytes = 36
    /// Headers of one record (the relay's limit: each decoded header costs far more memory
    /// than its bytes on the wire, so a batch of empty headers must not blow up).
    public static let maxHeadersPerRecord = 256
}

// MARK: Protobuf

extension S2AppendInput {
    public init(protobuf bytes: ArraySlice<UInt8>) throws(ProtobufError) {
        var reader = ProtobufReader(bytes)
        var records: [S2AppendRecord] = []
        var match: UInt64?
        var fencing: String?
        while let (number, type) = try reader.nextField() {
            switch number {
            case 1:
                try reader.expect(.lengthDelimited, got: type, "records")
                guard records.count < S2Limits.maxRecordsPerBatch else {
                    throw ProtobufError("more than \(S2Limits.maxRecordsPerBatch) records")
                }
                records.append(try S2AppendRecord(protobuf: try reader.lengthDelimited()))
            case 2:
                try reader.expect(.varint, got: type, "match_seq_num")
                match = try reader.varint()
            case 3:
                try reader.expect(.lengthDelimited, got: type, "fencing_token")
                guard let text = String(validating: try reader.lengthDelimited(), as: UTF8.self) else {
                    throw ProtobufError("fencing_token is not UTF-8")
                }
                fencing = text
            default:
                try reader.skip(type)
            }
        }
        self.init(records: records, matchSeqNum: match, fencingToken: fencing)
    }
}

extension S2AppendRecord {
    public init(protobuf bytes: ArraySlice<UInt8>) throws(ProtobufError) {
        var reader = ProtobufReader(bytes)
        self.init()
        while let (number, type) = try reader.nextField() {
            switch number {
            case 1:
                try reader.expect(.varint, got: type, "timestamp")
                timestamp = try reader.varint()
            case 2:
                try reader.expect(.lengthDelimited, got: type, "headers")
                guard headers.count < S2Limits.maxHeadersPerRecord else {
                    throw ProtobufError("more than \(S2Limits.maxHeadersPerRecord) headers in a record")
                }
                headers.append(try S2Header(protobuf: try reader.lengthDelimited()))
            case 3:
                try reader.expect(.lengthDelimited, got: type, "body")
                body = Array(try reader.lengthDelimited())
            default:
                try reader.skip(type)
            }
        }
    }
}

extension S2Header {
    public init(protobuf bytes: ArraySlice<UInt8>) throws(ProtobufError) {
        var reader = ProtobufReader(bytes)
        var name: [UInt8] = [], value: [UInt8] = []
        while let (number, type) = try reader.nextField() {
            switch number {
            case 1:
                try reader.expect(.lengthDelimited, got: type, "header name")
                name = Array(try reader.lengthDelimited())
            case 2:
                try reader.expect(.lengthDelimited, got: type, "header value")
                value = Array(try reader.lengthDelimited())
            default:
                try reader.skip(type)
            }
        }
        self.init(name: name, value: value)
    }

    func write(_ number: UInt32, to w: inout ProtobufWriter) {
        w.message(number) { m in
            m.bytesField(1, name)
            m.bytesField(2, value)
        }
    }
}

extension S2Position {
    func write(_ number: UInt32, to w: inout ProtobufWriter) {
        w.message(number) { m in
            m.uint64(1, seqNum)
            m.uint64(2, timestamp)
        }
    }

    public init(protobuf bytes: ArraySlice<UInt8>) throws(ProtobufError) {
        var reader = ProtobufReader(bytes)
        self.init(seqNum: 0, timestamp: 0)
        while let (number, type) = try reader.nextField() {
            switch (number, type) {
            case (1, .varint): seqNum = try reader.varint()
            case (2, .varint): timestamp = try reader.varint()
            default: try reader.skip(type)
            }
        }
    }

    /// `{"seq_num":N,"timestamp":MS}`
    public func appendJSON(to out: inout [UInt8]) {
        SSEFrame.appendPosition(seq: seqNum, time: timestamp, to: &out)
    }
}

extension S2AppendAck {
    public var protobuf: [UInt8] {
        var w = ProtobufWriter()
        start.write(1, to: &w)
        end.write(2, to: &w)
        tail.write(3, to: &w)
        return w.bytes
    }

    /// `{"start":{…},"end":{…},"tail":{…}}`
    public var json: [UInt8] {
        var out: [UInt8] = Array(#"{"start":"#.utf8)
        start.appendJSON(to: &out)
        out.append(contentsOf: #","end":"#.utf8)
        end.appendJSON(to: &out)
        out.append(contentsOf: #","tail":"#.utf8)
        tail.appendJSON(to: &out)
        out.append(0x7D)
        return out
    }
}

extension S2SequencedRecord {
    func write(_ number: UInt32, to w: inout ProtobufWriter) {
        w.message(number) { m in
            m.uint64(1, seqNum)
            m.uint64(2, timestamp)
            for header in headers { header.write(3, to: &m) }
            if !body.isEmpty { m.bytesField(4, body) }
        }
    }

    /// `{"seq_num":N,"timestamp":MS[,"headers":[[n,v],…]][,"body":"…"]}` in `format`.
    public func appendJSON(format: S2Format, to out: inout [UInt8]) {
        out.append(contentsOf: #"{"seq_num":"#.utf8)
        JSONBytes.appendDecimal(seqNum, to: &out)
        out.append(contentsOf: #","timestamp":"#.utf8)
        JSONBytes.appendDecimal(timestamp, to: &out)
        if !headers.isEmpty {
            out.append(contentsOf: #","headers":["#.utf8)
            for (i, header) in headers.enumerated() {
                if i > 0 { out.append(0x2C) }
                out.append(0x5B)
                S2JSON.appendBytes(header.name, format: format, to: &out)
                out.append(0x2C)
                S2JSON.appendBytes(header.value, format: format, to: &out)
                out.append(0x5D)
            }
            out.append(0x5D)
        }
        if !body.isEmpty {
            out.append(contentsOf: #","body":"#.utf8)
            S2JSON.appendBytes(body, format: format, to: &out)
        }
        out.append(0x7D)
    }
}

public enum S2ReadBatch {
    public static func protobuf(records: [S2SequencedRecord], tail: S2Position?) -> [UInt8] {
        var w = ProtobufWriter()
        for record in records { record.write(1, to: &w) }
        tail?.write(2, to: &w)
        return w.bytes
    }

    /// `{"records":[…],"tail":{…}}`
    public static func json(records: [S2SequencedRecord], tail: S2Position?, format: S2Format) -> [UInt8] {
        var out: [UInt8] = Array(#"{"records":["#.utf8)
        for (i, record) in records.enumerated() {
            if i > 0 { out.append(0x2C) }
            record.appendJSON(format: format, to: &out)
        }
        out.append(0x5D)
        if let tail {
            out.append(contentsOf: #","tail":"#.utf8)
            tail.appendJSON(to: &out)
        }
        out.append(0x7D)
        return out
    }
}

// MARK: JSON

public enum S2JSON {
    static func appendBytes(_ bytes: [UInt8], format: S2Format, to out: inout [UInt8]) {
        switch format {
        case .raw: RecordEncoding.appendJSONString(of: bytes, to: &out)
        case .base64:
            out.append(0x22)
            out.append(contentsOf: Base64.encode(bytes).utf8)
            out.append(0x22)
        }
    }

    static func bytes(_ value: JSONValue, format: S2Format, _ what: String) throws(APIError) -> [UInt8] {
        guard let text = value.stringValue else { throw .badRequest("\(what) must be a string") }
        switch format {
        case .raw: return Array(text.utf8)
        case .base64:
            guard let decoded = Base64.decode(text) else { throw .badRequest("\(what) is not valid base64") }
            return decoded
        }
    }
}

extension S2AppendInput {
    /// `{"records":[{"timestamp"?:N,"headers"?:[[name,value],…],"body"?:"…"},…],
    ///   "match_seq_num"?:N,"fencing_token"?:"…"}`
    public init(json bytes: [UInt8], format: S2Format) throws(APIError) {
        let root: JSONValue
        do { root = try JSONParser.parse(bytes) } catch { throw .badRequest("Invalid JSON body") }
        guard case .object = root, let list = root["records"]?.arrayValue else {
            throw .badRequest("An append needs a records array")
        }
        guard list.count <= S2Limits.maxRecordsPerBatch else {
            throw .badRequest("An append holds at most \(S2Limits.maxRecordsPerBatch) records")
        }
        var records: [S2AppendRecord] = []
        records.reserveCapacity(list.count)
        for item in list {
            guard case .object = item else { throw .badRequest("Each record must be an object") }
            var record = S2AppendRecord()
            if let t = item["timestamp"], !t.isNull {
                guard let v = t.int64Value, v >= 0 else { throw .badRequest("timestamp must be a non-negative integer") }
                record.timestamp = UInt64(v)
            }
            if let h = item["headers"], !h.isNull {
                guard let pairs = h.arrayValue else { throw .badRequest("headers must be an array of [name, value] pairs") }
                guard pairs.count <= S2Limits.maxHeadersPerRecord else {
                    throw .badRequest("A record has at most \(S2Limits.maxHeadersPerRecord) headers")
                }
                for pair in pairs {
                    guard let parts = pair.arrayValue, parts.count == 2 else {
                        throw .badRequest("headers must be an array of [name, value] pairs")
                    }
                    record.headers.append(S2Header(name: try S2JSON.bytes(parts[0], format: format, "A header name"),
                                                   value: try S2JSON.bytes(parts[1], format: format, "A header value")))
                }
            }
            if let b = item["body"], !b.isNull { record.body = try S2JSON.bytes(b, format: format, "body") }
            records.append(record)
        }
        var match: UInt64?
        if let m = root["match_seq_num"], !m.isNull {
            guard let v = m.int64Value, v >= 0 else { throw .badRequest("match_seq_num must be a non-negative integer") }
            match = UInt64(v)
        }
        var fencing: String?
        if let f = root["fencing_token"], !f.isNull {
            guard let text = f.stringValue else { throw .badRequest("fencing_token must be a string") }
            fencing = text
        }
        self.init(records: records, matchSeqNum: match, fencingToken: fencing)
    }
}
