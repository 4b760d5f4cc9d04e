"""The digests a saved plan carries are fed a spec and a record at a time (issue 20: 100,000
of them in one canonical document were hundreds of MB at once), and are still those of the
whole document in canonical JSON: plans saved before still apply."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from reconciler.app.workspace import lockfile_digest, specs_digest
from reconciler.engine.identity import canonical_json
from reconciler.spec.models import Config
from reconciler.state.model import (
    Lockfile,
    OccurrenceEntry,
    ProviderState,
    ScheduleState,
    SourceCommit,
)
from tests.engine.test_plan import record, spec

T0 = datetime(2026, 12, 7, 2, tzinfo=UTC)


def whole(value: object) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def test_lockfile_digest_is_that_of_the_whole_canonical_document() -> None:
    runs = [spec(name) for name in ("zeta", "alpha", "mid")]
    lock = Lockfile(
        reconciler_version="0.1.0",
        lineage="lineage-1",
        serial=7,
        source=SourceCommit(commit="abc", dirty=True),
        providers={"etl": ProviderState(observed_at=T0)},
        runs={r.name: record(r) for r in runs},
        schedules={
            "zeta": ScheduleState(
                since=T0, history=[OccurrenceEntry(at=T0, run_id="9", missed="é")]
            )
        },
    )
    assert lockfile_digest(lock) == whole(lock.model_dump(mode="json"))
    empty = Lockfile(lineage="", serial=0)
    assert lockfile_digest(empty) == whole(empty.model_dump(mode="json"))
    assert lockfile_digest(lock) != lockfile_digest(lock.model_copy(update={"serial": 8}))


def test_specs_digest_is_that_of_the_whole_canonical_document() -> None:
    config = Config.model_validate(
        {
            "apiVersion": "reconciler/v1",
            "kind": "Config",
            "providers": {
                "etl": {
                    "type": "xplenty",
                    "base_url": "https://api.xplenty.com",
                    "credentials": {"api_key": "env:XPLENTY_API_KEY"},
                }
            },
        }
    )
    runs = [spec("b", state="completed"), spec("a", rerun=2)]
    document = {
        "config": config.model_dump(mode="json"),
        "specs": [r.model_dump(mode="json") for r in runs],
    }
    assert specs_digest(config, runs) == whole(document)
    assert specs_digest(config, []) == whole({**document, "specs": []})
    assert specs_digest(config, runs) != specs_digest(config, runs[::-1])
