#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

// The MTA-STS step of the update phase (RFC 8461; cdm-phase(1) "mtasts"): the policy
// cdm-config derived from the configuration, merged with the MX hosts that senders may still
// hold in a cached older policy, written to its file before the `_mta-sts` TXT record's id
// changes.
//
// Senders cache a policy for its max_age (RFC 8461 §3.2, §5.1): an MX dropped from the
// configuration stays in the published policy until the time the new policy replaced the old
// one plus the old policy's max_age (RFC 8461 §10.2 discusses changing MX hosts).

namespace cdm::mtasts {

// The fields of a policy (RFC 8461 §3.2).
struct Policy {
    std::string mode; // enforce | testing | none
    std::vector<std::string> mx;
    std::uint64_t maxAge = 0;
};

// Parse policy text: "key: value" lines ended by CRLF or LF (erratum 6253); unknown keys are
// ignored as §3.2 asks. Throws Error(Exit::DataErr) naming `where` when version is not STSv1,
// mode is not enforce/testing/none, an mx is empty, max_age is missing, not a number or above
// 31557600, or a line has no ':'.
Policy parse(std::string_view text, const std::string& where);

// An MX kept in the policy after the configuration dropped it.
struct Retained {
    std::string mx;
    std::int64_t until = 0; // Unix seconds; gone from the policy from then on
};

// What the state file keeps per policy domain: state.mtasts["<domain>"].
struct DomainState {
    std::string id;              // of the published content
    std::vector<std::string> mx; // the configuration's own MX list (without retained hosts)
    std::string mode;
    std::uint64_t maxAge = 0;
    std::int64_t since = 0; // when this mode/mx/max_age was first published
    std::vector<Retained> retained;
};

boost::json::object toJson(const DomainState& state);
// Throws Error(Exit::DataErr) naming `path` for a malformed entry.
DomainState stateFromJson(const boost::json::value& value, const std::string& path);

// The policy to publish now.
struct Merged {
    std::string content; // domain::mtaStsPolicy() of the configured plus the retained MX
    std::string id;      // domain::mtaStsId(content)
    DomainState state;
};

// Merge the configured policy `wanted` with `previous` (the state of the last update run, if
// any) at time `now`: every MX of the previous configuration that `wanted` lacks is retained
// until now + the previous max_age; retained hosts whose time is over, or that `wanted` names
// again, are dropped. Pure: the same arguments give the same result.
Merged merge(const Policy& wanted, const std::optional<DomainState>& previous, std::time_t now);

// What run() did for one policy.
struct Outcome {
    std::string domain;
    std::string id;
    std::vector<Retained> retained;
    bool written = false; // the policy file was (re)written
    std::string path;
};

// The whole step on a document: for every files[] entry of kind "mta-sts-policy", merge
// with `previous` (state.mtasts, an object keyed by domain; may be null), replace the entry's
// content and the id in the `_mta-sts.<domain>` TXT record of doc.records, write the file
// (mode from the entry, default 0644; directories made 0755) when it has a path and its
// content differs, set doc.state.mtasts to the new state and append a report entry
// {"program":"cdm-phase","event":"mtasts",...} per policy. Everything is checked before the
// first file is written. Throws Error(Exit::DataErr) for a malformed entry or state,
// Error(Exit::CantCreat/IoErr/NoPerm) when a file cannot be written.
std::vector<Outcome> run(boost::json::object& doc, const boost::json::value* previous,
                         std::time_t now);

} // namespace cdm::mtasts
