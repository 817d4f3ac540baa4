#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/record.hpp"

// DNS queries with ldns, and DNSSEC: either the AD bit of a validating resolver the user
// names, or validation by cdm itself against a trust-anchor file (DS or DNSKEY records).

namespace cdm::resolve {

struct Server {
    std::string address; // IPv4 or IPv6 literal
    std::uint16_t port = 53;
};

// "192.0.2.1", "192.0.2.1:5353", "::1", "[::1]:5353". Throws Error(Exit::Usage).
Server parseServer(std::string_view text);

struct Options {
    std::vector<Server> servers;    // empty: the system's (/etc/resolv.conf)
    std::string trustAnchorFile;    // DS or DNSKEY records; empty: trust the AD bit
    std::chrono::milliseconds timeout{3000};
    bool recursive = true;          // RD; false for questions to an authoritative server
};

enum class Security {
    Secure,   // validated (by the resolver's AD bit, or by cdm against the trust anchor)
    Insecure, // no validation possible or claimed
    Bogus,    // validation against the trust anchor failed
};
std::string_view toString(Security s);

struct Answer {
    int rcode = 0;                       // 0 NOERROR, 3 NXDOMAIN, ...
    bool authenticated = false;          // the AD bit
    Security security = Security::Insecure;
    std::string why;                     // for Insecure/Bogus: what was missing or failed
    std::vector<record::Record> records; // the answer's records of the asked type and name
};

// Ask for `name` `type` (DO bit set). With a trust anchor, validate the answer's RRset with
// ldns against it (querying the same servers for the DNSKEYs, CD set); otherwise the answer
// is Secure only when the resolver set AD. Throws Error(Exit::Unavailable) when no server
// answers, Error(Exit::Usage) for a bad name, Error(Exit::NoInput/DataErr) for the anchor file.
Answer query(const Options& options, std::string_view name, record::Type type);

// The A and AAAA addresses of `host` through the same servers (no validation needed).
std::vector<std::string> addresses(const Options& options, std::string_view host);

} // namespace cdm::resolve
