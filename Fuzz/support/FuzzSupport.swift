// FuzzSupport: what every harness shares: an invariant check that prints the input and
// crashes (libFuzzer then keeps the input), and a small seeded generator for splits.

func check(_ ok: @autoclosure () -> Bool, _ what: String, _ input: [UInt8]) {
    if !ok() {
        print("INVARIANT FAILED: \(what)\ninput (\(input.count) bytes): \(String(decoding: input.prefix(400), as: UTF8.self).debugDescription)")
        fatalError(what)
    }
}

struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
}

/// The same check for harnesses that work on text.
func check(_ ok: @autoclosure () -> Bool, _ what: String, _ input: String) {
    check(ok(), what, Array(input.utf8))
}
