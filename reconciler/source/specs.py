"""Spec files: every ``JobRun`` under the configured directories, validated with the
provider's job model, every problem of every file collected for one report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reconciler.errors import InputError, Problem, did_you_mean, display_path, shown_key_path
from reconciler.providers.base import ProviderType
from reconciler.source.problems import validation_problems
from reconciler.source.yaml import Document, Locator, PathPart, parse_text, read_text
from reconciler.spec.dependencies import graph_problems
from reconciler.spec.models import Config, JobRun

SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadedSpec:
    """A valid JobRun with its provider-validated ``job`` and where it was read."""

    run: JobRun
    job: dict[str, Any]  # canonical form from the provider's job model
    provider: ProviderType
    scope: str | None  # the job definition / pipeline the run belongs to, if the API has one
    file: str  # relative to the repository root, with '/' separators
    document: int


def spec_files(root: Path, directories: Sequence[str]) -> tuple[list[Path], list[Problem]]:
    """Spec files under the directories, and a Problem for each that leads outside ``root``
    or is no regular file (a FIFO would block the read, a device never end it)."""
    files: set[Path] = set()
    for directory in dict.fromkeys(directories):  # each directory walked once
        base = root / directory
        if base.is_file():
            files.add(base)
            continue
        for suffix in SPEC_SUFFIXES:
            files.update(p for p in base.rglob(f"*{suffix}") if not p.is_dir())
    inside, problems = [], []
    top = root.resolve()
    seen: set[Path] = set()  # a file reached through links is read once
    for path in sorted(files):
        target = path.resolve()
        if target in seen:
            continue
        seen.add(target)
        if top not in target.parents:
            reason = f"leads outside the repository (to {target}); not read"
            problems.append(Problem(display_path(path), None, None, "", reason))
        elif not target.is_file():
            problems.append(
                Problem(display_path(path), None, None, "", "not a regular file; not read")
            )
        else:
            inside.append(path)
    return inside, problems


class _SpecReader:
    """Collects problems across every file, so that one run reports them all."""

    def __init__(self, root: Path, config: Config, providers: Mapping[str, ProviderType]):
        self.root = root
        self.config = config
        self.providers = providers
        self.locator = Locator()
        self.problems: list[Problem] = []
        self.specs: list[LoadedSpec] = []
        self.paths: dict[str, Path] = {}
        self.invalid_names: set[str] = set()  # of specs with problems: others may name them

    def read(self, path: Path) -> None:
        display = display_path(path)
        self.paths[display] = path
        text, problem = read_text(path, display)
        if problem or text is None:
            self.problems.extend([problem] if problem else [])
            return
        docs, problems = parse_text(text, display)
        self.problems.extend(problems)
        relative = path.absolute().relative_to(self.root.absolute()).as_posix()
        for doc in docs:
            if doc.data is not None:
                self._document(path, relative, doc)

    def _problem(self, path: Path, doc: Document, parts: list[PathPart], reason: str) -> Problem:
        line, column = self.locator.locate(path, doc.index, parts)
        return Problem(doc.file, line, column, shown_key_path(parts), reason)

    def _document(self, path: Path, relative: str, doc: Document) -> None:
        if not isinstance(doc.data, dict):
            self.problems.append(self._problem(path, doc, [], "expected a mapping (kind: JobRun)"))
            return
        try:
            run = JobRun.model_validate(doc.data)
        except ValidationError as exc:
            self.problems.extend(
                validation_problems(
                    exc, path=path, document=doc, locator=self.locator, model=JobRun
                )
            )
            self._job(path, doc, _raw_field(doc.data, "provider"), _raw_field(doc.data, "job"))
            metadata = doc.data.get("metadata")
            if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
                self.invalid_names.add(metadata["name"])
            return
        checked = self._job(path, doc, run.spec.provider, run.spec.job)
        if checked is None:
            self.invalid_names.add(run.metadata.name)
        else:
            job, provider = checked
            scope = provider.scope(job)
            self.specs.append(LoadedSpec(run, job, provider, scope, relative, doc.index))

    def _job(
        self, path: Path, doc: Document, provider: object, raw_job: object
    ) -> tuple[dict[str, Any], ProviderType] | None:
        """The job block validated by its provider's model, in canonical form."""
        if not isinstance(provider, str):
            return None
        instance = self.config.providers.get(provider)
        if instance is None:
            declared = ", ".join(sorted(self.config.providers)) or "none"
            reason = (
                f"unknown provider instance {provider!r} (declared in reconciler.yaml: {declared})"
            )
            self.problems.append(self._problem(path, doc, ["spec", "provider"], reason))
            return None
        provider_type = self.providers[instance.type]
        try:
            job = provider_type.job_model.model_validate(raw_job)
        except ValidationError as exc:
            self.problems.extend(
                validation_problems(
                    exc,
                    path=path,
                    document=doc,
                    locator=self.locator,
                    prefix=["spec", "job"],
                    model=provider_type.job_model,
                )
            )
            return None
        return job.model_dump(mode="json", exclude_defaults=True), provider_type

    def check_duplicates(self) -> None:
        first: dict[str, LoadedSpec] = {}
        for spec in self.specs:
            name = spec.run.metadata.name
            if name not in first:
                first[name] = spec
                continue
            there = self._place(first[name])
            self.problems.append(
                self._place(
                    spec,
                    reason=f"duplicate name {name!r} (also defined at "
                    f"{there.file}:{there.line}:{there.column})",
                )
            )

    def check_after(self) -> None:
        """``spec.after``: names of specs there are, no spec after itself, no cycle."""
        specs = {s.run.metadata.name: s for s in self.specs}
        after = {n: s.run.spec.after for n, s in specs.items()}
        for problem in graph_problems(after, self.invalid_names):
            spec = specs[problem.name]
            parts: list[PathPart] = ["spec", "after"]
            if problem.index is not None:
                parts.append(problem.index)
            reason = problem.reason
            if reason.startswith("no spec is named"):
                reason += did_you_mean(spec.run.spec.after[problem.index or 0], specs)
            self.problems.append(self._place(spec, parts, reason))

    def _place(
        self, spec: LoadedSpec, parts: list[PathPart] | None = None, reason: str = ""
    ) -> Problem:
        path = self.root / spec.file
        parts = parts or ["metadata", "name"]
        line, column = self.locator.locate(path, spec.document, parts)
        return Problem(display_path(path), line, column, shown_key_path(parts), reason)


def _raw_field(data: dict[Any, Any], name: str) -> object:
    spec = data.get("spec")
    return spec.get(name) if isinstance(spec, dict) else None


def load_specs(
    root: Path,
    config: Config,
    providers: Mapping[str, ProviderType],
    files: tuple[list[Path], list[Problem]] | None = None,
) -> list[LoadedSpec]:
    """Every JobRun under the configured directories, sorted by name; or one InputError.
    ``files``: ``spec_files`` of them, when the caller has walked them already."""
    reader = _SpecReader(root, config, providers)
    for directory in config.specs:
        if not (root / directory).exists():
            reader.problems.append(
                Problem("reconciler.yaml", None, None, "specs", f"no such directory: {directory}")
            )
    paths, outside = files or spec_files(root, config.specs)
    reader.problems.extend(outside)
    for path in paths:
        reader.read(path)
    reader.check_duplicates()
    reader.check_after()
    if reader.problems:  # the envelope's and the provider's model may say the same
        raise InputError(list(dict.fromkeys(reader.problems)))
    return sorted(reader.specs, key=lambda s: s.run.metadata.name)
