// RedisArgv: a command's arguments as hiredis takes them (argc, argv, argvlen), for
// RespConnection's command formatter. The pointers
// are valid only inside `body`; hiredis copies the arguments before it returns.
internal func withRedisArgv<R>(_ args: [[UInt8]], _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
    // One contiguous copy of all arguments (and a NUL), pointed into.
    var joined: [UInt8] = []
    joined.reserveCapacity(args.reduce(0) { $0 + $1.count } + 1)
    var offsets: [Int] = []
    var lengths: [Int] = []
    for arg in args {
        offsets.append(joined.count)
        lengths.append(arg.count)
        joined.append(contentsOf: arg)
    }
    joined.append(0)
    return joined.withUnsafeBytes { raw in
        let base = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
        var pointers: [UnsafePointer<CChar>?] = offsets.map { UnsafePointer(base + $0) }
        return pointers.withUnsafeMutableBufferPointer { argv in
            lengths.withUnsafeBufferPointer { lens in
                body(Int32(args.count), argv.baseAddress!, lens.baseAddress!)
            }
        }
    }
}
