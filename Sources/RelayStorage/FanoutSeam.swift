// The fan-out seam: everything the fan-out (RelayHTTP's FanoutHub and ChannelFeed) needs from
// Redis, in one place. Two small protocols: the log of a channel (range reads for catch-up and
// gap filling, the closed state) and the pub/sub connection (one subscription per channel,
// reconnect notifications); ChannelStore and ShardedPubSub are the real ones, unit tests use
// in-memory fakes. And the records they carry: a channel's entry as stored (StoredRecord), one
// read of a channel (ChannelPage), and the typed live record, what the storage scripts publish
// for each entry, decoded here (LiveRecord).
import RelayCore
import RelayIO
import RelayRedis

/// Reads of a channel's log (a Redis stream).
public protocol ChannelLog: AnyObject {
    /// The pub/sub channel on which a channel's live records are published.
    func channelName(session: String, io: ChannelIO) -> String
    /// Entries with seq > `after` up to the high watermark, at most `count`, oldest first,
    /// and where the channel ends.
    func range(session: String, io: ChannelIO, after: UInt64, count: Int,
               _ completion: @escaping (Result<ChannelPage, APIError>) -> Void)
    /// The channel's last sequence number if the session is closed or expired, nil if open.
    func closedState(session: String, io: ChannelIO, _ completion: @escaping (Result<UInt64?, APIError>) -> Void)
}

/// The node's pub/sub connection(s): one per primary in ShardedPubSub (see there for what
/// "connected" means with several).
public protocol PubSubChannels: AnyObject {
    var isConnected: Bool { get }
    /// Run after every (re)connect, and after every drop (ShardedPubSub: of the last connection).
    var onConnected: [() -> Void] { get set }
    var onDisconnected: [() -> Void] { get set }
    /// Subscribes; `handler` gets `.subscribed`, the messages, then `.unsubscribed` or
    /// `.connectionLost` (at once if the connection is down).
    func subscribe(_ channel: String, _ handler: @escaping (PubSubEvent) -> Void)
    func unsubscribe(_ channel: String)
}

extension ShardedPubSub: PubSubChannels {}

extension ChannelStore: ChannelLog {
    public func channelName(session: String, io: ChannelIO) -> String {
        keys.channel(session: session, io: io)
    }
}

/// An entry of a channel as stored: a record (its sequence number, its time, and its data JSON,
/// its headers or both), or a loss marker (`lostAfter`: records after that seq and before this
/// one may have been lost with a primary; docs/API.md, History guarantees).
public struct StoredRecord: Equatable, Sendable {
    public var seq: UInt64
    /// The record's `data` as JSON text (the body itself, or the body as a JSON string). For a
    /// record written through the S2 API with a body that was not the `{"data","id"}` envelope,
    /// the body as a JSON string (`body` keeps the bytes).
    public var data: [UInt8]?
    /// The record's headers as a JSON array text: a control record's, or an S2 record's.
    public var headers: [UInt8]?
    /// A loss marker: the last seq the channel kept before it.
    public var lostAfter: UInt64?
    /// When the channel took the record (epoch ms; 0 for a record stored before times were).
    public var time: UInt64
    /// An S2 record's body as written, when it was not the `{"data","id"}` envelope.
    public var body: [UInt8]?
    /// The envelope's `id` of a record written through the S2 API (the writer's dedupe id).
    public var envelopeId: [UInt8]?
    /// The X-Part-Id it was appended with, if any.
    public var partId: [UInt8]?

    public init(seq: UInt64, data: [UInt8]? = nil, headers: [UInt8]? = nil, lostAfter: UInt64? = nil,
                time: UInt64 = 0, body: [UInt8]? = nil, envelopeId: [UInt8]? = nil) {
        self.seq = seq
        self.data = data
        self.headers = headers
        self.lostAfter = lostAfter
        self.time = time
        self.body = body
        self.envelopeId = envelopeId
    }

    /// The entry from its stream fields (as the live messages give them); fields of other
    /// names are ignored.
    public init(seq: UInt64, fields: some Sequence<(ArraySlice<UInt8>, ArraySlice<UInt8>)>) {
        self.init(seq: seq)
        for (name, value) in fields { set(field: name, value) }
        fieldsDone()
    }

    /// Takes one stream field (XRANGE and the live messages name them alike); call `fieldsDone`
    /// after the last.
    mutating func set(field name: some Collection<UInt8>, _ value: ArraySlice<UInt8>) {
        guard name.count == 1 else { return }
        switch name.first! {
        case UInt8(ascii: "d"): data = Array(value)
        case UInt8(ascii: "h"): headers = Array(value)
        case UInt8(ascii: "b"): body = Array(value)
        case UInt8(ascii: "i"): envelopeId = Array(value)
        case UInt8(ascii: "p"): partId = Array(value)
        case UInt8(ascii: "t"): time = JSONBytes.parseDecimal(value) ?? 0
        case UInt8(ascii: "l"): lostAfter = JSONBytes.parseDecimal(value)
        default: break
        }
    }

    /// A raw S2 body is the documented format's data as a JSON string.
    mutating func fieldsDone() {
        guard data == nil, let body else { return }
        var quoted: [UInt8] = []
        RecordEncoding.appendJSONString(of: body, to: &quoted)
        data = quoted
    }

