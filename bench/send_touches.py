"""Benchmark: plan and send one day's touches for N enrollments (default 100 k) to a local
Twilio-like server, gate and ledger writes included, beside the same server's ceiling.

The server is tests/twilio_server.py in its own process (its own core and GIL) with the
OpenAPI validation switched off (`validate_spec=False`: with it on, the server itself would
be the whole story). The ledger is a fresh SQLite file seeded with N owners, each with one
consented, scrubbed mobile number, and N enrollments of a one-market copy of
fl_cash_offer_v1 whose daily cap allows them all.

Figures, both through the official `twilio` client:
- ceiling: a bare loop of `messages.create` (no gate, no ledger), measured before and after
  the run (`--ceiling-messages` each time) at each thread count of `--ceiling-workers` and the
  run's `--workers`, the fastest kept (the ceiling is the best a bare loop reaches, whatever
  its threads); the mean of before and after is the floor the run is compared with;
- run: `outreach.sending.send_due` over every enrollment: batches of `--batch` enrollments
  decided in one transaction each (enrollments re-read, contacts picked, gate facts loaded
  set-based, each touch rendered and judged by the gate, decisions, attempts and events
  written), the Twilio calls on `--workers` threads, the outcomes (status, cost, event,
  enrollment, lead status) recorded in groups. With at least `--planner-process-min` due
  enrollments the deciding and recording run in a second process (0: all in this one).

CPU per message is printed for both: the bare loop's process, and the run's process plus the
planner process; on Linux also the server's CPU a message and the machine's busy share (from
/proc) while the bare loop runs and while the run does.

    .venv/bin/python bench/send_touches.py [--enrollments 100000] [--workers 8]
        [--ceiling-messages 20000] [--ceiling-workers 4,8] [--batch 100]
        [--planner-process-min 2000] [--keep DIR]

With `SEND_BENCH_PROFILE=FILE` set, the planner process runs under cProfile (timed in process
CPU time) and writes its stats to FILE (read them with `python -m pstats FILE`); the figures
then include cProfile's own overhead, so use it for where the time goes, not for throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

MESSAGING_SERVICE_SID = "MG" + "0123456789abcdef" * 2
PROFILE_ENV = "SEND_BENCH_PROFILE"
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 10:00 in Orlando, a Monday
SERVER_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
from twilio_server import TwilioServer
server = TwilioServer(validate_spec=False, latency_seconds=float(sys.argv[2])).start()
print(server.base_url, flush=True)
sys.stdin.read()
"""


def start_server(latency_ms: float = 0.0) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT, str(ROOT / "tests"),
                                str(latency_ms / 1000)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    base_url = process.stdout.readline().strip()
    if not base_url.startswith("http"):
        raise RuntimeError("the Twilio-like server did not start")
    return process, base_url


def phone_of(number: int) -> str:
    return f"+1407{2000000 + number:07d}"


