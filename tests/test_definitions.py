"""The code location loads, and its asset graph matches the checked-in snapshot, so a renamed
or rewired asset shows as a diff in review. Regenerate with UPDATE_SNAPSHOTS=1 pytest."""

from __future__ import annotations

import os
from pathlib import Path

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.txt"


def asset_graph_text() -> str:
    from pipelines.definitions import defs

    definitions = defs()
    graph = definitions.resolve_asset_graph()
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        parents = ", ".join(sorted(p.to_user_string() for p in node.parent_keys))
        partitioned = "partitioned by market" if node.partitions_def else "unpartitioned"
        lines.append(f"{key.to_user_string()} [{node.group_name}; {partitioned}] <- {parents}")
    for check_key in sorted(graph.asset_check_keys, key=lambda k: k.to_user_string()):
        lines.append(f"check {check_key.to_user_string()}")
    jobs = sorted(job.name for job in definitions.resolve_all_job_defs()
                  if not job.name.startswith("__"))
    lines.append(f"jobs: {', '.join(jobs)}")
    return "\n".join(lines) + "\n"


def test_asset_graph_matches_snapshot(monkeypatch):
    monkeypatch.setenv("WHOLESALER_MARKETS_DIR", str(Path(__file__).parents[1] / "markets"))
    text = asset_graph_text()
    if os.environ.get("UPDATE_SNAPSHOTS") or not SNAPSHOT.exists():
        SNAPSHOT.write_text(text)
    assert text == SNAPSHOT.read_text(), "asset graph changed; UPDATE_SNAPSHOTS=1 to accept"


def test_every_market_is_a_partition():
    from markets.loader import load_markets
    from pipelines.partitions import market_partitions

    shipped = Path(__file__).parents[1] / "markets"
    assert set(market_partitions.get_partition_keys()) >= {m.code for m in load_markets(shipped)}
