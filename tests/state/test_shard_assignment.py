"""Which replica works on which provider instance (``state.pgreplicas.assignment``): the same
from any replica's view, and even, whatever the replicas' ids."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from reconciler.state.pgreplicas import assignment


@pytest.mark.parametrize(("instances", "replicas"), [(4, 2), (4, 3), (7, 3), (1, 4), (12, 5)])
def test_every_instance_has_one_owner_and_shares_differ_by_one_at_most(
    instances: int, replicas: int
) -> None:
    rng = random.Random(instances * 100 + replicas)
    for _ in range(50):  # replica ids are random: the split must be even for any of them
        names = [f"i{n}" for n in range(instances)]
        members = [f"{rng.getrandbits(48):012x}" for _ in range(replicas)]
        owners = assignment(names, members)
        assert sorted(owners) == sorted(names)
        load = Counter(owners.values())
        counts = [load[m] for m in members]
        assert max(counts) - min(counts) <= 1, counts
        # Every replica computes the same, whatever order it reads the members in.
        assert assignment(list(reversed(names)), sorted(members)) == owners
