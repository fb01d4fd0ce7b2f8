// Concurrently.swift: run blocking work on many threads at once (races, bulk setup).

import Foundation

/// Runs `body(i)` for every i in 0..<count on `threads` dedicated threads (default: one per
/// index), all released together by one gate so the calls overlap as much as possible.
/// Returns the results in index order; rethrows the first error; throws if the work is not
/// done within `timeout`.
func concurrentMap<T>(_ count: Int, threads: Int? = nil, timeout: TimeInterval = 120,
                      _ body: @escaping (Int) throws -> T) throws -> [T] {
    let threadCount = max(1, min(count, threads ?? count))
    let results = ResultSlots<T>(count: count)
    let gate = DispatchSemaphore(value: 0)
    let ready = DispatchGroup()
    let done = DispatchGroup()
    for thread in 0..<threadCount {
        ready.enter()
        done.enter()
        let worker = Thread {
            ready.leave()
            gate.wait()
            for index in stride(from: thread, to: count, by: threadCount) {
                results.store(Result { try body(index) }, at: index)
            }
            done.leave()
        }
        worker.start()
    }
    _ = ready.wait(timeout: .now() + 10)  // every thread is parked at the gate
    for _ in 0..<threadCount { gate.signal() }
    guard done.wait(timeout: .now() + timeout) == .success else {
        throw HarnessError("concurrent work (\(count) calls on \(threadCount) threads) not done within \(timeout) s")
    }
    return try results.values()
}

/// Results written by many threads, read once they are all done.
private final class ResultSlots<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<T, Error>?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func store(_ result: Result<T, Error>, at index: Int) {
        lock.lock()
        slots[index] = result
        lock.unlock()
    }

    func values() throws -> [T] {
        lock.lock()
        defer { lock.unlock() }
        return try slots.map { try $0!.get() }
    }
}
