#!/usr/bin/env python3
"""s2_append.py: appends through the relay's S2 API with S2's own Python client (s2-sdk 0.13).

    s2_append.py ENDPOINT BASIN STREAM TOKEN BATCHES RECORDS_PER_BATCH [MODE]

MODE "session" (default): one S2S append session, up to 64 batches in flight; "unary": one
unary protobuf append per batch, one after another. Each record's body is the Trigger.dev
envelope {"data": {...}, "id": "..."} of about 80 bytes. Prints one line:
RESULT {"records": N, "seconds": S, "records_per_s": R, "batches_per_s": B}
"""
import asyncio, json, sys, time
from s2_sdk import S2, Endpoints, AppendInput, Record, Retry

async def main():
    endpoint, basin, stream, token = sys.argv[1:5]
    batches, per = int(sys.argv[5]), int(sys.argv[6])
    mode = sys.argv[7] if len(sys.argv) > 7 else "session"
    body = lambda i, j: json.dumps({"data": {"type": "text-delta", "delta": f"tok {i}.{j}"}, "id": f"b{i}r{j}"}).encode()
    async with S2(token, endpoints=Endpoints(account=endpoint, basin=endpoint), retry=Retry(max_attempts=1)) as s2:
        s = s2.basin(basin).stream(stream)
        started = time.monotonic()
        if mode == "unary":
            for i in range(batches):
                await s.append(AppendInput(records=[Record(body=body(i, j)) for j in range(per)]))
        else:
            async with s.append_session() as session:
                tickets = []
                for i in range(batches):
                    tickets.append(await session.submit(AppendInput(records=[Record(body=body(i, j)) for j in range(per)])))
                    if len(tickets) >= 64:
                        await tickets.pop(0)
                for t in tickets:
                    await t
        seconds = time.monotonic() - started
    n = batches * per
    print("RESULT " + json.dumps({"records": n, "seconds": round(seconds, 3), "records_per_s": round(n / seconds),
                                  "batches_per_s": round(batches / seconds)}))

asyncio.run(main())
