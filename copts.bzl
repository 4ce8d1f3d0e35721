"""Compiler flags for this project's own targets, in one place (STYLE.md)."""

RCU_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pthread",
] + select({
    "//:clang": ["-Wthread-safety", "-Wno-gnu-zero-variadic-macro-arguments"],
    "//conditions:default": [],
})

RCU_LINKOPTS = ["-pthread"]
