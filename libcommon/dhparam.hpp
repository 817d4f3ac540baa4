#pragma once

#include <cstddef>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include "libcommon/cli.hpp"

// Diffie-Hellman parameters for TLS servers (the original's [dhparam:NAME], reference §2.7):
// either generated with OpenSSL's EVP API (safe primes, generator 2, checked with
// EVP_PKEY_param_check) or one of the RFC 7919 named groups ffdhe2048 ... ffdhe8192, which
// need no generation. Parameters are public: files are 0644, and nothing here is a secret.
//
// [dhparam:NAME] keys: handler (openssl), keysize (default 2048), group (ffdheN; overrides
// keysize), filename (deploy target), regenerate (no | yes | DAYS; default no).
//
// Phases, on the pipeline document (as libcommon/dkimphase.hpp):
// - prepare: when new parameters are needed (no current and no next; regenerate=yes; the
//   current ones older than DAYS; keysize or group changed), stage them under
//   <statedir>/dhparam/<NAME>/<YYYYmmddTHHMMSSZ>.pem (directories 0700) and record
//   material.dhparam.NAME.next. An already staged next is kept (prepare twice = one
//   generation).
// - rollover: write next to `filename` atomically (0644), then next -> current and
//   current -> previous. Without a next, a current that is not at `filename` any more (the
//   file is missing or differs) is deployed again.
// - cleanup: remove the previous staged file (only a file under <statedir>/dhparam/NAME/ that
//   cdm recorded) and drop material.dhparam.NAME.previous; also files of the staged-name form
//   in that directory that no material names (an interrupted prepare leaves one).
// material.dhparam.NAME = {"current"|"next"|"previous": {"file", "bits", "group", "created",
//   "sha256", "deployed"}} (CERT-SPEC.md). A crash at any point converges on the next run.

namespace cdm::dhparam {

// The RFC 7919 group names this build knows: ffdhe2048, ffdhe3072, ffdhe4096, ffdhe6144,
// ffdhe8192.
const std::vector<std::string_view>& groupNames();

// New DH parameters of `bits` bits (a safe prime p, generator 2) as PEM
// ("-----BEGIN DH PARAMETERS-----"). Takes seconds (2048) to minutes (4096).
// Throws Error(Exit::Usage) for bits outside 1024..8192 (`what` names the source in the
// message, e.g. "--bits" or "cdm.conf:12: keysize"), Error(Exit::Software) when OpenSSL fails
// or its result does not pass EVP_PKEY_param_check.
std::string generate(unsigned bits, const std::string& what = "bits");

// The PEM DH parameters of an RFC 7919 named group ("ffdhe2048" ...), from OpenSSL's own
// table. Throws Error(Exit::Usage) naming `what` for an unknown name.
std::string group(std::string_view name, const std::string& what = "group");

// What a PEM holds: the prime's size in bits, the generator, the RFC 7919 group name it
// equals ("" when none), and whether EVP_PKEY_param_check passes.
struct Info {
    unsigned bits = 0;
    unsigned long generator = 0;
    std::string group;
    bool valid = false;
};
// Throws Error(Exit::DataErr) naming `sourceName` when `pem` holds no DH parameters.
Info inspect(std::string_view pem, const std::string& sourceName);

// Hex SHA-256 of the text, as material records it.
std::string sha256Hex(std::string_view text);

// ---- phases ----

struct Summary {
    std::size_t generated = 0; // staged by prepare
    std::size_t deployed = 0;  // written to filename by rollover
    std::size_t cleaned = 0;   // previous files removed by cleanup
};

// Run `phase` ("prepare", "rollover", "cleanup"; anything else does nothing) at time `now`
// for every [dhparam:NAME] in document.config.dhparam with a handler (a section without one
// is skipped, as the original did). Appends one report entry per section a phase looked at
// (program "cdm-cert", event "dhparam", name, phase, action generated|kept|deployed|cleaned,
// reason).
// Throws Error(Exit::Config) naming the key's file:line for a bad handler, keysize, group or
// regenerate value, or a rollover without `filename`; Error(Exit::CantCreat) naming the
// `filename` key's file:line when its directory does not exist or cannot be written;
// Error(Exit::IoErr/NoPerm) for other file errors; Error(Exit::DataErr) for bad material.
// Nothing in material changes for a section whose phase failed.
Summary run(boost::json::object& document, const std::string& phase, std::time_t now);

// ---- the verb: cdm-cert dhparam (--bits N | --group ffdheN) --out FILE [--format json|text]

// Adds --bits, --group, --out.
void verbOptions(boost::program_options::options_description& options);
// Generate (or take the named group), check, write FILE atomically (0644), and print a
// report: a cdm document whose one report entry holds {"file", "bits", "group",
// "generator", "sha256", "seconds"}, or (--format text) one line.
// Throws Error(Exit::Usage) for neither or both of --bits and --group, no --out, a bad
// --format; Error(Exit::CantCreat) when FILE's directory is missing; Error(Exit::IoErr).
int runVerb(const boost::program_options::variables_map& vm, const cli::Common& common);

} // namespace cdm::dhparam
