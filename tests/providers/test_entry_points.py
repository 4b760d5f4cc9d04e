"""A provider from a separate, installed package is used with no edit to the core."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

PACKAGE = '''
"""A third-party provider type: Xplenty's API under another name, with its own job model."""

from pydantic import BaseModel, ConfigDict, Field

from reconciler.providers.base import ProviderType
from reconciler.providers.xplenty.client import XplentyProvider


class AcmeJob(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster_id: int = Field(gt=0)
    package_id: int = Field(gt=0)


def _for_sandbox(instance, url):
    return instance.model_copy(update={"base_url": f"{url}/xplenty"})


PROVIDER = ProviderType(
    name="acme",
    job_model=AcmeJob,
    create=XplentyProvider,
    credential_keys=("api_key",),
    for_sandbox=_for_sandbox,
    requires_account=True,
)
'''


def install(site: Path) -> None:
    """What an installer leaves behind: the package and its .dist-info with entry points."""
    (site / "acme_provider").mkdir(parents=True)
    (site / "acme_provider" / "__init__.py").write_text(PACKAGE)
    info = site / "acme_provider-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-provider\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[reconciler.providers]\nacme = acme_provider:PROVIDER\n"
    )
    (info / "RECORD").write_text("")


def reconciler(root: Path, site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site), "ACME_KEY": "k"}
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_installed_provider_is_discovered_validated_and_used(tmp_path: Path) -> None:
    site, root = tmp_path / "site", tmp_path / "repo"
    install(site)
    (root / "specs").mkdir(parents=True)
    (root / "reconciler.yaml").write_text(
        textwrap.dedent(
            """\
            apiVersion: reconciler/v1
            kind: Config
            providers:
              acme-prod:
                type: acme
                base_url: https://acme.example
                account: acme
                credentials: {api_key: "env:ACME_KEY"}
            """
        )
    )
    spec = (
        "apiVersion: reconciler/v1\nkind: JobRun\nmetadata: {name: nightly}\n"
        "spec:\n  provider: acme-prod\n  job: {cluster_id: 1, package_id: %s}\n"
    )
    (root / "specs" / "nightly.yaml").write_text(spec % "x")
    bad = reconciler(root, site, "validate")
    assert (bad.returncode, bad.stderr) == (
        1,
        "Error: specs/nightly.yaml:6:24: spec.job.package_id: "
        "Input should be a valid integer, unable to parse string as an integer\n",
    )
    (root / "specs" / "nightly.yaml").write_text(spec % "2")
    planned = reconciler(root, site, "--sandbox", "plan", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    assert "+ start       nightly  acme-prod: new spec" in planned.stdout
    applied = reconciler(root, site, "--sandbox", "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert reconciler(root, site, "--sandbox", "plan", "--detailed-exitcode").returncode == 0
    without = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "unknown provider type 'acme'" in without.stderr
