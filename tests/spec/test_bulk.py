"""Models made by the hundred thousand share one fields-set per class, and the key table of
their ``__dict__`` (issue 20): read, copied, updated or pickled, an instance holds neither of
its own, and is equal to what it was."""

from __future__ import annotations

import pickle
import sys

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


def test_instance_dicts_share_their_class_key_table() -> None:
    made = record(spec("a"))
    read = RunRecord.model_validate_json(made.model_dump_json())
    copied = read.model_copy(update={"attempt": 2})
    back = pickle.loads(pickle.dumps([spec("b"), read]))
    for model in (made, read, copied, spec("c"), *back):
        own = dict(model.__dict__)  # the same items in a dict of its own
        assert model.__dict__ == own
        assert sys.getsizeof(model.__dict__) < 0.6 * sys.getsizeof(own), type(model)
    assert (back[1], copied.attempt, copied.model_fields_set) == (made, 2, made.model_fields_set)
