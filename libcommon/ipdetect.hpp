#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "libcommon/error.hpp"

// cdm-ip's job: find this host's addresses and fill the `ip4 = auto` / `ip6 = auto`
// placeholders of a document (records with "auto": "ip4"|"ip6" and "data": null).
//
// An address comes from a list of sources, tried in order until one answers with exactly one
// address of the family:
//   https://... or http://...   GET, the body (white space trimmed) is the address; TLS is
//                                always verified (libcommon/http.hpp)
//   interface:NAME              the first address of the family on that interface
//                                (getifaddrs); IPv6 skips link-local and prefers global
//                                addresses over unique local ones
//   command:PROGRAM ARG...      run without a shell; the first line of its stdout
// The list is the [domain:NAME] key ip4detect / ip6detect (inherited from [domain] and
// [DEFAULT]), else defaultSources(). The original asked plain-http icanhazip.com only; cdm
// asks plain http only when a configured or given source says http://.

namespace cdm::ipdetect {

enum class Family { V4, V6 };

// "ip4" / "ip6", as the placeholders and the report spell it.
std::string_view toString(Family family);
// "ip4", "ip6", "4", "6" -> the family; nullopt otherwise.
std::optional<Family> familyFromString(std::string_view text);

// `text` as an address of `family` in canonical form (dotted quad; IPv6 as RFC 5952 text, as
// record::canonical prints AAAA data); nullopt when it is not exactly one such address (no
// white space, no brackets, no prefix length).
std::optional<std::string> parseAddress(Family family, std::string_view text);

// Why a canonical address of `family` is not a public unicast address ("loopback",
// "private (RFC 1918)", "link-local", "unique local (RFC 4193)", "shared (RFC 6598)",
// "documentation", "unspecified", "multicast", "reserved"); "" when it is public.
std::string notPublic(Family family, const std::string& address);

struct Source {
    enum class Kind { Url, Interface, Command };
    Kind kind = Kind::Url;
    std::string text;              // as written: what messages and the report name
    std::string target;            // the URL, the interface name
    std::vector<std::string> argv; // Command: the program and its arguments
};

// One source. Throws Error(Exit::Config) at `where` for a text that is none of the three
// forms, an empty interface name or a command without a program.
Source parseSource(std::string_view text, const Location& where = {});
// A comma-separated list of sources (empty items are skipped). Throws as parseSource(), and
// Error(Exit::Config) for a list without any source.
std::vector<Source> parseSources(std::string_view list, const Location& where = {});
// https://ipv4.icanhazip.com (https://ipv6.icanhazip.com for V6): https only, never a
// plain-http fallback.
std::vector<Source> defaultSources(Family family);

// The seconds of an `iptimeout` value: a whole number from 1 to 300. Throws
// Error(Exit::Config) at `where` otherwise.
std::chrono::seconds parseTimeout(std::string_view text, const Location& where = {});

struct Options {
    std::chrono::milliseconds timeout = std::chrono::seconds(4); // a URL, connect + transfer
    std::chrono::milliseconds commandTimeout = std::chrono::seconds(10);
    std::string caBundle; // PEM roots for https sources; "" = the system's
};

// What asking a list of sources found.
struct Detection {
    std::optional<std::string> address; // canonical
    std::string source;                 // the text of the source that answered
    std::vector<std::string> errors;    // one line per failed source, in order
};

// Ask one source. Returns the canonical address, or throws Error(Exit::Unavailable) with a
// line naming the source and what went wrong ("'https://a.test/': answer '<html>' is not an
// IPv4 address", "'interface:eth9': no such interface 'eth9'", "'command:x': exit status 1").
std::string ask(Family family, const Source& source, const Options& options);
// Ask `sources` in order until one answers. Failed sources are logged as warnings and listed
// in `errors`; an answer that is not a public address is logged as a warning and accepted.
Detection detect(Family family, const std::vector<Source>& sources, const Options& options);

// The address to take from an interface's addresses of `family` (canonical, in the order the
// kernel lists them): IPv4 the first that is not link-local (169.254/16); IPv6 the first
// global one, else the first unique local one, else the first other one; link-local
// (fe80::/10) never. nullopt when none qualifies.
std::optional<std::string> pickInterfaceAddress(Family family,
                                                const std::vector<std::string>& addresses);
// The addresses of `family` on interface `name` (canonical, in getifaddrs order). Throws
// Error(Exit::Unavailable) when there is no such interface.
std::vector<std::string> interfaceAddresses(const std::string& name, Family family);

// cdm-ip --print: the address of `family` from `sources` (timeout: 4 s when not given).
// Throws Error(Exit::Unavailable) listing every source's failure when none answers,
// Error(Exit::NoInput) when the CA bundle cannot be read.
std::string print(Family family, const std::vector<Source>& sources,
                  std::optional<std::chrono::seconds> timeout, const std::string& caBundle);

// The pipe: fill every placeholder of `doc`.
struct Request {
    // From the command line: replace the configured lists of every record.
    std::optional<std::vector<Source>> ip4Sources;
    std::optional<std::vector<Source>> ip6Sources;
    std::optional<std::chrono::seconds> timeout; // replaces every iptimeout
    std::string caBundle;
    std::string sourceName = "<stdin>"; // names the document in messages
};

struct Result {
    boost::json::object document;
    std::size_t filled = 0;       // records that got an address
    std::size_t unfilled = 0;     // placeholders left as they were
    std::optional<Error> failure; // set when some placeholder stays unfilled (Exit 69)
};

// Each distinct (family, sources, timeout) is detected once per call, however many records
// ask for it. A filled record gets "data" (the address), "detected" (the source's text) and
// loses "auto"; an unfilled one is left as it was and reported. Appends report entries
//   {"program":"cdm-ip","event":"detected","family","address","source","records":N}
//   {"program":"cdm-ip","event":"failed","family","name","errors":[...]} (one per name)
// Throws Error(Exit::DataErr) for a malformed record or placeholder (nothing filled),
// Error(Exit::Config) for a bad ip4detect/ip6detect/iptimeout value (naming file:line),
// Error(Exit::NoInput) when the CA bundle cannot be read.
Result fill(boost::json::object doc, const Request& request);

} // namespace cdm::ipdetect
