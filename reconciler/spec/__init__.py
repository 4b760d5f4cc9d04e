"""Pure models of the user's files: ``JobRun`` specs and ``reconciler.yaml``."""
