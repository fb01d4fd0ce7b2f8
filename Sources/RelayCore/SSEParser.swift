// SSEParser: the client side of SSE framing (the example worker and the load tester read
// streams with it). Feed it bytes as they arrive; it returns the complete events.
// Lines end with LF, CRLF or CR; "data" lines join with LF; comments (": ...") are reported.

public struct SSEEvent: Equatable, Sendable {
    public var id: String?
    public var event: String?
    public var data: String
    /// A comment line (": ping"): no id, no data.
    public var comment: String?

    public init(id: String? = nil, event: String? = nil, data: String = "", comment: String? = nil) {
        self.id = id
        self.event = event
        self.data = data
        self.comment = comment
    }
}

public struct SSEParser: Sendable {
    private var line: [UInt8] = []
    private var lastWasCR = false
    private var id: String?
    private var event: String?
    private var data: [UInt8] = []
    private var hasData = false
    private var hasFields = false

    public init() {}

    public mutating func feed(_ bytes: [UInt8]) -> [SSEEvent] {
        var events: [SSEEvent] = []
        for byte in bytes {
            if byte == 0x0A && lastWasCR { lastWasCR = false; continue }
            lastWasCR = byte == 0x0D
            if byte == 0x0A || byte == 0x0D {
                if let event = endLine() { events.append(event) }
            } else {
                line.append(byte)
            }
        }
        return events
    }

    private mutating func endLine() -> SSEEvent? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            guard hasFields else { return nil }
            let out = SSEEvent(id: id, event: event, data: String(decoding: data, as: UTF8.self))
            id = nil; event = nil; data.removeAll(keepingCapacity: true); hasData = false; hasFields = false
            return out
        }
        if line[0] == UInt8(ascii: ":") {
            var text = line.dropFirst()
            if text.first == 0x20 { text = text.dropFirst() }
            return SSEEvent(comment: String(decoding: text, as: UTF8.self))
        }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.count
        let name = String(decoding: line[..<colon], as: UTF8.self)
        var value = colon < line.count ? line[(colon + 1)...] : []
        if value.first == 0x20 { value = value.dropFirst() }
        hasFields = true
        switch name {
        case "id": id = String(decoding: value, as: UTF8.self)
        case "event": event = String(decoding: value, as: UTF8.self)
        case "data":
            if hasData { data.append(0x0A) }
            data.append(contentsOf: value)
            hasData = true
        default: break
        }
        return nil
    }
}
