"""Keeps corpus/builds.tsv (one row per corpus entry, the newest result wins) and renders
corpus/builds.md, score line included, from all of its rows, so a run of some entries keeps the
others' results.

    python3 corpus/builds.py record TSV MD NAME STATUS INIT BUILD PORT PROBE SIZE COMMIT DATE
    python3 corpus/builds.py render TSV MD

STATUS is one of served, built, build-failed, init-refused, not-mirrored; SIZE is in bytes.
"""
import math
import os
import sys

FIELDS = ["name", "status", "init", "build", "port", "probe", "size", "imggen", "date"]
STATUSES = {"served", "built", "build-failed", "init-refused", "not-mirrored"}


def clean(value):
    """A cell: one line, no tab (the file's separator), no `|` (the table's)."""
    return " ".join(value.replace("\t", " ").split()).replace("|", "/")


def load(tsv):
    rows = {}
    if os.path.exists(tsv):
        with open(tsv, encoding="utf-8") as f:
            lines = f.read().splitlines()
        if not lines or lines[0].split("\t") != FIELDS:
            sys.exit(f"error: {tsv} does not start with the header line `{' '.join(FIELDS)}` (tab-separated); restore it from git")
        for number, line in enumerate(lines[1:], start=2):
            cells = line.split("\t")
            if len(cells) != len(FIELDS) or cells[1] not in STATUSES:
                sys.exit(f"error: {tsv} line {number} does not have {len(FIELDS)} tab-separated cells with a known status; fix or delete that line")
            rows[cells[0]] = dict(zip(FIELDS, cells))
    return rows


def human(size):
    """Bytes as `numfmt --to=iec` prints them (747, 1.2K, 77K): rounded up."""
    value, unit = int(size), ""
    for next_unit in ["K", "M", "G"]:
        if value < 1024:
            break
        value, unit = value / 1024, next_unit
    if unit == "":
        return str(value)
    if value < 10:
        return f"{math.ceil(value * 10) / 10:.1f}{unit}"
    return f"{math.ceil(value)}{unit}"


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def render(rows, md):
    ordered = sorted(rows.values(), key=lambda r: (int(r["size"]), r["name"]))
    tried = [r for r in ordered if r["status"] != "not-mirrored"]
    built = [r for r in tried if r["status"] in ("served", "built")]
    served = [r for r in tried if r["status"] == "served"]
    latest = max((r["date"] for r in tried), default="-")
    out = [
        "# Corpus builds",
        "",
        "`just corpus-build` (corpus/build.sh): every corpus entry that boots alone and should get an",
        "image, built with `imggen init` + `imggen build --network host` at its pinned commit, then run",
        "with `--network host` and probed (TCP connect, 127.0.0.1 or ::1) on the entry's declared port. The image runs",
        "the command the plan chose (arguments and environment included). Each row is the newest",
        "result for that entry (corpus/builds.tsv) and names the imggen commit that produced it; a",
        "run of some entries leaves the other rows as they were.",
        "",
        f"Score: {len(served)} served / {len(built)} built / {len(tried)} tried (latest row {latest}).",
        "",
        "| entry | init | build | port (declared / planned) | probe | source size | imggen |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in ordered:
        out.append(
            f"| {r['name']} | {r['init']} | {r['build']} | {r['port']} | {r['probe']} | {human(r['size'])} | {r['imggen']} ({r['date']}) |"
        )
    write_atomic(md, "\n".join(out) + "\n")


def save(rows, tsv):
    lines = ["\t".join(FIELDS)]
    for name in sorted(rows):
        lines.append("\t".join(rows[name][f] for f in FIELDS))
    write_atomic(tsv, "\n".join(lines) + "\n")


def main(argv):
    if len(argv) >= 3 and argv[0] == "render":
        render(load(argv[1]), argv[2])
        return
    if len(argv) == 1 + 2 + len(FIELDS) and argv[0] == "record":
        tsv, md = argv[1], argv[2]
        row = dict(zip(FIELDS, (clean(v) for v in argv[3:])))
        if row["status"] not in STATUSES or not row["size"].isdigit():
            sys.exit(f"error: status `{row['status']}` or size `{row['size']}` is not valid; use one of {sorted(STATUSES)} and a byte count")
        rows = load(tsv)
        rows[row["name"]] = row
        save(rows, tsv)
        render(rows, md)
        return
    sys.exit("error: usage: builds.py record TSV MD " + " ".join(f.upper() for f in FIELDS) + " | builds.py render TSV MD")


if __name__ == "__main__":
    main(sys.argv[1:])
