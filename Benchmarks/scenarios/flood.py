#!/usr/bin/env python3
"""Hostile clients for the flood scenario: slowloris heads, idle connections and unauthenticated
bodies against one relay on loopback, for a bounded time. Every connection the relay cuts is
opened again, so the pressure stays on for the whole run. Prints what the relay did to them.

Usage: flood.py PORT SECONDS SLOW IDLE [BODIES]
  SLOW    connections sending one header byte every 3 s (a head that never ends)
  IDLE    connections that connect and say nothing
  BODIES  connections sending a declared 4 MiB body, unauthenticated, as fast as they can
"""
import selectors, socket, sys, time

port, seconds, slow, idle = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
bodies = int(sys.argv[5]) if len(sys.argv) > 5 else 0
assert seconds <= 600 and slow + idle + bodies <= 15000, "bounded runs only"
HEAD = b"GET /healthz HTTP/1.1\r\nHost: relay\r\nX-Slow: " + b"a" * 4000
BODY_HEAD = b"POST /api/v1/sessions HTTP/1.1\r\nHost: relay\r\nContent-Length: 4194304\r\n\r\n"
CHUNK = b"x" * 65536
sel = selectors.DefaultSelector()
conns = {}  # socket -> [kind, bytes sent]
stats = {"opened": 0, "cut": 0, "refused": 0}
sources = [f"127.0.0.{i}" for i in range(2, 10)]


def open_one(kind):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((sources[stats["opened"] % len(sources)], 0))
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    except OSError:
        stats["refused"] += 1
        s.close()
        return
    conns[s] = [kind, 0]
    sel.register(s, selectors.EVENT_READ)
    stats["opened"] += 1


def drop(s):
    kind = conns.pop(s)[0]
    sel.unregister(s)
    s.close()
    stats["cut"] += 1
    return kind


for _ in range(slow): open_one("slow")
for _ in range(idle): open_one("idle")
for _ in range(bodies): open_one("body")
start = time.monotonic()
next_trickle = start
while time.monotonic() - start < seconds:
    now = time.monotonic()
    if now >= next_trickle:
        for s, state in list(conns.items()):
            kind, sent = state
            try:
                if kind == "slow":
                    s.send(HEAD[sent % len(HEAD):sent % len(HEAD) + 1])
                    state[1] += 1
                elif kind == "body":
                    if sent == 0:
                        s.send(BODY_HEAD)
                    state[1] += s.send(CHUNK)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                open_one(drop(s))
        next_trickle = now + (0.1 if bodies else 3.0)
    for key, _ in sel.select(timeout=0.1):
        s = key.fileobj
        try:
            data = s.recv(65536)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            data = b""
        if not data:
            open_one(drop(s))
for s in list(conns): s.close()
print(f"flood: {stats['opened']} connections opened, {stats['cut']} cut by the relay, "
      f"{stats['refused']} refused, over {seconds:.0f} s")
