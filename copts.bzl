"""Compiler flags for this project's own targets, in one place (STYLE.md).

-Werror only where this repository's own .bazelrc asks for it (--define=rcu_werror=on, our CI):
a user's build of @rcu gets the warnings, never a build that fails on a new compiler's new
warning in our code.
"""

RCU_COPTS = [
    "-Wall",
    "-Wextra",
    "-pthread",
] + select({
    "//:werror": ["-Werror"],
    "//conditions:default": [],
}) + select({
    "//:clang": ["-Wthread-safety", "-Wno-gnu-zero-variadic-macro-arguments"],
    "//conditions:default": [],
})

RCU_LINKOPTS = ["-pthread"]
