// -----------------------------------------------------------------------------
// File: diagnostics.h
// -----------------------------------------------------------------------------
//
// Where the library's non-fatal reports go. Two rules are reported rather than aborted on,
// because the program can go on safely:
//
//   R6   a thread exited inside a read-side section (the library ended the section for it);
//   R13  a grace period has waited longer than DomainOptions::stall_timeout for a reader (the
//        report names the thread and how long; the grace period still completes once the reader
//        leaves, and the report repeats every stall_timeout while it waits).
//
// Every message starts with its rule id. By default reports go to stderr; a program that has a
// logging system installs a handler. Fatal misuse (every other rule) aborts with a message on
// stderr and is not routed here.
//
// Example:
//   rcu::SetReportHandler([](const char* message) { LOG(WARNING) << message; });

#ifndef RCU_DIAGNOSTICS_H_
#define RCU_DIAGNOSTICS_H_

#include "rcu/version.h"

namespace rcu {

using ReportHandler = void (*)(const char* message);

// SetReportHandler()
//
// Installs `handler` (nullptr: back to stderr) and returns the previous one (nullptr for
// stderr). The handler may be called from any thread, including a domain's callback threads;
// it must not enter a read-side section or wait for a grace period.
ReportHandler SetReportHandler(ReportHandler handler);

}  // namespace rcu

#endif  // RCU_DIAGNOSTICS_H_