def seed(engine, count: int) -> None:  # type: ignore[no-untyped-def]
    """N owners with one consented, scrubbed mobile each, enrolled today (bulk inserts)."""
    from sqlalchemy import insert

    from outreach.ledger import pii
    from outreach.ledger.db import ledger_session
    from outreach.ledger.dnc_store import DncListLoad, load_dnc_list
    from outreach.ledger.models import (
        CampaignRecord,
        Consent,
        Contact,
        DncScrub,
        Enrollment,
        Owner,
        OwnerParcel,
    )

    keyring = pii.current_keyring()
    listed_on = date(2026, 11, 20)
    with ledger_session(engine) as session:
        load_dnc_list(session, DncListLoad("national", "national.txt", "a" * 64, listed_on,
                                           "argument", []))
        load_dnc_list(session, DncListLoad("state", "fl.txt", "b" * 64, listed_on,
                                           "argument", [], state="FL"))
        session.add(CampaignRecord(name="bench_drip", definition_sha256="0" * 64))
    granted = datetime(2026, 11, 1, tzinfo=UTC)
    scrubbed = datetime(2026, 11, 22, tzinfo=UTC)
    batch = 10_000
    for start in range(1, count + 1, batch):
        numbers = range(start, min(count, start + batch - 1) + 1)
        with engine.begin() as connection:
            connection.execute(insert(Owner), [
                {"owner_id": n, "market_code": "orange_fl", "owner_key": f"OWNER {n}",
                 "owner_name": f"OWNER{n} PAT", "mailing_state": "FL", "created_at": granted}
                for n in numbers])
            connection.execute(insert(OwnerParcel), [
                {"owner_id": n, "parcel_id": f"P{n:07d}", "market_code": "orange_fl",
                 "linked_by": "parcel_id", "created_at": granted} for n in numbers])
            connection.execute(insert(Contact), [
                {"contact_id": n, "owner_id": n, "channel": "phone", "value": phone_of(n),
                 "value_hash": keyring.lookup_hash("phone", phone_of(n)),
                 "value_hint": pii.mask_phone(phone_of(n)), "number_type": "mobile",
                 "is_valid": True, "is_verified": False, "confidence": 0.9,
                 "confidence_reason": "", "is_wrong_number": False, "created_at": granted,
                 "updated_at": granted} for n in numbers])
            connection.execute(insert(DncScrub), [
                {"contact_id": n, "scrubbed_at": scrubbed, "is_listed": False, "listed_on": [],
                 "national_downloaded_on": listed_on, "state_downloaded_on": listed_on,
                 "is_sms_blocked": False, "reason": ""} for n in numbers])
            connection.execute(insert(Consent), [
                {"contact_id": n, "channel": "sms", "source": "web form", "wording": "Yes",
                 "granted_at": granted, "created_at": granted} for n in numbers])
            connection.execute(insert(Enrollment), [
                {"campaign_id": 1, "owner_id": n, "market_code": "orange_fl",
                 "parcel_id": f"P{n:07d}", "tier": "A", "score": 50 + (n % 50),
                 "status": "not_started", "touches_sent": 0, "enrolled_on": NOW.date(),
                 "created_at": granted, "updated_at": granted} for n in numbers])


def ceiling(base_url: str, messages: int, workers: int, server_pid: int
            ) -> tuple[float, float, float | None, float | None]:
    """Messages per second of a bare `messages.create` loop (same client, same threads), the
    loop's and the server's CPU milliseconds per message, and the machine's busy share."""
    from twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

    from outreach.service_settings import TwilioSettings
    from outreach.twilio_client import twilio_rest_client

    settings = TwilioSettings(twilio_account_sid=DEFAULT_ACCOUNT_SID,
                              twilio_auth_token=DEFAULT_AUTH_TOKEN,
                              wholesaler_twilio_base_url=base_url)
    counter = iter(range(messages))
    lock = threading.Lock()
    body = ("Hi Pat, this is the team with Sunshine Porch Home Buyers. We buy houses in Orange "
            "County as-is for cash. Reply STOP to opt out.")

    def loop() -> None:
        client = twilio_rest_client(settings)
        while True:
            with lock:
                number = next(counter, None)
            if number is None:
                return
            client.messages.create(to=phone_of(900_000 + number % 90_000), body=body,
                                   messaging_service_sid=MESSAGING_SERVICE_SID,
                                   status_callback="https://hooks.example.com/s?mid=1")

    threads = [threading.Thread(target=loop) for _ in range(workers)]
    started, cpu = time.perf_counter(), time.process_time()
    server_cpu, machine = process_cpu(server_pid), machine_busy()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return (messages / (time.perf_counter() - started),
            (time.process_time() - cpu) / messages * 1000,
            per_message_ms(server_cpu, process_cpu(server_pid), messages),
            busy_share(machine, machine_busy()))


@dataclass(frozen=True)
class Ceiling:
    """The best bare loop of one measurement: its rate, thread count, CPU a message (loop
    and server), the machine's busy share, and every thread count's rate."""

    rate: float
    workers: int
    cpu_ms: float
    server_cpu_ms: float | None
    busy: float | None
    rates: dict[int, float]


