"""The digests a saved plan carries (issue 20: fed a thousand specs or records at a time, as
pydantic writes them): of the content, not of its formatting or order of records, and
changed by any change of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from reconciler.app.digests import lockfile_digest, specs_digest
from reconciler.spec.models import Config
from reconciler.state.document import parse_json_document
from reconciler.state.lockfile import lockfile_text
from reconciler.state.model import (
    Lockfile,
    OccurrenceEntry,
    ProviderState,
    ScheduleState,
    SourceCommit,
)
from tests.engine.test_plan import record, spec
from tests.spec.test_config_fuzz import VALID

T0 = datetime(2026, 12, 7, 2, tzinfo=UTC)

RUNS = [spec(name) for name in ("zeta", "alpha", "mid")]
LOCK = Lockfile(
    reconciler_version="0.1.0",
    lineage="lineage-1",
    serial=7,
    source=SourceCommit(commit="abc", dirty=True),
    providers={"etl": ProviderState(observed_at=T0)},
    runs={r.name: record(r) for r in RUNS},
    schedules={"zeta": ScheduleState(since=T0, history=[OccurrenceEntry(at=T0, missed="é")])},
)


def test_lockfile_digest_is_of_its_content_not_its_layout() -> None:
    hand_formatted = json.dumps(json.loads(lockfile_text(LOCK)), indent=4)
    read = parse_json_document(hand_formatted, Lockfile, "x", version_field="version")
    reordered = LOCK.model_copy(update={"runs": dict(reversed(LOCK.runs.items()))})
    assert lockfile_digest(read) == lockfile_digest(reordered) == lockfile_digest(LOCK)
    changed = [
        LOCK.model_copy(update={"serial": 8}),
        LOCK.model_copy(update={"runs": {**LOCK.runs, "mid": record(RUNS[2], attempt=2)}}),
        LOCK.model_copy(update={"runs": {n: r for n, r in LOCK.runs.items() if n != "mid"}}),
        LOCK.model_copy(update={"schedules": {}}),
        Lockfile(lineage="", serial=0),
    ]
    digests = {lockfile_digest(lock) for lock in [LOCK, *changed]}
    assert len(digests) == 1 + len(changed)


def test_specs_digest_changes_with_any_spec_or_the_config() -> None:
    config = Config.model_validate(VALID)
    runs = [spec("a", rerun=2), spec("b", state="completed")]
    assert specs_digest(config, runs) == specs_digest(config, [spec("a", rerun=2), runs[1]])
    others = [
        (config, [spec("a", rerun=3), runs[1]]),
        (config, runs[:1]),
        (config, []),
        (config.model_copy(update={"prune": not config.prune}), runs),
    ]
    digests = {specs_digest(c, r) for c, r in [(config, runs), *others]}
    assert len(digests) == 1 + len(others)
