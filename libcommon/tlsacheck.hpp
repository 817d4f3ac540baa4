#pragma once

#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "libcommon/resolve.hpp"
#include "libcommon/tlsclient.hpp"
#include "libcommon/x509.hpp"

// `cdm-tlsa check`: does a live server's certificate match its published TLSA records?
// The records are fetched with ldns and must be DNSSEC-secure; every address of the host is
// tried, once for an RSA and once for an ECDSA certificate; each record is judged by the
// rules of RFC 7671 (usage 3: the leaf's key or certificate alone; usage 2: a certificate
// the server sent, from which the chain to the leaf must verify and whose leaf must carry
// the name; usage 0/1 also need PKIX validation).

namespace cdm::tlsacheck {

struct Request {
    std::string host;
    std::uint16_t port = 443;
    std::string proto = "tcp";
    tlsclient::StartTls starttls = tlsclient::StartTls::None;
    resolve::Options dns;               // resolver(s), trust anchor
    std::vector<std::string> addresses; // connect here instead of the host's A/AAAA
    std::string caFile;                 // PKIX trust for usage 0/1; empty: the system's store
    std::chrono::milliseconds timeout{10000};
};

struct RecordVerdict {
    std::string rdata;
    bool matches = false;
    std::string reason; // why not, or what matched ("leaf", "certificate 1 of the chain")
};

struct ProbeResult {
    std::string address;
    tlsclient::KeyFamily family = tlsclient::KeyFamily::Any;
    std::string error;                // set when the connection failed
    std::vector<std::string> subjects; // the chain as sent
    std::string keyAlgorithm;          // of the leaf: "RSA 2048", "ECDSA P-256" ...
    std::vector<RecordVerdict> records;
    bool ok = false;
};

struct Report {
    std::string owner;
    resolve::Security security = resolve::Security::Insecure;
    std::string securityWhy;
    std::vector<std::string> records;
    std::vector<ProbeResult> probes;
    bool ok = false; // at least one usable record matched on every probe, and the answer is secure
};

// Judge one record against a presented chain (no network). Exposed for tests.
RecordVerdict judge(const std::string& rdata, const std::vector<x509::Certificate>& chain,
                    const std::string& host, const std::string& caFile);

// Throws Error(Exit::Unavailable) when DNS gives no answer at all, Error(Exit::Usage) for a
// bad request. Connection failures are reported per probe, not thrown.
Report check(const Request& request);

// True when no probe could connect at all (then the check says nothing about the records).
bool unreachable(const Report& report);

boost::json::object toJson(const Report& report);
std::string toTable(const Report& report);

} // namespace cdm::tlsacheck
