// Framing: how a channel stream writes its records. The two SSE formats a client of the session
// API chooses (StreamFormat), and S2S, the binary framing of an S2 read session
// (GET …/records with content-type s2s/proto; docs/trigger-sdk.md): each event one frame
// (3-byte length, flag byte) holding an s2.v1.ReadBatch; a heartbeat is a batch with only the tail.
import RelayCore

enum Framing {
    case documented, v2, s2s

    init(_ format: StreamFormat) {
        switch format {
        case .documented: self = .documented
        case .v2: self = .v2
        }
    }

    var contentType: String { self == .s2s ? "s2s/proto" : "text/event-stream" }

    /// An S2S frame of one ReadBatch (flag 0: not terminal, not compressed).
    static func s2sBatch(_ records: [S2SequencedRecord], tail: S2Position) -> [UInt8] {
        S2AppendSession.frame(flag: 0, S2ReadBatch.protobuf(records: records, tail: tail))
    }
}
