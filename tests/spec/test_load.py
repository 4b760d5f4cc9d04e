from __future__ import annotations

import time
from pathlib import Path

import pytest

from reconciler.errors import InputError
from reconciler.providers.registry import provider_types
from reconciler.source.load import load_config, load_specs
from tests.conftest import CONFIG, jobrun


def load(tmp_path: Path, files: dict[str, str], config: str = CONFIG) -> list[str]:
    """Names loaded, or raise InputError."""
    (tmp_path / "reconciler.yaml").write_text(config)
    (tmp_path / "specs").mkdir(exist_ok=True)
    for name, text in files.items():
        path = tmp_path / "specs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    cfg = load_config(tmp_path / "reconciler.yaml", provider_types())
    return [s.run.metadata.name for s in load_specs(tmp_path, cfg, provider_types())]


def problems(tmp_path: Path, files: dict[str, str], config: str = CONFIG) -> list[str]:
    with pytest.raises(InputError) as caught:
        load(tmp_path, files, config)
    return caught.value.lines()


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_loads_multi_document_files_sorted_by_name(tmp_path: Path) -> None:
    names = load(
        tmp_path, {"a.yaml": jobrun("zeta") + "---\n" + jobrun("alpha"), "b/c.yml": jobrun("mid")}
    )
    assert names == ["alpha", "mid", "zeta"]


def test_wrong_type_names_file_line_and_key_path(tmp_path: Path) -> None:
    text = jobrun("orders", extra="retry: {limit: 1}\n")
    text = text.replace("package_id: 103", "package_id: 103\n    cluster_name: x").replace(
        "cluster_id: 167", "cluster_id: big"
    )
    assert text.splitlines()[7] == "    cluster_id: big"  # line 8
    text = "# leading comment\n" + text  # now line 9
    assert problems(tmp_path, {"orders.yaml": text}) == [
        "specs/orders.yaml:9:5: spec.job.cluster_id: "
        "Input should be a valid integer, unable to parse string as an integer",
        "specs/orders.yaml:11:5: spec.job.cluster_name: unknown key; did you mean 'cluster_id'?",
    ]


def test_every_problem_of_every_file_at_once(tmp_path: Path) -> None:
    bad_state = jobrun("one", extra="state: finished\nbogus: 1\n")
    unknown_instance = jobrun("two").replace("provider: etl", "provider: nope")
    lines = problems(
        tmp_path,
        {
            "a.yaml": bad_state + "---\n" + unknown_instance,
            "b.yaml": "a: [1\n",
            "c.yaml": "a: 1\na: 2\n",
        },
    )
    assert lines == [
        "specs/a.yaml:11:3: spec.state: Input should be 'completed', 'running' or 'stopped'",
        "specs/a.yaml:12:3: spec.bogus: unknown key",
        "specs/a.yaml:19:3: spec.provider: unknown provider instance 'nope' "
        "(declared in reconciler.yaml: etl)",
        "specs/b.yaml:2:1: invalid YAML: expected ',' or ']', but got '<stream end>'",
        "specs/c.yaml:2:1: a: duplicate key (first at line 1)",
    ]


def test_a_zero_timeout_is_refused(tmp_path: Path) -> None:
    # It would stop every run the moment it started, as Kubernetes' activeDeadlineSeconds: 0.
    text = jobrun("orders", extra="timeout: 0s\n")
    assert problems(tmp_path, {"orders.yaml": text}) == [
        "specs/orders.yaml:11:3: spec.timeout: must be longer than 0s"
    ]


def test_duplicate_name_names_both_places(tmp_path: Path) -> None:
    lines = problems(tmp_path, {"a.yaml": jobrun("same"), "b.yaml": "\n\n" + jobrun("same")})
    assert lines == [
        "specs/b.yaml:6:3: metadata.name: duplicate name 'same' (also defined at specs/a.yaml:4:3)"
    ]


def test_job_is_checked_even_when_the_envelope_is_wrong(tmp_path: Path) -> None:
    text = jobrun("x", extra="timeout: forever\n", variables="{RECONCILER_RUN_KEY: k}")
    assert problems(tmp_path, {"x.yaml": text}) == [
        "specs/x.yaml:10:5: spec.job.variables: "
        "RECONCILER_RUN_KEY is reserved for reconciler's run key",
        "specs/x.yaml:11:3: spec.timeout: expected a duration such as 90s, 30m, 2h or 1h30m",
    ]


def test_missing_required_key_points_at_its_parent(tmp_path: Path) -> None:
    text = jobrun("x").replace("    package_id: 103\n", "")
    assert problems(tmp_path, {"x.yaml": text}) == [
        "specs/x.yaml:7:3: spec.job.package_id: required key is missing"
    ]


def test_bad_name_and_non_mapping_documents(tmp_path: Path) -> None:
    lines = problems(tmp_path, {"x.yaml": jobrun("Bad_Name") + "---\n- a list\n"})
    assert lines[0] == (
        "specs/x.yaml:4:3: metadata.name: lowercase letters, digits and '-', starting and "
        "ending with a letter or digit, at most 63 characters"
    )
    assert lines[1] == "specs/x.yaml:12:1: expected a mapping (kind: JobRun)"


