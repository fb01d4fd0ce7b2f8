// StampScanner: the load tester's SSE reader. It scans a byte stream for `data:` lines and
// pulls two numbers out of each: "n" (the publisher's per-channel sequence number) and "t"
// (the publish time in microseconds). No Strings, no JSON values: it runs on every delivered
// event, hundreds of thousands per second. Works for the relay's records
// ({"data":{"n":1,"t":...},"id":1}) and for nchan's raw bodies ({"n":1,"t":...}).
// Lines may be split across chunks; lines end with LF or CRLF.

public struct Stamp: Equatable, Sendable {
    public var n: UInt64
    public var t: UInt64
    public init(n: UInt64, t: UInt64) { self.n = n; self.t = t }
}

public struct StampScanner: Sendable {
    private var line: [UInt8] = []
    /// Events whose data line had no stamp (control records, gaps, foreign data).
    public private(set) var unstamped = 0

    public init() {}

    /// Feeds bytes; calls `found` for every stamped data line completed by them.
    public mutating func feed(_ bytes: [UInt8], _ found: (Stamp) -> Void) {
        var start = 0
        while start < bytes.count {
            guard let newline = bytes[start...].firstIndex(of: 0x0A) else {
                line.append(contentsOf: bytes[start...])
                return
            }
            if line.isEmpty {
                scan(bytes[start..<newline], found)
            } else {
                line.append(contentsOf: bytes[start..<newline])
                scan(line[...], found)
                line.removeAll(keepingCapacity: true)
            }
            start = newline + 1
        }
    }

    private mutating func scan(_ text: ArraySlice<UInt8>, _ found: (Stamp) -> Void) {
        // "data:" prefix
        guard text.count > 5, text[text.startIndex] == 0x64, text[text.startIndex + 1] == 0x61,
              text[text.startIndex + 2] == 0x74, text[text.startIndex + 3] == 0x61,
              text[text.startIndex + 4] == 0x3A else { return }
        guard let n = StampScanner.number(after: StampScanner.nKey, in: text),
              let t = StampScanner.number(after: StampScanner.tKey, in: text) else {
            unstamped += 1
            return
        }
        found(Stamp(n: n, t: t))
    }

    static let nKey: [UInt8] = Array(#""n":"#.utf8)
    static let tKey: [UInt8] = Array(#""t":"#.utf8)

    /// The unsigned integer right after `key` in `text`, or nil.
    static func number(after key: [UInt8], in text: ArraySlice<UInt8>) -> UInt64? {
        var i = text.startIndex
        let end = text.endIndex - key.count
        while i <= end {
            if text[i] == key[0] && text[i + 1] == key[1] && text[i + 2] == key[2] && text[i + 3] == key[3] {
                var j = i + key.count
                while j < text.endIndex && text[j] == 0x20 { j += 1 }
                var value: UInt64 = 0
                var digits = 0
                while j < text.endIndex, text[j] >= 0x30, text[j] <= 0x39 {
                    value = value &* 10 &+ UInt64(text[j] - 0x30)
                    digits += 1
                    j += 1
                }
                return digits > 0 ? value : nil
            }
            i += 1
        }
        return nil
    }
}
