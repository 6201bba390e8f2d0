"""Benchmark: dump a local ArcGIS layer of 200 k features with our dumper and with
`esridump==1.13.0` (the reference tool; `pip install -e '.[bench]'`), at the same politeness
limits, and print wall time, requests made and rows returned for each.

The layer is served by tests/arcgis_server.py in its own process: it takes a fixed time per
request (`--latency`, so the comparison is about request scheduling, not server work) and
serves at most `--server-concurrency` requests at once. Both tools get the same User-Agent-free
local host, the same page size (the layer's maxRecordCount) and the same cap of requests per
second; ours may keep `--concurrency` requests in flight, esridump is sequential by design.
esridump's own pause (10 s every 5 requests by default) is set to 0 so it is not penalised.

    .venv/bin/python bench/arcgis_dump.py [--features 200000] [--page 1000] [--latency 0.3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _stats(base_url: str, reset: bool = False) -> dict:
    with urllib.request.urlopen(f"{base_url}/__stats{'?reset=1' if reset else ''}") as answer:
        return json.loads(answer.read())


def run_ours(layer_url: str, out: Path, concurrency: int, rate: float, page: int) -> dict:
    from markets.schema import ScrapingPolicy
    from scrapers.arcgis import dump_layer
    from scrapers.http import PoliteClient

    policy = ScrapingPolicy(requests_per_second=rate, max_concurrency=concurrency,
                            timeout_seconds=120, contact="bench@wholesaler.example")
    started = time.perf_counter()
    with PoliteClient(policy) as client:
        summary = dump_layer(client, layer_url, out, page_size=page)
    seconds = time.perf_counter() - started
    ids = {json.loads(line)["id"] for line in out.open()}
    return {"seconds": seconds, "rows": summary.rows, "unique_ids": len(ids),
            "verified": summary.verified}


def run_esridump(layer_url: str, out: Path, page: int) -> dict:
    from esridump.dumper import EsriDumper

    started = time.perf_counter()
    rows = 0
    ids = set()
    dumper = EsriDumper(layer_url, max_page_size=page, pause_seconds=0, timeout=120)
    with out.open("w") as handle:
        for feature in dumper:
            handle.write(json.dumps(feature) + "\n")
            ids.add(feature["properties"]["OBJECTID"])
            rows += 1
    return {"seconds": time.perf_counter() - started, "rows": rows, "unique_ids": len(ids)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=200_000)
    parser.add_argument("--page", type=int, default=1000, help="the layer's maxRecordCount")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per request")
    parser.add_argument("--server-concurrency", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=4, help="our requests in flight")
    parser.add_argument("--rate", type=float, default=20.0, help="request starts per second")
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "arcgis_server.py"), "--features",
         str(args.features), "--max-record-count", str(args.page), "--latency",
         str(args.latency), "--max-concurrent", str(args.server_concurrency)],
        stdout=subprocess.PIPE, text=True)
    try:
        layer_url = server.stdout.readline().strip()
        base_url = layer_url.split("/arcgis/")[0]
        results = {}
        with tempfile.TemporaryDirectory() as folder:
            for name, run in (
                ("esridump 1.13.0", lambda: run_esridump(layer_url, Path(folder) / "e.jsonl",
                                                         args.page)),
                ("wholesaler", lambda: run_ours(layer_url, Path(folder) / "w.jsonl",
                                                args.concurrency, args.rate, args.page)),
            ):
                _stats(base_url, reset=True)
                figures = run()
                stats = _stats(base_url)
                figures.update(requests=stats["requests"],
                               max_in_flight=stats["max_in_flight"])
                results[name] = figures
                print(f"{name:<16} {figures['seconds']:7.1f} s  {figures['requests']:5d} "
                      f"requests  {figures['rows']:7d} rows ({figures['unique_ids']} unique)  "
                      f"max in flight {figures['max_in_flight']}", flush=True)
    finally:
        server.terminate()
        server.wait()
    ours, theirs = results["wholesaler"], results["esridump 1.13.0"]
    pages = -(-args.features // args.page)
    speedup = theirs["seconds"] / ours["seconds"]
    print(f"pages {pages}; latency floor sequential {pages * args.latency:.1f} s, "
          f"{args.concurrency} at once {-(-pages // args.concurrency) * args.latency:.1f} s")
    print(f"throughput: wholesaler {ours['rows'] / ours['seconds']:,.0f} rows/s, esridump "
          f"{theirs['rows'] / theirs['seconds']:,.0f} rows/s: {speedup:.2f}x")
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}")
    target = ours["rows"] == args.features and ours["unique_ids"] == args.features \
        and speedup >= 3
    print("target (all rows, >= 3x esridump): " + ("met" if target else "NOT met"))


if __name__ == "__main__":
    main()
