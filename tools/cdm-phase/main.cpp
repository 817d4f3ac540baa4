// cdm-phase: the rollover state machine and its state file, and the MTA-STS policy step
// (cdm-phase(1)). The verbs and their options are the table in libcommon/phase.cpp, which
// also makes --help.

#include "libcommon/phase.hpp"

int main(int argc, char** argv) {
    return cdm::phase::dispatch(cdm::phase::verbs(), argc, argv);
}
