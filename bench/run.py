"""``make bench``: the whole system on this machine, with its ceilings, in one run.

Starts a fresh local stack (embedded PostgreSQL, ministack SQS, Valkey, the sandbox and the
three services), then measures, in order:

1. ceilings: a bare FastAPI endpoint parsing the same body, and the sandbox alone;
2. ingest: accepted/s at maximum (closed loop), then latency at 50 % of it (open loop);
3. end to end at 80 mps offered with the sandbox capped at 80, then at 400 mps with the
   cap at 1,000 (two dispatcher processes): accepted → sent and accepted → read latency,
   the dispatcher's sends/s against the cap and the 130429 count, the ledger's events/s
   and lag, and each service's CPU-seconds per 1,000 notifications and peak RSS;
4. what became of every accepted notification: read within the drain window, or not yet
   (``not_read_within_drain``: a figure of speed); then, once nothing moves any more,
   ``lost`` (accepted but neither read nor ended, for good), ``unexpected`` (sandbox
   receipts nobody submitted) and ``duplicates``.

Writes ``bench/results/<UTC>.json`` and a PNG plot beside it, and prints a one-screen
summary; each phase prints a progress line as it starts. ``--smoke`` runs every phase briefly
at low rates (``make test`` does, and checks lost = 0 and unexpected = 0). Exits 1 when
anything is lost, unexpected or duplicated. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from load import closed_loop, open_loop
from procstat import cpu_seconds, peak_rss_mb
from profiles import Profiles
from results_file import write_result
from sqlalchemy import text

from notif_core.db import make_engine
from notif_core.settings import CoreSettings
from notif_core.sqs import QueueNames, provision_queues, sqs_client
from notif_core.vocabulary import TERMINAL, NotificationStatus
from notif_local.cluster import Services, prepare
from notif_local.ports import free_port, wait_for_port
from notif_local.stack import LocalStack, Ports

BIN = Path(sys.executable).parent
TOKEN = "sandbox-access-token"  # noqa: S105 - the sandbox's default token
SENDER = "100000000000001"
BODY = {"template": {"name": "hello_world", "language": "en_US"}}
SETTLED_AFTER = 20.0
"""Seconds without any notification of a phase moving before the rest count as lost."""
SETTLE_AT_MOST = 600.0
"""Seconds after the drain window that a phase's stragglers are followed at most."""
FINISHED = frozenset({NotificationStatus.READ, *TERMINAL})


