"""reconciler: a declarative GitOps reconciler for job runs."""

from __future__ import annotations

__version__ = "0.1.0"
