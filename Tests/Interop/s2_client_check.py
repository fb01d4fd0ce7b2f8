#!/usr/bin/env python3
"""s2_client_check.py: S2's own Python client (PyPI s2-sdk 0.13.0) against the relay's S2 records API.

Run with the venv that `scripts/install-deps --test` makes (.build-tools/s2-venv/bin/python);
S2ClientTests (Tests/RelayIntegrationTests/S2ClientTests.swift) runs it against relay nodes.

    s2_client_check.py MODE --endpoint http://127.0.0.1:PORT --basin B --stream S --token T

(or S2_CHECK_ENDPOINT / S2_CHECK_BASIN / S2_CHECK_STREAM / S2_CHECK_TOKEN). The endpoint is an
origin without a path: the 0.13 client refuses a path and always requests /v1/streams/... .

Modes (each prints one JSON object on stdout and exits 0; on any failure it prints what went
wrong, with the server's status, code and message when there was an answer, on stderr and exits 1):

  write    check_tail; a unary append of 3 records (the second with a header); an append session
           of 50 batches of 1-5 records, every ack checked (count, start = previous end, order);
           a unary read from seq_num 0 that must hold all of them, in order, with their bodies and
           headers; a read session (S2S frames) from the first of them, bounded by their count,
           that must give the same records and end by itself; a trim command record (trim to the first record this run wrote: it removes
           nothing of ours); an append with a wrong match_seq_num (must fail with
           SeqNumMismatchError naming the tail) and one with the right match_seq_num; check_tail.
  read     a unary read from seq_num --start (default 0), up to --count records (default 1000).
  denied   a unary append and an append session that must both be refused with HTTP 403.

Records in the output: {"seq": n, "body": "<text>", "headers": [["name", "value"]]}; a body or a
header that is not UTF-8 is given as {"base64": "..."} instead. Every S2 call is made once: the
client's retries are off, so that a server error shows instead of being retried away (and an
append retried after an unanswered attempt cannot add a duplicate).
"""

import argparse
import asyncio
import base64
import json
import os
import random
import sys
import traceback
from datetime import timedelta

from s2_sdk import (
    S2,
    AppendInput,
    CommandRecord,
    Endpoints,
    ReadLimit,
    Record,
    Retry,
    S2ServerError,
    SeqNum,
    SeqNumMismatchError,
    Timeout,
)


class CheckFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


def text(raw: bytes):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode("ascii")}


def record_json(r):
    return {"seq": r.seq_num, "body": text(r.body), "headers": [[text(n), text(v)] for n, v in r.headers]}


def ack_json(a):
    return {"start": a.start.seq_num, "end": a.end.seq_num, "tail": a.tail.seq_num}


def server_error_json(e: S2ServerError):
    return {"status": e.status_code, "code": e.code, "message": e.message}


