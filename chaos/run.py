"""``make chaos``: steady load under random faults, then a total-queue check.

A fresh local stack (embedded PostgreSQL, ministack SQS, Valkey, the WhatsApp sandbox, the
three services) takes ``--rate`` notifications/s for ``--seconds`` while a seeded schedule
kills services with SIGKILL and restarts them, restarts PostgreSQL and the SQS endpoint
(ministack keeps its state across restarts), and injects sandbox 5xx storms and webhook
delays. The client retries refused or broken requests with the same Idempotency-Key, as a
real one should. After the load the system drains, and the checker reports:

- lost: accepted (202) notifications that did not end read, delivered, or terminal with a
  reason, in the ledger and (for the sent ones) in the sandbox: must be 0;
- unexpected: sandbox receipts for anything the client did not submit: must be 0;
- duplicates: sandbox receipts per notification above one. A send whose outcome was not
  recorded (a dispatcher killed, or PostgreSQL down, between Meta's accept and the ``sent``
  commit; an answer lost) is sent again only when none of Meta's statuses of it reached the
  ledger within ``TAKEOVER_GRACE_SECONDS``. So each duplicate is checked: a resend within
  the grace, or after a status of an earlier send was in the ledger, is ``unexplained`` (a
  defect, and the run fails); otherwise it is the documented residual, named with the fault
  it coincided with;
- the ledger's read models against a rebuild from the event store: must be equal;
- the hostile tenant (``chaos/hostile.py``): during its window a second tenant sends
  borderline inputs with callbacks to receivers that drip a byte every 9 s or never end the
  body. None of its requests may get a 5xx or an answer outside the documented ones, all it
  got accepted must reach a final status, and the main tenant's callbacks (a tenth of its
  notifications ask for them) must all arrive, as fast during the window as outside it.

Writes ``chaos/results/<UTC>.json`` with the figures and the fault schedule. The seed is
printed; ``--seed`` replays the same schedule. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiohttp
from chaos.hostile import HOSTILE_PREFIX, HostileTenant, Receivers, callback_figures
from sqlalchemy import text

from ingest.account.keys import create_tenant_with_key
from ledger.rebuild import compare
from notif_core.db import make_engine
from notif_core.settings import CoreSettings
from notif_core.sqs import QueueNames, queue_depths, sqs_client
from notif_local.cluster import Services, prepare
from notif_local.stack import LocalStack, Ports

FINAL = ("read", "delivered", "failed", "expired", "cancelled", "suppressed")
SENT = ("read", "delivered")
APPS = ("ledger", "callbacks", "dispatcher", "relay", "ingest")
CALLBACK_EVERY = 10
"""One main-load notification in this many asks for status callbacks."""
ATTEMPT_ERRORS = """
SELECT notification_id, array_agg(body->'payload'->'error'->>'code') AS codes
FROM ledger.events
WHERE type = 'notification.attempt_failed' AND notification_id = ANY(CAST(:ids AS uuid[]))
GROUP BY 1
"""
STATUSES_SEEN = """
SELECT wamid, min(recorded_at) AS first_recorded
FROM ledger.events
WHERE notification_id = ANY(CAST(:ids AS uuid[])) AND wamid IS NOT NULL
GROUP BY 1
"""
TAKEOVER_GRACE_SECONDS = 120.0
"""The dispatcher's grace before resending an unconfirmed send (set in its environment)."""
SEND_SKEW = 10.0
"""The longest from a dispatcher's decision to Meta's receipt of the request (the client
timeout): the checker's tolerance, as it sees receipts, not decisions."""


@dataclass
class Fault:
    at: float
    kind: str
    target: str
    duration: float
    started: float | None = None
    ended: float | None = None


