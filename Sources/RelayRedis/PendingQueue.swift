// PendingQueue: the requests of one Redis connection awaiting their replies, oldest first.
// RESP2 carries no request ids: Redis answers in order, so the oldest pending request is the
// one the next reply answers. Head-indexed, so popping the oldest is O(1); the consumed prefix
// is dropped now and then.
struct PendingQueue<Element> {
    private var items: [Element] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }
    var count: Int { items.count - head }
    /// The oldest element, if any.
    var first: Element? { head < items.count ? items[head] : nil }

    mutating func append(_ element: Element) { items.append(element) }

    /// Removes and returns the oldest element.
    mutating func popFirst() -> Element? {
        guard head < items.count else { return nil }
        let element = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return element
    }

    /// Removes the newest element (one that turned out not to be sent).
    mutating func popLast() -> Element? {
        guard head < items.count else { return nil }
        return items.popLast()
    }

    /// Everything pending, oldest first; the queue is then empty.
    mutating func removeAll() -> [Element] {
        let pending = Array(items[head...])
        items = []
        head = 0
        return pending
    }

    func contains(where predicate: (Element) -> Bool) -> Bool {
        items[head...].contains(where: predicate)
    }
}
