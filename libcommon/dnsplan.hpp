#pragma once

#include <string>
#include <vector>

#include <boost/json.hpp>

#include "libcommon/document.hpp"
#include "libcommon/provider.hpp"

// What a zone must change to hold the desired records: the ops and scopes of the document
// (man/cdm-json.5) applied to what the zone holds now. Pure: no I/O.

namespace cdm::dnsplan {

struct Entry {
    enum class Action {
        AddNew,    // the record is added
        AddExists, // asked for and already there: nothing to do
        Delete,    // removed (by replace, remove, none, or a merge's old record)
        Update,    // a merge replaced the record the zone held (SPF, DMARC, SOA)
        Ttl,       // already there, its RRset's TTL changes
        Skip,      // not touched, and why (`note`): an unfilled placeholder, nothing to merge
    };
    Action action = Action::AddNew;
    record::Record rr;
    std::string label;  // the original's log word: A, MX, SPF, DKIM, TLSA ...
    std::string source; // "file:line" of the config key, when known
    std::string note;
};
std::string_view toString(Entry::Action action); // "add", "exists", "delete", "update", "ttl", "skip"

struct Plan {
    provider::Change change;     // RRsets that differ; empty when the zone already conforms
    std::vector<Entry> entries;  // one per record added, kept, deleted, updated or skipped
    std::vector<std::string> warnings;
    bool empty() const { return change.rrsets.empty(); }
};

// The RRsets to read before planning `desired`: each record's own (name, type), and its
// scope's when the scope name has no `*` label. needsWholeZone() says whether a scope has one.
std::vector<provider::RRsetKey> wanted(const std::vector<document::DesiredRecord>& desired);
bool needsWholeZone(const std::vector<document::DesiredRecord>& desired);

// The plan for `zone`, whose desired records are `desired` (all of them inside the zone),
// given what it holds. Throws Error(Exit::DataErr) naming both sources when the document asks
// for a record and for its removal, or merges into a record that is not of the merge's kind.
Plan compute(const std::string& zone, const std::vector<document::DesiredRecord>& desired,
             const provider::ZoneContents& current);

// cryptdomainmgr's log word for a record the document did not label: the word after `v=` in
// TXT (SPF, DKIM, DMARC, STSV → MTA-STS ...), ADSP for _adsp., ACME for _acme-challenge., else
// the type.
std::string logLabel(const record::Record& rr);

// The original's log line: "add (new) A for a.test : 192.0.2.1", "add (exists) ...",
// "delete TLSA for _443._tcp.a.test : 3 1 1 ab..", "update SPF for a.test : v=spf1 ...".
// MX shows the exchange, SRV "weight port target", TXT its text, names without the final dot.
std::string logLine(const Entry& entry);

// {"action", "zone", "name", "type", "ttl", "data", "label", "source"?, "note"?}
boost::json::object toJson(const Entry& entry, const std::string& zone);

} // namespace cdm::dnsplan
