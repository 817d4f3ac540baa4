#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "libcommon/provider.hpp"
#include "libcommon/record.hpp"
#include "libcommon/resolve.hpp"

// Proof that a change is served: every address of every authoritative server of the zone
// answers authoritatively (AA set, asked with RD=0) with exactly the new RRsets, no longer
// serves deleted ones, and has a SOA serial at least the one the change produced; with a trust
// anchor or a validating resolver, the answers validate with DNSSEC.

namespace cdm::dnsverify {

struct Expect {
    provider::RRsetKey key;
    // The exact RRset, TTLs included (each served record must have the TTL of its expected
    // one); empty: the RRset must be gone (NXDOMAIN or NODATA).
    std::vector<record::Record> records;
    // The largest TTL the RRset had before the change (0: it did not exist): resolvers may
    // hold the old data that long, so it counts towards Result.maxTtl.
    std::uint32_t oldTtl = 0;
};

struct Request {
    std::string zone;                // absolute
    std::vector<Expect> expect;
    std::uint32_t minSerial = 0;     // 0: do not check the serial; compared as RFC 1982 says
    // The servers to ask. Empty: the zone's NS set as the zone itself and its parent publish
    // it (found through `resolver`), every A and AAAA address of each name, at `port`.
    std::vector<resolve::Server> servers;
    std::uint16_t port = 53;
    // Finds the NS sets, the parent zone and the addresses; its timeout bounds each query to
    // an authoritative server too. When it sets AD on the zone's SOA (and there is no trust
    // anchor), it is asked for every expected RRset as well and must set AD on it.
    resolve::Options resolver;
    std::string trustAnchorFile;     // DS or DNSKEY records: validate each answer with ldns
    // When the authoritative servers cannot be asked directly: ask `resolver` instead (RD=1)
    // and say that this proves less (a resolver may answer from its cache).
    bool viaResolver = false;
    std::chrono::milliseconds timeout{std::chrono::minutes(5)}; // the whole wait
    std::chrono::milliseconds firstDelay{200};  // backoff: doubles to at most maxDelay
    std::chrono::milliseconds maxDelay{10000};
    // Called before each wait with what is still missing, for a progress line on a terminal.
    std::function<void(const std::string& waitingFor, std::chrono::milliseconds left)> progress;
};

struct ServerResult {
    std::string ns;       // the NS name ("" when servers were given; "resolver" via the resolver)
    resolve::Server server;
    bool ok = false;
    std::string problem;  // the last mismatch: "ns2.example.test. (127.0.0.2) serves serial 5, want >= 6"
    std::uint32_t serial = 0; // 0 when the server gave no SOA
};

struct Result {
    // Every server serves every expected RRset and a serial >= minSerial; when DNSSEC was
    // checked, every answer that had to validate did (dnssecOk).
    bool ok = false;
    bool dnssecChecked = false;    // answers were validated (trust anchor or AD)
    bool dnssecOk = false;         // ... and every one was Secure
    bool weaker = false;           // proved through a resolver, not the authoritative servers
    std::vector<ServerResult> servers;
    // When !ok: what was still missing at the end, one entry a server or check (the servers'
    // problems, and the validating resolver's when it did not set AD).
    std::vector<std::string> problems;
    std::uint32_t maxTtl = 0;      // the largest TTL of the expected and deleted RRsets
    std::uint32_t negativeTtl = 0; // the zone's negative-caching TTL: min(SOA minimum, SOA TTL)
    std::uint32_t serial = 0;      // the lowest serial seen
    std::chrono::milliseconds waited{0};
    std::vector<std::string> notes; // e.g. "the parent zone test. could not be asked for the delegation"
};

// Wait, with backoff, until the proof holds or `timeout` has passed; never throws for a
// mismatch (Result.ok says it). Unreachable servers do not conform and are named. Throws
// Error(Exit::Unavailable) when no authoritative server can be found at all,
// Error(Exit::DataErr/NoInput) for a bad trust-anchor file.
Result verify(const Request& request);

// a >= b in RFC 1982 serial number arithmetic (32 bits): 1 >= 4294967295, 5 >= 5, !(5 >= 6);
// a pair 2^31 apart is undefined by the RFC and taken as not >=.
bool serialAtLeast(std::uint32_t a, std::uint32_t b);

// {"ok", "weaker", "dnssec": {"checked", "ok"}, "servers": [{"ns", "address", "port", "ok",
//  "serial", "problem"}], "problems", "max_ttl", "negative_ttl", "serial", "waited_ms", "notes"}
boost::json::object toJson(const Result& result);

} // namespace cdm::dnsverify
