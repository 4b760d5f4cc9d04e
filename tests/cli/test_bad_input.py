"""Bad input in the repository, through the real CLI: exit 1, one line per problem naming
``file:line:col: key.path``, no traceback, nothing written (issue 12, the source side)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

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
    bad = [
        doc.replace(f"package_id: {100 + i}", "package_id: many") for i, doc in enumerate(documents)
    ]
    repo.spec("all.yaml", "---\n".join(bad))
    started = time.perf_counter()
    assert len(refused(repo, ("validate",))) == 2000
    # Every document bad: each is composed again for its positions, and no more (it took
    # 240 s for 10,000 while the file's document boundaries were searched for each).
    assert time.perf_counter() - started < 4 * valid + 1


@pytest.mark.parametrize(
    ("specs", "reasons"),
    [
        pytest.param(
            "[/]",
            ["10:9: specs[0]: is an absolute path; write it relative to reconciler.yaml"],
            id="root",
        ),
        pytest.param(
            "[specs, ../elsewhere]",
            ["10:16: specs[1]: leads outside the repository ('..')"],
            id="dot-dot",
        ),
        pytest.param(
            "[outside]",
            ["10:9: specs[0]: leads outside the repository through a symbolic link"],
            id="symlink",
        ),
        pytest.param("[nothere]", ["10:9: specs[0]: no such directory: nothere"], id="missing"),
        pytest.param(
            "\n  - specs\n  - .\n  - reconciler.yaml\n  - ''",
            [
                "12:5: specs[1]: is the repository itself; name the directory that holds the specs",
                "13:5: specs[2]: is reconciler.yaml itself, not a spec",
                "14:5: specs[3]: is empty",
            ],
            id="root-config-empty",
        ),
        pytest.param(
            "[pipe]", ["10:9: specs[0]: is neither a directory nor a regular file"], id="fifo"
        ),
        pytest.param(
            '["a\\x1bb"]',
            ["10:9: specs[0]: contains a control character or one that cannot be printed"],
            id="control",
        ),
    ],
)
def test_spec_directories_stay_in_the_repository(
    repo: Repo, tmp_path_factory: pytest.TempPathFactory, specs: str, reasons: list[str]
) -> None:
    (repo.root / "outside").symlink_to(tmp_path_factory.mktemp("elsewhere"))
    os.mkfifo(repo.root / "pipe")
    repo.spec("a.yaml", jobrun("a"))
    configure(repo, "specs: [specs]", f"specs: {specs}")
    assert refused(repo) == [f"reconciler.yaml:{reason}" for reason in reasons]


@pytest.mark.parametrize(
    ("lockfile", "reason"),
    [
        pytest.param(
            "/tmp/x.lock",
            "is an absolute path; write it relative to reconciler.yaml",
            id="absolute",
        ),
        pytest.param("../x.lock", "leads outside the repository ('..')", id="dot-dot"),
        pytest.param(
            "outside/x.lock", "leads outside the repository through a symbolic link", id="symlink"
        ),
        pytest.param("specs", "is a directory; name a file, e.g. reconciler.lock", id="directory"),
        pytest.param(
            "specs/state.lock",
            "is inside the spec directory specs; keep state apart from the specs",
            id="in-specs",
        ),
        pytest.param("reconciler.yaml", "is reconciler.yaml itself", id="config"),
        pytest.param("pipe", "is not a regular file", id="fifo"),
        pytest.param("state/x.lock", "its directory state does not exist", id="no-directory"),
        pytest.param("''", "is empty", id="empty"),
        pytest.param(".git/config", "is inside .git, which is git's own", id="git"),
    ],
)
def test_the_lockfile_stays_in_the_repository_apart_from_the_specs(
    repo: Repo, tmp_path_factory: pytest.TempPathFactory, lockfile: str, reason: str
) -> None:
    (repo.root / "outside").symlink_to(tmp_path_factory.mktemp("elsewhere"))
    os.mkfifo(repo.root / "pipe")
    (repo.root / ".git").mkdir()
    (repo.root / ".git" / "config").write_text("[core]\n")
    repo.spec("a.yaml", jobrun("a"))
    configure(repo, "specs: [specs]\n", f"specs: [specs]\nlockfile: {lockfile}\n")
    assert refused(repo) == [f"reconciler.yaml:11:1: lockfile: {reason}"]


def test_path_problems_come_with_the_other_problems_of_config_and_specs(repo: Repo) -> None:
    repo.spec("a.yaml", jobrun("a", extra="colour: red\n"))
    configure(repo, "specs: [specs]\n", "specs: [specs, /]\nlockfile: specs\nprune: maybe\n")
    assert refused(repo) == [
        "reconciler.yaml:10:16: specs[1]: is an absolute path; "
        "write it relative to reconciler.yaml",
        "reconciler.yaml:11:1: lockfile: is a directory; name a file, e.g. reconciler.lock",
        "reconciler.yaml:12:1: prune: must be true or false",
        "specs/a.yaml:11:3: spec.colour: unknown key",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "a:\n\tb: 1\n",
            "specs/t.yaml:2:1: invalid YAML: a tab character; YAML indents with spaces only",
            id="tab",
        ),
        pytest.param(
            "a: 1\nb: \x1f\n",
            "specs/t.yaml:2:4: invalid YAML: character U+001F is not allowed in YAML text",
            id="control-character",
        ),
        pytest.param(
            jobrun("t", variables='{"a\\nb": "1", "": "2"}'),
            'specs/t.yaml:10:17: spec.job.variables."a\\nb": not a valid key: letters, digits '
            "and '_', not starting with a digit, at most 128 characters\n"
            'specs/t.yaml:10:30: spec.job.variables."": not a valid key: letters, digits and '
            "'_', not starting with a digit, at most 128 characters",
            id="odd-keys-quoted",
        ),
        pytest.param(
            jobrun("t", extra="x: &a [1]\ny: &a [2]\n"),
            "specs/t.yaml:11:3: spec.x: unknown key\nspecs/t.yaml:12:3: spec.y: unknown key",
            id="reused-anchor-no-warning",
        ),
    ],
)
def test_yaml_problems_are_one_line_in_words(repo: Repo, text: str, expected: str) -> None:
    repo.spec("t.yaml", text)
    assert refused(repo) == expected.splitlines()


def test_spec_files_that_are_no_regular_files_are_named_not_read(repo: Repo) -> None:
    os.mkfifo(repo.root / "specs" / "pipe.yaml")
    (repo.root / "specs" / "zero.yaml").symlink_to("/dev/zero")
    (repo.root / "specs" / "null.yaml").symlink_to(repo.root / "null")
    os.mkfifo(repo.root / "null")
    assert refused(repo) == [
        "specs/null.yaml: not a regular file; not read",
        "specs/pipe.yaml: not a regular file; not read",
        "specs/zero.yaml: leads outside the repository (to /dev/zero); not read",
    ]


URL_FORM = "must be an http or https URL with a host, e.g. https://api.example.com"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "https://api.xplenty.com",
            "https://",
            f"6:5: providers.etl.base_url: {URL_FORM}",
            id="no-host",
        ),
        pytest.param(
            "https://api.xplenty.com",
            "ftp://x",
            f"6:5: providers.etl.base_url: {URL_FORM}",
            id="ftp",
        ),
        pytest.param(
            "https://api.xplenty.com",
            "'https://api.xplenty.com/ x'",
            "6:5: providers.etl.base_url: a URL holds no spaces, line breaks or control characters",
            id="space",
        ),
        pytest.param(
            "https://api.xplenty.com",
            "https://api.xplenty.com:99999",
            "6:5: providers.etl.base_url: not a valid URL (its host or port cannot be read)",
            id="port",
        ),
        pytest.param(
            "https://api.xplenty.com",
            "https://api.xplenty.com?x=1",
            "6:5: providers.etl.base_url: an API origin has no query or fragment, "
            "e.g. https://api.example.com",
            id="query",
        ),
        pytest.param(
            "type: xplenty",
            "type: Xplenty",
            "5:5: providers.etl.type: lowercase letters, digits, '_' and '-', "
            "starting with a letter, at most 63 characters",
            id="type-rule-in-words",
        ),
        pytest.param(
            "  etl:",
            "  Etl Prod:",
            "4:3: providers.\"Etl Prod\": not a valid key: lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters\n"
            "specs/a.yaml:6:3: spec.provider: unknown provider instance 'etl' "
            "(declared in reconciler.yaml: Etl Prod)",
            id="instance-name-at-its-key",
        ),
        pytest.param(
            "specs: [specs]",
            "specs: []\nprune: 2",
            "10:1: specs: at least 1 item(s)\nreconciler.yaml:11:1: prune: must be true or false",
            id="empty-list-and-bool",
        ),
        pytest.param(
            "      api_key: env:XPLENTY_API_KEY",
            "      api_key: env:XPLENTY_API_KEY\n    rate_limit: {calls: 99999999999999999999}",
            "10:18: providers.etl.rate_limit.calls: at most 1000000",
            id="rate-limit-bound",
        ),
    ],
)
def test_config_values_are_checked_with_the_rule_in_words(
    repo: Repo, old: str, new: str, expected: str
) -> None:
    repo.spec("a.yaml", jobrun("a"))
    configure(repo, old, new)
    assert refused(repo) == [
        f"reconciler.yaml:{expected}".splitlines()[0],
        *expected.splitlines()[1:],
    ]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param(
            "window: {start: 2026-01-01T00:00:00, end: 2026-01-01T01:00:00Z}\n",
            "11:12: spec.window.start: needs a time zone, e.g. 2026-12-01T02:00:00Z",
            id="naive-time",
        ),
        pytest.param(
            "rerun: 99999999999999999999\n", "11:3: spec.rerun: at most 1000000", id="rerun-bound"
        ),
    ],
)
def test_spec_values_are_bounded_and_explained(repo: Repo, extra: str, expected: str) -> None:
    repo.spec("a.yaml", jobrun("a", extra=extra))
    assert refused(repo) == [f"specs/a.yaml:{expected}"]


def test_schedule_problems_are_one_line_each_at_their_place(repo: Repo) -> None:
    bad = jobrun(
        "a",
        extra='schedule:\n  cron: "61 * * * *"\n  timezone: Mars/Base\n  catch_up: 0\n',
    )
    long_deadline = jobrun("b", extra="schedule: {cron: '@hourly', starting_deadline: 2h}\n")
    windowed = jobrun(
        "c",
        extra="schedule: {cron: '@daily'}\n"
        "window: {start: 2026-01-01T00:00:00Z, end: 2026-01-01T01:00:00Z}\n",
    )
    repo.spec("a.yaml", bad + "---\n" + long_deadline + "---\n" + windowed)
    assert refused(repo) == [
        "specs/a.yaml:12:5: spec.schedule.cron: Bad minute; expected a cron expression of five "
        "fields (minute hour day-of-month month day-of-week), or one of @yearly, @annually, "
        "@monthly, @weekly, @daily, @midnight, @hourly",
        "specs/a.yaml:13:5: spec.schedule.timezone: not an IANA time zone (such as UTC, "
        "Europe/Berlin, America/New_York)",
        "specs/a.yaml:14:5: spec.schedule.catch_up: at least 1",
        "specs/a.yaml:26:3: spec.schedule: starting_deadline (2h) is longer than the shortest "
        "time between occurrences (1h): two occurrences could be due at once",
        "specs/a.yaml:32:1: spec: a scheduled spec has no window: each occurrence's run starts "
        "at its time",
    ]


def test_after_problems_name_the_entry_and_every_cycle(repo: Repo) -> None:
    docs = [
        jobrun("a", extra="after: [c, a, bb]\n"),
        jobrun("b", extra="after: [a]\n"),
        jobrun("c", extra="after: [b]\n"),
        jobrun("d", extra="after: [e, e]\n"),
        jobrun("e", package=0),  # invalid itself: naming it is no second problem
    ]
    repo.spec("a.yaml", "---\n".join(docs))
    assert refused(repo) == [
        "specs/a.yaml:11:3: spec.after: runs after itself through a -> b -> c -> a",
        "specs/a.yaml:11:14: spec.after[1]: a cannot run after itself",
        "specs/a.yaml:11:17: spec.after[2]: no spec is named 'bb'; did you mean 'b'?",
        "specs/a.yaml:47:3: spec.after: names e more than once",
        "specs/a.yaml:57:5: spec.job.package_id: more than 0",
    ]


def test_labels_are_bounded(repo: Repo) -> None:
    repo.spec(
        "a.yaml", jobrun("a").replace("  name: a\n", f"  name: a\n  labels: {{a: {'x' * 300}}}\n")
    )
    assert refused(repo) == ["specs/a.yaml:5:12: metadata.labels.a: at most 256 characters"]


def test_a_lone_surrogate_escape_is_refused_at_its_place(repo: Repo) -> None:
    """YAML's "\\ud800" is no character: nothing can write it as UTF-8 (lockfile, request)."""
    repo.spec("a.yaml", jobrun("a", variables='{A: "\\ud800"}'))
    assert refused(repo) == [
        "specs/a.yaml:10:21: invalid YAML: a \\uD800-\\uDFFF escape is half of a UTF-16 pair, "
        "not a character; write the character itself"
    ]


