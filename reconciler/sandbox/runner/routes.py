"""CenturyLink Cloud Runner emulator: the CLC v2 login and the Runner jobs API, at ``/runner``."""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reconciler.sandbox.common import ApiProblem, bearer_token, json_object
from reconciler.sandbox.emulator import Emulator, Endpoint, endpoint
from reconciler.sandbox.paging import strict_page
from reconciler.sandbox.runner.definition import (
    expiry,
    hosts_valid,
    job_definition,
    ssh_key_digest,
)
from reconciler.sandbox.runner.login import login
from reconciler.sandbox.runner.model import (
    TABLES,
    Replay,
    execution_documents,
    job_document,
    replay,
)
from reconciler.sandbox.runner.seed import ExecutionProfile, RunnerSeed
from reconciler.sandbox.store import Store

STOPPABLE = frozenset({"PENDING", "INITIALIZING", "RUNNING", "STOPPING"})


# Bumped in the transaction of every write to attempts (any process sharing the state file):
# what a cached replay of an account is checked against. REWRITES only when an attempt
# already there changes (a stop, a kill): with it unchanged, the attempts since the cached
# replay were all added, and are replayed after the others.
GENERATION = "runner_generation"
REWRITES = "runner_rewrites"


def _written(db: sqlite3.Connection, *, rewrote: bool = False) -> None:
    for key in (GENERATION, REWRITES) if rewrote else (GENERATION,):
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, '1')"
            " ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
            (key,),
        )


@dataclass(frozen=True)
class _Replayed:
    generation: str
    rewrites: str
    rows: list[sqlite3.Row]
    by_job: dict[str, list[sqlite3.Row]]
    replay: Replay

    @property
    def last_seq(self) -> int:
        return int(self.rows[-1]["seq"]) if self.rows else 0  # rows are in the order added

    def extended(
        self, generation: str, rows: list[sqlite3.Row], seed: RunnerSeed
    ) -> _Replayed | None:
        replay = self.replay.extended(rows, seed)
        if replay is None:
            return None
        by_job = dict(self.by_job)
        for row in rows:
            by_job[row["job_id"]] = [*by_job.get(row["job_id"], []), row]
        return _Replayed(generation, self.rewrites, [*self.rows, *rows], by_job, replay)


