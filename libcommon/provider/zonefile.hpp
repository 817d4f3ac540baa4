#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/error.hpp"
#include "libcommon/provider.hpp"
#include "libcommon/record.hpp"

// The zonefile provider's pure parts: reading an RFC 1035 master file as people write it, and
// editing it so that only the changed RRsets differ. libcommon/provider/zonefile.cpp adds the
// file handling (lock, atomic write, reload command) around them.
//
// What the reader accepts (RFC 1035 §5.1 with BIND's extensions, as named-checkzone does):
// $ORIGIN (absolute or relative to the current origin), $TTL, $INCLUDE FILE [ORIGIN]; owner
// names absolute, relative or `@`; a blank first column repeating the previous owner; TTL and
// class in either order or absent; BIND durations in TTL fields and SOA timers (1h, 1d2h, 1W);
// parentheses across lines; `;` comments, also after a record and inside parentheses; quoted
// strings with `;` and `\"` inside. A record without a TTL takes $TTL, else (RFC 1035) the
// previous record's, else, for the SOA, its minimum, as BIND does.
// Record types record::Type does not know (RRSIG, DS, HTTPS, PTR, ...) are read as opaque
// text, kept in the file untouched and not reported. $GENERATE and classes other than IN are
// refused.

namespace cdm::provider::zonefile {

// How the SOA serial moves on each write.
enum class SerialRule {
    Date,      // YYYYMMDDnn (RFC 1912 §2.2), from today's date (local time) with nn = 00;
               // the current serial + 1 when that is already at or past today's
    Increment, // the current serial + 1 (RFC 1982: 4294967295 wraps to 1, never 0)
    UnixTime,  // seconds since 1970; the current serial + 1 when that is not greater
};
// "date", "increment" or "unixtime". Throws Error(Exit::Config) at `where` otherwise.
SerialRule serialRuleFromString(std::string_view text, const Location& where = {});

// RFC 1982 §3.2: true when serial `a` is greater than `b` (a != b and the distance from b up
// to a is below 2^31).
bool serialGreater(std::uint32_t a, std::uint32_t b);

// The next serial after `current` under `rule`, at time `now`; always serialGreater() than
// `current`. nn of a date serial runs past 99 into the next day's numbers (2024010199 + 1 =
// 2024010200), as BIND's serial-update-method date does.
std::uint32_t nextSerial(SerialRule rule, std::uint32_t current, std::time_t now);

// A TTL field: decimal seconds ("3600") or BIND units ("1h", "1d2h", "1W1D"; w d h m s in any
// case, each after its number). nullopt for anything else or a value over 4294967295.
std::optional<std::uint32_t> parseTtl(std::string_view text);

// Reads an $INCLUDE file (its resolved path); throws cdm::Error.
using Loader = std::function<std::string(const std::string& path)>;

struct Options {
    std::string file;      // the master file's name: messages, and where $INCLUDE starts
    std::string zone;      // the zone, absolute: the SOA must be at its apex; empty: `origin`
    std::string origin;    // the initial $ORIGIN, absolute (usually the zone's name)
    std::string directory; // where relative $INCLUDE names start; empty: the file's directory
    Loader load;           // reads an $INCLUDE file; empty: fsutil::readFile
};

// One record as the file holds it.
struct Entry {
    std::string file;          // the master file, or the $INCLUDE file it came from
    unsigned line = 0;         // its first line
    std::string owner;         // absolute, lower-case
    std::uint32_t ttl = 0;     // this line's TTL (BIND gives an RRset its first record's)
    std::optional<record::Type> type; // nullopt: a type record::Type does not know
    std::string typeText;      // the type as written, upper-cased ("A", "RRSIG", "TYPE65")
    std::string data;          // canonical presentation; unknown types: the fields as written
    bool included = false;     // read from an $INCLUDE file
};

struct Zone {
    std::vector<Entry> entries; // every record, in the order the files hold them
    std::size_t soa = 0;        // the index of the SOA in `entries`
    std::uint32_t serial = 0;
    std::uint32_t negativeTtl = 0; // the SOA minimum

    // What the zone holds: every record of a known type at or below `zone` (out-of-zone data,
    // which BIND ignores, is left out), each RRset with the TTL of its first record, duplicates
    // once. complete = true.
    ZoneContents contents(const std::string& zone) const;
};

// Read a master file. `text` is the file's content, `options.file` its name.
// Throws Error(Exit::DataErr) at "file:line" naming the field that is wrong (a bad TTL, an
// unknown type or class, data that does not parse, an unbalanced parenthesis, no SOA or more
// than one, a SOA that is not at the zone's apex), or what `options.load` throws for an $INCLUDE.
Zone parse(std::string_view text, const Options& options);

struct Edited {
    std::string text;          // the master file's new content (`text` itself when unchanged)
    bool changed = false;      // false: the file already holds `change`
    std::uint32_t serial = 0;  // the SOA serial in `text`
    std::size_t rrsets = 0;    // RRsets whose lines changed
};

// Apply `change` to the master file `text`, changing only what it must:
// - a deleted record's lines are removed; an added record goes right after the last line of
//   its RRset, else after the last record of its owner, else at the end, in the style of the
//   line it follows (column layout, tabs, class, TTL shown or not, owner relative to the
//   $ORIGIN in effect or blank when that line's is);
// - a changed TTL is written into each line of the RRset, in place;
// - a line whose owner or TTL came from a removed line gets them written out;
// - the SOA serial (and the SOA fields a change of the SOA RRset sets) is replaced in place,
//   keeping the SOA's layout and comments, by nextSerial(rule, serial, now), or by the
//   change's serial when that is greater; a SOA change that differs in its serial only is no
//   change (the serial is this provider's to keep);
// - every other byte (comments, blank lines, order, directives) stays as it was.
// An empty or already applied change returns `text` with changed = false.
// Throws Error(Exit::DataErr) when an RRset to change, or the SOA, lives in an $INCLUDE file
// (naming the file and line), when the change's SOA serial would not increase, or when it
// deletes the SOA; provider::RaceLost when an RRset's `before` is not what the file holds;
// Error(Exit::Software) when the edited text would not read back as the expected records
// (a bug: nothing is to be written then); and like parse().
Edited edit(std::string_view text, const Options& options, const Change& change, SerialRule rule,
            std::time_t now);

} // namespace cdm::provider::zonefile
