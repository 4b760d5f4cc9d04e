"""Persistent state: the lockfile, its journal, and the lock that serializes appliers."""
