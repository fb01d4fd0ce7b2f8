// FriendlyIDTests.swift — shape and randomness of session and run ids.

import XCTest
@testable import RelayCore

final class FriendlyIDTests: XCTestCase {
    private let allowed = Set("0123456789abcdefghijklmnopqrstuvwxyz")

    func testShapes() {
        let s = FriendlyID.session()
        XCTAssertTrue(s.hasPrefix("session_"))
        XCTAssertEqual(s.count, 8 + 25)
        XCTAssertTrue(s.dropFirst(8).allSatisfy(allowed.contains))
        let r = FriendlyID.run()
        XCTAssertTrue(r.hasPrefix("run_"))
        XCTAssertEqual(r.count, 4 + 25)
        XCTAssertTrue(r.dropFirst(4).allSatisfy(allowed.contains))
    }

    func testUniqueAndCoversAlphabet() {
        var seen = Set<String>()
        var chars = Set<Character>()
        for _ in 0..<500 {
            let id = FriendlyID.session()
            seen.insert(id)
            chars.formUnion(id.dropFirst(8))
        }
        XCTAssertEqual(seen.count, 500)
        XCTAssertEqual(chars, allowed, "12,500 draws should use all 36 characters")
    }

    /// Every character equally likely: a byte taken modulo 36 without passing over 252...255
    /// would make the first four characters 14% likelier than the rest.
    func testCharactersAreUnbiased() {
        var counts: [Character: Int] = [:]
        for _ in 0..<20_000 {
            for c in FriendlyID.run().dropFirst(4) { counts[c, default: 0] += 1 }
        }
        let expected = 20_000.0 * 25 / 36
        for c in allowed {
            let seen = Double(counts[c] ?? 0)
            XCTAssertLessThan(abs(seen - expected) / expected, 0.05, "\(c): \(seen) of \(expected) expected")
        }
    }

    func testIsSession() {
        XCTAssertTrue(FriendlyID.isSession("session_abc"))
        XCTAssertFalse(FriendlyID.isSession("chat_1234"))
        XCTAssertFalse(FriendlyID.isSession("Session_abc"))
    }
}

final class WellFormedSessionIdTests: XCTestCase {
    func testOnlyTheRelaysOwnShapeOfIdIsWellFormed() {
        XCTAssertTrue(FriendlyID.isWellFormedSession(FriendlyID.session()))
        XCTAssertTrue(FriendlyID.isWellFormedSession("session_" + String(repeating: "a", count: 25)))
        for bad in ["session_", "session_{a}", "session_x}", "session_" + String(repeating: "A", count: 25),
                    "session_" + String(repeating: "a", count: 24), "session_" + String(repeating: "a", count: 26),
                    "session_" + String(repeating: "a", count: 24) + "é"] {
            XCTAssertFalse(FriendlyID.isWellFormedSession(bad), bad)
        }
    }
}

final class FriendlyIDCharacterMappingTests: XCTestCase {
    private func characters(_ bytes: [UInt8], upTo length: Int = 1_000) -> String {
        var out: [UInt8] = []
        FriendlyID.appendCharacters(from: bytes, to: &out, upTo: length)
        return String(decoding: out, as: UTF8.self)
    }

    func testEveryCharacterComesFromExactlySevenByteValuesAndTheRestAreSkipped() {
        let all = characters(Array(0...255))
        XCTAssertEqual(all.count, 252, "bytes 252-255 give no character")
        var counts: [Character: Int] = [:]
        for c in all { counts[c, default: 0] += 1 }
        XCTAssertEqual(counts.count, 36)
        XCTAssertTrue(counts.values.allSatisfy { $0 == 7 }, "no modulo bias: \(counts)")
        XCTAssertEqual(characters([0, 9, 10, 35, 36, 251]), "09az0z")
        XCTAssertEqual(characters([252, 253, 254, 255]), "")
    }

    func testStopsAtTheLength() {
        XCTAssertEqual(characters(Array(0..<40), upTo: 25), "0123456789abcdefghijklmno")
        var out = Array("run_".utf8)
        FriendlyID.appendCharacters(from: [UInt8](repeating: 1, count: 64), to: &out, upTo: 29)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "run_" + String(repeating: "1", count: 25))
    }

    func testRunIdsAreDistinctAndSpreadOverTheAlphabet() {
        let ids = (0..<200).map { _ in FriendlyID.run() }
        XCTAssertEqual(Set(ids).count, 200)
        XCTAssertEqual(Set(ids.flatMap { $0.dropFirst(4) }).count, 36)
    }
}
