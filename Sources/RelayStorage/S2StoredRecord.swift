// S2StoredRecord: an S2 record (an AppendRecord of the S2 records API) as a channel stores it,
// decided once before the append (docs/trigger-sdk.md, "One log"):
//   - a body that is the Trigger.dev envelope {"data": …, "id": "…"}: its data as the record's
//     data (d, compact JSON) and its id (i), so both formats show the writer's chunk;
//   - a body with headers and nothing else: a control record (h);
//   - a command record (one header with an empty name: trim or fence): its headers and body;
//   - any other body: kept as written (b; the documented format shows it as a JSON string).
// Headers must be UTF-8 (the channel keeps them as JSON text); the record's own timestamp is
// not kept: the channel stamps records when it takes them.
import RelayCore

public struct S2StoredRecord: Sendable, Equatable {
    /// The stream fields, packed "<name><length>:<value>…" (append_batch.lua unpacks them).
    public var packedFields: [UInt8]
    /// "", "trim" or "fence".
    public var command: String
    /// trim: the seq (decimal) to trim before; fence: the new token.
    public var commandArgument: [UInt8]

    public init(_ record: S2AppendRecord) throws(APIError) {
        var fields: [UInt8] = []
        command = ""
        commandArgument = []
        var pairs: [(String, String)] = []
        for header in record.headers {
            guard let name = String(validating: header.name, as: UTF8.self),
                  let value = String(validating: header.value, as: UTF8.self) else {
                throw .unprocessable("Record headers must be UTF-8 text")
            }
            pairs.append((name, value))
        }
        if let first = pairs.first, first.0.isEmpty {
            guard pairs.count == 1 else { throw .unprocessable("A command record has exactly one header") }
            switch first.1 {
            case "trim":
                guard record.body.count == 8 else { throw .unprocessable("A trim record's body is an 8-byte sequence number") }
                let seq = record.body.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                command = "trim"
                commandArgument = Array(String(seq).utf8)
            case "fence":
                guard record.body.count <= S2Limits.maxFencingTokenBytes, String(validating: record.body, as: UTF8.self) != nil else {
                    throw .unprocessable("A fencing token is UTF-8 text of at most \(S2Limits.maxFencingTokenBytes) bytes")
                }
                command = "fence"
                commandArgument = record.body
            default:
                throw .unprocessable("Unknown command record")
            }
            Self.pack("h", RecordEncoding.headersJSON(pairs), into: &fields)
            Self.pack("b", record.body, into: &fields)
        } else {
            if !pairs.isEmpty { Self.pack("h", RecordEncoding.headersJSON(pairs), into: &fields) }
            if let (data, id) = Self.envelope(record.body) {
                Self.pack("d", data, into: &fields)
                Self.pack("i", id, into: &fields)
            } else if !record.body.isEmpty || pairs.isEmpty {
                Self.pack("b", record.body, into: &fields)
            }
        }
        packedFields = fields
    }

    static func pack(_ name: Character, _ value: [UInt8], into out: inout [UInt8]) {
        out.append(name.asciiValue!)
        out.append(contentsOf: String(value.count).utf8)
        out.append(UInt8(ascii: ":"))
        out.append(contentsOf: value)
    }

    /// `{"data": <any>, "id": "<string>"}` and nothing else: the data as compact JSON, the id's bytes.
    static func envelope(_ body: [UInt8]) -> ([UInt8], [UInt8])? {
        // Only an object can be one: skip the parse for any other first byte.
        guard body.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }) == UInt8(ascii: "{"),
              let value = try? JSONParser.parse(body), case .object(let members) = value, members.count == 2,
              let data = value["data"], let id = value["id"]?.stringValue else { return nil }
        return (Array(data.serialized().utf8), Array(id.utf8))
    }
}

/// What an S2 append wrote: seqs `firstSeq...lastSeq`, all at `time` (epoch ms).
public struct AppendBatchResult: Equatable, Sendable {
    public var firstSeq: UInt64
    public var lastSeq: UInt64
    public var time: UInt64
}

extension APIError {
    /// S2's 412 for `match_seq_num`: the seq the next record would get.
    public static func seqNumMismatch(expected: UInt64) -> APIError {
        APIError(412, "Sequence number mismatch", detail: "seq_num_mismatch:\(expected)")
    }

    /// S2's 412 for `fencing_token`: the token the stream holds.
    public static func fencingTokenMismatch(held: String) -> APIError {
        APIError(412, "Fencing token mismatch", detail: "fencing_token_mismatch:\(held)")
    }
}