async def run_write(stream, summary):
    tail0 = (await stream.check_tail()).seq_num
    summary["initialTail"] = tail0

    # 1. Unary append (protobuf): 3 records, the second with a header.
    unary_records = [
        Record(body=b'{"data":{"type":"text","text":"one"},"id":"py-1"}'),
        Record(body=b"plain two", headers=[(b"x-kind", b"greeting")]),
        Record(body=b"three"),
    ]
    ack = await stream.append(AppendInput(records=unary_records))
    summary["unary"] = ack_json(ack)
    check(ack.end.seq_num - ack.start.seq_num == 3, f"unary append of 3 records acked {ack_json(ack)}")
    check(ack.start.seq_num == tail0, f"unary append started at {ack.start.seq_num}, the tail was {tail0}")
    check(ack.tail.seq_num == ack.end.seq_num, f"unary ack's tail {ack.tail.seq_num} is not its end {ack.end.seq_num}")
    check(ack.start.seq_num >= 1, f"the relay's seqs start at 1, the first record got {ack.start.seq_num}")
    expected = [(ack.start.seq_num + i, r) for i, r in enumerate(unary_records)]

    # 2. Append session (S2S over HTTP/2): 50 batches of 1-5 records, pipelined.
    rng = random.Random(20260501)
    batches = []
    n = 0
    for b in range(50):
        batch = []
        for _ in range(rng.randint(1, 5)):
            n += 1
            if n % 3 == 0:
                batch.append(Record(body=f"raw session record {n}".encode()))
            else:
                body = json.dumps({"data": {"n": n, "batch": b}, "id": f"py-s{n}"}, separators=(",", ":"))
                batch.append(Record(body=body.encode()))
        batches.append(batch)
    acks = []
    async with stream.append_session() as session:
        tickets = [await session.submit(AppendInput(records=batch)) for batch in batches]
        for ticket in tickets:
            acks.append(await ticket)
    summary["session"] = {"batches": [len(b) for b in batches], "acks": [ack_json(a) for a in acks]}
    previous_end = ack.end.seq_num
    for i, (batch, a) in enumerate(zip(batches, acks)):
        check(a.end.seq_num - a.start.seq_num == len(batch),
              f"session batch {i} of {len(batch)} records acked {ack_json(a)}")
        check(a.start.seq_num == previous_end,
              f"session batch {i} starts at {a.start.seq_num}, the previous batch ended at {previous_end}")
        check(a.tail.seq_num >= a.end.seq_num, f"session batch {i}: tail before end in {ack_json(a)}")
        expected += [(a.start.seq_num + j, r) for j, r in enumerate(batch)]
        previous_end = a.end.seq_num
    summary["written"] = [{"seq": s, "body": text(r.body), "headers": [[text(h), text(v)] for h, v in r.headers]}
                          for s, r in expected]

    # 3. Unary read from seq_num 0: everything, in order, ending at the tail.
    batch = await stream.read(start=SeqNum(0), limit=ReadLimit(count=1000))
    got = {r.seq_num: r for r in batch.records}
    seqs = [r.seq_num for r in batch.records]
    check(seqs == sorted(seqs) and len(set(seqs)) == len(seqs), f"read from 0: seqs not increasing: {seqs}")
    check(not seqs or seqs[0] >= 1, f"read from 0 returned seq {seqs[0] if seqs else None} (the relay starts at 1)")
    for s, r in expected:
        check(s in got, f"read from 0: seq {s} missing (got {seqs[:5]}...{seqs[-5:]})")
        check(got[s].body == r.body, f"read from 0: seq {s} has body {got[s].body!r}, appended {r.body!r}")
        check(list(got[s].headers) == list(r.headers),
              f"read from 0: seq {s} has headers {got[s].headers!r}, appended {r.headers!r}")
    check(seqs[-1] == previous_end - 1, f"read from 0 ends at {seqs[-1]}, the last append ended at {previous_end}")
    if batch.tail is not None:
        check(batch.tail.seq_num == previous_end, f"read's tail {batch.tail.seq_num}, the last append ended at {previous_end}")
    summary["read"] = [record_json(r) for r in batch.records]

    # 3b. The same records through a read session (S2S frames over HTTP/2), bounded by count:
    # it must hold exactly what the unary read held and end by itself.
    session_read = []
    async for b in stream.read_session(start=SeqNum(expected[0][0]), limit=ReadLimit(count=len(expected))):
        session_read.extend(b.records)
    check([r.seq_num for r in session_read] == [s for s, _ in expected],
          f"read session: seqs {[r.seq_num for r in session_read][:5]}..., appended {[s for s, _ in expected][:5]}...")
    check(all(r.body == w.body for r, (_, w) in zip(session_read, expected)), "read session: bodies differ from what was appended")
    summary["readSession"] = len(session_read)

    # 4. A trim command record (to the first record of this run: nothing of ours goes).
    trim_to = ack.start.seq_num
    trim_ack = await stream.append(AppendInput(records=[CommandRecord.trim(trim_to)]))
    check(trim_ack.end.seq_num - trim_ack.start.seq_num == 1, f"trim acked {ack_json(trim_ack)}")
    check(trim_ack.start.seq_num == previous_end, f"trim got seq {trim_ack.start.seq_num}, the tail was {previous_end}")
    summary["trim"] = {"to": trim_to, **ack_json(trim_ack)}
    tail = trim_ack.end.seq_num
    after_trim = await stream.read(start=SeqNum(trim_ack.start.seq_num), limit=ReadLimit(count=10))
    check([r.seq_num for r in after_trim.records] == [trim_ack.start.seq_num],
          f"read at the trim record: {[record_json(r) for r in after_trim.records]}")
    trim_record = after_trim.records[0]
    check(trim_record.is_command_record() and trim_record.headers == [(b"", b"trim")]
          and trim_record.body == trim_to.to_bytes(8, "big"),
          f"the trim record reads back as {record_json(trim_record)}")
    first = await stream.read(start=SeqNum(0), limit=ReadLimit(count=1))
    check(first.records and first.records[0].seq_num <= trim_to,
          f"after trimming to {trim_to} the first record is {[record_json(r) for r in first.records]}")

    # 5. match_seq_num: a wrong one fails with the tail as the expected seq; the right one appends.
    try:
        await stream.append(AppendInput(records=[Record(body=b"must not be written")], match_seq_num=tail - 1))
        raise CheckFailed(f"append with match_seq_num={tail - 1} (tail {tail}) succeeded")
    except SeqNumMismatchError as e:
        check(e.expected_seq_num == tail, f"SeqNumMismatchError expects {e.expected_seq_num}, the tail is {tail}")
        check(e.status_code == 412, f"SeqNumMismatchError with status {e.status_code}")
        summary["mismatch"] = {"sent": tail - 1, "expected": e.expected_seq_num, "status": e.status_code}
    matched = await stream.append(AppendInput(records=[Record(body=b"matched")], match_seq_num=tail))
    check(matched.start.seq_num == tail and matched.end.seq_num == tail + 1,
          f"append with match_seq_num={tail} acked {ack_json(matched)}")
    summary["matched"] = ack_json(matched)

    final_tail = (await stream.check_tail()).seq_num
    check(final_tail == tail + 1, f"check_tail says {final_tail}, the last append ended at {tail + 1}")
    summary["finalTail"] = final_tail


