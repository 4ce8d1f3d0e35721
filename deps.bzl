"""rcu_deps(): declares what the rcu library needs, for a workspace that depends on it.

In the consumer's WORKSPACE:

    local_repository(name = "rcu", path = "...")   # or http_archive(name = "rcu", ...)
    load("@rcu//:deps.bzl", "rcu_deps")
    rcu_deps()                                      # Debian's system packages, offline
    # rcu_deps(system_packages = False)             # upstream sources from GitHub

Repositories the workspace already declares are left alone, so a consumer can pin its own Abseil,
GoogleTest or Benchmark first. With system_packages = True (the default) it also declares the
offline stand-ins Bazel 4 asks for (rules_cc, rules_java, remote_coverage_tools).
"""

load("@bazel_tools//tools/build_defs/repo:http.bzl", "http_archive")
load("//third_party:system_libs.bzl", "rcu_system_deps")

def _stub_impl(ctx):
    # Copy one of this repository's offline stand-ins (third_party/stubs/<name>).
    source = ctx.path(ctx.attr.marker).dirname
    for entry in source.readdir():
        ctx.symlink(entry, entry.basename)

_stub_repository = repository_rule(
    implementation = _stub_impl,
    attrs = {"marker": attr.label(doc = "the stand-in's WORKSPACE file")},
    local = True,
)

def _maybe(rule, name, **kwargs):
    if not native.existing_rule(name):
        rule(name = name, **kwargs)

def rcu_deps(system_packages = True):
    """Declares the repositories the rcu library builds against.

    Args:
      system_packages: True: Debian's libabsl-dev, libgtest-dev, libbenchmark-dev (and the
        benchmark peers), offline. False: upstream sources by http_archive (needs network).
    """
    if system_packages:
        for stub in ("rules_cc", "rules_java", "remote_coverage_tools"):
            _maybe(
                _stub_repository,
                stub,
                marker = Label("//third_party/stubs/%s:WORKSPACE" % stub),
            )
        rcu_system_deps()
        return
    _maybe(
        http_archive,
        "rules_cc",
        urls = ["https://github.com/bazelbuild/rules_cc/releases/download/0.0.9/rules_cc-0.0.9.tar.gz"],
        strip_prefix = "rules_cc-0.0.9",
    )
    _maybe(
        http_archive,
        "com_google_absl",
        urls = ["https://github.com/abseil/abseil-cpp/archive/refs/tags/20230802.1.tar.gz"],
        strip_prefix = "abseil-cpp-20230802.1",
    )
    _maybe(
        http_archive,
        "com_google_googletest",
        urls = ["https://github.com/google/googletest/archive/refs/tags/v1.14.0.tar.gz"],
        strip_prefix = "googletest-1.14.0",
    )
    _maybe(
        http_archive,
        "com_github_google_benchmark",
        urls = ["https://github.com/google/benchmark/archive/refs/tags/v1.8.3.tar.gz"],
        strip_prefix = "benchmark-1.8.3",
    )
