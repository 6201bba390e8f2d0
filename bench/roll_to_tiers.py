"""Benchmark: sample-roll generation and the whole pipeline (roll -> tiers) at a given size,
beside the floors measured in the same run on the same files: DuckDB loading every column of
the same CSV files into a table as text, and a bare count(*) scan of them.

    .venv/bin/python bench/roll_to_tiers.py --parcels-per-market 200000 --markets 5

prints a summary and writes JSON to bench/results/. Figures go to docs/benchmarks.md.

Roll to tiers: the markets' copies lose their `parcel_locations` block unless
`--with-locations` (the parcel map's geometry is a separate input, like the contacts and the
publishing this bench also leaves out); with it, the GeoJSON-lines files are loaded too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import Measurement, run_measured

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def machine() -> dict[str, object]:
    mem_kib = int(next(line for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal")).split()[1])
    return {"cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def csv_files(sample_dir: Path) -> list[Path]:
    return sorted(sample_dir.rglob("*.csv"))


FLOOR_LOAD = """
import duckdb, sys
conn = duckdb.connect(sys.argv[1])
for i, path in enumerate(sys.argv[2:]):
    enc = 'latin-1' if path.rsplit('/', 1)[-1].startswith(('NAL', 'SDF')) else 'utf-8'
    conn.execute(f"CREATE TABLE t{i} AS SELECT * FROM read_csv('{path}', all_varchar=true, "
                 f"header=true, encoding='{enc}')")
"""
FLOOR_SCAN = """
import duckdb, sys
conn = duckdb.connect()
for path in sys.argv[1:]:
    enc = 'latin-1' if path.rsplit('/', 1)[-1].startswith(('NAL', 'SDF')) else 'utf-8'
    conn.execute(f"SELECT count(*) FROM read_csv('{path}', all_varchar=true, header=true, "
                 f"encoding='{enc}')").fetchall()
"""


def row(name: str, m: Measurement) -> dict[str, object]:
    if m.returncode != 0:
        raise SystemExit(f"{name} failed with exit code {m.returncode}")
    return {"step": name, "seconds": round(m.seconds, 1), "peak_gib": round(m.peak_rss_gib, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcels-per-market", type=int, default=200_000)
    parser.add_argument("--markets", type=int, default=5, help="how many of the shipped markets")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/wholesaler-bench"))
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--with-locations", action="store_true",
                        help="also load the parcel locations (the Leads map's centroids)")
    args = parser.parse_args()

    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    (work / "markets").mkdir(parents=True)
    shipped = sorted((ROOT / "markets").glob("*.yaml"))[: args.markets]
    for path in shipped:
        if args.with_locations:
            shutil.copy(path, work / "markets" / path.name)
            continue
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        config.pop("parcel_locations", None)
        (work / "markets" / path.name).write_text(yaml.safe_dump(config, sort_keys=False),
                                                  encoding="utf-8")
    codes = [path.stem for path in shipped]
    env = {**os.environ, "WHOLESALER_MARKETS_DIR": str(work / "markets"),
           "WHOLESALER_DATA_DIR": str(work / "data"),
           "DAGSTER_HOME": str(work / "data" / "dagster_home")}
    env.pop("WHOLESALER_WAREHOUSE_PATH", None)
    sample = work / "data" / "sample"
    total = args.parcels_per_market * len(codes)
    print(f"{total:,} parcels in {len(codes)} markets; work folder {work}", flush=True)

    results = []
    generate = run_measured(
        [str(BIN / "wholesaler"), "sample-data", "--out", str(sample), "--parcels",
         str(args.parcels_per_market), "--seed", str(args.seed),
         *[a for code in codes for a in ("--markets", code)]], env=env)
    results.append(row("sample-data generation", generate))
    files = [str(p) for p in csv_files(sample)]
    size_gib = sum(Path(f).stat().st_size for f in files) / 2**30

    scan = run_measured([sys.executable, "-c", FLOOR_SCAN, *files], env=env)
    results.append(row("floor: DuckDB count(*) scan of the CSV files", scan))
    floor_db = work / "floor.duckdb"
    load = run_measured([sys.executable, "-c", FLOOR_LOAD, str(floor_db), *files], env=env)
    results.append(row("floor: DuckDB load of every column as text", load))
    floor_db.unlink(missing_ok=True)

    pipeline = run_measured(
        [str(BIN / "wholesaler"), "demo", "--parcels", str(args.parcels_per_market),
         "--seed", str(args.seed), "--no-contacts", "--no-publish",
         *[a for code in codes for a in ("--markets", code)]],
        env=env, quiet=False)
    results.append(row("pipeline: wholesaler demo (ingest, dbt build, checks)", pipeline))

    report = {
        "parcels": total, "markets": len(codes), "csv_gib": round(size_gib, 2),
        "with_locations": args.with_locations,
        "machine": machine(), "steps": results,
        "pipeline_over_load_floor": round(pipeline.seconds / load.seconds, 2),
        "pipeline_over_scan_floor": round(pipeline.seconds / scan.seconds, 2),
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(report, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"roll_to_tiers_{total}.json").write_text(json.dumps(report, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