def test_literal_secret_in_config_is_refused_without_echoing_it(tmp_path: Path) -> None:
    config = CONFIG.replace("env:XPLENTY_API_KEY", "sk-live-9f8e7d")
    lines = problems(tmp_path, {}, config)
    assert lines == [
        "reconciler.yaml:9:7: providers.etl.credentials.api_key: "
        "literal secrets are not allowed; write env:NAME or file:PATH"
    ]
    assert "sk-live" not in "\n".join(lines)


def test_config_and_spec_problems_are_reported_together(tmp_path: Path) -> None:
    bad_spec = {"a.yaml": jobrun("alpha").replace("package_id: 103", "package_id: many")}
    config = CONFIG.replace("env:XPLENTY_API_KEY", "sk-live-9f8e7d")
    assert problems(tmp_path, bad_spec, config) == [
        "reconciler.yaml:9:7: providers.etl.credentials.api_key: "
        "literal secrets are not allowed; write env:NAME or file:PATH",
        "specs/a.yaml:9:5: spec.job.package_id: "
        "Input should be a valid integer, unable to parse string as an integer",
    ]
    config = CONFIG.replace("    credentials:", "    options: {colour: red}\n    credentials:")
    assert len(problems(tmp_path, bad_spec, config)) == 2
    # An instance of unknown type: its specs' jobs cannot be checked, so they are not.
    config = CONFIG.replace("type: xplenty", "type: jenkins")
    assert len(problems(tmp_path, bad_spec, config)) == 1


def test_config_unknown_key_and_unknown_type(tmp_path: Path) -> None:
    config = CONFIG.replace("type: xplenty", "type: jenkins\n    colour: red")
    assert problems(tmp_path, {}, config) == [
        "reconciler.yaml:6:5: providers.etl.colour: unknown key",
    ]
    config = CONFIG.replace("type: xplenty", "type: jenkins")
    assert problems(tmp_path, {}, config) == [
        "reconciler.yaml:5:5: providers.etl.type: unknown provider type 'jenkins' "
        f"(known: {', '.join(sorted(provider_types()))})",
    ]


def test_missing_config_and_invalid_utf8(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_config(tmp_path / "reconciler.yaml", provider_types())
    assert caught.value.lines() == ["reconciler.yaml: no such file; run `reconciler init`"]
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "latin1.yaml").write_bytes("name: café".encode("latin-1"))
    assert problems(tmp_path, {}) == [
        "specs/latin1.yaml:1:10: not valid UTF-8 text; save it as UTF-8"
    ]


def test_provider_options_are_checked_by_the_provider(tmp_path: Path) -> None:
    config = CONFIG.replace("    credentials:", "    options: {colour: red}\n    credentials:")
    assert problems(tmp_path, {}, config) == [
        "reconciler.yaml:8:15: providers.etl.options.colour: unknown key"
    ]


def test_missing_credential_key_is_reported(tmp_path: Path) -> None:
    config = CONFIG.replace("      api_key: env:XPLENTY_API_KEY\n", "      other: env:X\n")
    assert problems(tmp_path, {}, config) == [
        "reconciler.yaml:8:5: providers.etl.credentials: missing credential 'api_key' for xplenty",
        "reconciler.yaml:9:7: providers.etl.credentials.other: unknown credential for xplenty "
        "(it takes api_key)",
    ]


def test_vonage_takes_a_token_or_an_application_key(tmp_path: Path) -> None:
    def vonage(credentials: str) -> str:
        return CONFIG.replace("type: xplenty", "type: vonage").replace(
            "      api_key: env:XPLENTY_API_KEY\n", credentials
        )

    token = "      token: env:VONAGE_JWT\n"
    key_pair = "      application_id: env:VONAGE_APP\n      private_key: file:vonage.key\n"
    assert load(tmp_path, {}, vonage(token)) == []
    assert load(tmp_path, {}, vonage(key_pair)) == []
    assert problems(tmp_path, {}, vonage("      application_id: env:VONAGE_APP\n")) == [
        "reconciler.yaml:8:5: providers.etl.credentials: missing credential 'token' for vonage "
        "(or 'application_id' and 'private_key')"
    ]


def test_yaml_1_2_flow_mappings_with_colons_are_accepted(tmp_path: Path) -> None:
    window = "window: {start: 2026-12-01T02:00:00Z, end: 2026-12-01T04:00:00Z}\n"
    assert load(tmp_path, {"w.yaml": jobrun("windowed", extra=window)}) == ["windowed"]


# -- hostile input: a clear error in bounded time and memory ---------------------------------


