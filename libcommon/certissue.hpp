#pragma once

#include <boost/program_options.hpp>

#include "libcommon/cli.hpp"

// `cdm-cert issue`: one certificate from the command line, without a configuration file or
// the three phases: account (found again or created), key (reused when --key names an
// existing file, else generated), order, challenges (dns-01 through the cdm-dns-apply
// providers, or http-01 into a webroot), download; the four files
// <out>/{privkey,cert,chain,fullchain}.pem are written atomically (privkey 0600) and a cdm
// document with a report entry goes to standard output. cdm-cert(1).

namespace cdm::certissue {

void options(boost::program_options::options_description& options);
int run(const boost::program_options::variables_map& vm, const cli::Common& common);

} // namespace cdm::certissue
