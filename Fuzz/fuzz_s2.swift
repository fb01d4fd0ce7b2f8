// fuzz_s2 — S2AppendInput from protobuf and from S2's JSON (raw and base64), and S2StoredRecord.
// SOURCES: ProtobufWire.swift S2Messages.swift Base64URL.swift JSONScanner.swift JSONParser.swift JSONValue.swift JSONBytes.swift JSONParseError.swift JSONWriter.swift RecordEncoding.swift APIError.swift SSEFrame.swift SSEFrame+V2.swift S2StoredRecord.swift
// EXTRA: Fuzz/support/FuzzSupport.swift
//
// (S2StoredRecord.swift is RelayStorage's; it needs nothing but RelayCore, and scripts/fuzz
// compiles it into the same module with its `import RelayCore` dropped.)
//
// Every input is given to all three decoders: S2AppendInput(protobuf:), S2AppendInput(json:
// format: .raw) and S2AppendInput(json:format: .base64). Invariants:
//  - none crashes; each is deterministic (a second decode gives the same input or the same error);
//    JSON decoding fails only with a 400;
//  - a decoded input has at most 1000 records;
//  - protobuf round trip: any decoded input (from protobuf or JSON), written canonically with
//    ProtobufWriter, decodes to the same input (bytes compared as bytes, the fencing token too);
//  - protobuf → JSON: an input decoded from protobuf, written as S2 JSON in format base64,
//    decodes to the same input (or is refused with a 400 exactly when a timestamp or
//    match_seq_num is past Int64.max, which JSON numbers here cannot carry); in format raw too
//    when its headers and bodies are UTF-8;
//  - JSON round trip: an input decoded from JSON, written back in its format, decodes to itself;
//  - S2StoredRecord of every decoded record: throws (422 only) exactly when a byte-level
//    reference says it must (headers not UTF-8; a command record (first header name empty)
//    with other headers, an unknown command, a trim body not 8 bytes, a fence token over
//    36 bytes or not UTF-8); otherwise its packed fields parse exactly as
//    "<name><length>:<value>…" with names from h, d, i, b in that order; h is the headers as
//    a JSON array of pairs (absent without headers); a command keeps its body as b and its
//    argument (trim: the body read as a big-endian u64, in decimal; fence: the body); d and i
//    come together, only for a body that parses as a JSON object of exactly data and a string
//    id, with d valid JSON equal to that data and i that id; otherwise b is the body byte for
//    byte, absent only for a control record (headers, empty body).

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Equality on bytes (S2AppendInput's == compares the fencing token as a String, which is
/// canonical equivalence).
private func same(_ a: S2AppendInput, _ b: S2AppendInput) -> Bool {
    a.records == b.records && a.matchSeqNum == b.matchSeqNum
        && a.fencingToken.map { Array($0.utf8) } == b.fencingToken.map { Array($0.utf8) }
}

// MARK: Writers (the reference encodings)

private func protobuf(_ input: S2AppendInput) -> [UInt8] {
    var w = ProtobufWriter()
    for record in input.records {
        w.message(1) { r in
            if let t = record.timestamp { r.uint64(1, t) }
            for header in record.headers {
                r.message(2) { h in
                    if !header.name.isEmpty { h.bytesField(1, header.name) }
                    if !header.value.isEmpty { h.bytesField(2, header.value) }
                }
            }
            if !record.body.isEmpty { r.bytesField(3, record.body) }
        }
    }
    if let m = input.matchSeqNum { w.uint64(2, m) }
    if let f = input.fencingToken { w.bytesField(3, Array(f.utf8)) }
    return w.bytes
}

private func jsonBytes(_ value: [UInt8], _ format: S2Format, to out: inout [UInt8]) {
    switch format {
    case .raw: RecordEncoding.appendJSONString(of: value, to: &out)
    case .base64: out += bytes("\"" + Base64.encode(value) + "\"")
    }
}

private func json(_ input: S2AppendInput, _ format: S2Format) -> [UInt8] {
    var out = bytes(#"{"records":["#)
    for (i, record) in input.records.enumerated() {
        if i > 0 { out.append(0x2C) }
        out += bytes("{")
        var first = true
        func member(_ name: String) {
            if !first { out.append(0x2C) }
            first = false
            out += bytes("\"\(name)\":")
        }
        if let t = record.timestamp { member("timestamp"); JSONBytes.appendDecimal(t, to: &out) }
        if !record.headers.isEmpty {
            member("headers")
            out += bytes("[")
            for (k, header) in record.headers.enumerated() {
                if k > 0 { out.append(0x2C) }
                out += bytes("[")
                jsonBytes(header.name, format, to: &out)
                out.append(0x2C)
                jsonBytes(header.value, format, to: &out)
                out += bytes("]")
            }
            out += bytes("]")
        }
        if !record.body.isEmpty { member("body"); jsonBytes(record.body, format, to: &out) }
        out += bytes("}")
    }
    out += bytes("]")
    if let m = input.matchSeqNum { out += bytes(#","match_seq_num":"#); JSONBytes.appendDecimal(m, to: &out) }
    if let f = input.fencingToken { out += bytes(#","fencing_token":"#); RecordEncoding.appendJSONString(of: Array(f.utf8), to: &out) }
    out += bytes("}")
    return out
}

private func fitsJSON(_ input: S2AppendInput) -> Bool {
    let limit = UInt64(Int64.max)
    return (input.matchSeqNum ?? 0) <= limit && input.records.allSatisfy { ($0.timestamp ?? 0) <= limit }
}

private func isUTF8(_ b: [UInt8]) -> Bool { String(validating: b, as: UTF8.self) != nil }

// MARK: Checks

private func checkRoundTrips(_ decoded: S2AppendInput, fromJSON format: S2Format?, _ input: [UInt8]) {
    check(decoded.records.count <= S2Limits.maxRecordsPerBatch, "more than 1000 records decoded", input)

    let pb = protobuf(decoded)
    do {
        let again = try S2AppendInput(protobuf: pb[...])
        check(same(again, decoded), "protobuf round trip changed the input: \(again)", input)
    } catch {
        check(false, "canonical protobuf of a decoded input does not decode: \(error.reason)", input)
    }

    var formats: [S2Format] = []
    if let format {
        formats = [format]
    } else {
        formats = [.base64]
        if decoded.records.allSatisfy({ isUTF8($0.body) && $0.headers.allSatisfy { isUTF8($0.name) && isUTF8($0.value) } }) {
            formats.append(.raw)
        }
    }
    for f in formats {
        let text = json(decoded, f)
        do {
            let again = try S2AppendInput(json: text, format: f)
            check(fitsJSON(decoded), "JSON accepted a number past Int64.max", input)
            check(same(again, decoded), "JSON (\(f)) round trip changed the input: \(again)", input)
        } catch {
            check(!fitsJSON(decoded), "JSON (\(f)) of a decoded input refused: \(error.message) \(String(decoding: text.prefix(300), as: UTF8.self))", input)
            check(error.status == 400, "JSON refusal is not a 400", input)
        }
    }

    for record in decoded.records { checkStored(record, input) }
}

private func parsePacked(_ packed: [UInt8]) -> [(UInt8, [UInt8])]? {
    var out: [(UInt8, [UInt8])] = []
    var at = 0
    while at < packed.count {
        let name = packed[at]
        at += 1
        var length = 0
        var digits = 0
        while at < packed.count, packed[at] >= 0x30, packed[at] <= 0x39 {
            length = length * 10 + Int(packed[at] - 0x30)
            digits += 1
            at += 1
            if digits > 9 { return nil }
        }
        guard digits > 0, at < packed.count, packed[at] == UInt8(ascii: ":") else { return nil }
        at += 1
        guard length <= packed.count - at else { return nil }
        out.append((name, Array(packed[at..<(at + length)])))
        at += length
    }
    return out
}

private func sameJSON(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case (.bool(let x), .bool(let y)): return x == y
    case (.number(let x), .number(let y)), (.string(let x), .string(let y)): return x.utf8.elementsEqual(y.utf8)
    case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { sameJSON($0, $1) }
    case (.object(let x), .object(let y)):
        return x.count == y.count && zip(x, y).allSatisfy { $0.key.utf8.elementsEqual($1.key.utf8) && sameJSON($0.value, $1.value) }
    default: return false
    }
}

/// The envelope as a byte-level reading sees it: (data, id) for an object of exactly the members
/// "data" and "id" (id a string), in either order.
private func referenceEnvelope(_ body: [UInt8]) -> (JSONValue, String)? {
    guard let value = try? JSONParser.parse(body), case .object(let members) = value, members.count == 2 else { return nil }
    let keys = members.map { Array($0.key.utf8) }
    let dataIndex = keys.firstIndex(of: bytes("data")), idIndex = keys.firstIndex(of: bytes("id"))
    guard let d = dataIndex, let i = idIndex, d != i, case .string(let id) = members[i].value else { return nil }
    return (members[d].value, id)
}

private func checkStored(_ record: S2AppendRecord, _ input: [UInt8]) {
    let utf8Headers = record.headers.allSatisfy { isUTF8($0.name) && isUTF8($0.value) }
    let isCommand = record.headers.first?.name.isEmpty == true
    var mustFail = !utf8Headers
    if utf8Headers && isCommand {
        let name = record.headers[0].value
        if record.headers.count != 1 { mustFail = true }
        else if name == bytes("trim") { mustFail = record.body.count != 8 }
        else if name == bytes("fence") { mustFail = record.body.count > 36 || !isUTF8(record.body) }
        else { mustFail = true }
    }

    let stored: S2StoredRecord
    do {
        stored = try S2StoredRecord(record)
    } catch {
        check(mustFail, "S2StoredRecord refused a good record: \(error.message)", input)
        check(error.status == 422, "S2StoredRecord refusal is not a 422", input)
        return
    }
    check(!mustFail, "S2StoredRecord accepted a record the reference refuses", input)
    guard let fields = parsePacked(stored.packedFields) else {
        check(false, "packed fields do not parse", input)
        return
    }
    let names = fields.map(\.0)
    let value = { (n: Character) in fields.first { $0.0 == n.asciiValue! }?.1 }

    // Headers.
    if record.headers.isEmpty {
        check(value("h") == nil, "h without headers", input)
    } else if let h = value("h") {
        guard let parsed = try? JSONParser.parse(h), let pairs = parsed.arrayValue, pairs.count == record.headers.count else {
            check(false, "h is not a JSON array of the headers", input)
            return
        }
        for (pair, header) in zip(pairs, record.headers) {
            let parts = pair.arrayValue ?? []
            check(parts.count == 2 && parts[0].stringValue.map { Array($0.utf8) } == header.name
                  && parts[1].stringValue.map { Array($0.utf8) } == header.value, "h differs from the headers", input)
        }
    } else {
        check(false, "headers not stored", input)
    }

    if isCommand {
        check(names == [UInt8(ascii: "h"), UInt8(ascii: "b")], "command fields are not h, b", input)
        check(value("b") == record.body, "command body changed", input)
        if record.headers[0].value == bytes("trim") {
            let seq = record.body.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            check(stored.command == "trim" && stored.commandArgument == bytes(String(seq)), "trim argument", input)
        } else {
            check(stored.command == "fence" && stored.commandArgument == record.body, "fence argument", input)
        }
        return
    }
    check(stored.command.isEmpty && stored.commandArgument.isEmpty, "a command for a non-command record", input)

    // (S2StoredRecord only tries bodies that start with "{", a space or LF: a JSON.stringify
    // envelope never starts otherwise; other bodies are kept as written.)
    if let (data, id) = referenceEnvelope(record.body),
       record.body.first == UInt8(ascii: "{") || record.body.first == 0x20 || record.body.first == 0x0A {
        let expected = record.headers.isEmpty ? bytes("di") : bytes("hdi")
        check(names == expected, "envelope fields are not [h] d i", input)
        guard let d = value("d"), let parsed = try? JSONParser.parse(d) else {
            check(false, "d is not valid JSON", input)
            return
        }
        check(sameJSON(parsed, data), "d differs from the envelope's data", input)
        check(value("i") == Array(id.utf8), "i differs from the envelope's id", input)
    } else if record.body.isEmpty && !record.headers.isEmpty {
        check(names == [UInt8(ascii: "h")], "a control record has fields other than h", input)
    } else {
        let expected = record.headers.isEmpty ? bytes("b") : bytes("hb")
        check(names == expected, "raw record fields are not [h] b", input)
        check(value("b") == record.body, "b differs from the body", input)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = Array(UnsafeBufferPointer(start: data, count: size))

    // Protobuf.
    var fromProtobuf: S2AppendInput?
    var protobufError: ProtobufError?
    do { fromProtobuf = try S2AppendInput(protobuf: input[...]) } catch { protobufError = error }
    do {
        let again = try S2AppendInput(protobuf: input[...])
        check(fromProtobuf.map { same($0, again) } == true, "protobuf decoding is not deterministic", input)
    } catch {
        check(protobufError == error, "protobuf decoding is not deterministic (error)", input)
    }
    if let fromProtobuf { checkRoundTrips(fromProtobuf, fromJSON: nil, input) }

    // JSON, both formats.
    for format in [S2Format.raw, .base64] {
        do {
            let decoded = try S2AppendInput(json: input, format: format)
            checkRoundTrips(decoded, fromJSON: format, input)
        } catch {
            check(error.status == 400, "JSON decoding failed with \(error.status)", input)
        }
    }
    return 0
}