async def run_read(stream, summary, start, count):
    batch = await stream.read(start=SeqNum(start), limit=ReadLimit(count=count))
    summary["records"] = [record_json(r) for r in batch.records]
    summary["tail"] = batch.tail.seq_num if batch.tail is not None else None


async def run_denied(stream, summary):
    try:
        ack = await stream.append(AppendInput(records=[Record(body=b"not allowed")]))
        raise CheckFailed(f"unary append with another channel's token succeeded: {ack_json(ack)}")
    except S2ServerError as e:
        check(e.status_code == 403, f"unary append refused with {server_error_json(e)}, expected 403")
        summary["unary"] = server_error_json(e)
    try:
        async with stream.append_session() as session:
            ticket = await session.submit(AppendInput(records=[Record(body=b"not allowed either")]))
            ack = await ticket
        raise CheckFailed(f"append session with another channel's token succeeded: {ack_json(ack)}")
    except S2ServerError as e:
        check(e.status_code == 403, f"append session refused with {server_error_json(e)}, expected 403")
        summary["session"] = server_error_json(e)


async def main_async(args):
    endpoints = Endpoints(account=args.endpoint, basin=args.endpoint)
    summary = {"mode": args.mode, "basin": args.basin, "stream": args.stream}
    async with S2(args.token, endpoints=endpoints,
                  timeout=Timeout(request=timedelta(seconds=args.request_timeout), connection=timedelta(seconds=3)),
                  retry=Retry(max_attempts=1)) as s2:
        stream = s2.basin(args.basin).stream(args.stream)
        if args.mode == "write":
            await run_write(stream, summary)
        elif args.mode == "read":
            await run_read(stream, summary, args.start, args.count)
        else:
            await run_denied(stream, summary)
    return summary


def main():
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["write", "read", "denied"])
    parser.add_argument("--endpoint", default=env("S2_CHECK_ENDPOINT"), help="origin, e.g. http://127.0.0.1:8080")
    parser.add_argument("--basin", default=env("S2_CHECK_BASIN"))
    parser.add_argument("--stream", default=env("S2_CHECK_STREAM"))
    parser.add_argument("--token", default=env("S2_CHECK_TOKEN"))
    parser.add_argument("--start", type=int, default=0, help="read: the first seq_num")
    parser.add_argument("--count", type=int, default=1000, help="read: at most this many records")
    parser.add_argument("--request-timeout", type=float, default=10, help="seconds, per request and per ack")
    parser.add_argument("--deadline", type=float, default=60, help="seconds for the whole run")
    args = parser.parse_args()
    for name in ("endpoint", "basin", "stream", "token"):
        if not getattr(args, name):
            parser.error(f"--{name} (or S2_CHECK_{name.upper()}) is required")
    try:
        summary = asyncio.run(asyncio.wait_for(main_async(args), args.deadline))
    except CheckFailed as e:
        print(f"s2_client_check {args.mode}: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
    except S2ServerError as e:
        print(f"s2_client_check {args.mode}: FAILED: server error {json.dumps(server_error_json(e))} "
              f"({type(e).__name__})", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        sys.exit(1)
    except (asyncio.TimeoutError, TimeoutError):
        print(f"s2_client_check {args.mode}: FAILED: not done within {args.deadline} s", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # the client's own errors (S2ClientError, transport errors) and anything else
        print(f"s2_client_check {args.mode}: FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        sys.exit(1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
