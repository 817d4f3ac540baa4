// cdm-cert: certificates through ACME, staged, deployed and cleaned up, and DH parameters
// (cdm-cert(1)). The verbs and their options are the table in libcommon/cert.hpp, which also
// makes --help.

#include "libcommon/cert.hpp"

int main(int argc, char** argv) {
    return cdm::cert::dispatch(cdm::cert::verbs(), argc, argv);
}
