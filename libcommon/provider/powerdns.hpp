#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "libcommon/provider.hpp"

// The PowerDNS Authoritative HTTP API (handler = powerdns): the pure parts of the provider,
// declared here so that tests/unit/provider_powerdns_test.cpp can reach them. The provider
// itself is makePowerdns() in providers.hpp.
//
// Keys of the [domain] section:
//   api_url    the API's address, "http://127.0.0.1:8081" ("/api/v1" is appended if missing)
//   apikey     the X-API-Key (a secret: apikey_file=PATH names a file holding it)
//   server_id  the server in the URL (default "localhost")
//   timeout    seconds for each request, 1-3600 (default 30)
//   cabundle   a CA file to verify an https API with (default: the system's CAs)
//
// read() is one GET of the zone. apply() is three requests: a GET to see that the RRsets it
// changes still hold what read() saw (PowerDNS has no conditional PATCH: a difference throws
// RaceLost), one PATCH with every RRset (PowerDNS applies it in one transaction, so it is all
// or nothing), and a GET of the zone's serial.

namespace cdm::provider::powerdns {

// The base URL the API paths are appended to, from the `api_url` key:
// "http://127.0.0.1:8081" and "http://127.0.0.1:8081/" -> "http://127.0.0.1:8081/api/v1";
// ".../api/v1" and ".../api/v1/" stay ".../api/v1". Only http:// and https:// are accepted.
// Throws Error(Exit::Config) for another scheme, no host, or a query or fragment.
std::string apiBase(std::string_view apiUrl);

// The zone's id as it appears in API URLs, encoded as PowerDNS encodes ids: the absolute,
// lower-case name in presentation form with every octet other than a letter, digit, '.' or
// '-' written "=XX" (upper-case hex): "_tcp.example.test" -> "=5Ftcp.example.test.", and the
// root "=2E". Throws Error(Exit::DataErr) for an invalid name (name::normalize()).
std::string zoneId(std::string_view zone);

// A record's data as PowerDNS reads it: cdm's canonical presentation already is that form
// (names absolute, TXT as quoted strings of at most 255 octets, CAA `flags tag "value"`,
// TLSA hex, SOA with all seven fields). Throws like record::canonical().
std::string toContent(const record::Record& rr);

// The record an API rrset holds, or nullopt for a type record.hpp does not know (DNSKEY,
// PTR, ...). `name` is the rrset's name, `content` one record's content as PowerDNS prints
// it. Throws Error(Exit::DataErr) naming the record when the content does not parse.
std::optional<record::Record> fromContent(std::string_view name, std::string_view type,
                                          std::uint32_t ttl, std::string_view content);

// What a zone object of `GET /servers/ID/zones/ZONE` holds: every enabled record of a type
// record.hpp knows (disabled records are not served, so they are left out), complete = true,
// serial and negativeTtl (SOA minimum) from the SOA record. Throws Error(Exit::DataErr)
// naming `where` (the URL) when the reply is not such an object.
ZoneContents parseZone(const boost::json::value& zone, const std::string& where);

// The serial of a zone object (also with ?rrsets=false): "edited_serial" (what the server
// serves, after SOA-EDIT), else "serial", else the SOA record's. 0 when none is there.
std::uint32_t zoneSerial(const boost::json::value& zone);

// The body of the PATCH that makes `change`: one rrset object per RRsetChange, changetype
// REPLACE with every record of `after` (the TTL of its first record) or DELETE when `after`
// is empty. Throws like toContent().
boost::json::object patchBody(const Change& change);

// The RRsets of `change` whose records in `now` differ from `before` (a record more or
// less, or another TTL): those another writer changed since read().
std::vector<RRsetKey> changedSince(const Change& change, const ZoneContents& now);

// The message in a PowerDNS error reply: its JSON "error" member, or else the body itself
// (one line, at most 300 characters). "" for an empty body.
std::string errorText(std::string_view body);

} // namespace cdm::provider::powerdns