def test_a_config_linked_from_another_directory_is_not_read(
    repo: Repo, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "reconciler.yaml"
    elsewhere.write_text(CONFIG)
    (repo.root / "reconciler.yaml").unlink()
    (repo.root / "reconciler.yaml").symlink_to(elsewhere)
    assert refused(repo) == [
        "reconciler.yaml: is a symbolic link to a file in another directory; not read"
    ]
    (repo.root / "reconciler.yaml").unlink()
    (repo.root / "config.yaml").write_text(CONFIG)
    (repo.root / "reconciler.yaml").symlink_to("config.yaml")  # same directory: fine
    assert repo.run("validate")[0] == 0


def test_a_config_that_is_no_regular_file_is_refused(repo: Repo) -> None:
    (repo.root / "reconciler.yaml").unlink()
    os.mkfifo(repo.root / "reconciler.yaml")
    assert refused(repo, ("validate",)) == ["reconciler.yaml: not a regular file"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(
            b"a: 1\nb: caf\xe9\n",
            "specs/t.yaml:2:7: not valid UTF-8 text; save it as UTF-8",
            id="latin-1",
        ),
        pytest.param(
            "a: 1\n".encode("utf-16"), "specs/t.yaml: UTF-16 text; save it as UTF-8", id="utf-16"
        ),
        pytest.param(
            b"\xef\xbb\xbf" + jobrun("t").encode().replace(b"167", b"x"),
            "specs/t.yaml:8:5: spec.job.cluster_id: "
            "Input should be a valid integer, unable to parse string as an integer",
            id="utf-8-bom-read-and-placed",
        ),
    ],
)
def test_file_encodings(repo: Repo, content: bytes, expected: str) -> None:
    (repo.root / "specs" / "t.yaml").write_bytes(content)
    assert refused(repo) == [expected]