def best_ceiling(base_url: str, messages: int, workers: Sequence[int],
                 server_pid: int) -> Ceiling:
    """The server's ceiling: the bare loop at each thread count in `workers`, the fastest
    kept (a bare loop's rate depends on its threads, and the ceiling is the best of them)."""
    runs = {count: ceiling(base_url, messages, count, server_pid) for count in workers}
    best = max(runs, key=lambda count: runs[count][0])
    rate, cpu_ms, server_cpu_ms, busy = runs[best]
    return Ceiling(rate, best, cpu_ms, server_cpu_ms, busy,
                   {count: round(run[0], 1) for count, run in runs.items()})


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) a process has used so far, from /proc (Linux); None
    elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat (Linux)."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    ticks = [int(value) for value in first[:8]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK"), sum(ticks) / os.sysconf("SC_CLK_TCK")


def per_message_ms(before: float | None, after: float | None, messages: int) -> float | None:
    if before is None or after is None:
        return None
    return round((after - before) / max(1, messages) * 1000, 3)


def busy_share(before: tuple[float, float] | None,
               after: tuple[float, float] | None) -> float | None:
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]), 3)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrollments", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--ceiling-messages", type=int, default=20_000)
    parser.add_argument("--ceiling-workers", default="4,8",
                        help="thread counts the bare loop is measured at (comma-separated; the "
                             "run's --workers is always added); the fastest is the ceiling")
    parser.add_argument("--batch", type=int, default=100,
                        help="enrollments decided per transaction (WHOLESALER_SEND_BATCH)")
    parser.add_argument("--planner-process-min", type=int, default=2000,
                        help="WHOLESALER_SEND_PROCESS_MIN; 0 decides in the sending process")
    parser.add_argument("--planner-nice", type=int, default=10,
                        help="WHOLESALER_SEND_PLANNER_NICE: the planner process's nice value")
    parser.add_argument("--planner-idle", action=argparse.BooleanOptionalAction, default=True,
                        help="WHOLESALER_SEND_PLANNER_IDLE: the planner in the idle scheduling "
                             "class (Linux); --no-planner-idle uses --planner-nice")
    parser.add_argument("--ahead-seconds", type=float, default=1.0,
                        help="WHOLESALER_SEND_AHEAD_SECONDS: seconds of sends decided ahead")
    parser.add_argument("--keep", type=Path, help="keep the ledger in this folder")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="the server waits this long before each answer, as a remote API's "
                             "round trip (0: answer at once, the CPU-bound case)")
    args = parser.parse_args()

    ceiling_workers = sorted({args.workers, *(int(count) for count
                                              in args.ceiling_workers.split(",") if count)})
    folder = args.keep or Path(tempfile.mkdtemp(prefix="send_bench_"))
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["WHOLESALER_DATA_DIR"] = str(folder / "data")
    from outreach.ledger import pii

    os.environ[pii.KEYS_ENV] = pii.new_fernet_key()
    os.environ[pii.HASH_KEY_ENV] = "bench-hash-key-" + "x" * 32
    pii.reset_keyring()

    from twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

    from markets.loader import load_market
    from outreach import sending
    from outreach.campaigns.schema import CAMPAIGNS_DIR, load_campaign
    from outreach.channels.outbox import OutboxChannel
    from outreach.channels.sms import TwilioSmsChannel
    from outreach.ledger.db import ledger_engine, upgrade_ledger
    from outreach.sending import Channels, SendSettings, send_due
    from outreach.service_settings import TwilioSettings
    from outreach.twilio_client import twilio_rest_client

    profile_to = os.environ.get(PROFILE_ENV)
    if profile_to:  # the planner process's start, wrapped in cProfile (this bench only)
        sending._PLANNER_CODE = (  # CPU time, not wall time: the machine is shared
            "import json, sys, time, cProfile; sys.path[:0] = json.loads(sys.argv[1]); "
            "from outreach.sending import _planner_entry; "
            "profile = cProfile.Profile(time.process_time); "
            "profile.runcall(_planner_entry, int(sys.argv[2])); "
            f"profile.dump_stats({str(Path(profile_to))!r})")
    ledger = folder / "outreach.db"
    ledger.unlink(missing_ok=True)
    engine = ledger_engine(f"sqlite:///{ledger}")
    upgrade_ledger(engine)
    started = time.perf_counter()
    seed(engine, args.enrollments)
    seed_seconds = time.perf_counter() - started

    campaign = load_campaign(CAMPAIGNS_DIR / "fl_cash_offer_v1.yaml").model_copy(update={
        "name": "bench_drip", "markets": ["orange_fl"], "daily_volume_cap": 100_000})
    market = load_market("orange_fl")
    server, base_url = start_server(args.latency_ms)
    try:
        before = best_ceiling(base_url, args.ceiling_messages, ceiling_workers, server.pid)
        settings = TwilioSettings(twilio_account_sid=DEFAULT_ACCOUNT_SID,
                                  twilio_auth_token=DEFAULT_AUTH_TOKEN,
                                  wholesaler_twilio_base_url=base_url)
        channels = Channels(sms=TwilioSmsChannel(lambda: twilio_rest_client(settings),
                                                 MESSAGING_SERVICE_SID),
                            email=OutboxChannel(folder / "outbox", "email"))
        config = SendSettings(wholesaler_unsubscribe_secret="bench-secret-" + "s" * 30,
                              wholesaler_twilio_status_callback_url="https://hooks.example.com/s",
                              wholesaler_sms_per_second=0,
                              wholesaler_send_batch=args.batch,
                              wholesaler_send_process_min=args.planner_process_min,
                              wholesaler_send_planner_nice=args.planner_nice,
                              wholesaler_send_planner_idle=args.planner_idle,
                              wholesaler_send_ahead_seconds=args.ahead_seconds)
        started, cpu, child_cpu = time.perf_counter(), time.process_time(), children_cpu()
        server_cpu, machine = process_cpu(server.pid), machine_busy()
        report = send_due(engine, campaign, market, NOW, channels=channels,
                          workers=args.workers, config=config)
        run_seconds = time.perf_counter() - started
        run_cpu, planner_cpu = time.process_time() - cpu, children_cpu() - child_cpu
        run_server = per_message_ms(server_cpu, process_cpu(server.pid), report.sent)
        run_busy = busy_share(machine, machine_busy())
        after = best_ceiling(base_url, args.ceiling_messages, ceiling_workers, server.pid)
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(timeout=30)
    floor = (before.rate + after.rate) / 2
    rate = report.sent / run_seconds
    figures = {
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}",
        "enrollments": args.enrollments, "workers": args.workers, "batch": args.batch,
        "planner_nice": args.planner_nice, "planner_idle": args.planner_idle,
        "ahead_seconds": args.ahead_seconds,
        "server_latency_ms": args.latency_ms,
        "planner_process": args.planner_process_min > 0
        and args.enrollments >= args.planner_process_min,
        "seed_seconds": round(seed_seconds, 1),
        "run_seconds": round(run_seconds, 1), "sent": report.sent,
        "refused": report.refused, "deferred": report.deferred, "failed": report.failed,
        "run_messages_per_second": round(rate, 1),
        "ceiling_before": round(before.rate, 1), "ceiling_after": round(after.rate, 1),
        "ceiling_workers": [before.workers, after.workers],
        "ceiling_by_workers": {"before": before.rates, "after": after.rates},
        "ceiling_messages_each": args.ceiling_messages,
        "ceiling_cpu_ms_per_message": round((before.cpu_ms + after.cpu_ms) / 2, 3),
        "run_cpu_ms_per_message": round(run_cpu / max(1, report.sent) * 1000, 3),
        "planner_cpu_ms_per_message": round(planner_cpu / max(1, report.sent) * 1000, 3),
        # The server's CPU a message and the machine's busy share (Linux /proc; None
        # elsewhere): while the bare loop runs (before / after) and while the run does.
        "server_cpu_ms_per_message": {"ceiling": [before.server_cpu_ms, after.server_cpu_ms],
                                      "run": run_server},
        "machine_busy_share": {"ceiling": [before.busy, after.busy], "run": run_busy},
        "share_of_ceiling": round(rate / floor, 3),
        "at": datetime.now(UTC).isoformat(timespec="seconds")}
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
