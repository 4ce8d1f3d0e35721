#!/usr/bin/env bash
# The tree's formatting and Bazel-file lint, as test.sh checks it:
#   - C++ sources: clang-format 14 (Debian's clang-format-14) with .clang-format;
#   - BUILD, WORKSPACE, MODULE.bazel and .bzl files: buildifier (npm's @bazel/buildifier, pinned
#     below, installed on first use into ~/.cache/rcu-tools), formatting and lint warnings.
# Usage: tools/lint.sh          check; lists what differs and fails
#        tools/lint.sh --fix    rewrite the files in place
# Needs clang-format-14 and npm; ./bazelw installs both.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILDIFIER_VERSION=6.4.0
tools="${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/rcu-tools"
buildifier="$tools/buildifier-$BUILDIFIER_VERSION/node_modules/.bin/buildifier"
if [[ ! -x "$buildifier" ]]; then
  echo "lint: installing @bazel/buildifier@$BUILDIFIER_VERSION into $tools" >&2
  mkdir -p "$tools/buildifier-$BUILDIFIER_VERSION"
  npm install --silent --no-audit --no-fund --prefix "$tools/buildifier-$BUILDIFIER_VERSION" \
    "@bazel/buildifier@$BUILDIFIER_VERSION" >&2
fi

mapfile -t cxx < <(git ls-files '*.h' '*.cc')
mapfile -t bazel < <(git ls-files | grep -E '(^|/)(BUILD|BUILD\.bazel|WORKSPACE|MODULE\.bazel)$|\.bzl$')

if [[ "${1:-}" == "--fix" ]]; then
  clang-format-14 -i "${cxx[@]}"
  "$buildifier" --lint=fix --mode=fix "${bazel[@]}"
  exit 0
fi

status=0
if ! clang-format-14 --dry-run -Werror "${cxx[@]}" 2>/dev/null; then
  echo "lint: these files differ from .clang-format (tools/lint.sh --fix rewrites them):"
  clang-format-14 --dry-run "${cxx[@]}" 2>&1 | grep -oE '^[^:]+\.(h|cc)' | sort -u | sed 's/^/  /'
  status=1
fi
if ! "$buildifier" --lint=warn --mode=check "${bazel[@]}"; then
  echo "lint: buildifier found the files above (tools/lint.sh --fix rewrites them)"
  status=1
fi
if ((status == 0)); then
  echo "lint: ${#cxx[@]} C++ files formatted, ${#bazel[@]} Bazel files buildifier-clean"
fi
exit $status
