#!/usr/bin/env python3
"""A producer exactly as README "The outbox contract" says: busy_timeout 5000, synchronous FULL,
BEGIN IMMEDIATE, plain INSERTs into the outbox, as fast as it can.

Usage: producer.py DATABASE EVENT_ID_PREFIX COUNT WORKSPACE [MAX_ROWS_PER_TRANSACTION]
Prints one JSON line on stdout: {"inserted": N, "errors": [...], "seconds": S}. An error is
reported, never hidden; the transaction is tried again (at most 100 errors in all).
"""
import json
import random
import sqlite3
import sys
import time

path, prefix, count, workspace = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
max_rows = int(sys.argv[5]) if len(sys.argv) > 5 else 10
types = ["qr.created", "qr.updated", "qr.scanned", "qr.deleted", "workspace.updated"]
connection = sqlite3.connect(path, isolation_level=None, timeout=5.0)
connection.execute("PRAGMA busy_timeout = 5000")
connection.execute("PRAGMA synchronous = FULL")
rng = random.Random(prefix)
errors = []
inserted = 0
started = time.monotonic()
while inserted < count and len(errors) < 100:
    rows = min(count - inserted, rng.randint(1, max_rows))
    try:
        connection.execute("BEGIN IMMEDIATE")
        for n in range(inserted, inserted + rows):
            connection.execute(
                "INSERT INTO outbox (event_id, workspace_id, type, data) VALUES (?, ?, ?, ?)",
                (f"{prefix}{n:07d}", workspace, types[n % len(types)], json.dumps({"n": n, "by": prefix})),
            )
        connection.execute("COMMIT")
        inserted += rows
    except sqlite3.Error as error:
        errors.append(str(error))
        if connection.in_transaction:
            connection.execute("ROLLBACK")
print(json.dumps({"inserted": inserted, "errors": errors, "seconds": round(time.monotonic() - started, 3)}), flush=True)
