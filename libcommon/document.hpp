#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "libcommon/error.hpp"
#include "libcommon/record.hpp"

// The JSON document that flows through a cdm pipeline (man/cdm-json.5):
//   {"cdm": 1, "phase": ..., "config": {...}, "material": {...}, "records": [...],
//    "files": [...], "report": [...], ...}
// Every program reads it whole, changes only its own part and writes it whole; members it
// does not know are passed through untouched.

namespace cdm::document {

// The schema version this build reads and writes. A document with a higher version is
// refused (Exit::DataErr); members added within one version are optional.
inline constexpr int schemaVersion = 1;

// What a desired record asks of the zone (the config operators).
enum class Op {
    Replace, // `=`: these records and nothing else in the scope
    Add,     // `+=`: these records; keep the rest
    Remove,  // `-=`: remove exactly this record
    None,    // `= none` or empty: delete everything in the scope, add nothing
    Merge,   // combine with the record the zone holds (SPF `+=`, DMARC tags, SOA fields)
};
std::string_view toString(Op op);
std::optional<Op> opFromString(std::string_view text);

// What a record's op may delete: records of `type` whose owner matches `name` (where a `*`
// label matches any one label), whose RDATA fields equal `fields` (by field name, e.g.
// "preference", "port", "usage"), whose TXT text starts with `txtPrefix` when set, and does
// not start with any of `txtExclude`.
struct Scope {
    std::string name;
    record::Type type = record::Type::A;
    std::map<std::string, std::string> fields;
    std::string txtPrefix;
    std::vector<std::string> txtExclude;

    // True when `rr` lies inside this scope.
    bool contains(const record::Record& rr) const;
};

// The names of the RDATA fields of a type, in presentation order, as scopes use them:
// MX preference exchange; SRV priority weight port target; CAA flags tag value;
// TLSA usage selector matching data; SOA mname rname serial refresh retry expire minimum.
std::vector<std::string> fieldNames(record::Type type);
// The value of one field of canonical RDATA; nullopt when the type has no such field.
std::optional<std::string> fieldValue(record::Type type, std::string_view data,
                                      std::string_view field);

struct DesiredRecord {
    std::string name; // absolute owner
    record::Type type = record::Type::A;
    std::uint32_t ttl = 600;
    std::optional<std::string> data; // canonical RDATA; absent for Op::None and placeholders
    Op op = Op::Replace;
    Scope scope;
    // Set when another program must supply the data: "ip4"/"ip6" (cdm-ip), "caa" (cdm-cert).
    std::string placeholder;
    boost::json::object merge; // for Op::Merge: {"spf": {...}} | {"dmarc": {...}} | {"soa": {...}}
    std::string label;         // the original's log label: A, MX, SPF, DMARC, ADSP, ACME ...
    std::string source;        // "file:line" of the config key that asked for it
    std::string section;       // the [domain:NAME] it came from
};

boost::json::object toJson(const Scope& scope);
// Throws Error(Exit::DataErr) naming `path` when a member is wrong.
Scope scopeFromJson(const boost::json::value& v, const std::string& path);
boost::json::object toJson(const DesiredRecord& r);
// Throws Error(Exit::DataErr) naming `path` (e.g. "records[3].data") when a member is wrong.
DesiredRecord recordFromJson(const boost::json::value& v, const std::string& path);

// The zone-file lines of desired records, for people who keep zone files by hand: records
// with data print as zone lines; deletions, merges and placeholders print as `;` comments
// saying what will happen.
std::string toZoneText(const std::vector<DesiredRecord>& records);

// A new, empty document of this schema version.
boost::json::object empty();

// Parse a whole document; throws Error(Exit::DataErr) with `sourceName` and the JSON path
// for malformed JSON, a missing or unsupported "cdm" version, or a member of the wrong type.
boost::json::object parse(std::string_view text, const std::string& sourceName);

// Serialise, pretty-printed with two-space indentation and a final newline.
std::string serialize(const boost::json::object& doc);

// The desired records of a document.
std::vector<DesiredRecord> records(const boost::json::object& doc, const std::string& sourceName);

// Append records (as toJson() made them) to "records", creating it when missing.
void appendRecords(boost::json::object& doc, std::vector<boost::json::object> records);

// The object of `kind` ("cert", "dkim", "dhparam") in "material", made (with "material")
// when missing or not an object; with a `name`, that section's object within it.
boost::json::object& material(boost::json::object& doc, std::string_view kind);
boost::json::object& material(boost::json::object& doc, std::string_view kind,
                              std::string_view name);

// Append one entry to "report": {"program": ..., "event": ..., plus `fields`}.
void report(boost::json::object& doc, std::string_view program, std::string_view event,
            boost::json::object fields = {});

// "file:line" as cdm-config writes `where` and `source` -> Location; "" and "built-in" ->
// an empty Location; anything else is taken as a file name.
Location locationOf(const std::string& where);

// The resolved keys of config.<type>.<name> (`name` "DEFAULT" for [type]), or null.
const boost::json::object* sectionKeys(const boost::json::object& doc, std::string_view type,
                                       std::string_view name);
// One key of that section as a string (null when the section or key is missing), and
// where it was written.
std::optional<std::string> sectionKey(const boost::json::object& doc, std::string_view type,
                                      std::string_view name, std::string_view key);
Location keyLocation(const boost::json::object& doc, std::string_view type, std::string_view name,
                     std::string_view key);

} // namespace cdm::document
