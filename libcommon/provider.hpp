#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "libcommon/error.hpp"
#include "libcommon/record.hpp"
#include "libcommon/resolve.hpp"

// The DNS providers of cdm-dns-apply(1): one interface, one file a provider
// (libcommon/provider/<handler>.cpp), one line in the registry (provider.cpp).
//
// A provider reads what a zone holds and applies a change to it. It knows nothing of ops and
// scopes: dnsplan computes, RRset by RRset, what the zone should hold, and the provider only
// makes it so, as few requests as it can.

namespace cdm::provider {

// The access settings of one [domain] section, as the document's "config" carries them.
// Secret keys (passwd, apikey, ...) appear there as {"secret": "FILE:LINE"} and are read back
// from that file when a provider asks for them, so they never pass through the document.
struct Settings {
    std::string handler; // "rfc2136", "powerdns", "inwx", "zonefile" ("dnsuptools/inwx" -> "inwx")
    std::string section; // the domain section's name, for messages: "[domain:www.example.test]"
    std::map<std::string, std::string> keys;  // plain keys as written, secrets left out
    std::map<std::string, std::string> where; // key -> "FILE:LINE"
    std::map<std::string, std::string> secretRefs; // secret key -> "FILE:LINE"
    std::vector<std::string> sources; // the config files, in order ("config"."sources")

    // The resolver cdm-dns-apply uses (zone finding, NS addresses); providers that look up
    // names (an rfc2136 primary from the SOA MNAME) use it too.
    resolve::Options resolver;

    // A plain key's value, or nullopt.
    std::optional<std::string> get(const std::string& key) const;
    // A plain key's value; throws Error(Exit::Config) naming the section and key when missing.
    std::string require(const std::string& key) const;
    // A number key in [lo, hi], or `fallback` when missing; throws Error(Exit::Config).
    unsigned long number(const std::string& key, unsigned long fallback, unsigned long lo,
                         unsigned long hi) const;
    // A secret: `KEY_file` names a file holding it (first line, trailing blanks cut), else
    // the key itself, read back from the config file and line the document names. nullopt
    // when neither is set. Throws Error(Exit::Config/NoInput) when the file cannot be read.
    std::optional<std::string> secret(const std::string& key) const;
    // The location of a key for messages: "FILE:LINE" or the section name.
    Location locate(const std::string& key) const;

    // The settings of domain section `name` from the document's "config". Throws
    // Error(Exit::DataErr) when the section is not there.
    static Settings fromDocument(const boost::json::object& doc, const std::string& name);
};

struct RRsetKey {
    std::string name; // absolute, lower-case
    record::Type type = record::Type::A;
    auto operator<=>(const RRsetKey&) const = default;
};

// What a zone holds, as a provider read it.
struct ZoneContents {
    std::vector<record::Record> records;
    // True when `records` is the whole zone (AXFR, an API listing); false when only the
    // RRsets asked for were read (then a scope with `*` labels sees only those names).
    bool complete = false;
    std::uint32_t serial = 0;     // the SOA serial when known, else 0
    std::uint32_t negativeTtl = 0; // SOA minimum when known
};

// One RRset to change: from `before` (as read) to `after` (empty: delete the RRset).
struct RRsetChange {
    RRsetKey key;
    std::vector<record::Record> before;
    std::vector<record::Record> after; // all with the same TTL
    // The records of `after` not in `before` (by sameRecord), and those of `before` not in
    // `after`. A record in both with another TTL is in neither: see ttlChanged().
    std::vector<record::Record> adds() const;
    std::vector<record::Record> deletes() const;
    bool ttlChanged() const;
};

// The change to one zone. RRsets are independent; a provider applies every addition before
// any deletion when it cannot apply the whole change at once (make-before-break).
struct Change {
    std::string zone; // absolute
    std::vector<RRsetChange> rrsets;
};

struct Applied {
    std::size_t messages = 0; // DNS messages or HTTP requests sent to apply it
    std::uint32_t serial = 0; // the zone's SOA serial after the change, when known
};

// Thrown by apply() when the zone changed since read() (an RFC 2136 prerequisite failed, a
// PowerDNS RRset no longer matched): cdm-dns-apply reads again, plans again and retries.
class RaceLost : public Error {
public:
    explicit RaceLost(std::string message) : Error(Exit::TempFail, std::move(message)) {}
};

class Provider {
public:
    virtual ~Provider() = default;
    // Read the zone, or at least the RRsets in `wanted`. Throws Error(Exit::Unavailable) when
    // the server cannot be reached, Error(Exit::NoPerm) when it refuses (naming zone and key).
    virtual ZoneContents read(const std::string& zone, const std::vector<RRsetKey>& wanted) = 0;
    // Apply `change`. When part of it was applied before a failure, the Error says which
    // RRsets were done ("applied 3 of 5 RRsets"); a rerun converges because it reads first.
    virtual Applied apply(const Change& change) = 0;
};

using Factory = std::function<std::unique_ptr<Provider>(const Settings&)>;

// The registry's name for a `handler` value: cryptdomainmgr's "dnsuptools/inwx" and
// "dnsuptools" are "inwx"; other values are returned as they are.
std::string canonicalHandler(std::string_view handler);

// The provider for `settings.handler`; throws Error(Exit::Config) for an unknown handler or
// missing access keys (naming the section and key).
std::unique_ptr<Provider> make(const Settings& settings);
// The handler names the registry knows, sorted.
std::vector<std::string> handlers();

} // namespace cdm::provider