def plan(seed: int, seconds: float, smoke: bool) -> list[Fault]:
    """The fault schedule: a function of the seed alone, so a run can be replayed."""
    rng = random.Random(seed)  # noqa: S311 - a replayable schedule, not a secret
    late = max(3.0, seconds - 6)

    def at() -> float:
        return round(rng.uniform(2.0, late), 2)

    faults = [
        Fault(at(), "kill9", app, round(rng.uniform(0.5, 3.0), 2))
        for app in APPS
        for _ in range(1 if smoke else 3)
    ]
    faults.append(Fault(at(), "restart", "postgres", round(rng.uniform(1.0, 3.0), 2)))
    faults.append(Fault(at(), "restart", "sqs", round(rng.uniform(1.0, 3.0), 2)))
    faults += [
        Fault(at(), "5xx_storm", "sandbox", round(rng.uniform(3.0, 6.0), 2))
        for _ in range(1 if smoke else 2)
    ]
    faults.append(Fault(at(), "webhook_delay", "sandbox", round(rng.uniform(4.0, 8.0), 2)))
    faults.append(Fault(at(), "hostile_tenant", "ingest", round(rng.uniform(8.0, 15.0), 2)))
    return sorted(faults, key=lambda f: f.at)


@dataclass
class Load:
    accepted: dict[int, str] = field(default_factory=dict)
    """Request number → notification id, for every 202 the client saw."""
    attempts: int = 0
    retried: int = 0
    gave_up: int = 0
    latencies: list[float] = field(default_factory=list)


