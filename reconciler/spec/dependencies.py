"""The graph of specs that run after others (``spec.after``): what is wrong with it, checked
before anything runs. Pure: names in, problems out."""

from __future__ import annotations

import graphlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class GraphProblem:
    """A problem of spec ``name``'s ``after`` list, at entry ``index`` (None: the list)."""

    name: str
    index: int | None
    reason: str


def graph_problems(
    after: Mapping[str, Sequence[str]], elsewhere: Collection[str] = ()
) -> list[GraphProblem]:
    """Unknown names, a spec after itself, and every cycle (named in order, once each).
    ``elsewhere``: names of specs with problems of their own, known but not in ``after``."""
    problems = []
    for name, upstream in after.items():
        for index, other in enumerate(upstream):
            if other == name:
                problems.append(GraphProblem(name, index, f"{name} cannot run after itself"))
            elif other not in after and other not in elsewhere:
                problems.append(GraphProblem(name, index, f"no spec is named {other!r}"))
    known = {
        name: [u for u in upstream if u in after and u != name]
        for name, upstream in after.items()
        if upstream
    }
    for cycle in cycles(known):
        shown = " -> ".join([*cycle, cycle[0]])
        problems.append(GraphProblem(cycle[0], None, f"runs after itself through {shown}"))
    return problems


def cycles(after: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Cycles of the graph, each from its smallest name in the order runs would flow (each
    runs after the one before), found one at a time: graphlib's topological sort names one
    cycle; a member of it is then left out, and it looks again."""
    graph = {name: set(upstream) for name, upstream in after.items() if upstream}
    found: list[list[str]] = []
    while True:
        try:
            graphlib.TopologicalSorter(graph).prepare()
            return found
        except graphlib.CycleError as exc:
            members: list[str] = list(exc.args[1][:-1])
            if members[0] not in graph[members[1 % len(members)]]:
                members.reverse()  # shown as runs flow: each one runs after the one before
            start = members.index(min(members))
            cycle = members[start:] + members[:start]
            found.append(cycle)
            del graph[cycle[0]]
            for upstream in graph.values():
                upstream.discard(cycle[0])


def upstream_closure(after: Mapping[str, Sequence[str]], names: Sequence[str]) -> list[str]:
    """``names`` and every spec they run after, directly or not."""
    seen: dict[str, None] = {}
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in seen:
            seen[name] = None
            stack.extend(after.get(name, ()))
    return list(seen)