class RunnerEmulator(Emulator[RunnerSeed]):
    name = "runner"
    seed_model = RunnerSeed
    tables = TABLES

    def __init__(self, store: Store, seed: RunnerSeed) -> None:
        super().__init__(store, seed)
        self._replays: dict[str, _Replayed] = {}  # by account alias
        store.add_column("runner_attempts", "stop_expiry", "REAL")
        now = self.now()
        with store.transaction() as db:
            for job in seed.jobs or ():
                body = {"description": job.description, "executionTtl": job.execution_ttl}
                db.execute(
                    "INSERT OR REPLACE INTO runner_jobs VALUES (?, ?, ?, ?, ?)",
                    (job.id, job.account_alias, json.dumps(body), now, now),
                )

    def endpoints(self) -> list[Endpoint]:
        job = "/jobs/{alias}/{job_id}"
        execution = job + "/executions/{execution_id}"
        return [
            endpoint("/v2/authentication/login", authenticated=False, POST=self.login),
            endpoint("/jobs/{alias}", GET=self.list_jobs, POST=self.create_job),
            endpoint("/jobs/{alias}/", GET=self.list_jobs, POST=self.create_job),
            endpoint(job, GET=self.get_job, PUT=self.update_job, DELETE=self.delete_job),
            endpoint(job + "/start", POST=self.start),
            endpoint(job + "/executions", GET=self.list_executions),
            # Not in the public documents: a single execution (flagged as such in the docs).
            endpoint(execution, GET=self.get_execution),
            endpoint(execution + "/{verb:str}", POST=self.act),
        ]

    async def login(self, request: Request) -> Response:
        return self.json(await login(self.store, self.seed, request))

    def authenticate(self, request: Request) -> str:
        alias = request.path_params["alias"]
        token = bearer_token(request.headers.get("authorization", ""))
        rows = self.store.query("SELECT * FROM runner_tokens WHERE token = ?", (token,))
        if not token or not rows or rows[0]["expires"] <= self.now():
            raise ApiProblem(401, "Unauthorized: missing, invalid or expired bearer token")
        if self.seed.users is not None and rows[0]["alias"] != alias:
            raise ApiProblem(403, f"Forbidden: token is not valid for account {alias}")
        return token

    def problem_response(self, request: Request, problem: ApiProblem) -> Response:
        """``{"message": ...}``: the CLC v2 error body (an assumption, see the provider doc)."""
        return JSONResponse({"message": problem.message}, problem.status, problem.headers)

    # -- jobs ----------------------------------------------------------------------------

    def _job_row(self, alias: str, job_id: str) -> sqlite3.Row:
        rows = self.store.query(
            "SELECT * FROM runner_jobs WHERE id = ? AND alias = ?", (job_id, alias)
        )
        if not rows:
            raise ApiProblem(404, f"Job {job_id} not found")
        return rows[0]

    async def _body(self, request: Request) -> dict[str, Any]:
        """A JSON object; no body at all is an empty one."""
        return await json_object(request) if await request.body() else {}

    def _page(self, request: Request, items: list[Any]) -> dict[str, Any]:
        query = request.query_params
        page = strict_page(
            query.get("page"),
            query.get("size"),
            names=("page", "size"),
            first=0,
            default_size=100,
            max_size=100,
        )
        return {
            "totalSize": len(items),
            "page": page.number,
            "size": page.size,
            "results": page.of(items),
        }

    async def create_job(self, request: Request) -> Response:
        alias = request.path_params["alias"]
        body = job_definition(await self._body(request))
        job_id, now = str(uuid.uuid4()), self.now()
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO runner_jobs VALUES (?, ?, ?, ?, ?)",
                (job_id, alias, json.dumps(body), now, now),
            )
        if request.query_params.get("immediate") == "true":
            self._start_execution(alias, job_id, {})
        return self.json([job_document(self._job_row(alias, job_id))], 201)

    async def list_jobs(self, request: Request) -> Response:
        rows = self.store.query(
            "SELECT * FROM runner_jobs WHERE alias = ? ORDER BY created DESC",
            (request.path_params["alias"],),
        )
        return self.json(self._page(request, [job_document(r) for r in rows]))

    async def get_job(self, request: Request) -> Response:
        params = request.path_params
        return self.json(job_document(self._job_row(params["alias"], params["job_id"])))

    async def update_job(self, request: Request) -> Response:
        """ "Re-write the entire Job description" (KB, Update Job)."""
        alias, job_id = request.path_params["alias"], request.path_params["job_id"]
        self._job_row(alias, job_id)
        body = job_definition(await self._body(request))
        with self.store.transaction() as db:
            db.execute(
                "UPDATE runner_jobs SET body = ?, updated = ? WHERE id = ?",
                (json.dumps(body), self.now(), job_id),
            )
        if request.query_params.get("immediate") == "true":
            self._start_execution(alias, job_id, {})
        return self.json(job_document(self._job_row(alias, job_id)))

    async def delete_job(self, request: Request) -> Response:
        params = request.path_params
        self._job_row(params["alias"], params["job_id"])
        with self.store.transaction() as db:
            db.execute("DELETE FROM runner_jobs WHERE id = ?", (params["job_id"],))
        return Response(status_code=204)

    # -- executions ----------------------------------------------------------------------

    def _ensure_job(self, alias: str, job_id: str) -> None:
        rows = self.store.query(
            "SELECT 1 FROM runner_jobs WHERE id = ? AND alias = ?", (job_id, alias)
        )
        if rows:
            return
        if self.seed.jobs is not None:
            raise ApiProblem(404, f"Job {job_id} not found")
        now = self.now()  # auto mode: the specs' job definitions exist
        with self.store.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO runner_jobs VALUES (?, ?, ?, ?, ?)",
                (job_id, alias, json.dumps({"description": f"auto {job_id}"}), now, now),
            )

    def _start_execution(self, alias: str, job_id: str, body: dict[str, Any]) -> str:
        hosts = body.get("hosts", [])
        if not hosts_valid(hosts):
            raise ApiProblem(400, "hosts must be a list of objects with an id")
        keys = [
            (h["id"], ssh_key_digest(h["sshPrivateKey"])) for h in hosts if "sshPrivateKey" in h
        ]
        if "sshPrivateKey" in body:
            keys.append((None, ssh_key_digest(body["sshPrivateKey"])))
        job = json.loads(self._job_row(alias, job_id)["body"])
        profile = self.seed.profile(job_id)
        execution_id = str(uuid.uuid4())
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO runner_executions (id, job_id, alias, hosts) VALUES (?, ?, ?, ?)",
                (execution_id, job_id, alias, json.dumps([h["id"] for h in hosts])),
            )
            db.executemany(
                "INSERT INTO runner_ssh_keys (execution_id, host, digest) VALUES (?, ?, ?)",
                [(execution_id, host, digest) for host, digest in keys],
            )
            self._add_attempt(db, execution_id, profile, job)
        return execution_id

    def _add_attempt(
        self,
        db: sqlite3.Connection,
        execution_id: str,
        profile: ExecutionProfile,
        job: dict[str, Any],
    ) -> None:
        db.execute(
            "INSERT INTO runner_attempts (execution_id, created, t_init, t_running, outcome, ttl, "
            "stop_at, stop_kind) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
            (
                execution_id,
                self.now(),
                profile.initializing,
                profile.running,
                profile.outcome,
                60 * (job.get("executionTtl") or 180),
            ),
        )
        _written(db)

    def _executions(self, alias: str, job_id: str | None = None) -> list[dict[str, Any]]:
        """Execution documents of a job (or the account), newest first."""
        replayed = self._replayed(alias)
        rows = replayed.rows if job_id is None else replayed.by_job.get(job_id, [])
        return execution_documents(rows, replayed.replay.timelines, self.now(), job_id)

    def _replayed(self, alias: str) -> _Replayed:
        """The account's attempts through its slots, replayed again only after a write, and
        then only the attempts added since when none changed: a job's listing needs the whole
        account's queue, and replaying it for each of 2,500 listings, then again after each
        start, made the sandbox, not the client, the bottleneck (issue 20)."""
        found = self.store.query(
            "SELECT key, value FROM meta WHERE key IN (?, ?)", (GENERATION, REWRITES)
        )
        meta = {row["key"]: str(row["value"]) for row in found}  # read before the rows
        generation, rewrites = meta.get(GENERATION, "0"), meta.get(REWRITES, "0")
        cached = self._replays.get(alias)
        if cached is not None and cached.generation == generation:
            return cached
        if cached is not None and cached.rewrites == rewrites:
            added = self._attempts(alias, after=cached.last_seq)
            extended = cached.extended(generation, added, self.seed)
            if extended is not None:
                self._replays[alias] = extended
                return extended
        rows = self._attempts(alias, after=0)
        by_job: dict[str, list[sqlite3.Row]] = {}
        for row in rows:
            by_job.setdefault(row["job_id"], []).append(row)
        cached = _Replayed(generation, rewrites, rows, by_job, replay(rows, self.seed))
        self._replays[alias] = cached
        return cached

    def _attempts(self, alias: str, *, after: int) -> list[sqlite3.Row]:
        """The account's attempts after the one numbered ``after``, in the order added."""
        return self.store.query(
            "SELECT a.*, e.job_id, e.alias, e.hosts, e.seq AS execution_seq FROM runner_attempts a "
            "JOIN runner_executions e ON e.id = a.execution_id WHERE e.alias = ? AND a.seq > ? "
            "ORDER BY a.seq",
            (alias, after),
        )

    def _execution(self, alias: str, job_id: str, execution_id: str) -> dict[str, Any]:
        for doc in self._executions(alias, job_id):
            if doc["execution_id"] == execution_id:
                return doc
        raise ApiProblem(404, f"Execution {execution_id} not found")

    async def start(self, request: Request) -> Response:
        alias, job_id = request.path_params["alias"], request.path_params["job_id"]
        self._ensure_job(alias, job_id)
        started = self._start_execution(alias, job_id, await self._body(request))
        return self.json(self._execution(alias, job_id, started))

    async def list_executions(self, request: Request) -> Response:
        alias, job_id = request.path_params["alias"], request.path_params["job_id"]
        self._ensure_job(alias, job_id)
        return self.json(self._page(request, self._executions(alias, job_id)))

    async def get_execution(self, request: Request) -> Response:
        params = request.path_params
        return self.json(self._execution(params["alias"], params["job_id"], params["execution_id"]))

    def _signal(
        self,
        db: sqlite3.Connection,
        last: sqlite3.Row,
        verb: str,
        status: str,
        execution_id: str,
        body: dict[str, Any],
    ) -> None:
        """A stop or kill of the execution's last attempt."""
        if status not in STOPPABLE | ({"KILLING"} if verb == "kill" else set()):
            raise ApiProblem(400, f"Cannot {verb} execution {execution_id} in status {status}")
        signal_expiry = expiry(body.get("expiryDuration", 0))
        # A repeated stop or kill keeps the first one's timing; a kill overrides a stop.
        if last["stop_at"] is None or (verb == "kill" and last["stop_kind"] != "kill"):
            db.execute(
                "UPDATE runner_attempts SET stop_at = ?, stop_kind = ?, stop_expiry = ? "
                "WHERE seq = ?",
                (self.now(), verb, signal_expiry, last["seq"]),
            )
            _written(db, rewrote=True)

    async def act(self, request: Request) -> Response:
        """Stop, kill or restart an execution."""
        params = request.path_params
        alias, job_id, execution_id, verb = (
            params["alias"],
            params["job_id"],
            params["execution_id"],
            params["verb"],
        )
        if verb not in ("stop", "kill", "restart"):
            raise ApiProblem(404, f"No such action: {verb}")
        status = self._execution(alias, job_id, execution_id)["status"]
        body = await self._body(request)
        with self.store.transaction() as db:
            last = db.execute(
                "SELECT * FROM runner_attempts WHERE execution_id = ? ORDER BY seq DESC LIMIT 1",
                (execution_id,),
            ).fetchone()
            if verb == "restart":
                if status not in ("FAILURE", "INIT_FAILURE"):
                    raise ApiProblem(
                        400, f"Only a failed execution can be restarted (status {status})"
                    )
                job = json.loads(self._job_row(alias, job_id)["body"])
                profile = self.seed.profile(job_id).model_copy(update={"outcome": "SUCCESS"})
                self._add_attempt(db, execution_id, profile, job)
            else:
                self._signal(db, last, verb, status, execution_id, body)
        return self.json(self._execution(alias, job_id, execution_id))
