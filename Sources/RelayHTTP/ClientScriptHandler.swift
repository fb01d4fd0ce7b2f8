// ClientScriptHandler: GET /client.js, the browser client module (clients/js/relay-client.js,
// embedded in the binary by SwiftPM: PackageResources.relay_client_js).
//
// Answers 200 with `Content-Type: text/javascript; charset=utf-8`, `Cache-Control: public,
// max-age=86400` and a strong ETag (a hash of the bytes, fixed for the life of the binary);
// a request whose If-None-Match names that ETag (or `*`) gets 304 with no body. HEAD is answered
// like GET without the body.
import RelayCore
import RelayIO

enum ClientScript {
    static let bytes: [UInt8] = PackageResources.relay_client_js
    static let contentType = "text/javascript; charset=utf-8"
    static let cacheControl = "public, max-age=86400"
    /// `"<length>-<FNV-1a 64 of the bytes, hex>"`: stable across builds and nodes of one version,
    /// different for any other content (this is a cache validator, not a signature).
    static let etag: String = {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return "\"\(bytes.count)-\(String(repeating: "0", count: 16 - hex.count))\(hex)\""
    }()

    /// True when an If-None-Match value names this ETag (weak comparison, as RFC 9110 wants for
    /// If-None-Match) or is `*`.
    static func matches(ifNoneMatch value: String) -> Bool {
        for candidate in value.split(separator: ",") {
            var tag = candidate.trimmingSpaces()
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag = String(tag.dropFirst(2)) }
            if tag == etag { return true }
        }
        return false
    }
}

private extension Substring {
    func trimmingSpaces() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}

extension RelayServer {
    func serveClientScript(_ exchange: HTTPExchange) {
        // Vary: Origin, or a shared cache could hand one origin's copy (without its CORS header)
        // to another origin for a day.
        var caching = [("ETag", ClientScript.etag), ("Cache-Control", ClientScript.cacheControl)]
        if !commonHeaders(exchange).contains(where: { $0.0 == "Vary" }) { caching.append(("Vary", "Origin")) }
        if let value = exchange.header("If-None-Match"), ClientScript.matches(ifNoneMatch: value) {
            metrics.responded(status: 304)
            exchange.respond(status: 304, headers: caching + commonHeaders(exchange), body: [])
            return
        }
        metrics.responded(status: 200)
        exchange.respond(status: 200, headers: [("Content-Type", ClientScript.contentType)] + caching + commonHeaders(exchange),
                         body: ClientScript.bytes)
    }
}