def hostile(tmp_path: Path, name: str, content: bytes) -> tuple[list[str], float]:
    (tmp_path / "reconciler.yaml").write_text(CONFIG)
    (tmp_path / "specs").mkdir(exist_ok=True)
    (tmp_path / "specs" / name).write_bytes(content)
    began = time.perf_counter()
    lines = problems(tmp_path, {})
    return lines, time.perf_counter() - began


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    lines, seconds = hostile(tmp_path, "bomb.yaml", "\n".join(levels).encode())
    assert lines == [
        "specs/bomb.yaml: document 1 expands to more than 100,000 values (an alias bomb?)"
    ]
    assert seconds < 2


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    lines, _ = hostile(tmp_path, "loop.yaml", b"a: &a [1, *a]\n")
    assert lines == ["specs/loop.yaml: document 1 refers to itself through an alias"]


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    # A hundred thousand brackets once crashed the C parser (its recursion is on the C stack).
    lines, seconds = hostile(tmp_path, "deep.yaml", b"a: " + b"[" * 100_000 + b"]" * 100_000)
    assert lines == ["specs/deep.yaml: nesting deeper than 64 levels"]
    assert seconds < 2
    block = "".join(" " * (2 * i) + f"k{i}:\n" for i in range(100)) + " " * 200 + "v: 1\n"
    lines, _ = hostile(tmp_path, "deep.yaml", block.encode())
    assert lines == ["specs/deep.yaml: document 1 nests deeper than 64 levels"]
    lines, _ = hostile(tmp_path, "deep.yaml", b"- " * 300 + b"x\n")
    assert lines == ["specs/deep.yaml: nesting deeper than 256 columns of indentation"]


def test_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    lines, seconds = hostile(tmp_path, "huge.yaml", b"# padding\n" * 5_200_000)
    assert lines == ["specs/huge.yaml: file too large (49.6 MB; the limit is 4 MB)"]
    assert seconds < 1


def test_binary_file_is_refused(tmp_path: Path) -> None:
    lines, _ = hostile(tmp_path, "image.yaml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert lines == ["specs/image.yaml: binary file, not YAML text"]


def test_symlink_leaving_the_repository_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside.yaml"
    outside.write_text(jobrun("outside"))
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "link.yaml").symlink_to(outside)
    (tmp_path / "specs" / "real.yaml").write_text(jobrun("inside"))
    (tmp_path / "specs" / "alias.yaml").symlink_to(tmp_path / "specs" / "real.yaml")
    lines = problems(tmp_path, {})
    assert lines == [f"specs/link.yaml: leads outside the repository (to {outside}); not read"]


def test_values_the_provider_or_python_cannot_take_are_refused_with_the_rule(
    tmp_path: Path,
) -> None:
    """Each would pass the old models and crash in the adapter (OverflowError, ValueError) or
    reach the API (an id beyond int64, a job id that climbs to another endpoint)."""
    vonage = CONFIG.replace(
        "specs: [specs]",
        "  campaigns:\n    type: vonage\n    base_url: https://api-eu.vonage.com/beta\n"
        "    credentials: {token: env:VONAGE_JWT}\nspecs: [specs]",
    )
    far = jobrun("far", package=2**63, extra="timeout: 99999999999d\n")
    climbing = jobrun("climb").replace(
        "provider: etl\n  job:\n    cluster_id: 167\n    package_id: 103\n    variables: {}",
        "provider: campaigns\n  job: {job_id: ../../admin, duration: 400d}",
    )
    named = jobrun("named", variables='{"A B": "1", OK: "2"}')
    assert problems(tmp_path, {"a.yaml": far, "b.yaml": climbing, "c.yaml": named}, vonage) == [
        "specs/a.yaml:9:5: spec.job.package_id: at most 9223372036854775807",
        "specs/a.yaml:11:3: spec.timeout: at most 366d (31622400 seconds)",
        "specs/b.yaml:7:9: spec.job.job_id: letters, digits and '.', '_', ':', '@', '-', "
        "starting with a letter or digit, at most 128 characters",
        "specs/b.yaml:7:30: spec.job.duration: at most 366d (31622400 seconds)",
        "specs/c.yaml:10:17: spec.job.variables.\"A B\": not a valid key: letters, digits and '_', "
        "not starting with a digit, at most 128 characters",
    ]


def test_a_date_that_does_not_exist_is_a_problem_at_its_position(tmp_path: Path) -> None:
    text = jobrun("x", extra="window: {start: 2026-02-30T00:00:00Z, end: 2026-03-02T00:00:00Z}\n")
    assert problems(tmp_path, {"x.yaml": text}) == [
        "specs/x.yaml:11:19: invalid YAML: '2026-02-30T00:00:00Z' is not a valid date or time "
        "(day is out of range for month)"
    ]


def test_an_account_that_would_change_the_api_path_is_refused(tmp_path: Path) -> None:
    config = CONFIG.replace("account: acme", "account: acme/../../other")
    assert problems(tmp_path, {}, config) == [
        "reconciler.yaml:7:5: providers.etl.account: letters, digits and '.', '_', ':', '@', "
        "'-', starting with a letter or digit, at most 128 characters"
    ]
