// relay-bench: the load tester. `subscribe` holds N SSE connections over M channels (several
// processes, several loopback source addresses), `publish` appends at a fixed rate with a
// timestamp in every record, `drain` times JSON drains. Each prints a progress line a second
// and a summary with HdrHistogram percentiles, gaps and duplicates, ending with a RESULT line.
// Every run is bounded in connections and time and targets 127.0.0.0/8 only.
import ArgumentParser
import BenchCore
import Foundation
import RelayIO

@main
struct RelayBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay-bench", abstract: "Load tester for the relay (and nchan, side by side).",
        subcommands: [Subscribe.self, Publish.self, Drain.self])
}

struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("url"), help: "A node to use (repeat for several); loopback only.")
    var urls: [String] = ["http://127.0.0.1:8080"]
    @Option(help: "A secret key (or RELAY_BENCH_KEY).")
    var key: String?
    @Option(help: "relay or nchan.")
    var target = "relay"
    @Option(help: "Channel names are PREFIX-0 ... PREFIX-(M-1) (relay: session externalIds).")
    var prefix = "bench"
    @Option(help: "Number of channels.")
    var channels = 1
    @Option(help: "Seconds to run (at most 3600).")
    var duration = 10.0
    @Flag(help: "Do not create the sessions first (another process did).")
    var noSetup = false

    func makeTarget() throws -> BenchTarget {
        guard let kind = TargetKind(rawValue: target) else { throw BenchError("--target: relay or nchan") }
        guard (0.1...3600).contains(duration) else { throw BenchError("--duration: 0.1 to 3600 seconds") }
        guard (1...1_000_000).contains(channels) else { throw BenchError("--channels: 1 to 1000000") }
        return try BenchTarget(kind: kind, urls: urls, key: key ?? ProcessInfo.processInfo.environment["RELAY_BENCH_KEY"],
                               channelPrefix: prefix)
    }
}

/// Runs `body` on a fresh loop until `seconds` pass, `tick` (every second) returns true, or
/// SIGTERM/SIGINT arrives; `finish` runs once, in every one of those cases.
func runLoop(seconds: Double, setup: (EventLoop, @escaping () -> Void) -> Void, tick: @escaping (Double) -> Bool,
             finish: @escaping () -> Void) {
    signal(SIGPIPE, SIG_IGN)
    raiseOpenFileLimit()
    let loop = EventLoop()
    var progress: LoopTimer?
    var finished = false
    let end = {
        guard !finished else { return }
        finished = true
        progress?.cancel()
        finish()
        loop.stop()
    }
    let signals = [SIGTERM, SIGINT].map { SignalWatcher(loop: loop, signal: $0, end) }
    setup(loop) {
        let started = Clock.monotonicSeconds()
        progress = loop.every(1.0) { if tick(Clock.monotonicSeconds() - started) { end() } }
        loop.after(seconds, end)
    }
    loop.run()
    withExtendedLifetime(signals) {}
}

/// Set by SIGTERM/SIGINT in a parent process (which forwards them to its children).
nonisolated(unsafe) var parentStopSignal: Int32 = 0

/// Ephemeral ports the kernel hands out per source address (ip_local_port_range), if known.
func ephemeralPortCount() -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8) else { return nil }
    let bounds = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) }
    return bounds.count == 2 ? bounds[1] - bounds[0] + 1 : nil
}

func setupChannels(_ loop: EventLoop, _ target: BenchTarget, _ options: CommonOptions, then: @escaping () -> Void) {
    if options.noSetup { return then() }
    let started = Clock.monotonicSeconds()
    ChannelSetup.run(loop: loop, target: target, channels: options.channels) { failures in
        if failures > 0 { print("setup: \(failures) session creates failed") }
        if target.kind == .relay {
            print("setup: \(options.channels) sessions in \(String(format: "%.1f", Clock.monotonicSeconds() - started)) s")
        }
        fflush(stdout)
        then()
    }
}