def test_no_python_class_name_and_no_problem_twice(repo: Repo) -> None:
    repo.spec("a.yaml", jobrun("a", extra="retry: 5\n").replace("  job:\n", "  job: 5\n  old:\n"))
    assert refused(repo) == [
        "specs/a.yaml:7:3: spec.job: must be a mapping",
        "specs/a.yaml:8:3: spec.old: unknown key",
        "specs/a.yaml:12:3: spec.retry: must be a mapping",
    ]


def test_the_spec_directory_list_is_bounded(repo: Repo) -> None:
    configure(repo, "specs: [specs]", f"specs: [{', '.join(['specs'] * 300)}]")
    assert refused(repo) == ["reconciler.yaml:10:1: specs: at most 256 item(s)"]


def test_a_credential_the_type_does_not_take_is_named(repo: Repo) -> None:
    configure(repo, "api_key: env:XPLENTY_API_KEY", "api_kye: env:XPLENTY_API_KEY")
    assert refused(repo) == [
        "reconciler.yaml:8:5: providers.etl.credentials: missing credential 'api_key' for xplenty",
        "reconciler.yaml:9:7: providers.etl.credentials.api_kye: unknown credential for xplenty "
        "(it takes api_key); did you mean 'api_key'?",
    ]


def test_an_unknown_key_suggests_the_closest_known_one(repo: Repo) -> None:
    configure(repo, "specs: [specs]", "specs: [specs]\nprnue: true")
    configure(repo, "    account: acme", "    account: acme\n    concurency: 2")
    repo.spec("a.yaml", jobrun("a", extra="retry: {limt: 1}\n").replace("cluster_id", "cluster"))
    assert refused(repo) == [
        "reconciler.yaml:8:5: providers.etl.concurency: unknown key; did you mean 'concurrency'?",
        "reconciler.yaml:12:1: prnue: unknown key; did you mean 'prune'?",
        "specs/a.yaml:7:3: spec.job.cluster_id: required key is missing",
        "specs/a.yaml:8:5: spec.job.cluster: unknown key; did you mean 'cluster_id'?",
        "specs/a.yaml:11:11: spec.retry.limt: unknown key; did you mean 'limit'?",
    ]


def test_the_provider_instances_are_bounded(repo: Repo) -> None:
    instance = "  p{}:\n    type: xplenty\n    base_url: https://api.xplenty.com\n    account: a\n"
    many = "".join(instance.format(i) for i in range(300))
    configure(repo, "providers:\n", f"providers:\n{many}")
    assert refused(repo, ("validate",))[0] == "reconciler.yaml:3:1: providers: at most 256 item(s)"


def test_problems_with_and_without_a_position_in_one_file_are_all_reported(repo: Repo) -> None:
    """Found by the fuzz: a directive spliced into a spec splits it where the document markers
    do not, so some problems have no line; sorting them with the others crashed (exit 3)."""
    spec = jobrun("ok")
    odd = "? [a, b]\n: c\n%YAML 1.1\n---\nprune: yes\n"
    repo.spec("f.yaml", spec[:25] + odd + spec[25:] + "---\n" + spec)
    lines = refused(repo, ("validate",))
    assert "specs/f.yaml:5:1: prune: unknown key" in lines
    assert "specs/f.yaml: kind: required key is missing" in lines  # no position: first
