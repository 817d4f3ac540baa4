// cdm-dkim: DKIM keys and their DNS records (cdm-dkim(1)). The verbs and their options are
// the table in libcommon/dkim.hpp, which also makes --help.

#include "libcommon/dkim.hpp"

int main(int argc, char** argv) {
    return cdm::dkim::dispatch(cdm::dkim::verbs(), argc, argv);
}