struct Subscribe: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Hold N SSE subscribers and measure deliveries.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Subscribers in all (at most 1000000).")
    var connections = 100
    @Option(help: "New connections per second (all processes together).")
    var ramp = 5000.0
    @Option(help: "Processes to spread the connections over (each may hold at most 20,000 files; at most 128).")
    var processes = 1
    @Option(help: "Loopback source addresses 127.0.0.2 ... (0: let the kernel choose).")
    var sources = 0
    @Option(help: "Timeout-Seconds asked of the relay (1-600).")
    var idleTimeout = 600
    @Flag(help: "Subscribe over HTTP/2 cleartext (h2c, prior knowledge): subscribers are streams, multiplexed.")
    var http2 = false
    @Option(help: "With --http2: streams per HTTP/2 connection (1-1000).")
    var streamsPerConnection = 100
    @Option(help: .hidden) var childIndex = 0
    @Option(help: .hidden) var childCount = 1
    @Option(help: .hidden) var reportFile: String?

    func run() throws {
        let target = try common.makeTarget()
        guard (1...1_000_000).contains(connections) else { throw BenchError("--connections: 1 to 1000000") }
        guard (1...128).contains(processes), (0...250).contains(sources) else { throw BenchError("--processes 1-128, --sources 0-250") }
        // Each bound source address has its own ephemeral port range (one port per connection,
        // whatever the destination); unbound, each destination address and port has one.
        if !http2, childCount == 1, let ports = ephemeralPortCount() {
            let perRange = sources > 0 ? (connections + sources - 1) / sources : connections / target.nodes.count
            guard perRange <= ports * 95 / 100 else {
                throw BenchError("\(perRange) connections per source address, but ip_local_port_range holds \(ports) ports: use more --sources")
            }
        }
        guard connections / max(processes, childCount) <= 19_000 || http2 else { throw BenchError("at most 19,000 connections per process: use more --processes") }
        guard (1...1000).contains(streamsPerConnection) else { throw BenchError("--streams-per-connection: 1 to 1000") }
        if processes > 1 { return try runParent(target) }
        let child = childCount > 1
        let indices = Array(stride(from: childIndex, to: connections, by: childCount))
        let sourceList = (0..<sources).map { "127.0.0.\(2 + $0)" }
        var engine: SubscribeEngine?
        var lastEvents: UInt64 = 0
        var lastOpen = 0
        var started = Clock.monotonicSeconds()
        runLoop(seconds: common.duration, setup: { loop, begin in
            setupChannels(loop, target, common) {
                started = Clock.monotonicSeconds()
                engine = SubscribeEngine(loop: loop, target: target, settings: .init(
                    indices: indices, channels: common.channels, rampPerSecond: ramp / Double(childCount),
                    sources: sourceList, timeoutSeconds: idleTimeout,
                    streamsPerConnection: http2 ? streamsPerConnection : nil))
                engine?.start()
                begin()
            }
        }, tick: { elapsed in
            guard let engine else { return false }
            let events = engine.report.events
            if child {
                print("PROGRESS \(engine.open) \(events) \(engine.report.errors) \(engine.report.receivers)")
            } else {
                // With --http2, "connections" still counts subscribers (the scenarios wait on it).
                let h2 = http2 ? "  h2 connections \(engine.http2Open)" : ""
                print("[\(Int(elapsed.rounded()))s] connections \(engine.open)  connect/s \(engine.open - lastOpen)  events/s \(events - lastEvents)  events \(events)  receivers \(engine.report.receivers)  errors \(engine.report.errors)\(h2)")
            }
            lastEvents = events
            lastOpen = engine.open
            fflush(stdout)
            return false
        }, finish: {
            guard let engine else { return }
            engine.stop()
            if child, let reportFile {
                let data = (try? JSONEncoder().encode(engine.report)) ?? Data()
                FileManager.default.createFile(atPath: reportFile, contents: data)
            } else {
                // The time it ran (a signal may end it before --duration).
                print(engine.report.summary(label: "subscribe", seconds: Clock.monotonicSeconds() - started))
            }
            fflush(stdout)
        })
    }

    /// Spawns the children, prints their summed progress each second, merges their reports.
    private func runParent(_ target: BenchTarget) throws {
        if target.kind == .relay && !common.noSetup {
            runLoop(seconds: 0.01, setup: { loop, begin in setupChannels(loop, target, common, then: begin) },
                    tick: { _ in false }, finish: {})
        }
        var arguments = Array(CommandLine.arguments.dropFirst())
        arguments.removeAll { $0.hasPrefix("--processes=") }
        if let i = arguments.firstIndex(of: "--processes") { arguments.removeSubrange(i...(i + 1)) }
        let collector = ChildCollector(count: processes)
        var children: [Process] = []
        let reportDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("relay-bench-\(getpid())")
        try FileManager.default.createDirectory(at: reportDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: reportDirectory) }
        let reportFiles = (0..<processes).map { reportDirectory.appendingPathComponent("child-\($0).json").path }
        for index in 0..<processes {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            process.arguments = arguments + ["--child-index", String(index), "--child-count", String(processes), "--no-setup",
                                             "--report-file", reportFiles[index]]
            let pipe = Pipe()
            process.standardOutput = pipe
            collector.watch(pipe.fileHandleForReading, child: index)
            try process.run()
            children.append(process)
        }
        // SIGTERM/SIGINT ends the children (they report, as at the end of --duration).
        for signalNumber in [SIGTERM, SIGINT] { signal(signalNumber) { _ in parentStopSignal = 1 } }
        var stopping = false
        func stopChildren() {
            guard !stopping else { return }
            stopping = true
            for child in children where child.isRunning { kill(child.processIdentifier, SIGTERM) }
        }
        let started = Clock.monotonicSeconds()
        var lastEvents: UInt64 = 0, lastOpen: UInt64 = 0, lastPrint = started
        while children.contains(where: \.isRunning) {
            Thread.sleep(forTimeInterval: 0.1)  // polls for a signal and the progress; not a synchronisation
            if parentStopSignal != 0 { stopChildren() }
            let now = Clock.monotonicSeconds()
            guard now - lastPrint >= 1 else { continue }
            lastPrint = now
            let progress = collector.progress()
            print("[\(Int((now - started).rounded()))s] connections \(progress.open)  connect/s \(Int64(progress.open) - Int64(lastOpen))  events/s \(progress.events - lastEvents)  events \(progress.events)  receivers \(progress.receivers)  errors \(progress.errors)  (\(processes) processes)")
            lastEvents = progress.events
            lastOpen = progress.open
            fflush(stdout)
        }
        var total = LatencyReport()
        for (index, file) in reportFiles.enumerated() {
            guard let data = FileManager.default.contents(atPath: file),
                  let report = try? JSONDecoder().decode(LatencyReport.self, from: data) else {
                print("child \(index): no report (exit status \(children[index].terminationStatus))")
                continue
            }
            total.merge(report)
        }
        print(total.summary(label: "subscribe", seconds: Clock.monotonicSeconds() - started))
    }
}

