#pragma once

#include <vector>

#include <boost/program_options.hpp>

#include "libcommon/cli.hpp"
#include "libcommon/dnsapply.hpp"

// cdm-cert: certificates through ACME, staged, deployed and cleaned up in the three phases,
// and DH parameters (cdm-cert(1)). This is the verb table; the work is in certphase (phase,
// status), certissue (issue), dhparam and caa.

namespace cdm::cert {

// The verb table of cdm-cert: phase, issue, status, dhparam, caa.
const std::vector<cli::Verb>& verbs();

// Run the program through cli::dispatch() as "cdm-cert". Returns the exit code.
int dispatch(const std::vector<cli::Verb>& table, int argc, const char* const* argv);

// The DNS options of `phase` and `issue` (dns-01 through the cdm-dns-apply providers):
// --resolver, --trust-anchor, --verify-server, --ns-port, --dns-timeout, --set, --handler,
// --zone.
void dnsOptions(boost::program_options::options_description& options);
// A dnsapply::Request from those options. Throws Error(Exit::Usage) for a bad server or port.
dnsapply::Request dnsRequest(const boost::program_options::variables_map& vm);

} // namespace cdm::cert
