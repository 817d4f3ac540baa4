#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/exit.hpp"
#include "libcommon/record.hpp"

// The pure parts of the inwx provider (libcommon/provider/inwx.cpp): how a DNS record looks
// in INWX's DomRobot JSON-RPC API (nameserver.info/createRecord/updateRecord/deleteRecord),
// which of its result codes mean what, the endpoint, and the TOTP code that account.unlock
// takes. No I/O here, so tests/unit/provider_inwx_test.cpp checks it all without a server.

namespace cdm::provider::inwx {

// The JSON-RPC endpoints INWX documents: the live system and the OT&E test system.
inline constexpr std::string_view liveUrl = "https://api.domrobot.com/jsonrpc/";
inline constexpr std::string_view oteUrl = "https://api.ote.domrobot.com/jsonrpc/";

// One record as INWX's nameserver calls carry it.
struct InwxRecord {
    std::string name;    // the owner without the final dot; the apex is the domain itself
    std::string type;    // "A", "MX", "TLSA" ... (INWX also has URL, SPF, PTR ... cdm skips)
    std::string content; // see toInwx()
    std::uint32_t ttl = 0;
    std::uint32_t prio = 0; // MX preference, SRV priority; 0 for every other type
};

// A cdm record as INWX fields, for createRecord. `zone` is the zone's absolute name.
// - names (owner, CNAME/NS/MX/SRV targets) lose their final dot: INWX adds it itself; a root
//   MX or SRV target (RFC 7505 null MX, "no service") stays ".";
// - MX: content is the exchange, prio the preference;
// - SRV: content is "weight port target", prio the priority;
// - TXT: content is the text itself (the strings joined, unquoted, unescaped), as the
//   original sent it; INWX splits it into strings of at most 255 octets;
// - CAA: `flags tag "value"`; TLSA: "usage selector mtype hex"; A, AAAA, SOA: as cdm prints
//   them.
// Throws Error(Exit::DataErr) naming the record when INWX cannot hold it: an owner outside
// `zone`, a root CNAME or NS target, or TXT text that INWX would not keep as sent (empty,
// ending in a blank, or holding '"' or '\', which INWX doubles or drops).
InwxRecord toInwx(const record::Record& rr, std::string_view zone);

// An INWX record as a cdm record (the inverse of toInwx()). The owner may be a name below
// the zone without the final dot (as INWX lists them), the zone itself, "@" or "" (the apex),
// or a name relative to the zone. TXT content is the text itself, or zone-file strings when
// it is quoted as a whole and reads as such ("a" "b", as other tools write it).
// nullopt for a type cdm does not manage (URL, SPF, PTR ...).
// Throws Error(Exit::DataErr) naming the record when its content does not parse.
std::optional<record::Record> fromInwx(const InwxRecord& r, std::string_view zone);

// The endpoint for the `api_url` key: the live one when unset or "live", the OT&E one for
// "ote", else the URL given. A URL with no path (or "/") gets INWX's "/jsonrpc/". Plain
// http:// is refused unless the host is a loopback address (127.0.0.0/8, ::1, localhost),
// where a local stand-in listens. Throws Error(Exit::Config) naming the value: not http(s),
// no host, user information in the URL, http to a remote host, or INWX's XML-RPC path.
std::string endpoint(const std::optional<std::string>& apiUrl);

// RFC 4648 base32 (the TOTP secret as INWX shows it beside its QR code): letters in either
// case, blanks and '=' padding ignored. nullopt for any other character or an empty result.
std::optional<std::vector<std::uint8_t>> base32Decode(std::string_view text);

// The RFC 6238 time-based one-time password for `key` at `unixTime`: HMAC-SHA1 over the
// count of `step`-second periods since the epoch, truncated as RFC 4226 §5.3 says, as
// `digits` decimal digits with leading zeros. INWX uses 30 s and 6 digits.
// Throws Error(Exit::Software) when OpenSSL fails or `digits` is not 6 to 9.
std::string totp(std::span<const std::uint8_t> key, std::uint64_t unixTime, unsigned digits = 6,
                 unsigned step = 30);

// INWX's result codes (those of EPP, RFC 5730 §3) that the provider treats specially.
inline constexpr int codeOk = 1000;
inline constexpr int codeOkLogout = 1500;     // command completed; ending session
inline constexpr int codeAuthError = 2200;    // wrong user or password, or no session
inline constexpr int codeExists = 2302;       // createRecord: the record is already there
inline constexpr int codeDoesNotExist = 2303; // no such record id or domain
// 2400 command failed, 2500 command failed and connection closed, 2502 session limit
// exceeded: the original (dnsuptools) sent the call again after a pause, and so does cdm.
bool isTransient(int code);

// The exit category of a failed call: NoPerm for authentication and authorization errors
// (2200-2202), DataErr for a record INWX rejects (other 2000-2399 codes of createRecord and
// updateRecord, `recordCall`), Unavailable for everything else (server-side failures).
Exit exitFor(int code, bool recordCall);

// The pause before retry number `retry` (0 for the first): `first` doubled each time, at
// most 60 s. The provider retries a transient code `retries` times (default 5), so the
// longest wait for one call is first * (2^retries - 1), with the default 1 s: 31 s.
std::chrono::milliseconds backoff(unsigned retry, std::chrono::milliseconds first);

} // namespace cdm::provider::inwx