class Chaos:
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        self.args = args
        self.root = root
        self.stack = LocalStack(root / "stack", ports=Ports.all_free(), outer_env={})
        self.services: Services | None = None
        self.faults = plan(args.seed, args.seconds, args.smoke)
        self.t0 = 0.0
        self.wall0 = 0.0
        self.time_scale = 1.0
        self.log: list[str] = []
        self._locks: dict[str, asyncio.Lock] = {}
        self.receivers = Receivers()
        self.hostile: HostileTenant | None = None
        self.with_callbacks: set[str] = set()
        self.read_with_callbacks: set[str] = set()
        self.accepted_at: dict[str, float] = {}

    # --- setup ----------------------------------------------------------------------------

    def start(self) -> str:
        cap = max(80, int(self.args.rate * 1.5))
        self.services, key = prepare(
            self.stack,
            self.root,
            {
                "LOG_LEVEL": "INFO",
                "SANDBOX_TIME_SCALE": "0.5",
                "SENDER_RATE_PER_SECOND": str(cap),
                # Named, so the level the sandbox reports (STANDARD: 80) does not set it.
                "SENDER_RATES": f"{CoreSettings().whatsapp_phone_number_id}:{cap}",
                "RETRY_BASE_SECONDS": "0.5",
                "RETRY_CAP_SECONDS": "5",
                "MAX_ATTEMPTS": "12",
                "CLAIM_LEASE_SECONDS": "10",
                "TAKEOVER_GRACE_SECONDS": str(TAKEOVER_GRACE_SECONDS),
                "SQS_WAIT_SECONDS": "2",
                "DRAIN_SECONDS": "5",
                "API_RATE_LIMIT_PER_SECOND": "5000",
                "API_RATE_LIMIT_BURST": "5000",
            },
        )
        for name in ("sandbox", *APPS):
            self.services.start(name)
        self.services.sandbox_cap(max(80, int(self.args.rate * 2)))
        self.time_scale = float(self._sandbox("/_sandbox/config")["webhooks"]["time_scale"])
        return key

    def stop(self) -> None:
        if self.services is not None:
            self.services.stop_all()
        self.stack.stop()

    def _sandbox(self, path: str, body: dict[str, Any] | None = None) -> Any:
        assert self.services is not None
        return self.services.sandbox(path, body)

    # --- load -----------------------------------------------------------------------------

    async def load(self, key: str) -> Load:
        """Open loop at ``--rate``; each request retried (same Idempotency-Key) until a 202.

        aiohttp rather than httpx here: under repeated kill -9 of the server, httpx's pool
        was seen keeping dead connections checked out until every request timed out."""
        assert self.services is not None
        result = Load()
        base = self.services.url("ingest") + "/v1/notifications"
        total = int(self.args.rate * self.args.seconds)
        give_up_at = self.t0 + self.args.seconds + 120
        connector = aiohttp.TCPConnector(limit=200, force_close=False)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def one(i: int) -> None:
                body = {
                    "to": f"+1416{i:07d}",
                    "template": {"name": "hello_world", "language": "en_US"},
                    "metadata": {"chaos": i},
                }
                if i % CALLBACK_EVERY == 0:
                    body["callback_url"] = self.receivers.url("good")
                headers = {"X-API-Key": key, "Idempotency-Key": f"chaos-{self.args.seed}-{i}"}
                started = time.monotonic()
                while time.monotonic() < give_up_at:
                    result.attempts += 1
                    try:
                        async with session.post(base, json=body, headers=headers) as answer:
                            data = await answer.json(content_type=None)
                            if answer.status == 202:
                                result.accepted[i] = data["id"]
                                if i % CALLBACK_EVERY == 0:
                                    self.with_callbacks.add(data["id"])
                                    self.accepted_at[data["id"]] = time.time()
                                result.latencies.append(time.monotonic() - started)
                                return
                    except (aiohttp.ClientError, TimeoutError, ValueError):
                        pass
                    result.retried += 1
                    await asyncio.sleep(0.5)
                result.gave_up += 1

            tasks = []
            for i in range(total):
                await asyncio.sleep(max(0.0, self.t0 + i / self.args.rate - time.monotonic()))
                tasks.append(asyncio.create_task(one(i)))
            await asyncio.gather(*tasks)
        return result

    # --- faults ---------------------------------------------------------------------------

    async def inject(self, faults: list[Fault]) -> None:
        await asyncio.gather(*(self._one_fault(f) for f in faults))

    async def _one_fault(self, fault: Fault) -> None:
        assert self.services is not None
        await asyncio.sleep(max(0.0, self.t0 + fault.at - time.monotonic()))
        fault.started = round(time.monotonic() - self.t0, 2)
        if fault.kind == "kill9":
            await self._exclusive(fault.target, self._kill_and_restart, fault)
        elif fault.kind == "restart" and fault.target == "postgres":
            assert self.stack.postgres is not None
            await asyncio.to_thread(self.stack.postgres.stop)
            await asyncio.sleep(fault.duration)
            await asyncio.to_thread(self.stack.postgres.start)
        elif fault.kind == "restart" and fault.target == "sqs":
            assert self.stack.sqs is not None
            await asyncio.to_thread(self.stack.sqs.stop)
            await asyncio.sleep(fault.duration)
            await asyncio.to_thread(self.stack.sqs.start)
        elif fault.kind == "5xx_storm":
            self._sandbox("/_sandbox/config", {"faults": {"error_503": 0.3, "error_500": 0.1}})
            await asyncio.sleep(fault.duration)
            self._sandbox("/_sandbox/config", {"faults": {"error_503": 0.0, "error_500": 0.0}})
        elif fault.kind == "hostile_tenant":
            assert self.hostile is not None
            await self.hostile.run(fault.duration)
        elif fault.kind == "webhook_delay":
            self._sandbox("/_sandbox/config", {"webhooks": {"time_scale": self.time_scale * 20}})
            await asyncio.sleep(fault.duration)
            self._sandbox("/_sandbox/config", {"webhooks": {"time_scale": self.time_scale}})
        fault.ended = round(time.monotonic() - self.t0, 2)
        self.log.append(f"{fault.started:>7.2f}s {fault.kind} {fault.target} ({fault.duration}s)")

    async def _exclusive(self, name: str, action: Any, fault: Fault) -> None:
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:  # two kills of one service never overlap
            await action(fault)

    async def _kill_and_restart(self, fault: Fault) -> None:
        assert self.services is not None
        self.services.kill9(fault.target)
        await asyncio.sleep(fault.duration)
        await asyncio.to_thread(self.services.start, fault.target, 60)

    # --- drain and check ------------------------------------------------------------------

    async def drain(self, ids: list[str], within: float) -> dict[str, int]:
        engine = make_engine(CoreSettings().database_url, pool_size=1, application_name="chaos")
        query = text(
            "SELECT status, count(*) FROM ledger.notifications "
            "WHERE id = ANY(CAST(:ids AS uuid[])) GROUP BY status"
        )
        deadline = time.monotonic() + within
        counts: dict[str, int] = {}
        try:
            while time.monotonic() < deadline:
                try:
                    async with engine.connect() as conn:
                        counts = {r[0]: int(r[1]) for r in await conn.execute(query, {"ids": ids})}
                except Exception:
                    counts = {}
                if sum(counts.get(s, 0) for s in FINAL) >= len(ids):
                    break
                await asyncio.sleep(1)
            await self._queues_empty(deadline)
        finally:
            await engine.dispose()
        return counts

    async def _queues_empty(self, deadline: float) -> None:
        """Wait until no work queue holds a message (events still being projected)."""
        settings = CoreSettings()
        names = QueueNames(settings.queue_prefix)
        async with sqs_client(settings) as sqs:
            quiet = 0
            while time.monotonic() < deadline and quiet < 2:
                depths = await queue_depths(sqs, names.all())
                quiet = quiet + 1 if not any(depths.values()) else 0
                await asyncio.sleep(1)

    async def check(self, load: Load) -> dict[str, Any]:
        ids = list(load.accepted.values())
        engine = make_engine(CoreSettings().database_url, pool_size=1, application_name="chaos")
        try:
            async with engine.connect() as conn:
                rows = {
                    str(r.id): r
                    for r in await conn.execute(
                        text(
                            "SELECT id, status, last_error FROM ledger.notifications "
                            "WHERE id = ANY(CAST(:ids AS uuid[]))"
                        ),
                        {"ids": ids},
                    )
                }
            rebuild = await compare(engine)
            messages = self._sandbox("/_sandbox/messages")["messages"]
            receipts = Counter(m.get("biz_opaque_callback_data") for m in messages)
            twice = [nid for nid, n in receipts.items() if n > 1]
            async with engine.connect() as conn:
                retried = {
                    str(r.notification_id): r.codes
                    for r in await conn.execute(
                        text(ATTEMPT_ERRORS),
                        {"ids": twice},
                    )
                }
                seen = {
                    str(r.wamid): r.first_recorded.timestamp()
                    for r in await conn.execute(text(STATUSES_SEEN), {"ids": twice})
                }
        finally:
            await engine.dispose()
        submitted = set(ids)
        lost = []
        for nid in ids:
            row = rows.get(nid)
            if row is None or row.status not in FINAL:
                lost.append({"id": nid, "status": row.status if row else None})
            elif row.status in SENT and receipts[nid] == 0:
                lost.append({"id": nid, "status": row.status, "sandbox": 0})
            elif row.status == "failed" and not row.last_error:
                lost.append({"id": nid, "status": "failed", "reason": None})
        # What the client submitted, acknowledged or not: a request whose 202 was lost in a
        # crash may still be sent, and is no surprise; anything else reaching Meta is.
        recipients = {f"1416{i:07d}" for i in range(int(self.args.rate * self.args.seconds))}
        hostile = HOSTILE_PREFIX.lstrip("+")
        unexpected = [
            m
            for m in messages
            if str(m.get("to", "")).lstrip("+") not in recipients
            and not str(m.get("to", "")).lstrip("+").startswith(hostile)
        ]
        unacknowledged = {
            m.get("biz_opaque_callback_data")
            for m in messages
            if m.get("biz_opaque_callback_data") not in submitted
        }
        return {
            "statuses": dict(Counter(r.status for r in rows.values())),
            "lost": lost,
            "unexpected": len(unexpected),
            "sent_without_a_202": len(unacknowledged),
            "duplicates": self._explain(messages, receipts, retried, seen),
            "rebuild_differences": rebuild,
            "sandbox_stats": self._sandbox("/_sandbox/stats"),
            **await self._hostile_figures(rows),
        }

    async def start_hostile(self) -> None:
        """The receivers, and the hostile tenant with its own key."""
        assert self.services is not None
        await self.receivers.start()
        engine = make_engine(CoreSettings().database_url, pool_size=1, application_name="chaos")
        try:
            async with engine.begin() as conn:
                _, key = await create_tenant_with_key(conn, "hostile")
        finally:
            await engine.dispose()
        self.hostile = HostileTenant(key, self.services.url("ingest"), self.receivers)

    async def wait_callbacks(self, within: float) -> None:
        """Until every main-load notification that asked for callbacks and is ``read`` has
        had its ``read`` callback (callbacks trail the statuses by their delivery)."""
        engine = make_engine(CoreSettings().database_url, pool_size=1, application_name="chaos")
        deadline = time.monotonic() + within
        try:
            while time.monotonic() < deadline:
                async with engine.connect() as conn:
                    read = await conn.execute(
                        text(
                            "SELECT id FROM ledger.notifications WHERE status = 'read' "
                            "AND id = ANY(CAST(:ids AS uuid[]))"
                        ),
                        {"ids": list(self.with_callbacks)},
                    )
                    self.read_with_callbacks = {str(r.id) for r in read}
                if self.read_with_callbacks <= set(self.receivers.arrivals):
                    return
                await asyncio.sleep(1)
        finally:
            await engine.dispose()

    async def _hostile_figures(self, rows: dict[str, Any]) -> dict[str, Any]:
        assert self.hostile is not None
        engine = make_engine(CoreSettings().database_url, pool_size=1, application_name="chaos")
        try:
            async with engine.connect() as conn:
                final = {
                    str(r.id): r.status
                    for r in await conn.execute(
                        text(
                            "SELECT id, status FROM ledger.notifications "
                            "WHERE id = ANY(CAST(:ids AS uuid[])) AND status = ANY(:final)"
                        ),
                        {"ids": self.hostile.accepted, "final": list(FINAL)},
                    )
                }
        finally:
            await engine.dispose()
        missing = sorted(self.read_with_callbacks - set(self.receivers.arrivals))
        return {
            "hostile_tenant": self.hostile.report(final),
            "main_callbacks": {
                **callback_figures(self.receivers, self.hostile.window, self.accepted_at),
                "read_with_callbacks": len(self.read_with_callbacks),
                "missing": missing,
            },
        }

    def _explain(
        self,
        messages: list[dict[str, Any]],
        receipts: Counter[Any],
        retried: dict[str, Any],
        seen: dict[str, float],
    ) -> list[Any]:
        """Each notification Meta received twice, with what explains it. A resend is allowed
        only after ``TAKEOVER_GRACE_SECONDS`` without any status of the earlier send in the
        ledger (``seen``: when the ledger first recorded one, per wamid); anything else is
        ``unexplained``. An allowed one names what cut the earlier send's outcome: a
        dispatcher killed or PostgreSQL down for the ``sent`` commit, or an attempt recorded
        as failed although Meta had accepted it (its answer lost)."""
        cutting = [
            f
            for f in self.faults
            if (f.kind, f.target) in {("kill9", "dispatcher"), ("restart", "postgres")}
            and f.started is not None
        ]
        found = []
        for nid, count in receipts.items():
            if count < 2:
                continue
            sends = sorted(
                (datetime.fromisoformat(m["received_at"]).timestamp(), str(m.get("wamid")))
                for m in messages
                if m.get("biz_opaque_callback_data") == nid
            )
            first = sends[0][0] - self.wall0
            defect = _defect(sends, seen)
            during = [
                f
                for f in cutting
                if f.started is not None
                and f.started - 1 <= first <= (f.ended or f.started) + 1
                and (f.target == "postgres" or first <= f.started + 1)
            ]
            codes = [c for c in retried.get(nid, []) if c]
            residual = (
                "no status of the earlier send reached the ledger within "
                f"TAKEOVER_GRACE_SECONDS ({TAKEOVER_GRACE_SECONDS:g} s), so it was sent again "
                "(docs/reliability.md, what is left)"
            )
            if defect is not None:
                why = "unexplained"
            elif during:
                cause = (
                    "dispatcher SIGKILL"
                    if during[0].target == "dispatcher"
                    else "PostgreSQL restart"
                )
                why = (
                    f"{cause} at {during[0].started}s, between Meta's accept and the `sent` "
                    f"commit; {residual}"
                )
            elif codes:
                why = (
                    f"an attempt recorded as failed ({', '.join(codes)}) although Meta had "
                    f"accepted it: its answer was lost; {residual}"
                )
            else:
                why = "unexplained"
            found.append(
                {
                    "id": nid,
                    "receipts": count,
                    "first_receipt_s": round(first, 2),
                    "resent_after_s": [round(b[0] - a[0], 2) for a, b in pairwise(sends)],
                    "explained_by": why,
                    **({"defect": defect} if defect else {}),
                }
            )
        return found


