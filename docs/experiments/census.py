#!/usr/bin/env python3
"""Sums an strace log (strace -f -tt -y -xx -s 64 -e trace=pwrite64,write,fdatasync) of one embedded
bench run per store file, within the measured phase (from the warm-up's last progress line to
"stopping the system"): WAL frames (24-byte header + page, two pwrites) and the checkpoints' page
copies into the database files; each WAL frame classed as a first write of its page or a page
written again since the WAL last restarted; and, with --keep-data's files, by B-tree (dbstat).

Run from a checkout of the project (its node_modules/better-sqlite3 reads the pages' B-trees):
  strace -f -tt -y -xx -s 64 -e trace=pwrite64,write,fdatasync -o strace.txt \
    npm run -s bench -- --mode embedded -c 64 -n 3000 --keep-data
  python3 docs/experiments/census.py strace.txt <the data directory the run kept>/system 3000
(docs/benchmarks.md, "A checkout's bytes, by file and B-tree")."""
import re, sys, json, subprocess, collections, os

log, datadir, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sqlite = os.path.abspath(sys.argv[4] if len(sys.argv) > 4 else 'node_modules/better-sqlite3')
line_re = re.compile(r'^(\d+)\s+(\d\d:\d\d:\d\d\.\d+)\s+(\w+)\((\d+)(?:<([^>]*)>)?, "((?:\\x[0-9a-f]{2})*)"(?:\.\.\.)?, (\d+)(?:, (\d+))?\)\s+=\s+(-?\d+)')
sync_re = re.compile(r'^(\d+)\s+(\d\d:\d\d:\d\d\.\d+)\s+fdatasync\((\d+)<([^>]*)>\)')
def unhex(s): return bytes(int(h, 16) for h in re.findall(r'\\x([0-9a-f]{2})', s))

lines = open(log, errors='replace').read().splitlines()
start = end = None
for l in lines:
    m = line_re.match(l)
    if not m or m.group(3) != 'write' or m.group(4) != '2': continue
    txt = unhex(m.group(6)).decode('utf-8', 'replace')
    if txt.startswith('warm-up'): start = m.group(2)
    if 'stopping the system' in txt and end is None: end = m.group(2)
print(f'# measured window {start} - {end}', file=sys.stderr)

