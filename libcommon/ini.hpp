#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/error.hpp"

// An INI reader with the rules of Python's configparser.ConfigParser() as cryptdomainmgr
// used it, so that its configuration files read the same:
// - `[section]` headers; a `[DEFAULT]` section feeds every section;
// - `key = value` or `key : value`, split at whichever of `=` and `:` comes first; key and
//   value stripped; keys lower-cased, section names kept as written;
// - whole-line comments starting with `#` or `;` (also indented); no inline comments;
// - a line indented deeper than its key line continues the value (joined with "\n");
//   empty lines inside a value are kept, trailing ones dropped;
// - `%%` is a literal `%` and `%(key)s` the value of another key of the section or of
//   [DEFAULT] (BasicInterpolation).
// Several sources are merged into one Ini: a later source wins key by key.
//
// Where configparser raised, cdm differs on purpose (documented in cdm.conf(5)):
// - a `%` not followed by `%` or `(` is taken literally, with a warning (configparser
//   crashed, which made passwords containing `%` unusable);
// - a key repeated in one source with the same value is a warning, not an error (the
//   original's own example.conf repeats `cert = maincert`); with another value it is an error;
// - a missing file is an error (configparser skipped it silently).

namespace cdm::ini {

// The largest configuration source accepted, in bytes.
inline constexpr std::size_t maxSourceBytes = 4 * 1024 * 1024;

struct Entry {
    std::string key;   // lower-cased
    std::string value; // raw: continuation lines joined, not interpolated
    Location where;    // file and line of the key
};

struct Section {
    std::string name; // as written between the brackets
    Location where;   // the header line that first opened it
    std::vector<Entry> entries;

    const Entry* find(std::string_view key) const;
};

class Ini {
public:
    // Read `text` as one source named `sourceName` (used in locations).
    // Throws Error(Exit::Config) for syntax errors and conflicting duplicates, and
    // Error(Exit::DataErr) for text that is binary (a NUL byte) or larger than maxSourceBytes.
    void readString(std::string_view text, const std::string& sourceName);

    // Read a file; "-" is standard input (named "<stdin>"). Throws Error(Exit::NoInput) when
    // it cannot be opened or is a directory, Error(Exit::IoErr) when reading fails, otherwise
    // as readString(). A file readable by group or others that sets a secret gets a warning
    // (log::warn) naming the file and the keys.
    void readFile(const std::string& path);

    // The sections in order of first appearance, without [DEFAULT].
    const std::vector<Section>& sections() const { return sections_; }
    // The [DEFAULT] section (empty when none was read).
    const Section& defaults() const { return defaults_; }
    const Section* find(std::string_view name) const;
    // Names of every source read, in order.
    const std::vector<std::string>& sources() const { return sources_; }
    // The entries source `source` sets whose keys name a secret (log::isSecretKey) and whose
    // values are not empty, [DEFAULT] first. readFile() warns when a file holding one is
    // readable by group or others, naming the file and the keys, never the values.
    std::vector<const Entry*> secretsFrom(const std::string& source) const;

    // The value of `entry` of `section` with %-interpolation done (references are looked up
    // in the section, then in [DEFAULT]). Sets `*usedSecret` when a referenced key holds a
    // secret (log::isSecretKey). Throws Error(Exit::Config) for a reference to a missing key
    // or a loop.
    std::string interpolate(const Section& section, const Entry& entry,
                            bool* usedSecret = nullptr) const;

private:
    Section& sectionFor(const std::string& name, const Location& where);

    std::vector<Section> sections_;
    Section defaults_{"DEFAULT", {}, {}};
    std::vector<std::string> sources_;
    mutable std::set<std::string> warned_; // locations already warned about
};

// The --config-content convention of cryptdomainmgr: every run of two or more spaces
// becomes a newline, so '[cdm]  statedir=/x  [domain:a.test]  ip4=auto' is four lines.
std::string expandConfigContent(std::string_view content);

} // namespace cdm::ini
