#!/usr/bin/env python3
"""Plans every corpus entry whose repository is mirrored (MIRROR, default /work/.mirror) at its
pinned commit and compares the plan's bin, port and number of args with the entry's facts; an
entry whose `expected` is "refuse" is right when imggen refuses. Checkouts go to WORK (default
/tmp/cp). Prints one line per entry and the count.

    python3 corpus/plan.py target/release/imggen [NAME...]
"""
import json, os, subprocess, sys, tomllib
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
imggen = sys.argv[1]
names = sys.argv[2:]
entries = tomllib.load(open(os.environ.get('CORPUS', root + '/corpus/corpus.toml'), 'rb'))['entry']
mirror = os.environ.get('MIRROR', '/work/.mirror')
work = os.environ.get('WORK', '/tmp/cp')
right = total = 0
for e in entries:
    if names and e['name'] not in names:
        continue
    g = f"{mirror}/{e['repo'].replace('/', '+')}/repo"
    if not os.path.isdir(g):
        continue
    d = f"{work}/{e['repo'].replace('/', '+')}@{e['commit'][:12]}"
    if not os.path.isdir(d):
        os.makedirs(d)
        subprocess.run(f"git --git-dir={g} archive {e['commit']} | tar -x -C {d}", shell=True, check=False, stderr=subprocess.DEVNULL)
    path = os.path.join(d, e['path'])
    r = subprocess.run([imggen, 'plan', '--format', 'json', path], capture_output=True, text=True)
    total += 1
    if r.returncode != 0:
        got = 'refused: ' + r.stderr.strip().splitlines()[-1][:150]
        ok = e['expected'] == 'refuse'
    else:
        p = json.loads(r.stdout)['plan']
        args = p.get('args') or []
        got = f"{p['bin']} :{p['port']} args={args} health={p.get('health_path')}"
        exp_args = e.get('args', [])
        ok = (e['expected'] == 'image' and p['bin'] == e['bin'] and p['port'] == e['port']
              and len(args) == len(exp_args))
    right += ok
    print(f"{'OK ' if ok else 'BAD'} {e['name']:28} expected {e['expected']} {e.get('bin')} :{e.get('port')} args={e.get('args')} | got {got}")
print(f"{right}/{total} right")
