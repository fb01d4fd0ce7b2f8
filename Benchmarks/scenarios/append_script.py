"""Redis' own cost of an append, without the relay: append_records.lua (with lib.lua, as the
relay sends it) run in groups of G appends over 1,000 sessions, pipelined over one connection,
and the Redis process's CPU time divided by the appends. Prints one line per run.
Usage: append_script.py PORT GROUP CALLS PART(0|1) [LIB SCRIPT]  (append-script.sh runs it).
LIB and SCRIPT name another lib.lua and script: append_record.lua of releases before group
commit (one append a call, GROUP must be 1) is recognised by its name, for the figures before."""
import os
import socket
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
LUA = os.path.join(ROOT, "Sources", "RelayStorage", "Lua")


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Redis:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")

    def read(self):
        line = self.file.readline()
        kind = line[:1]
        if kind in b"+-:":
            return line.rstrip(b"\r\n")
        if kind == b"$":
            n = int(line[1:])
            return None if n < 0 else self.file.read(n + 2)[:-2]
        if kind == b"*":
            return [self.read() for _ in range(int(line[1:]))]
        raise RuntimeError(f"bad reply {line!r}")

    def call(self, *args):
        self.sock.sendall(resp(*args))
        return self.read()


def main():
    port, group, calls, part = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
    lib = sys.argv[5] if len(sys.argv) > 6 else os.path.join(LUA, "lib.lua")
    script = sys.argv[6] if len(sys.argv) > 6 else os.path.join(LUA, "append_records.lua")
    single = os.path.basename(script).startswith("append_record.")
    if single and group != 1:
        sys.exit("append_record.lua takes one append a call: GROUP must be 1")
    source = open(lib, "rb").read() + b"\n" + open(script, "rb").read()
    r = Redis(port)
    r.call("FLUSHALL")
    sha = r.call("SCRIPT", "LOAD", source)
    replid = r.call("INFO", "replication").decode().split("master_replid:")[1].split("\r")[0]
    pid = int(r.call("INFO", "server").decode().split("process_id:")[1].split("\r")[0])
    sessions = 1000
    for c in range(sessions):
        sid = "session_%025d" % c
        # A row as create_session.lua writes it (the fields an append reads are found by scanning).
        r.call("HSET", f"relay:{{s:{sid}}}:meta", "env", "env_bench", "id", sid, "type", "chat.agent", "task", "t",
               "tags", "[]", "createdAt", "1700000000000", "updatedAt", "1700000000000", "sortKey", "x",
               "gen:in", replid, "gen:out", replid, "externalId", f"ext-{c}", "triggerConfig", "{}",
               "currentRunId", "run_x", "lastRunId", "run_x", "ixv", "1")
    body = '{"n":1,"t":1234567890123456}'
    commands = []
    for i in range(calls):
        keys, args = [], []
        for g in range(group):
            sid = "session_%025d" % ((i * group + g) % sessions)
            keys += [f"relay:{{s:{sid}}}:meta", f"relay:{{s:{sid}}}:out", "relay:{s:x}:outbox"]
            part_id = f"part-{i}-{g}" if part else ""
            if part:
                keys.append(f"relay:{{s:{sid}}}:part:out:{part_id}")
            args += ["env_bench", sid, "out", body, "", part_id, "", "0", "0"]
        if single:
            env, sid, io, data, headers, part_id = args[:6]
            commands.append(resp("EVALSHA", sha, str(len(keys)), *keys, env, sid, io, data, headers, part_id,
                                 "86400", "10000", "run_x", "0", "0", "0"))
        else:
            commands.append(resp("EVALSHA", sha, str(len(keys)), *keys, "86400", "10000", "0", str(group), *args))

    def cpu_ticks():
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    ticks0, wall0 = cpu_ticks(), time.time()
    for start in range(0, calls, 50):
        chunk = commands[start:start + 50]
        r.sock.sendall(b"".join(chunk))
        for _ in chunk:
            reply = r.read()
            if isinstance(reply, bytes) and reply.startswith(b"-"):
                sys.exit(f"script error: {reply!r}")
            # Every append answered ok (the one-append script answers one, a group one each).
            answers = [reply] if single else reply
            if len(answers) != group or any(a[0] != b"ok" for a in answers):
                sys.exit(f"unexpected reply: {reply!r}"[:500])
    ticks1, wall1 = cpu_ticks(), time.time()
    appends = calls * group
    hz = os.sysconf("SC_CLK_TCK")
    label = "one append a call (before group commit)" if single else f"group {group:3d}"
    print(f"{label}, X-Part-Id {'yes' if part else 'no '}: {appends} appends, "
          f"Redis CPU {(ticks1 - ticks0) / hz * 1e6 / appends:5.2f} us per append, {appends / (wall1 - wall0):,.0f} appends/s")


main()