/// Reads the children's PROGRESS lines (on Foundation's reader threads); their final reports
/// come through files.
final class ChildCollector: @unchecked Sendable {
    private let lock = NSLock()
    struct Progress { var open: UInt64 = 0, events: UInt64 = 0, errors: UInt64 = 0, receivers: UInt64 = 0 }
    private var latest: [Progress]
    private var partial: [Int: Data] = [:]

    init(count: Int) { latest = Array(repeating: Progress(), count: count) }

    func watch(_ handle: FileHandle, child: Int) {
        handle.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            if data.isEmpty { handle.readabilityHandler = nil; return }
            self.lock.lock()
            var buffer = (self.partial[child] ?? Data()) + data
            while let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer = Data(buffer[(newline + 1)...])
                self.consume(line, child: child)
            }
            self.partial[child] = buffer
            self.lock.unlock()
        }
    }

    private func consume(_ line: String, child: Int) {
        let parts = line.split(separator: " ")
        if parts.first == "PROGRESS", parts.count == 5 {
            let n = parts.dropFirst().map { UInt64($0) ?? 0 }
            latest[child] = Progress(open: n[0], events: n[1], errors: n[2], receivers: n[3])
        } else if !line.isEmpty {
            print("child \(child): \(line)")
        }
    }

    /// The children's latest figures, summed.
    func progress() -> Progress {
        lock.lock(); defer { lock.unlock() }
        return latest.reduce(Progress()) {
            Progress(open: $0.open + $1.open, events: $0.events + $1.events, errors: $0.errors + $1.errors,
                     receivers: $0.receivers + $1.receivers)
        }
    }
}

