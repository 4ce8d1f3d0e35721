"""Maps Debian's system packages to the canonical external repositories upstream uses.

`system_library(name, targets, package)` creates a repository whose BUILD files expose one
`cc_library` per label in `targets`, so that our BUILD files use upstream's labels
(`@com_google_absl//absl/synchronization`) whether the repository holds the real sources (a consumer
using `http_archive`) or this glue over the system packages. Headers come from the compiler's
system include path (`/usr/include`); link flags come from `pkg-config` at fetch time.
"""

load("//third_party:absl_targets.bzl", "ABSL_TARGETS")

def _system_library_impl(ctx):
    installed = None
    if ctx.attr.skip_missing:
        listed = ctx.execute(["pkg-config", "--list-all"])
        installed = {line.split(" ")[0]: True for line in listed.stdout.splitlines()}
    packages = {}
    for label, modules in ctx.attr.targets.items():
        package, _, target = label.rpartition(":")
        words = modules.split(" ") if modules else []
        libs = [w for w in words if w.startswith("-")]
        pc = [w for w in words if not w.startswith("-")]
        if installed != None and [m for m in pc if m not in installed]:
            continue  # this version of the package does not ship the library
        if pc:
            result = ctx.execute(["pkg-config", "--libs"] + pc)
            if result.return_code != 0:
                fail("%s: pkg-config %s failed (%s). Install the Debian package %s; ./bazelw does it for you." %
                     (ctx.name, " ".join(pc), result.stderr.strip(), ctx.attr.package))
            libs = libs + result.stdout.strip().split(" ")
        packages.setdefault(package, []).append((target, libs))
    for package, targets in packages.items():
        rules = [
            'load("@rules_cc//cc:defs.bzl", "cc_library")',
            "",
            'package(default_visibility = ["//visibility:public"])',
            "",
        ]
        for target, libs in targets:
            rules.append("cc_library(name = %r, linkopts = %r)" % (target, libs))
        ctx.file((package + "/BUILD") if package else "BUILD", "\n".join(rules) + "\n")
    if "" not in packages:
        ctx.file("BUILD", "")

system_library = repository_rule(
    implementation = _system_library_impl,
    attrs = {
        "targets": attr.string_dict(doc = "label inside the repository -> space-separated pkg-config modules and raw -l flags"),
        "package": attr.string(doc = "the Debian package that provides the library, for error messages"),
        "skip_missing": attr.bool(doc = "leave out labels whose pkg-config modules are not installed"),
    },
    local = True,
)

_ABSL = ABSL_TARGETS

_GTEST = {
    ":gtest": "gtest gmock",
    ":gtest_main": "gtest_main gmock gtest",
}

_BENCHMARK = {
    ":benchmark": "benchmark",
    ":benchmark_main": "-lbenchmark_main benchmark",
}

_LIBURCU = {
    ":memb": "liburcu-memb",
    ":qsbr": "liburcu-qsbr",
    ":cds": "liburcu-cds liburcu-memb",
}

_TBB = {
    ":tbb": "tbb",
}

# libcds ships no pkg-config file; xenium is header-only.
_LIBCDS = {
    ":cds": "-lcds",
}

_XENIUM = {
    ":xenium": "",
}

# libcuckoo is header-only.
_LIBCUCKOO = {
    ":libcuckoo": "",
}

# RocksDB's block caches (LRUCache, HyperClockCache), a peer of rcu::LookupCache.
_ROCKSDB = {
    ":rocksdb": "rocksdb",
}

# DPDK's rte_lpm, a peer of rcu::PrefixMap (headers under /usr/include/dpdk: the benchmark's
# dpdk_flavors library adds them).
_DPDK = {
    ":dpdk": "libdpdk",
}

def rcu_system_deps():
    """Declares the system-package repositories (offline), except those already declared."""
    for name, targets, package in [
        ("com_google_absl", _ABSL, "libabsl-dev"),
        ("com_google_googletest", _GTEST, "libgtest-dev libgmock-dev"),
        ("com_github_google_benchmark", _BENCHMARK, "libbenchmark-dev"),
        ("liburcu", _LIBURCU, "liburcu-dev"),
        ("tbb", _TBB, "libtbb-dev"),
        ("libcds", _LIBCDS, "libcds-dev"),
        ("xenium", _XENIUM, "libxenium-dev"),
        ("libcuckoo", _LIBCUCKOO, "libcuckoo-dev"),
        ("rocksdb", _ROCKSDB, "librocksdb-dev"),
        ("dpdk", _DPDK, "libdpdk-dev"),
    ]:
        if not native.existing_rule(name):
            system_library(
                name = name,
                targets = targets,
                package = package,
                # Abseil: the whole library, as far as the installed version has it.
                skip_missing = targets == _ABSL,
            )
