"""C4 `en` throughput: our build (tfds310 mode) vs TFDS c4/en 3.1.0's own functions, same WET input, one run.

Each side runs in its own subprocess, single-threaded (OMP/MKL/OpenBLAS/TF thread counts 1, pinned to one
CPU), after an untimed warm-up (imports, TensorFlow for TFDS's gfile, langdetect profiles, Punkt). Each
reports as JSON on stdout: wall and CPU seconds of the build, input pages per CPU second ("per core"), peak
RSS (`getrusage(RUSAGE_SELF).ru_maxrss`, whole process: TFDS's includes TensorFlow, which its WET reader
needs), RSS after the warm-up, and a digest of its output. The parent prints both, the ratio, and whether
the outputs are identical (if not, how many pages differ).

    python benchmarks/c4_throughput.py                    # 4,000 pages (golden corpus generator)
    python benchmarks/c4_throughput.py --pages 20000      # bigger input (cached under --cache-dir)
    python benchmarks/c4_throughput.py --profile          # + a cProfile run of ours: top 25 by tottime
    python benchmarks/c4_throughput.py --side ours        # one side only
    python benchmarks/c4_throughput.py --pages-level 1    # ours with the DAG jobs' gzip level for its page files

Input: tests/c4/golden_pages.py's corpus (`--pages` conversion records in WET files of 400 records; every
C4 rule and edge case, ordinary English pages otherwise), generated once per (pages, seed) into
`--cache-dir` (default: $TMPDIR/t5repro-c4-bench). The reference side is benchmarks/tfds_c4_reference.py.
"Ours" is `run_ours` below: `pipeline.build`, i.e. every pass of the sharded build (parse, URL resolve, clean,
dedup resolve, finish, merge) one after the other in this process, exactly the code the Snakemake jobs run.
`build` works in a temporary folder, so it stores the page files between passes uncompressed (gzip level 0);
the Snakemake jobs keep theirs at level 1 (`--pages-level 1` measures that setting).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from single_core import pin_to_one_cpu, run_worker  # noqa: E402  (benchmarks/ is the script's folder)


# ---------------------------------------------------------------------------------------------- the two sides
def run_ours(wet_files: list[Path], data_dir: str, pages_level: int | None = None) -> dict:
    """Ours: the sharded build in tfds310 mode, in this process. Returns {"train": [...], "validation": [...]}.
    pages_level: gzip level of the page files between passes (None: build's own, 0)."""
    from t5repro.c4.pipeline import Options, build

    res = build(wet_files, Options(mode="tfds310"), data_dir,
                **({} if pages_level is None else {"pages_level": pages_level}))
    return {"train": [p.record() for p in res.train], "validation": [p.record() for p in res.validation]}


def run_tfds(wet_files: list[Path], data_dir: str) -> dict:
    from benchmarks.tfds_c4_reference import run_reference

    return run_reference(wet_files, data_dir)


def _warm_up(side: str, data_dir: str) -> None:
    """Everything that is paid once per process, not per page, so that it stays out of the timing."""
    from langdetect import DetectorFactory, detect_langs

    DetectorFactory.seed = 0
    detect_langs("This sentence loads the language profiles before the clock starts.")
    if side == "tfds":
        from tensorflow_datasets.text import c4_utils

        c4_utils.tf.io.gfile.exists("/")  # the lazy TensorFlow import that split_wet_file triggers
        from nltk.tokenize import PunktTokenizer  # noqa: F401
    else:
        from t5repro.c4 import langdetect_fast, pipeline, resources  # noqa: F401

        resources.load_sentence_splitter(str(data_dir))
        langdetect_fast.default_detector()  # its tables from langdetect's profiles (the reference loads those above)


def _library(filename: str) -> str:
    """Which library a profiled function belongs to (site-packages top-level name, t5repro, stdlib)."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    if "/t5repro/" in filename:
        return "t5repro." + filename.split("/t5repro/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins (C)"
    return "stdlib"


def _profile_summary(stats) -> str:
    """Own time by library, and cumulative time of the pipeline's passes (functions of t5repro.c4.pipeline)."""
    by_lib: dict[str, float] = {}
    passes = []
    total = 0.0
    for (filename, _, func), (_, _, tt, ct, _) in stats.stats.items():
        by_lib[_library(filename)] = by_lib.get(_library(filename), 0.0) + tt
        total += tt
        if filename.endswith("t5repro/c4/pipeline.py") and func in ("parse", "resolve", "clean", "finish", "merge") \
                and ct >= 0.01:  # (a property of Options is also called `clean`)
            passes.append((func, ct))
    lines = ["own time by library:"]
    lines += [f"  {k:<28} {v:7.2f} s  {100 * v / total:5.1f} %" for k, v in sorted(by_lib.items(),
                                                                              key=lambda x: -x[1])[:10]]
    if passes:
        lines.append("cumulative time of the pipeline passes:")
        lines += [f"  {k:<28} {v:7.2f} s  {100 * v / total:5.1f} %" for k, v in sorted(passes, key=lambda x: -x[1])]
    return "\n".join(lines) + "\n"


def _digest(out: dict) -> str:
    canon = {s: sorted((json.dumps(r, sort_keys=True, ensure_ascii=False) for r in out[s])) for s in
             ("train", "validation")}
    return hashlib.sha256(json.dumps(canon, ensure_ascii=False).encode("utf-8")).hexdigest()


def worker(side: str, files: list[Path], data_dir: str, n_pages: int, out_path: Path | None,
           profile: bool, pages_level: int | None = None) -> dict:
    pin_to_one_cpu()  # "per core" numbers, and no hidden parallelism in either library
    _warm_up(side, data_dir)
    rss_ready = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fn = (lambda f, d: run_ours(f, d, pages_level)) if side == "ours" else run_tfds
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    out = fn(files, data_dir)
    if prof:
        prof.disable()
    wall, cpu = time.perf_counter() - t_wall, time.process_time() - t_cpu
    rep = {
        "side": side, "pages_in": n_pages, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
        "pages_per_cpu_s": round(n_pages / cpu, 1), "pages_per_wall_s": round(n_pages / wall, 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_after_warmup_mb": round(rss_ready / 1024, 1), "train": len(out["train"]),
        "validation": len(out["validation"]), "digest": _digest(out), "profiled": profile,
        **({"pages_level": pages_level} if side == "ours" and pages_level is not None else {}),
    }
    if prof:
        import io
        import pstats

        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.sort_stats("tottime").print_stats(25)
        rep["profile"] = buf.getvalue() + _profile_summary(stats)
    if out_path:
        out_path.write_text(json.dumps({s: out[s] for s in ("train", "validation")}, ensure_ascii=False),
                            encoding="utf-8")
    return rep


# ---------------------------------------------------------------------------------------------- parent
def make_input(n_pages: int, seed: int, cache_dir: Path, data_dir: str) -> tuple[list[Path], int]:
    """The golden corpus with n_pages records, generated once into cache_dir/golden-<n>-<seed>: (files, records)."""
    from t5repro.c4 import resources
    from tests.c4.golden_pages import FILE_PATTERN, write_corpus

    d = cache_dir / f"golden-{n_pages}-{seed}"
    done = d / "DONE"
    if not done.exists():
        corpus = write_corpus(d, n_pages, seed, badwords=resources.load_badwords(data_dir))
        done.write_text(json.dumps({"files": [p.name for p in corpus.files], "records": corpus.n_records}))
    meta = json.loads(done.read_text())
    assert all(n.startswith(FILE_PATTERN.split("{")[0]) for n in meta["files"])
    return [d / n for n in meta["files"]], int(meta["records"])


def spawn(side: str, files: list[Path], args, out_path: Path, profile: bool = False) -> dict:
    return run_worker(__file__, [
        "--worker", side, "--pages", str(args.records), "--data-dir", str(args.data_dir), "--out", str(out_path),
        *(["--profile"] if profile else []),
        *(["--pages-level", str(args.pages_level)] if args.pages_level is not None else []),
        "--files", *map(str, files)], side)


def _diff_count(a_path: Path, b_path: Path) -> int:
    a, b = (json.loads(p.read_text(encoding="utf-8")) for p in (a_path, b_path))
    ka = {(s, r["url"]): r for s in ("train", "validation") for r in a[s]}
    kb = {(s, r["url"]): r for s in ("train", "validation") for r in b[s]}
    return sum(ka.get(k) != kb.get(k) for k in ka.keys() | kb.keys())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=4000, help="conversion records in the input (default 4000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--side", choices=("both", "ours", "tfds"), default="both")
    ap.add_argument("--profile", action="store_true", help="also run ours under cProfile; top 25 by tottime")
    ap.add_argument("--data-dir", default=os.environ.get("T5REPRO_DATA", "/work/shared/data"))
    ap.add_argument("--pages-level", type=int, choices=range(10), default=None,
                    help="ours: gzip level of the page files between passes (default: pipeline.build's, 0)")
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "t5repro-c4-bench")
    ap.add_argument("--worker", choices=("ours", "tfds"), help=argparse.SUPPRESS)
    ap.add_argument("--files", nargs="*", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker, args.files, args.data_dir, args.pages, args.out, args.profile,
                                args.pages_level)))
        return

    files, args.records = make_input(args.pages, args.seed, args.cache_dir, args.data_dir)
    print(f"input: {args.records} pages in {len(files)} WET files "
          f"({sum(f.stat().st_size for f in files) / 2**20:.1f} MiB gz) under {files[0].parent}")
    sides = ("ours", "tfds") if args.side == "both" else (args.side,)
    reps: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="c4-bench-") as tmp:
        outs = {s: Path(tmp) / f"{s}.json" for s in sides}
        for side in sides:
            reps[side] = spawn(side, files, args, outs[side])
            r = reps[side]
            print(f"{side:>5}: {r['pages_per_cpu_s']:8.1f} pages/CPU-s  ({r['cpu_s']:.1f} s CPU, {r['wall_s']:.1f} s "
                  f"wall)  peak RSS {r['max_rss_mb']:.0f} MB (after warm-up {r['rss_after_warmup_mb']:.0f} MB)  "
                  f"-> {r['train']} train + {r['validation']} validation")
        if len(sides) == 2:
            o, t = reps["ours"], reps["tfds"]
            same = o["digest"] == t["digest"]
            print(f"ratio ours/TFDS: {o['pages_per_cpu_s'] / t['pages_per_cpu_s']:.2f}x pages/CPU-s, "
                  f"{o['max_rss_mb'] / t['max_rss_mb']:.2f}x peak RSS")
            print("outputs identical" if same else
                  f"outputs DIFFER: {_diff_count(outs['ours'], outs['tfds'])} (split, url) records differ")
        if args.profile:
            p = spawn("ours", files, args, Path(tmp) / "ours-profiled.json", profile=True)
            print(f"\ncProfile of ours ({p['cpu_s']:.1f} s CPU under the profiler), top 25 by tottime:")
            print(p["profile"])
    print(json.dumps({"pages": args.records, "results": {k: {kk: vv for kk, vv in v.items() if kk != "profile"}
                                                       for k, v in reps.items()}}))


if __name__ == "__main__":
    main()
