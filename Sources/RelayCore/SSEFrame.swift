// SSEFrame.swift — Server-Sent Events framing, as bytes built once per record and written
// to every subscriber.
//
//   id: N\n [event: control\n] data: <record JSON>\n \n
// A JSON body may hold raw CR/LF between tokens; each such line break starts a new
// "data: " line, so framing holds and the client rejoins the lines with "\n".

public enum SSEFrame {
    public static func record(id: UInt64, recordJSON: [UInt8], isControl: Bool) -> [UInt8] {
        record(id: id, recordJSON: recordJSON[...], isControl: isControl)
    }

    public static func record(id: UInt64, recordJSON: ArraySlice<UInt8>, isControl: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(recordJSON.count + 48)
        out.append(contentsOf: "id: ".utf8)
        JSONBytes.appendDecimal(id, to: &out)
        out.append(0x0A)
        if isControl { out.append(contentsOf: "event: control\n".utf8) }
        appendData(recordJSON, to: &out)
        out.append(0x0A)
        return out
    }

    /// "retry: N\n\n": how long a browser waits before reconnecting (sent once, first).
    public static func retry(milliseconds: Int) -> [UInt8] {
        Array("retry: \(milliseconds)\n\n".utf8)
    }

    /// ": ping\n\n", a comment that keeps proxies from cutting an idle stream.
    public static let ping: [UInt8] = Array(": ping\n\n".utf8)

    /// ": token expired\n\n", the last thing a stream sends when its public token expires.
    public static let tokenExpired: [UInt8] = Array(": token expired\n\n".utf8)

    /// The event sent first when Last-Event-ID is older than the retained window.
    public static func gap(requested: UInt64, firstAvailable: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(80)
        out.append(contentsOf: "event: gap\ndata: {\"requested\":".utf8)
        JSONBytes.appendDecimal(requested, to: &out)
        out.append(contentsOf: ",\"firstAvailable\":".utf8)
        JSONBytes.appendDecimal(firstAvailable, to: &out)
        out.append(contentsOf: "}\n\n".utf8)
        return out
    }

    /// A loss signal (docs/API.md, History guarantees): `id: P\nevent: lost\ndata: <JSON>\n\n`.
    /// A loss marker of the channel: `id` is its seq (P = id). A resume point past the channel's
    /// end: `id` is nil (the JSON names no record) and P is `after`, where the channel ends and
    /// where a client resumes from.
    public static func lost(id: UInt64?, after: UInt64, before: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        out.append(contentsOf: "id: ".utf8)
        JSONBytes.appendDecimal(id ?? after, to: &out)
        out.append(0x0A)
        out.append(contentsOf: "event: lost\ndata: ".utf8)
        out.append(contentsOf: RecordEncoding.lossJSON(id: id, after: after, before: before, includeSeqNum: false))
        out.append(contentsOf: "\n\n".utf8)
        return out
    }

    /// "data: <line>\n" for each line of `payload` (split on CRLF, CR or LF).
    static func appendData(_ payload: ArraySlice<UInt8>, to out: inout [UInt8]) {
        let prefix: StaticString = "data: "
        let prefixBytes = UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount)
        payload.withUnsafeBufferPointer { p in
            var lineStart = 0
            var i = 0
            let n = p.count
            while i < n {
                let c = p[i]
                if c != 0x0A && c != 0x0D {
                    i += 1
                    continue
                }
                out.append(contentsOf: prefixBytes)
                out.append(contentsOf: UnsafeBufferPointer(rebasing: p[lineStart..<i]))
                out.append(0x0A)
                i += (c == 0x0D && i + 1 < n && p[i + 1] == 0x0A) ? 2 : 1
                lineStart = i
            }
            out.append(contentsOf: prefixBytes)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: p[lineStart..<n]))
            out.append(0x0A)
        }
    }
}
