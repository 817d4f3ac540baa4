#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "libcommon/config.hpp"
#include "libcommon/document.hpp"

// The record grammar of [domain] sections (reference §2.4): positional fields taken from the
// key and the value, `+`/`-` suffixes, delete scopes, `none`/empty. Turns a resolved
// [domain:NAME] section into the desired records of the update phase and the parsed
// tlsa/dkim/cert links the later phases need.

namespace cdm::domain {

// A key with `+` adds, with `-` removes, and with neither sets (replaces within its scope).
enum class Mode { Set, Add, Remove };

// How a value is split into positional fields.
enum class Split { Colon, Whitespace, None };

// The original's parseNestedEntry for one value item. `defaults` is the field list with
// `*` for "not set". The key's pieces fill the list from the front (index 0 is the type
// word); the value's pieces fill index 0, then index -1, -2, ... from the back.
struct NestedEntry {
    Mode mode = Mode::Set;
    std::vector<std::string> fields;      // the merged list (may be longer than `defaults`)
    std::vector<std::string> scopeFields; // the key's pieces, for Mode::Set only
};
NestedEntry parseNestedEntry(std::string_view key, std::string_view value,
                             const std::vector<std::string>& defaults, bool splitKey,
                             Split valueSplit);

using Fields = std::map<std::string, std::string>;

// One value item of one key, named by the fields of its record type.
struct Item {
    Mode mode = Mode::Set;
    Fields fields; // what to add, or with Mode::Remove what to remove
    Fields scope;  // Mode::Set: the fields the key fixes (the delete scope)
    std::string key;
    std::string raw; // the value item as written
    Location where;
};

// The items of every key of `section` that belong to `rrType` (ip4, ip6, mx, srv, caa,
// dkim, tlsa), in the order the keys were written. With the original's name lists:
// adds() = its <type>AggrAdd, dels() = its <type>AggrDel.
std::vector<Item> interpret(const config::Section& section, std::string_view rrType);
std::vector<Fields> adds(const std::vector<Item>& items);
std::vector<Fields> dels(const std::vector<Item>& items);

// The SPF tokens of a section: the original's spfAggrAdd and spfAggrDel sets, where a set
// key contributes "*" to the delete set.
struct SpfSets {
    std::vector<std::string> add;
    std::vector<std::string> del;
};
SpfSets interpretSpf(const config::Section& section);

// `dmarc.TAG` / `soa.FIELD` keys as a map (a bare `dmarc` key appears as ""), or empty.
std::vector<std::pair<std::string, std::string>> interpretDict(const config::Section& section,
                                                               std::string_view rrType);

// A TLSA request of a domain: which records to make from its certificates.
struct TlsaSpec {
    Mode mode = Mode::Set;
    std::string op;       // "auto" is the only op that publishes; others are kept, ignored
    std::string owner;    // "_443._tcp.www.example.test." or "*._tcp.www.example.test."
    std::string proto;    // "tcp"
    std::string port;     // "443", or "" for every port (owner "*")
    int usage = 3, selector = 1, matching = 1;
    document::Scope scope; // what the cleanup of this key may delete
    std::string source;
};

// A DKIM publication request: publish (op "auto") or withdraw (op "none") a [dkim:NAME] key.
struct DkimSpec {
    Mode mode = Mode::Set;
    std::string op;
    std::string key; // the [dkim:NAME] section
    document::Scope scope;
    std::string source;
};

// What one [domain:NAME] section asks for.
struct DomainPlan {
    std::string name; // absolute
    std::vector<document::DesiredRecord> records; // the update phase's static records
    std::vector<std::string> certs;               // linked [cert:NAME] sections
    std::vector<TlsaSpec> tlsa;
    std::vector<DkimSpec> dkim;
    boost::json::array files; // e.g. the MTA-STS policy text
};

// Interpret one named domain section. Throws Error(Exit::Config) at the key's location for
// a value that is not a valid record (a bad address, port 70000, TLSA usage 7 ...).
// Warnings (a missing [cert:X], `caa = auto` without a cert) go to the log.
DomainPlan plan(const config::Section& section, const config::Config& config);

// The MTA-STS policy text (RFC 8461 §3.2) and its id: the id is derived from the text, so it
// changes exactly when the policy does.
std::string mtaStsPolicy(std::string_view mode, const std::vector<std::string>& mx,
                         unsigned long maxAge);
std::string mtaStsId(std::string_view policy);

} // namespace cdm::domain
