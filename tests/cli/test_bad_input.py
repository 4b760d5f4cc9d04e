"""Bad input in the repository, through the real CLI: exit 1, one line per problem naming
``file:line:col: key.path``, no traceback, nothing written (issue 12, the source side)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import CONFIG, Repo, jobrun

COMMANDS = (("validate",), ("--sandbox", "plan"))


def tree(root: Path) -> dict[str, float]:
    """What the repository holds; the sandbox's own database (its emulated world) aside."""
    skip = {".git", ".reconciler"}
    return {
        str(p.relative_to(root)): p.lstat().st_mtime
        for p in root.rglob("*")
        if not skip & set(p.relative_to(root).parts)
    }


def refused(repo: Repo, *commands: tuple[str, ...]) -> list[str]:
    """The error lines, the same for every command; asserts nothing was written."""
    found: list[list[str]] = []
    before = tree(repo.root)
    for command in commands or COMMANDS:
        code, out, err = repo.run(*command)
        assert (code, out) == (1, ""), (command, out, err)
        assert "Traceback" not in err
        lines = err.splitlines()
        assert lines
        assert all(line.startswith("Error: ") for line in lines), err
        found.append([line.removeprefix("Error: ") for line in lines])
    assert tree(repo.root) == before
    assert all(lines == found[0] for lines in found), found
    return found[0]


def configure(repo: Repo, old: str, new: str) -> None:
    config = repo.root / "reconciler.yaml"
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new))


def test_duplicate_keys_are_named_by_key_path_in_config_and_specs(repo: Repo) -> None:
    configure(
        repo, "      api_key: env:XPLENTY_API_KEY\n", "      api_key: env:A\n      api_key: env:B\n"
    )
    configure(repo, "specs: [specs]\n", "specs: [specs]\nprune: true\nprune: false\n")
    assert refused(repo) == [
        "reconciler.yaml:10:7: providers.etl.credentials.api_key: duplicate key (first at line 9)",
        "reconciler.yaml:13:1: prune: duplicate key (first at line 12)",
    ]
    repo.root.joinpath("reconciler.yaml").write_text(CONFIG)
    repo.spec(
        "a.yaml",
        jobrun("a")
        + "---\n"
        + jobrun("b").replace("package_id: 103", "package_id: 103\n    package_id: 9"),
    )
    assert refused(repo) == [
        "specs/a.yaml:21:5: spec.job.package_id: duplicate key (first at line 20)"
    ]


def test_one_bad_document_among_thousands_is_refused_as_fast_as_all_valid(repo: Repo) -> None:
    documents = [jobrun(f"run-{i:04d}", package=100 + i) for i in range(2000)]
    repo.spec("all.yaml", "---\n".join(documents))
    started = time.perf_counter()
    assert repo.run("validate")[0] == 0
    valid = time.perf_counter() - started
    documents[1000] = documents[1000].replace("package_id: 1100", "package_id: many")
    repo.spec("all.yaml", "---\n".join(documents))
    started = time.perf_counter()
    assert refused(repo, ("validate",)) == [
        "specs/all.yaml:11009:5: spec.job.package_id: "
        "Input should be a valid integer, unable to parse string as an integer"
    ]
    # Re-reading the whole file for positions took about three times as long as loading it.
    assert time.perf_counter() - started < 1.5 * valid + 0.5
