#!/usr/bin/env bash
# The quick-start demo: plan, apply, plan again, against the embedded sandbox.
# Runs on a copy of reconciler.yaml and specs/ under .reconciler/demo, so the checkout stays clean.
set -euo pipefail
cd "$(dirname "$0")/.."
reconciler="$PWD/.venv/bin/reconciler"
demo=.reconciler/demo
rm -rf "$demo" && mkdir -p "$demo"
cp -r reconciler.yaml specs schemas "$demo/"
cd "$demo"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step reconciler validate
"$reconciler" validate

step reconciler --sandbox plan
"$reconciler" --sandbox plan --detailed-exitcode && status=0 || status=$?
[ "$status" -eq 2 ] || { echo "expected changes (exit 2), got $status"; exit 1; }

step reconciler --sandbox apply --auto-approve
"$reconciler" --sandbox apply --auto-approve

step reconciler --sandbox plan
"$reconciler" --sandbox plan --detailed-exitcode

step reconciler --sandbox show
"$reconciler" --sandbox show

printf '\nDemo done: the specs asked for runs, apply started them, and the second plan had nothing left to do.\n'
printf 'Lockfile: %s/reconciler.lock\n' "$demo"
