#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

// Named steps at which a test build can make a program die as a crash would: the
// crash-convergence suite (tests/cli/crash-convergence.bats) kills the programs there, one
// step at a time, and checks that the next run converges to the end state of an
// uninterrupted one without a gap in service and without losing a key or a certificate.
//
// Only a build configured with -Dfault_points=true (CDM_FAULT_POINTS) honours the
// environment; in every other build point() is an inline no-op and the environment is
// never read.
//
//   CDM_FAULT_AT=NAME     die the first time this process reaches step NAME
//   CDM_FAULT_AT=NAME:N   die the N-th time (N >= 1)
//   CDM_FAULT_TRACE=FILE  append "NAME PROGRAM" to FILE each time a step is reached (before
//                         dying there), so a test can list the steps a run passes through
//
// Dying is: one line "cdm: fault point NAME reached: killed" on stderr, then SIGKILL to this
// process: no destructor runs, no stream is flushed, no temporary file is removed.

namespace cdm::fault {

// A CDM_FAULT_AT value taken apart: the step's name and the pass at which to die.
struct Target {
    std::string_view name;
    std::size_t pass = 1;
};

// Parse "NAME" or "NAME:N". Returns nothing for an empty name, an N that is not a decimal
// number from 1 to 999999, or text after N. NAME is everything before the last ':'.
std::optional<Target> parseTarget(std::string_view spec);

// Does `spec` (a CDM_FAULT_AT value) say to die at the `reached`-th pass (counted from 1) of
// step `name`? False for a spec parseTarget() rejects.
bool shouldDie(std::string_view spec, std::string_view name, std::size_t reached);

#ifdef CDM_FAULT_POINTS
// Step `name` is reached: count it, trace it, and die here when CDM_FAULT_AT says so.
void point(std::string_view name);
#else
inline void point(std::string_view /*name*/) {}
#endif

} // namespace cdm::fault