    /// A record with headers and no data (the documented format's `event: control`).
    public var isControl: Bool { data == nil && headers != nil }
    public var isLossMarker: Bool { lostAfter != nil }
    /// An S2 command record (trim, fence): its first header's name is empty. It takes a seq,
    /// S2 readers see it, the documented format does not show it.
    public var isCommand: Bool {
        guard let headers else { return false }
        return headers.starts(with: #"[["","#.utf8)
    }

    /// The seq of the channel's entry before this one, as far as the channel knows: `seq - 1`,
    /// or for a loss marker the last seq kept. A reader at `delivered` misses nothing when
    /// `previous <= delivered` (see `ChannelContinuity`).
    public var previous: UInt64 { lostAfter ?? (seq - 1) }

    /// A control record whose `trigger-control` header is `turn-complete`: the task finished
    /// its turn, nothing more comes until the next `.in` message.
    public var isTurnComplete: Bool {
        guard data == nil, let headers, let text = String(validating: headers, as: UTF8.self) else { return false }
        return text.hasPrefix(#"[["trigger-control","turn-complete"]"#)
    }

    /// `{"data":...,"id":N[,"seqNum":N][,"headers":[...]]}`, or for a loss marker
    /// `{"data":null,"id":N[,"seqNum":N],"lost":{"after":K,"before":N}}`.
    public func json(includeSeqNum: Bool) -> [UInt8] {
        if let lostAfter {
            return RecordEncoding.lossJSON(id: seq, after: lostAfter, before: seq, includeSeqNum: includeSeqNum)
        }
        return RecordEncoding.json(id: seq, dataJSON: data, headersJSON: headers, includeSeqNum: includeSeqNum)
    }
}

/// One read of a channel (read_channel.lua): records after a position, up to the high
/// watermark, and where the channel ends.
public struct ChannelPage: Equatable, Sendable {
    public var records: [StoredRecord]
    /// The channel's last seq (0: none yet), visible or not.
    public var last: UInt64
    /// The last seq readers may see (below `last` only while replicas have not confirmed).
    public var highWatermark: UInt64
    /// The session is closed or expired.
    public var ended: Bool
    /// The time of the channel's last record (epoch ms; 0: none, or written before times were).
    public var lastTime: UInt64 = 0

    public init(records: [StoredRecord], last: UInt64, highWatermark: UInt64, ended: Bool = false) {
        self.records = records
        self.last = last
        self.highWatermark = highWatermark
        self.ended = ended
    }
}

/// One live message as the storage scripts publish it on a channel's pub/sub channel
/// (append_records.lua, append_batch.lua, commit_records.lua, check_generation and publish_closed
/// in lib.lua):
///   "SEQ E\n<name><length>:<value>...": an entry, with its stream fields as stored;
///   "SEQ x\n": the session closed, the channel ends at SEQ;
/// and from nodes of earlier versions (a cluster being upgraded):
///   "SEQ D\n<data field>" / "SEQ C\n<headers field>" / "SEQ L\n<K>": an entry of one field;
///   "SEQ d|c\n<record JSON>": a record published whole.
public enum LiveRecord: Equatable, Sendable {
    case entry(StoredRecord)
    case closed(lastSeq: UInt64)

    /// nil for a payload of none of the shapes above (it is ignored).
    public init?(payload: [UInt8]) {
        guard let space = payload.firstIndex(of: 0x20), space + 2 < payload.count, payload[space + 2] == 0x0A,
              let seq = JSONBytes.parseDecimal(payload[..<space]), seq > 0 else { return nil }
        let body = payload[(space + 3)...]
        switch payload[space + 1] {
        case UInt8(ascii: "E"):
            guard let fields = Self.fields(body) else { return nil }
            let entry = StoredRecord(seq: seq, fields: fields)
            if let after = entry.lostAfter, after >= seq { return nil }
            self = .entry(entry)
        case UInt8(ascii: "D"): self = .entry(StoredRecord(seq: seq, data: Array(body)))
        case UInt8(ascii: "C"): self = .entry(StoredRecord(seq: seq, headers: Array(body)))
        case UInt8(ascii: "d"), UInt8(ascii: "c"):
            // The record JSON {"data": …, "id": N[, "headers": […]]}, taken apart again.
            guard let json = try? JSONParser.parse(Array(body)), case .object = json else { return nil }
            let isControl = payload[space + 1] == UInt8(ascii: "c")
            let data = json["data"].flatMap { isControl && $0.isNull ? nil : Array($0.serialized().utf8) }
            let headers = json["headers"].map { Array($0.serialized().utf8) }
            self = .entry(StoredRecord(seq: seq, data: data, headers: headers))
        case UInt8(ascii: "x"): self = .closed(lastSeq: seq)
        case UInt8(ascii: "L"):
            guard let after = JSONBytes.parseDecimal(body), after < seq else { return nil }
            self = .entry(StoredRecord(seq: seq, lostAfter: after))
        default: return nil
        }
    }

    /// "<name><length>:<value>..." as (name, value) pairs; nil if it is not exactly that.
    static func fields(_ packed: ArraySlice<UInt8>) -> [(ArraySlice<UInt8>, ArraySlice<UInt8>)]? {
        var fields: [(ArraySlice<UInt8>, ArraySlice<UInt8>)] = []
        var at = packed.startIndex
        while at < packed.endIndex {
            let name = packed[at..<(at + 1)]
            guard let colon = packed[(at + 1)...].firstIndex(of: UInt8(ascii: ":")), colon - at <= 11,
                  let length = JSONBytes.parseDecimal(packed[(at + 1)..<colon]),
                  length <= UInt64(packed.endIndex - colon - 1) else { return nil }
            let end = colon + 1 + Int(length)
            fields.append((name, packed[(colon + 1)..<end]))
            at = end
        }
        return fields
    }

    /// The entry's sequence number (a close: the channel's last).
    public var seq: UInt64 {
        switch self {
        case .entry(let record): return record.seq
        case .closed(let lastSeq): return lastSeq
        }
    }

    /// The entry before this one in the channel: seq - 1, or for a loss marker the last seq kept.
    public var previous: UInt64 {
        if case .entry(let record) = self { return record.previous }
        return seq - 1
    }
}
