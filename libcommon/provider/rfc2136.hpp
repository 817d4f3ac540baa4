#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/provider.hpp"

// The message building of the rfc2136 provider (libcommon/provider/rfc2136.cpp), pure and
// without I/O so that the unit tests can look at it. RFC 2136 dynamic UPDATE:
//   zone section     the zone, type SOA, class IN
//   prerequisites    for each RRset the message touches: "RRset does not exist" (class NONE)
//                    when nothing was read, else "RRset exists (value dependent)" with exactly
//                    the records read (class IN, TTL 0), so that a change made by someone
//                    else since the read fails the whole message with NXRRSET or YXRRSET
//   update section   for RRsets whose TTL changes: delete the RRset (class ANY), add `after`;
//                    then every addition (class IN), then every deletion (class NONE, TTL 0)
// Owner names are compressed against the zone name in the zone section; RDATA is not.

namespace cdm::provider::rfc2136 {

constexpr std::size_t maxMessage = 65535; // a DNS message over TCP (RFC 1035 §4.2.2)

// One UPDATE message, unsigned, with ID 0 (the sender sets it and signs).
struct Update {
    std::vector<std::uint8_t> wire;
    // The RRsets (indices into Change::rrsets) this message changes; each RRset's change is
    // in exactly one message, so they are done when it succeeds.
    std::vector<std::size_t> rrsets;
    bool addsOnly = true; // no deletion in it
};

// The UPDATE messages that make the zone hold `change`, each at most `limit` octets (pass
// maxMessage minus the TSIG record's size). One message when the whole change fits; else as
// few as fit, in this order: RRsets that only gain records, then RRsets whose records are
// replaced (some added, some deleted, or the TTL changed: atomic inside their message), then
// RRsets that only lose records, so every message that only adds goes first
// (make-before-break). RRsets with nothing to change are left out.
// Throws Error(Exit::DataErr) when a record's name is not in the zone, or one RRset's change
// alone does not fit in `limit` (naming it), and like record::toWire() for bad data.
std::vector<Update> buildUpdates(const Change& change, std::size_t limit = maxMessage);

// A query for `name` `type`, class IN, RD clear (we ask the primary itself), or for the zone
// transfer (type 252 AXFR). Throws Error(Exit::DataErr) for a bad name.
std::vector<std::uint8_t> buildQuery(std::uint16_t id, std::string_view name, std::uint16_t type);
constexpr std::uint16_t typeAxfr = 252;

// "NOERROR", "REFUSED", "NXRRSET" ... or "RCODE n".
std::string rcodeName(unsigned rcode);

// The records of one response message (wire form, TSIG record removed) in its answer
// section, as records cdm knows: types record::Type does not have (RRSIG, NSEC, DNSKEY ...)
// are counted in `skipped`; a record of a known type that does not parse is in `unreadable`
// as its zone-file text. Throws Error(Exit::Unavailable) when the message is not DNS.
struct Answer {
    unsigned rcode = 0;
    bool authoritative = false;
    std::uint16_t id = 0;
    std::vector<record::Record> records;
    std::vector<std::string> unreadable;
    std::size_t skipped = 0;
};
Answer parseAnswer(const std::vector<std::uint8_t>& message);

} // namespace cdm::provider::rfc2136
