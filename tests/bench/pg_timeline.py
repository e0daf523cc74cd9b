#!/usr/bin/env python3
"""Timeline of one bench run from a PostgreSQL log written with
log_min_duration_statement=0 and log_line_prefix='%m [%p] ':
per transaction, its statements, server time and wall span; and the gaps
between transactions (the controller's own time plus the round trips)."""
import re, sys, datetime
path, nth = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 40
rx = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) UTC \[(\d+)\] LOG:  duration: ([\d.]+) ms  (parse|bind|execute|statement)[^:]*: (.*)')
lines = []
for l in open(path, errors='replace'):
    m = rx.match(l)
    if m:
        t = datetime.datetime.strptime(m.group(1), '%Y-%m-%d %H:%M:%S.%f')
        lines.append((t, m.group(2), float(m.group(3)), m.group(4), m.group(5)))
starts = [i for i, x in enumerate(lines) if x[3] == 'execute' and x[4].startswith('INSERT INTO pipeline_runs')]
a, b = starts[nth], starts[nth + 1]
# back up to the BEGIN of the trigger transaction
while a > 0 and not (lines[a][4].startswith('BEGIN') or 'BEGIN' in lines[a][4][:10]): a -= 1
# stop at the BEGIN of the next trigger's transaction
while b > a and not lines[b][4].startswith('BEGIN'): b -= 1
txs, cur = [], None
for x in lines[a:b]:
    if x[4].startswith('BEGIN'):
        cur = {'start': x[0], 'stmts': 0, 'server_ms': 0.0, 'parse_ms': 0.0, 'first': None, 'pid': x[1]}
        txs.append(cur)
        continue
    if cur is None: continue
    cur['server_ms'] += x[2]
    if x[3] == 'parse': cur['parse_ms'] += x[2]
    if x[3] in ('execute', 'statement'):
        if x[4].startswith('COMMIT'):
            cur['end'] = x[0]; cur['commit_ms'] = x[2]; continue
        cur['stmts'] += 1
        if cur['first'] is None: cur['first'] = x[4][:70]
prev = None
tot_stmts = 0
for t in txs:
    gap = (t['start'] - prev).total_seconds() * 1000 if prev else 0
    span = (t.get('end', t['start']) - t['start']).total_seconds() * 1000
    tot_stmts += t['stmts']
    print(f"+{gap:6.1f} ms gap | tx {span:6.1f} ms wall, {t['stmts']:3d} statements, server {t['server_ms']:6.2f} ms (parse {t['parse_ms']:5.2f}), commit {t.get('commit_ms',0):5.2f} ms | {t['first']}")
    prev = t.get('end', t['start'])
print(f"{len(txs)} transactions, {tot_stmts} statements, {(prev - txs[0]['start']).total_seconds()*1000:.1f} ms from the first BEGIN to the last COMMIT")