struct Publish: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Append at a fixed rate, stamped for latency.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Appends per second (all channels together).")
    var rate = 100.0
    @Option(help: "Keep-alive connections, one request in flight each.")
    var connections = 4
    @Flag(help: "Send an X-Part-Id with every append (idempotent appends).")
    var partId = false
    @Option(help: "Approximate record size in bytes.")
    var bodyBytes = 0
    @Option(help: "Appends in all, then stop once they are acknowledged (0: no limit; --duration still bounds the run). A failed one is sent again, same number, up to 5 attempts (with --part-id, one the relay did store is not stored twice).")
    var count = 0
    @Option(help: "Seconds to wait before the first append (let subscribers connect).")
    var delay = 0.0
    @Flag(help: "Append over HTTP/2 cleartext (h2c): each append a POST stream, many in flight per connection.")
    var http2 = false
    @Option(help: "With --http2: appends in flight per connection (1-1000).")
    var streamsPerConnection = 100

    func run() throws {
        let target = try common.makeTarget()
        guard (0.1...1_000_000).contains(rate), (1...1000).contains(connections) else {
            throw BenchError("--rate 0.1-1000000, --connections 1-1000")
        }
        guard (1...1000).contains(streamsPerConnection) else { throw BenchError("--streams-per-connection: 1 to 1000") }
        var engine: PublishEngine?
        var lastSent = 0
        var publishStarted = Clock.monotonicSeconds()
        runLoop(seconds: common.duration, setup: { loop, begin in
            setupChannels(loop, target, common) {
                loop.after(delay) {
                    engine = PublishEngine(loop: loop, target: target, settings: .init(
                        channels: common.channels, ratePerSecond: rate, connections: connections,
                        partIds: partId, bodyBytes: bodyBytes,
                        streamsPerConnection: http2 ? streamsPerConnection : nil, limit: count > 0 ? count : nil))
                    engine?.start()
                    publishStarted = Clock.monotonicSeconds()
                    begin()
                }
            }
        }, tick: { elapsed in
            guard let engine else { return false }
            defer { lastSent = engine.sent }
            print("[\(Int(elapsed.rounded()))s] appends/s \(engine.sent - lastSent)  appended \(engine.sent)  errors \(engine.report.errors)  behind \(engine.dropped)")
            fflush(stdout)
            return engine.done
        }, finish: {
            guard let engine else { return }
            engine.stop()
            var report = engine.report
            report.connections = UInt64(connections)
            if http2 {
                report.protocolName = "h2"
                report.connections = UInt64(connections * streamsPerConnection)
                report.httpConnections = UInt64(connections)
            }
            report.missing = UInt64(engine.dropped)
            print(report.summary(label: "publish", seconds: Clock.monotonicSeconds() - publishStarted))
            print("(publish latency is the append round trip; gaps count appends the publisher could not send in time)")
            if engine.retried > 0 { print("retried: \(engine.retried) failed appends sent again") }
            fflush(stdout)
        })
    }
}

struct Drain: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Time JSON drains of many records.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Drains per second.")
    var rate = 50.0
    @Option(help: "Records per drain (limit).")
    var limit = 1000
    @Option(help: "Records appended to each channel first.")
    var preload = 0
    @Option(help: "Connections.")
    var connections = 4

    func run() throws {
        let target = try common.makeTarget()
        guard target.kind == .relay else { throw BenchError("drain: relay only") }
        var engine: DrainEngine?
        var last: UInt64 = 0
        runLoop(seconds: common.duration, setup: { loop, begin in
            setupChannels(loop, target, common) {
                Preloader.run(loop: loop, target: target, channels: common.channels, records: preload) {
                    engine = DrainEngine(loop: loop, target: target, channels: common.channels, limit: limit,
                                         ratePerSecond: rate, connections: connections)
                    engine?.start()
                    begin()
                }
            }
        }, tick: { elapsed in
            guard let engine else { return false }
            print("[\(Int(elapsed.rounded()))s] drains/s \(engine.report.events - last)  records \(engine.records)  errors \(engine.report.errors)")
            last = engine.report.events
            fflush(stdout)
            return false
        }, finish: {
            guard let engine else { return }
            engine.stop()
            var report = engine.report
            report.connections = UInt64(connections)
            print(report.summary(label: "drain", seconds: common.duration))
            fflush(stdout)
        })
    }
}
