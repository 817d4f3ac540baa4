#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
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

// "NOERROR", "SERVFAIL", "NXDOMAIN", "REFUSED", ...; "RCODE 12" for one without a mnemonic.
std::string rcodeName(int rcode);

// A SOA record's fields that cdm reads (RFC 1035 §3.3.13).
struct Soa {
    std::string owner;         // absolute, lower-case: the zone's apex
    std::uint32_t ttl = 0;
    std::uint32_t serial = 0;
    std::uint32_t minimum = 0; // with the TTL: the negative-caching TTL (RFC 2308 §5)
};

struct Answer {
    int rcode = 0;                       // 0 NOERROR, 3 NXDOMAIN, ...
    bool authenticated = false;          // the AD bit
    bool authoritative = false;          // the AA bit
    Security security = Security::Insecure;
    std::string why;                     // for Insecure/Bogus: what was missing or failed
    std::vector<record::Record> records; // the answer's records of the asked type and name
    // The target when the answer section holds a CNAME at the asked name (and another type
    // was asked); a resolver then follows it, and the rest of the answer is about the target.
    std::string cname;
    // The authority section's records of the types record.hpp reads (NS of a referral, SOA of
    // a negative answer); RRSIG, NSEC and other types are left out.
    std::vector<record::Record> authority;
    // The authority section's SOA (NXDOMAIN and NODATA answers carry one, RFC 2308 §3).
    std::optional<Soa> authoritySoa;
};

// Ask for `name` `type` (DO bit set). With a trust anchor, validate the answer's RRset with
// ldns against it (querying the same servers for the DNSKEYs, CD set); otherwise the answer
// is Secure only when the resolver set AD. Throws Error(Exit::Unavailable) when no server
// answers, Error(Exit::Usage) for a bad name, Error(Exit::NoInput/DataErr) for the anchor file.
Answer query(const Options& options, std::string_view name, record::Type type);

// What query() reads from an answer in wire form `wire` to the question `name` `type`, without
// the network and before any validation (security stays Insecure). Exposed for tests and the
// fuzz targets. Throws Error(Exit::DataErr) for a message ldns cannot read or a record of the
// answer section cdm cannot read, Error(Exit::Usage) for a bad name.
Answer readAnswer(std::span<const std::uint8_t> wire, std::string_view name, record::Type type);

// The A and AAAA addresses of `host` through the same servers (no validation needed).
std::vector<std::string> addresses(const Options& options, std::string_view host);

// The zone `name` lives in, from the DNS: asks `name SOA` through `options` (no validation).
// The SOA in the answer (owner = name) makes `name` an apex; otherwise the SOA of the
// authority section (NXDOMAIN or NODATA) names the apex. A CNAME at `name` cannot be an
// apex, and what a resolver answers after following it belongs to the target, so then the
// parent name is asked. Works wherever zone cuts are, so "www.shop.co.test" gives
// "shop.co.test." without any list of public suffixes. Returns the absolute, lower-case apex.
// Throws Error(Exit::Unavailable) when no server answers, Error(Exit::Usage) for a bad name,
// Error(Exit::DataErr) "no zone found for 'x': ..." when the answer is REFUSED, SERVFAIL or
// another error (the rcode named), or carries no SOA to read the apex from.
std::string zoneOf(const Options& options, std::string_view name);

// Many questions to the same servers, as query() answers them: one ldns resolver (the trust
// anchor file read once), and with a trust anchor each signer's DNSKEY set fetched and
// validated once, then kept for the session's life, so that checking thousands of RRsets of a
// zone costs one question each instead of a DNSKEY fetch and validation each. A key set that
// could not be validated is not kept (the next question tries again). Not for sharing between
// threads. Throws as query() does; the constructor throws what reading the anchor file throws.
class Session {
public:
    explicit Session(const Options& options);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    Answer query(std::string_view name, record::Type type);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace cdm::resolve
