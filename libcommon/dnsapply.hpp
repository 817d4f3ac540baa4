#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "libcommon/error.hpp"
#include "libcommon/resolve.hpp"

// cdm-dns-apply's job: group the document's records by zone (found from the SOA in the DNS,
// or given), read each zone through its provider, plan, apply, verify, and report.

namespace cdm::dnsapply {

// The input: a cdm document, or zone-file lines ("NAME [TTL] [IN] TYPE DATA", `;` comments),
// each line a desired record with op replace and the default scope (its name and type).
// A line `NAME TYPE` with no data, or data `none`, deletes that RRset.
std::string readInput(const std::string& file); // "-" is standard input; throws like cli::readAll
// The document of `text`: parsed when it starts with `{`, else built from zone-file lines.
// Throws Error(Exit::DataErr) naming `sourceName` and the line or JSON path.
boost::json::object parseInput(const std::string& text, const std::string& sourceName);

std::uint16_t parsePort(unsigned port); // throws Error(Exit::Usage) outside 1-65535

struct Request {
    std::string input;                    // readInput()'s text
    std::string sourceName = "<stdin>";
    std::vector<std::string> settings;    // --set KEY=VALUE, over every section's keys
    std::optional<std::string> zone;      // every record is in this zone
    std::optional<std::string> handler;   // overrides the sections' `handler`
    std::optional<std::string> section;   // the domain section whose access keys to use
    bool dryRun = false;
    bool verify = false;
    bool strict = false;                  // SPF over the RFC 7208 limits is an error
    bool viaResolver = false;             // verify through the resolver only
    resolve::Options resolver;            // zone finding, NS addresses, DNSSEC via AD
    std::string trustAnchorFile;
    std::vector<resolve::Server> verifyServers; // instead of the NS set
    std::uint16_t nsPort = 53;            // the port of the NS set's addresses
    bool nsPortGiven = false;             // on the command line: [cdm] nsport does not apply
    std::chrono::milliseconds verifyTimeout{std::chrono::minutes(5)};
    bool verifyTimeoutGiven = false;      // likewise for [cdm] dnstimeout
    unsigned raceRetries = 5;
    bool progress = false;                // stderr is a terminal: show the waits
};

struct Result {
    boost::json::object document; // the input with "report" entries appended
    int exit = 0;                  // 0, or the code of `failure`
    // The first failure, when a zone could not be changed or verified: the document is still
    // written (it reports what was done), then the program exits with this error.
    std::optional<Error> failure;
};

// The report's log lines, one a line ("add (new) A for a.test : 192.0.2.1").
std::string toText(const Result& result);

// Fill what the command line left open from the [cdm] keys of the document's configuration,
// so that a pipeline run by cryptdomainmgr(8) needs no DNS flags: `resolver` and
// `verifyserver` (comma lists of ADDR[:PORT]), `trustanchor` (a file), `nsport`,
// `dnstimeout` (seconds). Throws Error(Exit::Config) at the key's file:line for a bad value.
void applyConfig(Request& request, const boost::json::object& document);

// Throws cdm::Error for bad input (nothing changed) and for failures (what was applied is in
// the message and was logged).
Result run(Request request);

} // namespace cdm::dnsapply
