"""Renderers of plans and state: text for terminals, JSON for machines, markdown for PRs."""
