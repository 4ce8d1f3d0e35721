// -----------------------------------------------------------------------------
// File: version.h
// -----------------------------------------------------------------------------
//
// The library's version, and the language it needs. This file is the one place the version is
// defined: CMake reads it (CMakeLists.txt), so do the installed rcuConfigVersion.cmake and rcu.pc;
// MODULE.bazel cannot read files and repeats it, and //tests:version_test checks the two agree.
// Versions follow semantic versioning (CHANGELOG.md).
//
// Every header of the library includes this one before any code of its own, so that a program
// compiled without C++20 stops at the first line below with a message that says so, instead of
// an unrelated error deep inside (the pattern of Abseil's policy_checks.h).

#ifndef RCU_VERSION_H_
#define RCU_VERSION_H_

#if !defined(__cplusplus) || __cplusplus < 202002L
#error "rcu requires C++20: compile with -std=c++20 (or later; Bazel: --cxxopt=-std=c++20)"
#endif

#define RCU_VERSION_MAJOR 0
#define RCU_VERSION_MINOR 1
#define RCU_VERSION_PATCH 0

// One number that orders versions: 0.1.0 is 100, 1.2.3 is 10203.
#define RCU_VERSION (RCU_VERSION_MAJOR * 10000 + RCU_VERSION_MINOR * 100 + RCU_VERSION_PATCH)

#define RCU_VERSION_STRINGIFY_(x) #x
#define RCU_VERSION_STRING_(major, minor, patch) \
  RCU_VERSION_STRINGIFY_(major) "." RCU_VERSION_STRINGIFY_(minor) "." RCU_VERSION_STRINGIFY_(patch)
// "0.1.0"
#define RCU_VERSION_STRING \
  RCU_VERSION_STRING_(RCU_VERSION_MAJOR, RCU_VERSION_MINOR, RCU_VERSION_PATCH)

#endif  // RCU_VERSION_H_
