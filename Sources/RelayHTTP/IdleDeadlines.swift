// IdleDeadlines: the idle deadlines of a hub's subscribers on one timer, not one per subscriber
// (a timer is a libevent event, a timer object and its closure: about 300 bytes a stream).
// A binary min-heap of subscribers by deadline; each subscriber knows its place in it, so
// leaving costs O(log n). A record written does not move a subscriber: when its deadline comes
// the subscriber checks when its last record was written and, if it was since, comes back with
// the rest of its idle time (as its own timer did before), so the fan-out path does no work here.
final class IdleDeadlines {
    private var heap: [SSESubscriber] = []
    private let clock: HubClock
    private var timer: HubTimer?
    /// The deadline the timer is armed for (infinity: not armed).
    private var armedFor = Double.infinity
    /// While the due deadlines are taken, the timer is armed once, at the end.
    private var firing = false

    init(clock: HubClock) {
        self.clock = clock
        timer = clock.timer { [unowned self] in self.fire() }
    }

    var count: Int { heap.count }

    /// Ends `subscriber`'s idle time at `deadline` (monotonic seconds): it is told then
    /// (`idleDeadlinePassed`) unless it leaves (`remove`) first.
    func add(_ subscriber: SSESubscriber, at deadline: Double) {
        if subscriber.idleIndex >= 0 { remove(subscriber) }
        subscriber.idleDeadline = deadline
        subscriber.idleIndex = heap.count
        heap.append(subscriber)
        siftUp(heap.count - 1)
        rearm()
    }

    func remove(_ subscriber: SSESubscriber) {
        let index = subscriber.idleIndex
        guard index >= 0, index < heap.count, heap[index] === subscriber else { return }
        subscriber.idleIndex = -1
        let last = heap.removeLast()
        if index < heap.count {
            heap[index] = last
            last.idleIndex = index
            siftDown(index)
            siftUp(index)
        }
        if heap.isEmpty { heap = [] }   // a burst of subscribers leaves no large array behind
        rearm()
    }

    private func fire() {
        armedFor = .infinity
        firing = true
        // The timer's clock and this one are both coarse (a few ms): take what is due by then.
        let now = clock.monotonicSeconds + 0.002
        while let first = heap.first, first.idleDeadline <= now {
            remove(first)
            first.idleDeadlinePassed()
        }
        firing = false
        rearm()
    }

    private func rearm() {
        if firing { return }
        guard let first = heap.first else {
            if armedFor != .infinity { timer?.cancel() }
            armedFor = .infinity
            return
        }
        guard first.idleDeadline != armedFor else { return }
        armedFor = first.idleDeadline
        timer?.arm(max(0, first.idleDeadline - clock.monotonicSeconds))
    }

    private func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].idleDeadline < heap[parent].idleDeadline else { return }
            swapAt(child, parent)
            child = parent
        }
    }

    private func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { return }
            let right = left + 1
            var smallest = left
            if right < heap.count && heap[right].idleDeadline < heap[left].idleDeadline { smallest = right }
            guard heap[smallest].idleDeadline < heap[parent].idleDeadline else { return }
            swapAt(parent, smallest)
            parent = smallest
        }
    }

    private func swapAt(_ a: Int, _ b: Int) {
        heap.swapAt(a, b)
        heap[a].idleIndex = a
        heap[b].idleIndex = b
    }
}
