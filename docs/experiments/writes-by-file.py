#!/usr/bin/env python3
"""Whole-run write syscalls and KiB per checkout by store file (`<name>.db`, its `-wal` and the
rest apart, `bus.db in all` and `all files` summed), from an strace log of one embedded bench run:
  strace -f -tt -y -xx -s 64 -e trace=pwrite64,write,fdatasync -o strace.txt \
    npm run -s bench -- --mode embedded -c 64 -n 5000 --keep-data
  python3 docs/experiments/writes-by-file.py strace.txt 5300    # measured + warm-up checkouts
Unlike census.py it needs no progress lines (so works with --json) and counts the warm-up too
(docs/benchmarks.md, "The sole orchestrator claims no saga, embedded")."""
import re, sys, json, collections, os

log, n = sys.argv[1], int(sys.argv[2])
line_re = re.compile(r'^\d+\s+\S+\s+(pwrite64|write)\(\d+<([^>]*)>,.*\)\s+=\s+(\d+)')
def unhex(s): return bytes(int(h, 16) for h in re.findall(r'\\x([0-9a-f]{2})', s)).decode('utf-8', 'replace') if '\\x' in s else s

calls, written = collections.Counter(), collections.Counter()
for l in open(log, errors='replace'):
    m = line_re.match(l)
    if not m: continue
    f = os.path.basename(unhex(m.group(2)))
    if '.db' not in f: continue
    calls[f] += 1; written[f] += int(m.group(3))
per = lambda c, b: {'writes': round(c / n, 3), 'KiB': round(b / 1024 / n, 3)}
out = {f: per(calls[f], written[f]) for f in sorted(calls)}
bus = [f for f in calls if f.startswith('bus.db')]
out['bus.db in all'] = per(sum(calls[f] for f in bus), sum(written[f] for f in bus))
out['all files'] = per(sum(calls.values()), sum(written.values()))
print(json.dumps(out))
