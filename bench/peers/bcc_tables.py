#!/usr/bin/python3
"""bench/peers/bcc_tables.py: the bcc peer (Debian python3-bpfcc), run with
/usr/bin/python3.

    bcc_tables.py update|lookup array|hash PIN MAX_ENTRIES ITERS RUNS
    bcc_tables.py items|batch hash PIN MAX_ENTRIES RUNS

(MAX_ENTRIES must be the pinned map's: libbcc checks the declaration
against the map it opens.)

bcc's tables cannot be opened from an id or a descriptor from Python, but
its C text can declare a table bound to a pinned map:
BPF_TABLE_PINNED(type, key, leaf, name, max_entries, "PIN") makes libbcc
open PIN instead of creating a map. So every bcc figure here is on the same
pinned map as the other peers (u32 keys, u64 values, keys cycling over
0..1023). The key and value ctypes objects are made once, outside the loop,
which is the fastest way bcc's tables are used.

A full read is `table.items()` (get_next_key + lookup per key, in Python)
or `table.items_lookup_batch()` (BPF_MAP_LOOKUP_BATCH).

Output: one line "bcc_<mode>_ns <ns per op or element>" per timed run,
after one untimed warm-up run. Clock: time.process_time_ns() (user + system
time of this process: waiting for a shared CPU does not count).
"""
import sys
import time

from bcc import BPF

KEYS = 1024


def usage():
    sys.stderr.write("usage: bcc_tables.py update|lookup array|hash PIN MAX_ENTRIES ITERS RUNS"
                     " | items|batch hash PIN MAX_ENTRIES RUNS\n")
    sys.exit(2)


def main():
    if len(sys.argv) < 6:
        usage()
    mode, kind, pin = sys.argv[1], sys.argv[2], sys.argv[3]
    max_entries = int(sys.argv[4])
    if kind not in ("array", "hash") or '"' in pin or "\\" in pin:
        usage()
    if mode in ("update", "lookup"):
        if len(sys.argv) != 7:
            usage()
        iters, runs = int(sys.argv[5]), int(sys.argv[6])
    elif mode in ("items", "batch"):
        if len(sys.argv) != 6:
            usage()
        iters, runs = 1, int(sys.argv[5])
    else:
        usage()

    text = 'BPF_TABLE_PINNED("%s", u32, u64, t, %d, "%s");' % (kind, max_entries, pin)
    b = BPF(text=text)
    t = b["t"]

    keys = [t.Key(i) for i in range(KEYS)]
    leaf = t.Leaf

    if mode == "update":
        values = [leaf(i) for i in range(KEYS)]

        def run(n):
            t0 = time.process_time_ns()
            for i in range(n):
                j = i % KEYS
                t[keys[j]] = values[j]
            return (time.process_time_ns() - t0) / n
    elif mode == "lookup":
        def run(n):
            t0 = time.process_time_ns()
            s = 0
            for i in range(n):
                s += t[keys[i % KEYS]].value
            return (time.process_time_ns() - t0) / n
    else:
        expected = []

        def run(_n):
            t0 = time.process_time_ns()
            if mode == "items":
                count = sum(1 for _ in t.items())
            else:
                count = sum(1 for _ in t.items_lookup_batch())
            dt = time.process_time_ns() - t0
            if not expected:
                expected.append(count)
            if count == 0 or count != expected[0]:
                raise SystemExit("bcc_tables: read %d elements, expected %d" % (count, expected[0]))
            return dt / count

    print("# bcc %s %s %s iters %d runs %d" % (mode, kind, pin, iters, runs))
    run(iters)
    for _ in range(runs):
        print("bcc_%s_ns %.4f" % (mode, run(iters)))
    sys.stdout.flush()
    b.cleanup()


if __name__ == "__main__":
    main()
