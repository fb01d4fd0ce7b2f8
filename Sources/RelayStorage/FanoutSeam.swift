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

/// An entry of a channel as stored: a record (its sequence number and either the data JSON or
/// the control headers), or a loss marker (`lostAfter`: records after that seq and before this
/// one may have been lost with a primary; docs/API.md, History guarantees).
public struct StoredRecord: Equatable, Sendable {
    public var seq: UInt64
    /// The record's `data` as JSON text (the body itself, or the body as a JSON string).
    public var data: [UInt8]?
    /// A control record's headers as a JSON array text.
    public var headers: [UInt8]?
    /// A loss marker: the last seq the channel kept before it.
    public var lostAfter: UInt64?

    public init(seq: UInt64, data: [UInt8]? = nil, headers: [UInt8]? = nil, lostAfter: UInt64? = nil) {
        self.seq = seq
        self.data = data
        self.headers = headers
        self.lostAfter = lostAfter
    }

    public var isControl: Bool { headers != nil }
    public var isLossMarker: Bool { lostAfter != nil }

    /// The seq of the channel's entry before this one, as far as the channel knows: `seq - 1`,
    /// or for a loss marker the last seq kept. A reader at `delivered` misses nothing when
    /// `previous <= delivered` (see `ChannelContinuity`).
    public var previous: UInt64 { lostAfter ?? (seq - 1) }

    /// A control record whose `trigger-control` header is `turn-complete`: the task finished
    /// its turn, nothing more comes until the next `.in` message.
    public var isTurnComplete: Bool {
        guard let headers, let text = String(validating: headers, as: UTF8.self) else { return false }
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

    public init(records: [StoredRecord], last: UInt64, highWatermark: UInt64, ended: Bool = false) {
        self.records = records
        self.last = last
        self.highWatermark = highWatermark
        self.ended = ended
    }
}

/// One live message as the storage scripts publish it on a channel's pub/sub channel
/// (append_record.lua, commit_records.lua, check_generation and publish_closed in lib.lua):
///   "SEQ D\n<data field>" / "SEQ C\n<headers field>": a record, with the stream field as stored;
///   "SEQ L\n<K>": a loss marker (the records after K up to SEQ were lost with a primary);
///   "SEQ x\n": the session closed, the channel ends at SEQ;
///   "SEQ d|c\n<record JSON>": a record published whole by a node of the previous version.
public enum LiveRecord: Equatable, Sendable {
    case record(seq: UInt64, field: ArraySlice<UInt8>, isControl: Bool)
    case recordJSON(seq: UInt64, json: ArraySlice<UInt8>, isControl: Bool)
    case lost(seq: UInt64, after: UInt64)
    case closed(lastSeq: UInt64)

    /// nil for a payload of none of the shapes above (it is ignored).
    public init?(payload: [UInt8]) {
        guard let space = payload.firstIndex(of: 0x20), space + 2 < payload.count, payload[space + 2] == 0x0A,
              let seq = UInt64(String(decoding: payload[..<space], as: UTF8.self)), seq > 0 else { return nil }
        let body = payload[(space + 3)...]
        switch payload[space + 1] {
        case UInt8(ascii: "D"): self = .record(seq: seq, field: body, isControl: false)
        case UInt8(ascii: "C"): self = .record(seq: seq, field: body, isControl: true)
        case UInt8(ascii: "d"): self = .recordJSON(seq: seq, json: body, isControl: false)
        case UInt8(ascii: "c"): self = .recordJSON(seq: seq, json: body, isControl: true)
        case UInt8(ascii: "x"): self = .closed(lastSeq: seq)
        case UInt8(ascii: "L"):
            guard let after = UInt64(String(decoding: body, as: UTF8.self)), after < seq else { return nil }
            self = .lost(seq: seq, after: after)
        default: return nil
        }
    }

    /// The entry's sequence number (a close: the channel's last).
    public var seq: UInt64 {
        switch self {
        case .record(let seq, _, _), .recordJSON(let seq, _, _), .lost(let seq, _): return seq
        case .closed(let lastSeq): return lastSeq
        }
    }

    /// The entry before this one in the channel: seq - 1, or for a loss marker the last seq kept.
    public var previous: UInt64 {
        if case .lost(_, let after) = self { return after }
        return seq - 1
    }
}
