"""Models made by the hundred thousand share one fields-set per class (issue 20): read,
copied, updated or pickled, an instance holds no set of its own, and is equal to what it was."""

from __future__ import annotations

import pickle

from reconciler.engine.desired import DesiredRun
from reconciler.state.model import RunRecord
from tests.engine.test_plan import record, spec


def test_instances_share_their_class_fields_set() -> None:
    first, second = spec("a"), spec("b", rerun=1)
    assert first.model_fields_set is second.model_fields_set
    assert first.model_fields_set == set(DesiredRun.model_fields)
    made = record(first)
    read = RunRecord.model_validate_json(made.model_dump_json())
    copied = read.model_copy(update={"attempt": 2})
    deep = read.model_copy(deep=True)
    sets = {id(r.model_fields_set) for r in (made, read, copied, deep)}
    assert len(sets) == 1
    assert read.model_fields_set == set(RunRecord.model_fields)
    assert (read, copied.attempt, deep) == (made, 2, made)


def test_pickled_instances_share_one_set_and_stay_equal() -> None:
    runs = [spec(name) for name in ("a", "b", "c")]
    back = pickle.loads(pickle.dumps(runs))
    assert back == runs
    assert len({id(r.model_fields_set) for r in back}) == 1
