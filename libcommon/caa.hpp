#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include "libcommon/cli.hpp"
#include "libcommon/error.hpp"

// CAA records from the CA itself (RFC 8659 CAA; RFC 8657 accounturi and validationmethods;
// RFC 8555 §9.7.6 meta.caaIdentities):
// - `caa = auto` in a [domain] whose cert section needs the CA's answer leaves a placeholder
//   record "caa:NAME" (libcommon/domain.cpp); fill() replaces it by the records the CA asks
//   for, one `0 issue "<identity>[; accounturi=<url>][; validationmethods=<m>]"` per
//   identity in the directory's meta.caaIdentities.
// - `cdm-cert caa` prints the same records for one domain from a CA's directory.
// Pins ([cert:NAME] caapin = accounturi, validationmethods): accounturi binds issuance to
// this ACME account (its URL), validationmethods to the configured challenge type.

namespace cdm::caa {

// The RFC 8657 parameters one may pin.
enum class Pin { AccountUri, ValidationMethods };
// "accounturi", "validationmethods".
std::string_view toString(Pin pin);

// Parse a pin list ("accounturi, validationmethods"; commas and/or whitespace between
// items; any case; repeats ignored; "" or "none" is no pin). Returns the pins in the
// canonical order (accounturi first). Throws Error(Exit::Config) at `where` for an unknown
// item (a --pin option passes Location{"--pin"} and gets the same message).
std::vector<Pin> parsePins(std::string_view text, const Location& where);

// The RDATA of one CAA issue record, in cdm's canonical presentation form:
//   0 issue "<identity>"                                        (no parameter)
//   0 issue "<identity>; accounturi=<url>"
//   0 issue "<identity>; accounturi=<url>; validationmethods=dns-01"
// (RFC 8659 §4.2 issuer-domain-name, then "; " and key=value parameters; RFC 8657 §3
// accounturi, §4 validationmethods: a comma-separated list of ACME challenge types).
// `accountUri` "" leaves accounturi out, `validationMethods` empty leaves that out.
// Throws Error(Exit::DataErr) when the identity is not a domain name or a value holds a
// character CAA parameter values may not hold (whitespace, ';', '"').
std::string recordData(std::string_view identity, std::string_view accountUri,
                       const std::vector<std::string>& validationMethods);

// What the CA of one cert section says, as the Lookup returns it.
struct CaFacts {
    std::string directoryUrl;               // for messages
    std::vector<std::string> caaIdentities; // meta.caaIdentities, in the CA's order
    std::string accountUrl;                 // the account's URL; needed for the accounturi pin
    std::string challenge;                  // "dns-01" / "http-01": the validationmethods pin
    std::vector<Pin> pins;                  // from caapin
};

// Called once per cert section name a placeholder names ("main" for "caa:main"). It may
// throw (a CA that cannot be reached is Error(Exit::Unavailable), from acme::Client).
using Lookup = std::function<CaFacts(const std::string& certName)>;

// Replace every record of document.records whose placeholder is "caa:NAME" by one record
// per CA identity (data from recordData() with the section's pins), keeping the record's
// name, ttl, op, scope, label, source and section; the placeholder is cleared. Each cert
// name is looked up once. Returns the number of placeholders replaced.
// Throws Error(Exit::Config) naming the [domain] key's source ("file:line" of `caa = auto`)
// when the CA's directory has no caaIdentities: the CA does not say which name to put in
// CAA, retrying will not change that, and the fix is to write the CAA value in the config.
// Also Error(Exit::Config) for an accounturi pin without an account URL; Error(Exit::DataErr)
// for a malformed record in the document; whatever `lookup` throws. On a throw the document
// is unchanged.
std::size_t fill(boost::json::object& document, const Lookup& lookup);

// ---- the verb: cdm-cert caa --ca URL [--cabundle F] [--account-key F [--email E]]
//      [--pin LIST] [--challenge dns-01|http-01] --domain NAME [--ttl N] [--format json|zone]

// Adds --ca, --cabundle, --account-key, --email, --pin, --challenge, --domain, --ttl, --format.
void verbOptions(boost::program_options::options_description& options);
// Read the directory (acme::Client), and for the accounturi pin the account of
// --account-key (found again, or created with --email), then print the records: zone lines
// (`--format zone`) or (the default, json) a cdm document whose "records" hold them (op
// replace, scope the domain's CAA records with tag issue) plus a report entry.
// --ca defaults to Let's Encrypt's production directory.
// Throws Error(Exit::Usage) for a missing --domain, a bad --pin/--challenge/--format,
// accounturi without --account-key; Error(Exit::Config) when the CA has no caaIdentities;
// Error(Exit::Unavailable) when the CA cannot be reached (from acme).
int runVerb(const boost::program_options::variables_map& vm, const cli::Common& common);

} // namespace cdm::caa
