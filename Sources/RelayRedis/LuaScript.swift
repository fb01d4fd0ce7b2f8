// LuaScript: a script the router runs by name (EVALSHA, EVAL on NOSCRIPT; RedisNode keeps the
// hashes). The relay's own scripts are RelayStorage's RelayScripts.
public struct LuaScript: Sendable {
    public let name: String
    public let source: [UInt8]

    public init(name: String, source: [UInt8]) {
        self.name = name
        self.source = source
    }
}
