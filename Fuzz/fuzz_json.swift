// fuzz_json — JSONScanner / JSONParser / JSONWriter / RecordData.
// SOURCES: JSONScanner.swift JSONParser.swift JSONValue.swift JSONBytes.swift JSONParseError.swift JSONWriter.swift RecordData.swift RecordEncoding.swift APIError.swift
// EXTRA: Fuzz/support/FuzzSupport.swift
//
// Invariants, for arbitrary bytes:
//  - parse and validity agree: parse succeeds <=> validity == .valid; isValid == (validity == .valid);
//    validity == .tooDeep => parse fails with the nesting error.
//  - round trip: serialized() of a parsed value is valid, re-parses to the same value, and
//    serializing again gives byte-identical text.
//  - depth: the parsed value nests at most JSONParser.maxDepth containers; the input wrapped in
//    k more arrays (k near the limit) is valid / tooDeep exactly as depth + k says, and never crashes.
//  - RecordData.json(forBody:): throws only for .tooDeep; its output is valid JSON without raw CR/LF;
//    a valid body keeps its value; any other body becomes a JSON string (exactly the body's text
//    when the body is valid UTF-8).

private func depth(_ v: JSONValue) -> Int {
    switch v {
    case .array(let items): return 1 + (items.map(depth).max() ?? 0)
    case .object(let members): return 1 + (members.map { depth($0.value) }.max() ?? 0)
    default: return 0
    }
}

/// Byte-level equality of two trees (Swift String == is canonical equivalence, too lenient here).
private func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case (.bool(let x), .bool(let y)): return x == y
    case (.number(let x), .number(let y)), (.string(let x), .string(let y)):
        return x.utf8.elementsEqual(y.utf8)
    case (.array(let x), .array(let y)):
        return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
    case (.object(let x), .object(let y)):
        return x.count == y.count && zip(x, y).allSatisfy { $0.key.utf8.elementsEqual($1.key.utf8) && same($0.value, $1.value) }
    default: return false
    }
}

private func isJSONWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

private func checkOne(_ input: [UInt8]) -> (JSONValue?, JSONValidity) {
    let validity = JSONParser.validity(input)
    check(JSONParser.isValid(input) == (validity == .valid), "isValid disagrees with validity", input)
    var parsed: JSONValue?
    var parseError: JSONParseError?
    do { parsed = try JSONParser.parse(input) } catch let e as JSONParseError { parseError = e } catch {
        check(false, "parse threw a non-JSONParseError", input)
    }
    if let parsed {
        check(validity == .valid, "parser accepts what the scanner calls \(validity)", input)
        check(depth(parsed) <= JSONParser.maxDepth, "parsed value deeper than maxDepth", input)
        let text = parsed.serialized()
        let bytes = Array(text.utf8)
        check(JSONParser.validity(bytes) == .valid, "serialized text is not valid JSON", input)
        guard let again = try? JSONParser.parse(bytes) else {
            check(false, "serialized text does not re-parse", input)
            return (parsed, validity)
        }
        check(same(parsed, again), "round trip changed the value", input)
        check(Array(again.serialized().utf8) == bytes, "second serialization differs", input)
        // The String entry point agrees with the bytes entry point on valid UTF-8.
        if let s = String(validating: input, as: UTF8.self) {
            check((try? JSONParser.parse(s)).map { same($0, parsed) } == true, "parse(String) differs", input)
        }
    } else {
        check(validity != .valid, "scanner accepts what the parser rejects: \(parseError?.message ?? "")", input)
        if validity == .tooDeep {
            check(parseError?.message.hasPrefix("Nesting deeper") == true,
                  "tooDeep input failed to parse for another reason: \(parseError?.message ?? "")", input)
        }
        if let e = parseError { check(e.offset >= 0 && e.offset <= input.count, "error offset out of range", input) }
    }

    // RecordData
    do {
        let out = try RecordData.json(forBody: input)
        check(validity != .tooDeep, "RecordData accepted a too-deep body", input)
        check(!out.contains(0x0A) && !out.contains(0x0D), "RecordData output has raw CR/LF", input)
        check(JSONParser.validity(out) == .valid, "RecordData output is not valid JSON", input)
        let value = try? JSONParser.parse(out)
        if let parsed {
            check(value.map { same($0, parsed) } == true, "RecordData changed a valid body's value", input)
        } else {
            guard case .string(let s)? = value else {
                check(false, "RecordData did not store an invalid body as a string", input)
                return (parsed, validity)
            }
            if String(validating: input, as: UTF8.self) != nil {
                check(Array(s.utf8) == input, "RecordData string differs from the UTF-8 body", input)
            }
        }
    } catch {
        check(validity == .tooDeep, "RecordData threw for a \(validity) body", input)
    }
    return (parsed, validity)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let (parsed, validity) = checkOne(input)

    // Deep nesting: the same input inside k arrays, k around the limit.
    if input.contains(where: { !isJSONWhitespace($0) }) {
        let k = JSONParser.maxDepth - 3 + size % 8
        let wrapped = [UInt8](repeating: 0x5B, count: k) + input + [UInt8](repeating: 0x5D, count: k)
        let (_, wrappedValidity) = checkOne(wrapped)
        if let parsed {
            let expected: JSONValidity = depth(parsed) + k <= JSONParser.maxDepth ? .valid : .tooDeep
            check(wrappedValidity == expected, "wrapped in \(k) arrays: \(wrappedValidity), expected \(expected)", input)
        } else if validity == .tooDeep {
            check(wrappedValidity == .tooDeep, "too-deep input wrapped is \(wrappedValidity)", input)
        }
        // (Invalid input may become valid when wrapped, e.g. "1],[2"; only the checks in checkOne apply.)
    }
    return 0
}
