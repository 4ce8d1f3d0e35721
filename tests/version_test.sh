#!/usr/bin/env bash
# The version is defined once, in rcu/version.h; MODULE.bazel cannot read files and repeats it.
# This test keeps the two equal. Usage: version_test.sh <rcu/version.h> <MODULE.bazel>
set -euo pipefail
header="$1"
module="$2"
part() { sed -nE "s/^#define RCU_VERSION_$1 ([0-9]+)$/\1/p" "$header"; }
defined="$(part MAJOR).$(part MINOR).$(part PATCH)"
declared="$(sed -nE 's/^    version = "([^"]+)",$/\1/p' "$module")"
if [[ ! "$defined" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "FAIL: no version in $header (found '$defined')"
  exit 1
fi
if [[ "$defined" != "$declared" ]]; then
  echo "FAIL: rcu/version.h says $defined, MODULE.bazel says '$declared'"
  exit 1
fi
echo "ok: version $defined in both"
