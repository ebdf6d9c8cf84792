#!/usr/bin/env python3
"""Benchmarks `mamori scan` side by side with ripgrep (plain text) and ripgrep-all (Office/PDF).

    bench/scan.py [--mb 120] [--office-files 600] [--large-mb 1024] [--skip-large] [--skip-rga]
                  [--text-only] [--before BIN]

`--text-only` runs the plain-text comparison alone; `--before BIN` adds rows for another
`mamori` binary (an older build) run the same way. The plain-text table also has rows for the
same corpus as one single file (does one large file use every core?).

Needs: a release build (`cargo build --release -p mamori`, done here), `rg` and `hyperfine`
(Debian: ripgrep hyperfine), and for the Office comparison `rga` (`cargo install ripgrep_all`)
with its adapters (Debian: pandoc poppler-utils). Corpora are generated under bench/out/ by
bench/gen_corpus.py (made-up text, no downloads). Prints markdown tables for docs/benchmarks.md.
Cold-cache runs drop the page cache before each run, which needs root.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# rga (ripgrep-all) with its cache emptied before every run; see main().
OUT = os.path.join(HERE, "out")
MAMORI = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "mamori")


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=False, text=True, capture_output=True, **kw)


def corpus(kind, name, **opts):
    path = os.path.join(OUT, name)
    if not os.path.exists(os.path.join(path, "manifest.json")):
        args = " ".join(f"--{k} {v}" for k, v in opts.items())
        subprocess.run(f"python3 {HERE}/gen_corpus.py {kind} {path} {args}", shell=True, check=True)
    return path


def du(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(dirpath, f))
    return total


def hyperfine(commands, cold=False, runs=5, prepare=None):
    with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
        prep = ["--prepare", "sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'"] if cold else ["--warmup", "1"]
        if prepare:
            prep = ["--prepare", prepare]
        cmd = ["hyperfine", "-N", "-i", "--runs", str(runs), "--export-json", tmp.name, *prep]
        for label, c in commands:
            cmd += ["-n", label, c]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        data = json.load(open(tmp.name))
    return {r["command"]: r for r in data["results"]}


def peak_rss_mb(command):
    r = sh(f"/usr/bin/time -v {command} > /dev/null")
    for line in r.stderr.splitlines():
        if "Maximum resident set size" in line:
            return int(line.split(":")[1]) / 1024
    return float("nan")


def files_flagged_by_mamori(path, category="label"):
    r = sh(f"{MAMORI} scan --format json --no-progress {path}")
    flagged = set()
    for line in r.stdout.splitlines():
        obj = json.loads(line)
        if any(f["category"] == category for f in obj["findings"]):
            flagged.add(os.path.relpath(obj["path"], path))
    return flagged


def recall(flagged, manifest):
    planted = {k for k, v in manifest["planted"].items() if any(x != "my_number" for x in v)}
    found = len(planted & flagged)
    return found, len(planted)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=120)
    ap.add_argument("--office-files", type=int, default=600)
    ap.add_argument("--large-mb", type=int, default=1024)
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--skip-rga", action="store_true")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--text-only", action="store_true")
    ap.add_argument("--before", help="an older mamori binary to time side by side")
    a = ap.parse_args()
    subprocess.run("cargo build --release -p mamori", shell=True, check=True, cwd=ROOT)
    root = os.geteuid() == 0
    cpus = os.cpu_count()

    text = corpus("text", f"text-{a.mb}mb", mb=a.mb)
    size = du(text) / 1e6
    labels = os.path.join(text, "labels.txt")
    print(f"\n### Plain text: {size:.0f} MB of mixed Japanese/English text, {cpus} cores\n")
    print("| command | cache | mean (s) | min (s) | MB/s | cores busy | ratio to rg |")
    print("|---|---|---|---|---|---|---|")
    single = os.path.join(OUT, f"text-{a.mb}mb-single.txt")
    if not os.path.exists(single):
        with open(single, "wb") as out:
            for dirpath, _, files in sorted(os.walk(text)):
                for f in sorted(files):
                    if f.endswith(".txt") and f != "labels.txt":
                        with open(os.path.join(dirpath, f), "rb") as src:
                            out.write(src.read())
    for cold in ([False, True] if root else [False]):
        commands = [
            ("rg", f"rg -c -F -f {labels} {text}"),
            ("mamori", f"{MAMORI} scan --format json --no-progress {text}"),
            ("mamori -j1", f"{MAMORI} scan -j1 --format json --no-progress {text}"),
        ]
        if a.before:
            commands += [
                ("mamori (before)", f"{a.before} scan --format json --no-progress {text}"),
                ("mamori -j1 (before)", f"{a.before} scan -j1 --format json --no-progress {text}"),
            ]
        commands += [
            ("rg, one file", f"rg -c -F -f {labels} {single}"),
            ("mamori, one file", f"{MAMORI} scan --format json --no-progress {single}"),
        ]
        res = hyperfine(commands, cold=cold, runs=a.runs)
        for name, r in res.items():
            base = res["rg, one file" if "one file" in name else "rg"]["mean"]
            cpu = (r["user"] + r["system"]) / r["mean"]
            print(f"| `{name}` | {'cold' if cold else 'warm'} | {r['mean']:.3f} | {r['min']:.3f} | {size / r['mean']:.0f} | {cpu:.2f} | {r['mean'] / base:.2f}x |")
    if a.text_only:
        return

    office = corpus("office", f"office-{a.office_files}", files=a.office_files)
    manifest = json.load(open(os.path.join(office, "manifest.json")))
    osize = du(office) / 1e6
    print(f"\n### Office, PDF and zip: {a.office_files} generated files, {osize:.0f} MB\n")
    found, planted = recall(files_flagged_by_mamori(office), manifest)
    rows = []
    res = hyperfine([("mamori", f"{MAMORI} scan --format json --no-progress {office}")], runs=a.runs)
    rows.append(("mamori", res["mamori"]["mean"], found, planted))
    if not a.skip_rga and shutil.which("rga"):
        # rga 0.10's --rga-no-cache fails on every document ("No cache?"): give it an empty
        # cache directory before each run instead, so every run extracts afresh.
        cache = os.path.join(OUT, "rga-cache")
        cmd = f"rga --rga-cache-path={cache} -l -F -f {os.path.join(office, 'labels.txt')} {office}"
        res = hyperfine([("rga", cmd)], runs=a.runs, prepare=f"rm -rf {cache}")
        shutil.rmtree(cache, ignore_errors=True)
        flagged = {os.path.relpath(p, office) for p in sh(cmd).stdout.split()}
        rf, rp = recall(flagged, manifest)
        rows.append(("rga", res["rga"]["mean"], rf, rp))
    print("| tool | mean (s) | files with a planted label found | recall | speed vs rga |")
    print("|---|---|---|---|---|")
    rga_time = next((r[1] for r in rows if r[0] == "rga"), None)
    for name, t, f, p in rows:
        vs = f"{rga_time / t:.1f}x" if rga_time else "n/a"
        print(f"| {name} | {t:.3f} | {f}/{p} | {f / max(p, 1):.1%} | {vs} |")

    if not a.skip_large:
        large = corpus("large", f"large-{a.large_mb}mb", mb=a.large_mb)
        print(f"\n### Peak memory on {du(large) / 1e6:.0f} MB of large files\n")
        print("| command | peak RSS (MB) |\n|---|---|")
        print(f"| `mamori scan` | {peak_rss_mb(f'{MAMORI} scan --format json --no-progress {large}'):.0f} |")
        print(f"| `mamori scan` (office corpus) | {peak_rss_mb(f'{MAMORI} scan --format json --no-progress {office}'):.0f} |")
        print(f"| `rg -c -F -f labels` | {peak_rss_mb(f'rg -c -F -f {labels} {large}'):.0f} |")


if __name__ == "__main__":
    sys.exit(main())