per = collections.defaultdict(lambda: collections.Counter())
pending = {}          # wal path -> page number of the header just written
seen = collections.defaultdict(set)  # wal path -> pages written since the WAL's restart
framepages = collections.defaultdict(lambda: collections.Counter())  # db -> (page, again) -> frames
copypages = collections.defaultdict(collections.Counter)
pagesize = {}
for l in lines:
    m = sync_re.match(l)
    if m:
        if start <= m.group(2) <= end: per[os.path.basename(unhex(m.group(4)).decode()).replace('-wal', '')]['fdatasync'] += 1
        continue
    m = line_re.match(l)
    if not m or m.group(3) != 'pwrite64' or not m.group(5): continue
    path, count, off = unhex(m.group(5)).decode(), int(m.group(7)), int(m.group(8))
    inwin = start <= m.group(2) <= end
    if path.endswith('-wal'):
        db = os.path.basename(path[:-4])
        if off == 0 and count == 32:
            seen[path].clear(); pending.pop(path, None)
            if inwin: per[db]['walHeaderBytes'] += 32
            continue
        if count == 24:
            h = unhex(m.group(6))
            pending[path] = int.from_bytes(h[0:4], 'big')
            if inwin: per[db]['walSyscalls'] += 1; per[db]['walBytes'] += 24
            continue
        page = pending.pop(path, None)
        if page is None: continue
        pagesize[db] = count
        again = page in seen[path]; seen[path].add(page)
        if inwin:
            c = per[db]; c['walSyscalls'] += 1; c['walBytes'] += count; c['frames'] += 1
            c['framesAgain' if again else 'framesFirst'] += 1
            c['bytesAgain' if again else 'bytesFirst'] += count + 24
            framepages[db][(page, again)] += 1
    elif path.endswith('.db'):
        db = os.path.basename(path)
        if inwin:
            per[db]['copySyscalls'] += 1; per[db]['copyBytes'] += count
            copypages[db][off // count + 1] += 1

# B-trees of each page, from the files the run kept
owner = {}
if os.path.isdir(datadir):
    for db in per:
        f = os.path.join(datadir, db)
        if not os.path.exists(f): continue
        out = subprocess.run(['node', '-e', '''
const D = require(process.argv[2]); const db = new D(process.argv[1], { readonly: true });
process.stdout.write(JSON.stringify(db.prepare("SELECT pageno, name FROM dbstat").all()));''', f,
            sqlite], capture_output=True, text=True)
        if out.returncode == 0:
            owner[db] = {r['pageno']: r['name'] for r in json.loads(out.stdout)}
        else: print(out.stderr, file=sys.stderr)

def tree(db, page):
    if page == 1: return 'page 1'
    return owner.get(db, {}).get(page, '(freed or unknown)')

tot = collections.Counter()
rows = []
for db, c in sorted(per.items(), key=lambda kv: -(kv[1]['walBytes'] + kv[1]['copyBytes'])):
    ps = pagesize.get(db, 0)
    bytrees = collections.Counter()
    for (page, again), k in framepages[db].items(): bytrees[tree(db, page)] += k * (ps + 24)
    for page, k in copypages[db].items(): bytrees[tree(db, page)] += k * ps
    jb = sum(v for k, v in bytrees.items() if k == 'journal' or k.startswith('journal'))
    for (page, again), k in framepages[db].items():
        if tree(db, page).startswith('journal'): tot['journalWalAgain' if again else 'journalWalFirst'] += k * (ps + 24)
    for page, k in copypages[db].items():
        if tree(db, page).startswith('journal'): tot['journalCopy'] += k * ps
    rows.append({'file': db, 'pageSize': ps, 'walKiBPerCheckout': round(c['walBytes'] / n / 1024, 2),
                 'walSyscallsPerCheckout': round(c['walSyscalls'] / n, 2), 'copyKiBPerCheckout': round(c['copyBytes'] / n / 1024, 2),
                 'copySyscallsPerCheckout': round(c['copySyscalls'] / n, 2), 'frames': c['frames'], 'framesAgainPct': round(100 * c['framesAgain'] / max(1, c['frames']), 1),
                 'journalPctOfBytes': round(100 * jb / max(1, c['walBytes'] + c['copyBytes']), 1), 'fdatasyncs': c['fdatasync'],
                 'byBtreeKiB': {k: round(v / 1024) for k, v in bytrees.most_common(8)}})
    for k in ('walBytes', 'copyBytes', 'walSyscalls', 'copySyscalls', 'frames', 'framesAgain', 'bytesAgain', 'bytesFirst'): tot[k] += c[k]
    tot['journalBytes'] += jb
for r in rows: print(json.dumps(r))
allb = tot['walBytes'] + tot['copyBytes']
print(json.dumps({'total': True, 'n': n, 'KiBPerCheckout': round(allb / n / 1024, 1), 'walKiBPerCheckout': round(tot['walBytes'] / n / 1024, 1),
                  'copyKiBPerCheckout': round(tot['copyBytes'] / n / 1024, 1), 'syscallsPerCheckout': round((tot['walSyscalls'] + tot['copySyscalls']) / n, 1),
                  'walPctOfBytes': round(100 * tot['walBytes'] / allb, 1), 'walBytesAgainPct': round(100 * tot['bytesAgain'] / max(1, tot['walBytes']), 1),
                  'journalPctOfBytes': round(100 * tot['journalBytes'] / allb, 1),
                  'journalKiBPerCheckout': {'walFirst': round(tot['journalWalFirst'] / n / 1024, 1), 'walAgain': round(tot['journalWalAgain'] / n / 1024, 1), 'checkpointCopy': round(tot['journalCopy'] / n / 1024, 1)}}))
