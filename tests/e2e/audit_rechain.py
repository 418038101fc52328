#!/usr/bin/env python3
"""Edits one audit entry's detail in a collector's SQLite database and
recomputes the hash chain from it onward, exactly as the collector's
audit_hash does (collector/store_sqlite.c): what an intruder who can
write the database but does not hold the checkpoint key can do.

Usage: audit_rechain.py DB ID NEW-DETAIL
"""
import hashlib
import sqlite3
import sys

GENESIS = "0" * 64


def entry_hash(prev, row):
    """SHA-256 over the previous hash and every field, each prefixed by
    its length in bytes and a colon."""
    id_, time_ms, actor, action, target, detail, result = row
    fields = [prev, "%d|%d" % (id_, time_ms), actor, action, target, detail, result]
    h = hashlib.sha256()
    for f in fields:
        b = f.encode()
        h.update(b"%d:" % len(b))
        h.update(b)
    return h.hexdigest()


def main():
    db, target, detail = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    con = sqlite3.connect(db)
    con.execute("UPDATE audit SET detail = ? WHERE id = ?", (detail, target))
    prev = GENESIS
    rows = con.execute("SELECT id, time_ms, actor, action, target, detail, result"
                       " FROM audit ORDER BY id").fetchall()
    for row in rows:
        h = entry_hash(prev, row)
        con.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?", (prev, h, row[0]))
        prev = h
    con.commit()
    con.close()


if __name__ == "__main__":
    main()