def _defect(sends: list[tuple[float, str]], seen: dict[str, float]) -> str | None:
    """Why a resend should not have happened, if it should not: it came within the grace
    of the send before it, or after a status of an earlier send was in the ledger."""
    for k in range(1, len(sends)):
        at = sends[k][0]
        if at - sends[k - 1][0] < TAKEOVER_GRACE_SECONDS - SEND_SKEW:
            return f"resent {at - sends[k - 1][0]:.1f} s after the previous send, within the grace"
        known = [seen[w] for _, w in sends[:k] if w in seen]
        if known and min(known) < at - SEND_SKEW:
            return f"resent {at - min(known):.1f} s after a status of an earlier send was recorded"
    return None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="notif-chaos-"))
    chaos = Chaos(args, root)
    print(f"seed {args.seed} (replay: make chaos SEED={args.seed})", flush=True)
    try:
        key = await asyncio.to_thread(chaos.start)
        await chaos.start_hostile()
        chaos.t0 = time.monotonic()
        chaos.wall0 = time.time()
        load_task = asyncio.create_task(chaos.load(key))
        await chaos.inject(chaos.faults)
        load = await load_task
        loaded = time.monotonic() - chaos.t0
        assert chaos.hostile is not None
        counts = await chaos.drain(
            list(load.accepted.values()) + chaos.hostile.accepted, args.drain
        )
        await chaos.wait_callbacks(60)
        drained = time.monotonic() - chaos.t0 - loaded
        report = await chaos.check(load)
    except BaseException:
        for name in ("ingest", "relay", "dispatcher", "ledger", "callbacks", "sandbox"):
            if chaos.services is not None:
                print(f"--- {name} log tail ---\n{chaos.services.log(name)[-2000:]}")
        raise
    finally:
        await chaos.receivers.stop()
        chaos.stop()
        keep = Path("chaos/results") / f"logs-{args.seed}"
        shutil.rmtree(keep, ignore_errors=True)
        shutil.copytree(root / "logs", keep, dirs_exist_ok=True)  # for a post-mortem
        shutil.rmtree(root, ignore_errors=True)
    latencies = sorted(load.latencies) or [0.0]
    return {
        "seed": args.seed,
        "smoke": args.smoke,
        "rate": args.rate,
        "seconds": args.seconds,
        "submitted": int(args.rate * args.seconds),
        "accepted": len(load.accepted),
        "client_attempts": load.attempts,
        "client_retries": load.retried,
        "client_gave_up": load.gave_up,
        "accept_latency_p99_s": round(latencies[int(len(latencies) * 0.99) - 1], 3),
        "load_seconds": round(loaded, 1),
        "drain_seconds": round(drained, 1),
        "drain_statuses": counts,
        "faults": [asdict(f) for f in chaos.faults],
        "fault_log": chaos.log,
        "sqs_restart": "ministack keeps queues and messages across a restart (PERSIST_STATE)",
        **report,
        "lost_count": len(report["lost"]),
        "duplicate_count": sum(d["receipts"] - 1 for d in report["duplicates"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--drain", type=float, default=240, help="seconds to wait for the end")
    parser.add_argument("--smoke", action="store_true", help="one fault of each kind")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(10**6)
    result = asyncio.run(run(args))
    out = Path("chaos/results")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    ok = (
        result["lost_count"] == 0
        and result["unexpected"] == 0
        and not any(result["rebuild_differences"].values())
        and all(d["explained_by"] != "unexplained" for d in result["duplicates"])
        and result["hostile_tenant"]["server_errors"] == 0
        and not result["hostile_tenant"]["unexpected_answers"]
        and not result["hostile_tenant"]["accepted_not_final"]
        and not result["main_callbacks"]["missing"]
    )
    print("\n".join(result["fault_log"]))
    print(
        f"seed {result['seed']}: {result['accepted']}/{result['submitted']} accepted, "
        f"lost {result['lost_count']}, unexpected {result['unexpected']}, "
        f"duplicates {result['duplicate_count']}, rebuild differences "
        f"{sum(result['rebuild_differences'].values())}, statuses {result['statuses']}"
    )
    hostile, callbacks = result["hostile_tenant"], result["main_callbacks"]
    print(
        f"hostile tenant: {hostile['requests']} requests, {hostile['accepted']} accepted, "
        f"server errors {hostile['server_errors']}, unexpected answers "
        f"{len(hostile['unexpected_answers'])}, not final {len(hostile['accepted_not_final'])}; "
        f"main callbacks {callbacks['read_callbacks']}/{callbacks['read_with_callbacks']}, "
        f"202 to read callback during {callbacks['accepted_to_callback_during_hostile']}, "
        f"otherwise {callbacks['accepted_to_callback_otherwise']}"
    )
    print(f"written to {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
