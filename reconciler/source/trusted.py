"""The trusted ``reconciler.yaml`` of pull-request mode: the file as committed at a revision
named from outside the pull request (``plan --trusted-ref``), read with git."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from reconciler.errors import InputError, UsageError, display_path
from reconciler.providers.base import ProviderType
from reconciler.source.load import load_config
from reconciler.spec.models import Config

MAX_CONFIG_BYTES = 4 * 1024 * 1024  # as for any file we parse (source.yaml)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"--trusted-ref needs git: {exc}") from None


def load_trusted_config(
    root: Path, ref: str, config_name: str, providers: Mapping[str, ProviderType]
) -> Config | None:
    """The configuration at ``ref`` (None when that revision has no such file)."""
    if not ref or ref.startswith("-"):
        raise UsageError(f"--trusted-ref {ref!r}: not a git revision")
    resolved = _git(
        root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
    )
    if resolved.returncode != 0:
        raise UsageError(
            f"--trusted-ref {ref!r}: no such commit in the repository at {root} "
            "(fetch the base branch first, e.g. `git fetch origin main`)"
        )
    commit = resolved.stdout.decode().strip()
    blob = _git(root, "cat-file", "blob", f"{commit}:./{config_name}")
    if blob.returncode != 0:
        return None  # the pull request adds reconciler.yaml: nothing of it is trusted yet
    if len(blob.stdout) > MAX_CONFIG_BYTES:
        raise UsageError(f"--trusted-ref {ref}: {config_name} is larger than 4 MB")
    with tempfile.TemporaryDirectory(prefix="reconciler-trusted-") as directory:
        path = Path(directory) / config_name
        path.write_bytes(blob.stdout)
        try:
            return load_config(path, providers, check_paths=False)
        except InputError as exc:
            raise UsageError(
                f"--trusted-ref {ref}: its {config_name} is not valid with this release: "
                + "; ".join(
                    line.replace(display_path(path), f"{ref}:{config_name}") for line in exc.lines()
                )
            ) from None