def progress(line: str) -> None:
    """One line per phase, so a user sees the run working."""
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {line}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, root: Path, smoke: bool, profile: Path | None = None) -> None:
        self.root = root
        self.smoke = smoke
        self.profile = profile
        """Where py-spy profiles of each end-to-end phase go; None: no profiling."""
        self.stack = LocalStack(root / "stack", ports=Ports.all_free(), outer_env={})
        self.services: Services | None = None
        self.second: Services | None = None
        self.key = ""
        self.numbers = iter(range(10**9))
        self.submitted: set[str] = set()
        """Every recipient the benchmark sent to, answered or not."""

    # --- the system -----------------------------------------------------------------------

    def start(self) -> None:
        """The sandbox, the ledger, ingest and its relay; the ingest phase stops the last two
        while it runs a pair of its own (``ingest``), and the dispatchers start with each
        end-to-end phase."""
        self.services, self.key = prepare(
            self.stack,
            self.root,
            {
                "LOG_LEVEL": "WARNING",
                "API_RATE_LIMIT_PER_SECOND": "100000",
                "API_RATE_LIMIT_BURST": "100000",
                "SENDER_RATE_PER_SECOND": "80",
                "WORKER_CONCURRENCY": "64",
                # A smoke run's consumers poll 2 s at a time, so stopping them does not wait
                # out a 10 s poll; the figures of a full run keep the default.
                **({"SQS_WAIT_SECONDS": "2"} if self.smoke else {}),
            },
        )
        for name in ("sandbox", "ledger", "ingest", "relay"):
            self.services.start(name)

    def stop(self) -> None:
        for services in (self.second, self.services):
            if services is not None:
                services.stop_all()
        self.stack.stop()

    @property
    def svc(self) -> Services:
        assert self.services is not None
        return self.services

    def sandbox(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.svc.sandbox(path, body)

    def cap(self, mps: int) -> None:
        self.svc.sandbox_cap(mps)

    def dispatchers(self, count: int, rate: int) -> list[int]:
        """(Re)start ``count`` dispatcher processes paced at ``rate``; returns their pids."""
        for services in (self.second, self.services):
            if services is not None and "dispatcher" in services.procs:
                services.signal("dispatcher")
        self.svc.env["SENDER_RATE_PER_SECOND"] = str(rate)
        # Named, so the level the sandbox reports (STANDARD: 80, HIGH: 1,000) does not set it.
        self.svc.env["SENDER_RATES"] = f"{SENDER}:{rate}"
        self.svc.start("dispatcher")
        pids = [self.svc.procs["dispatcher"].pid]
        if count > 1:
            port = free_port()
            self.second = Services(
                env={**self.svc.env, "DISPATCHER_PORT": str(port)},
                ports={"dispatcher": port},
                log_dir=self.root / "logs",
            )
            self.second.start("dispatcher")
            pids.append(self.second.procs["dispatcher"].pid)
        return pids

    # --- requests -------------------------------------------------------------------------

    def notification(self, i: int) -> tuple[str, dict[str, Any], dict[str, str]]:
        del i
        to = f"+1415{next(self.numbers) % 10**7:07d}"
        self.submitted.add(to.lstrip("+"))
        body = {**BODY, "to": to}
        return self.svc.url("ingest") + "/v1/notifications", body, {"X-API-Key": self.key}

    # --- phases ---------------------------------------------------------------------------

    async def ceilings(self, seconds: float) -> dict[str, Any]:
        port = free_port()
        bare = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measured loop
            [
                str(BIN / "uvicorn"),
                "bare_app:app",
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=Path(__file__).parent,
            stdout=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port, 30)

            def to_bare(i: int) -> tuple[str, dict[str, Any], dict[str, str]]:
                body = {**BODY, "to": f"+1415{i % 10**7:07d}"}
                return f"http://127.0.0.1:{port}/v1/notifications", body, {}

            bare_run = await closed_loop(to_bare, seconds, workers=32)
        finally:
            bare.terminate()
            bare.wait(10)
        # The sandbox alone: a process of its own, its webhooks going nowhere, so that
        # neither its statuses nor their processing touch the rest of the run.
        port = free_port()
        alone = Services(
            env={
                **self.svc.env,
                "SANDBOX_PORT": str(port),
                "SANDBOX_WEBHOOK_URL": "http://127.0.0.1:9/nowhere",
            },
            ports={"sandbox": port},
            log_dir=self.root / "logs",
        )
        alone.start("sandbox")
        try:
            base = alone.url("sandbox")
            alone.sandbox_cap(10_000)  # the sandbox's highest cap
            url = f"{base}/v21.0/{SENDER}/messages"

            def to_sandbox(i: int) -> tuple[str, dict[str, Any], dict[str, str]]:
                body = {
                    "messaging_product": "whatsapp",
                    "to": f"1417{i % 10**7:07d}",
                    "type": "template",
                    "template": {"name": "hello_world", "language": {"code": "en_US"}},
                    "biz_opaque_callback_data": f"ceiling-{i}",
                }
                return url, body, {"Authorization": f"Bearer {TOKEN}"}

            sandbox_run = await closed_loop(to_sandbox, seconds, workers=32, ok=200)
        finally:
            alone.stop_all()
        return {"bare_fastapi": bare_run.summary(), "sandbox_alone": sandbox_run.summary()}

    async def ingest(self, seconds: float) -> dict[str, Any]:
        """Ingest alone: its ceiling, then latency at half of it. Its relay publishes to
        queues of their own that nothing consumes, so the phase leaves no work behind."""
        settings = CoreSettings()
        prefix = f"{settings.queue_prefix}-ingestonly"
        async with sqs_client(settings) as sqs:
            await provision_queues(sqs, QueueNames(prefix), max_receive_count=10)
        pair = ("relay", "ingest")
        for name in pair:
            if name in self.svc.procs:
                self.svc.signal(name)
        alone = Services(
            env={**self.svc.env, "QUEUE_PREFIX": prefix},
            ports={name: self.svc.ports[name] for name in pair},
            log_dir=self.root / "logs",
        )
        for name in pair:
            alone.start(name)
        try:
            maximum = await closed_loop(self.notification, seconds, workers=32)
            half = max(1.0, maximum.rate / 2)
            at_half = await open_loop(self.notification, half, seconds)
        finally:
            alone.stop_all()
            for name in pair:
                self.svc.start(name)
        return {
            "max": maximum.summary(),
            "at_half_max": {"offered_per_second": round(half, 1), **at_half.summary()},
        }

    async def end_to_end(
        self, rate: float, seconds: float, cap: int, dispatchers: int, drain: float
    ) -> dict[str, Any]:
        self.sandbox("/_sandbox/reset", {})
        self.cap(cap)
        pids = {
            f"dispatcher{'' if n == 0 else n + 1}": pid
            for n, pid in enumerate(self.dispatchers(dispatchers, cap))
        }
        pids |= {n: self.svc.procs[n].pid for n in ("ingest", "relay", "ledger", "sandbox")}
        profiles = None
        if self.profile is not None:
            profiles = Profiles(self.profile, f"e2e_{rate}")
            profiles.start(pids)
        cpu0 = {n: cpu_seconds(p) for n, p in pids.items()}
        started = datetime.now(UTC)
        run = await open_loop(self.notification, rate, seconds, keep=True)
        ids = [a["id"] for a in run.answers.values()]
        done = await self.wait_read(ids, drain)
        cpu = {n: cpu_seconds(p) - cpu0[n] for n, p in pids.items()}
        if profiles is not None:
            for name, path in profiles.stop().items():
                progress(f"profile of {name}: {path}")
        if done < len(ids):
            progress(f"{len(ids) - done} not read within {drain:.0f} s; following them")
        final = await self.settle(ids)
        stats = self.sandbox("/_sandbox/stats")
        messages = self.sandbox("/_sandbox/messages")["messages"]
        figures = await self.ledger_figures(ids, started)
        received = sorted(datetime.fromisoformat(m["received_at"]).timestamp() for m in messages)
        span = (received[-1] - received[0]) if len(received) > 1 else 1.0
        sends = (len(received) - 1) / span if len(received) > 1 else 0.0
        mine = set(ids)
        per_thousand = 1000 / max(1, len(ids))
        submitted = int(rate * seconds)
        return {
            "offered_per_second": rate,
            "seconds": seconds,
            "sandbox_cap": cap,
            "dispatchers": dispatchers,
            "submitted": submitted,
            "accepted": len(ids),
            "ingest": run.summary(),
            "read": done,
            "not_read_within_drain": len(ids) - done,
            "final_statuses": final,
            "lost": final.get("unfinished", 0),
            # Anything Meta received that the benchmark never asked for; a request that
            # timed out at the client but was committed is sent, and is no surprise.
            "unexpected": sum(1 for m in messages if str(m["to"]) not in self.submitted),
            "sent_without_a_202": sum(
                1 for m in messages if m["biz_opaque_callback_data"] not in mine
            ),
            "duplicates": len(messages) - len({m["biz_opaque_callback_data"] for m in messages}),
            "dispatcher": {
                "sends_per_second": round(sends, 1),
                "utilisation_pct": round(100 * sends / min(cap, rate), 1),
                "rejected_130429": stats["rejected"].get("130429", 0),
            },
            **figures,
            "cpu_seconds_per_1000": {n: round(c * per_thousand, 2) for n, c in cpu.items()},
            "peak_rss_mb": {n: peak_rss_mb(p) for n, p in pids.items()},
        }

    async def wait_read(self, ids: list[str], within: float) -> int:
        engine = make_engine(CoreSettings().database_url, pool_size=1, application_name="bench")
        query = text(
            "SELECT count(*) FROM ledger.notifications "
            "WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'read'"
        )
        deadline = time.monotonic() + within
        done = 0
        try:
            while time.monotonic() < deadline:
                async with engine.connect() as conn:
                    done = int((await conn.execute(query, {"ids": ids})).scalar_one())
                if done >= len(ids):
                    break
                await asyncio.sleep(0.5)
        finally:
            await engine.dispose()
        return done

    async def settle(self, ids: list[str]) -> dict[str, int]:
        """Each notification's status once every one has finished (read, or ended) or
        none has moved for ``SETTLED_AFTER`` s: those still unfinished then count as
        ``unfinished`` (lost for the benchmark), the others under their status."""
        engine = make_engine(CoreSettings().database_url, pool_size=1, application_name="bench")
        query = text(
            "SELECT status, count(*) FROM ledger.notifications "
            "WHERE id = ANY(CAST(:ids AS uuid[])) GROUP BY status"
        )
        deadline = time.monotonic() + SETTLE_AT_MOST
        last: dict[str, int] = {}
        moved = time.monotonic()
        try:
            while True:
                async with engine.connect() as conn:
                    counts = {str(s): int(n) for s, n in await conn.execute(query, {"ids": ids})}
                finished = sum(n for s, n in counts.items() if s in FINISHED)
                now = time.monotonic()
                if counts != last:
                    last, moved = counts, now
                if finished >= len(ids) or now - moved >= SETTLED_AFTER or now >= deadline:
                    break
                await asyncio.sleep(1.0)
        finally:
            await engine.dispose()
        final = {s: n for s, n in last.items() if s in FINISHED}
        final["unfinished"] = len(ids) - sum(final.values())
        return final

    async def ledger_figures(self, ids: list[str], since: datetime) -> dict[str, Any]:
        """Latency percentiles from the ledger's per-status times, and its own pace."""
        engine = make_engine(CoreSettings().database_url, pool_size=1, application_name="bench")
        try:
            async with engine.connect() as conn:
                sent, read = (
                    await conn.execute(
                        text(LATENCIES),
                        {"ids": ids},
                    )
                ).one()
                events = (
                    await conn.execute(
                        text(LEDGER_PACE),
                        {"since": since},
                    )
                ).one()
        finally:
            await engine.dispose()

        def ms(values: Any) -> dict[str, float]:
            values = values or [0, 0, 0]
            return {
                f"p{q}_ms": round(float(v or 0) * 1000, 1)
                for q, v in zip((50, 95, 99), values, strict=True)
            }

        count, span, lag = events
        return {
            "accepted_to_sent": ms(sent),
            "accepted_to_read": ms(read),
            "ledger": {
                "events_per_second": round(int(count) / float(span or 1), 1),
                "lag": ms(lag),
            },
        }


LATENCIES = """
WITH seen AS (
    SELECT n.id, n.accepted_at,
           min(e.recorded_at) FILTER (WHERE e.type = 'notification.sent') AS sent,
           min(e.recorded_at) FILTER (WHERE e.type = 'notification.read') AS read
    FROM ledger.notifications n
    JOIN ledger.events e
      ON e.notification_id = n.id OR (e.notification_id IS NULL AND e.wamid = n.wamid)
    WHERE n.id = ANY(CAST(:ids AS uuid[]))
    GROUP BY n.id, n.accepted_at
)
SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99])
           WITHIN GROUP (ORDER BY extract(epoch FROM sent - accepted_at)),
       percentile_cont(ARRAY[0.5, 0.95, 0.99])
           WITHIN GROUP (ORDER BY extract(epoch FROM read - accepted_at))
FROM seen
"""
"""From acceptance to the moment the ledger recorded the status, i.e. when a client reading
the notification sees it (Meta's own status timestamps have whole seconds only)."""
LEDGER_PACE = """
SELECT count(*), extract(epoch FROM max(recorded_at) - min(recorded_at)),
       percentile_cont(ARRAY[0.5, 0.95, 0.99])
           WITHIN GROUP (ORDER BY extract(epoch FROM recorded_at - occurred_at))
FROM ledger.events
WHERE recorded_at >= :since AND type IN ('notification.accepted', 'notification.sent')
"""
"""The ledger's pace and lag over our own events (accepted, sent), whose ``occurred_at`` has
full precision; Meta's webhook statuses carry whole seconds."""


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    phases = [k for k in ("e2e_80", "e2e_400") if k in result]
    for n, phase in enumerate(phases):
        figures = result[phase]
        for m, measure in enumerate(("accepted_to_sent", "accepted_to_read")):
            values = [figures[measure][f"p{q}_ms"] for q in (50, 95, 99)]
            left.bar(
                [x + n * 0.4 + m * 0.2 for x in range(3)],
                values,
                width=0.2,
                label=f"{phase} {measure.replace('_', ' ')}",
            )
    left.set_xticks([0.3, 1.3, 2.3], ["p50", "p95", "p99"])
    left.set_ylabel("ms (log scale)")
    left.set_yscale("log")  # 80 mps in hundreds of ms beside 400 mps in minutes
    left.set_title("End-to-end latency")
    left.legend(fontsize=7)
    names = ["bare FastAPI", "ingest max", "sandbox alone", "sends @80 cap", "sends @1000 cap"]
    values = [
        result.get("ceilings", {}).get("bare_fastapi", {}).get("per_second", 0),
        result.get("ingest", {}).get("max", {}).get("per_second", 0),
        result.get("ceilings", {}).get("sandbox_alone", {}).get("per_second", 0),
        result.get("e2e_80", {}).get("dispatcher", {}).get("sends_per_second", 0),
        result.get("e2e_400", {}).get("dispatcher", {}).get("sends_per_second", 0),
    ]
    right.barh(names, values)
    right.set_xlabel("per second")
    right.set_title("Throughput against ceilings")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


PHASES = ("ceilings", "ingest", "e2e_80", "e2e_400")


KEPT_UP_WITHIN = 30.0
"""A rate is kept up when everything accepted is read within this long after the load."""


async def measure(
    bench: Bench, smoke: bool, phases: tuple[str, ...] = PHASES, rates: tuple[int, ...] = ()
) -> dict[str, Any]:
    short = 2.0 if smoke else 8.0
    result: dict[str, Any] = {"smoke": smoke, "phases": list(phases)}
    if "ceilings" in phases:
        progress(f"ceilings: bare FastAPI and the sandbox alone, {short:.0f} s each")
        result["ceilings"] = await bench.ceilings(short)
    seconds = short if smoke else 10.0
    if "ingest" in phases:
        progress(f"ingest alone: its maximum, then half of it, {seconds:.0f} s each")
        result["ingest"] = await bench.ingest(seconds)
    e2e = (
        [("e2e_80", 20, 3, 80, 1, 60)]
        if smoke
        else [("e2e_80", 80, 20, 80, 1, 90), ("e2e_400", 400, 15, 1000, 2, 180)]
    )
    for key, rate, secs, cap, dispatchers, drain in e2e:
        if key not in phases:
            continue
        progress(
            f"{key}: {rate} mps for {secs} s, cap {cap}, {dispatchers} dispatcher(s), "
            f"drain up to {drain} s"
        )
        result[key] = await bench.end_to_end(rate, secs, cap, dispatchers, drain)
    for rate in rates:
        progress(
            f"e2e_{rate}: {rate} mps for 15 s, cap 1000, 1 dispatcher, kept up if read in 30 s"
        )
        phase = await bench.end_to_end(rate, 15, 1000, 1, KEPT_UP_WITHIN)
        phase["kept_up"] = phase["not_read_within_drain"] == 0
        result[f"e2e_{rate}"] = phase
    return result


def summary(r: dict[str, Any]) -> str:
    lines = ["whatsapp-notif benchmark" + (" (smoke)" if r["smoke"] else "")]
    alone = None
    if "ceilings" in r:
        bare = r["ceilings"]["bare_fastapi"]["per_second"]
        alone = r["ceilings"]["sandbox_alone"]["per_second"]
        lines.append(f"ceilings: bare FastAPI {bare}/s, sandbox alone {alone}/s")
    if "ingest" in r:
        ingest = r["ingest"]
        share = f" ({ingest['max']['per_second'] / max(bare, 1):.0%} of bare)" if alone else ""
        lines.append(
            f"ingest: {ingest['max']['per_second']}/s at max{share}; "
            f"at {ingest['at_half_max']['offered_per_second']}/s: "
            f"p50 {ingest['at_half_max']['p50_ms']} ms, "
            f"p95 {ingest['at_half_max']['p95_ms']} ms, p99 {ingest['at_half_max']['p99_ms']} ms"
        )
    for key in (k for k in r if k.startswith("e2e_")):
        e = r[key]
        d = e["dispatcher"]
        of_alone = f", {d['sends_per_second'] / alone:.1%} of the sandbox alone" if alone else ""
        lines += [
            f"{key}: {e['offered_per_second']} mps offered, cap {e['sandbox_cap']}, "
            f"{e['dispatchers']} dispatcher(s): {e['accepted']}/{e['submitted']} answered 202, "
            f"{e['read']} read within the drain window ({e['not_read_within_drain']} not yet"
            + {True: ": kept up", False: ": not kept up", None: ""}[e.get("kept_up")]
            + "); "
            f"lost {e['lost']}, unexpected {e['unexpected']}, duplicates {e['duplicates']}",
            f"  once settled: {e['final_statuses']}",
            f"  accepted→sent p50/p95/p99 {e['accepted_to_sent']['p50_ms']}/"
            f"{e['accepted_to_sent']['p95_ms']}/{e['accepted_to_sent']['p99_ms']} ms; "
            f"→read {e['accepted_to_read']['p50_ms']}/{e['accepted_to_read']['p95_ms']}/"
            f"{e['accepted_to_read']['p99_ms']} ms",
            f"  sends {d['sends_per_second']}/s ({d['utilisation_pct']}% of the offered or cap"
            f"{of_alone}), "
            f"130429 x {d['rejected_130429']}; ledger {e['ledger']['events_per_second']} events/s, "
            f"lag p95 {e['ledger']['lag']['p95_ms']} ms",
            f"  CPU-s per 1000: {e['cpu_seconds_per_1000']}; peak RSS MB: {e['peak_rss_mb']}",
        ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated, of {', '.join(PHASES)} (default: all)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record each service with py-spy during the end-to-end phases "
        "(bench/results/profile-<UTC>/<phase>-<service>.folded)",
    )
    parser.add_argument(
        "--rates",
        default="",
        help="comma-separated offered rates (mps), each run for 15 s at cap 1,000 with one "
        f"dispatcher: kept up when every notification is read within {KEPT_UP_WITHIN:.0f} s",
    )
    args = parser.parse_args()
    phases = tuple(p for p in args.phases.split(",") if p)
    rates = tuple(int(r) for r in args.rates.split(",") if r)
    if unknown := set(phases) - set(PHASES):
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    root = Path(tempfile.mkdtemp(prefix="notif-bench-"))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    profile = Path("bench/results") / f"profile-{stamp}" if args.profile else None
    bench = Bench(root, args.smoke, profile)
    started = time.monotonic()
    try:
        bench.start()
        result = asyncio.run(measure(bench, args.smoke, phases, rates))
    finally:
        bench.stop()
        shutil.rmtree(root, ignore_errors=True)
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    given = " ".join(sys.argv[1:])
    command = "make bench" + (f' BENCH_ARGS="{given}"' if given else "")
    path = write_result("bench-smoke" if args.smoke else "bench", command, result)
    plot(result, path.with_suffix(".png"))
    print(summary(result))
    print(f"plot: {path.with_suffix('.png')}")
    bad = [
        k
        for k in result
        if k.startswith("e2e_")
        and (result[k]["lost"] or result[k]["unexpected"] or result[k]["duplicates"])
    ]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
