#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// DNS resource records in presentation form (RFC 1035 §5, and the RFC of each type).
// cdm passes records as {name, type, ttl, data} with `data` the RDATA in presentation form.
// This module parses such data, prints it in one canonical spelling, converts it to wire
// form, and compares two spellings. Supported: A, NS, CNAME, SOA, MX, TXT, AAAA, SRV, TLSA, CAA.
//
// Data is read as a zone file reads it (RFC 1035 §5.1): fields separated by blanks, `;` starts
// a comment, parentheses join several lines (a multi-line SOA), and a line break outside
// parentheses is an error. Only TXT strings and the CAA tag and value may be quoted; quoted
// strings take `\"`, `\\`, `\X` and `\DDD` escapes. Numbers are decimal digits only (no sign,
// no BIND unit suffixes such as "1h"); leading zeros are read and dropped.

namespace cdm::record {

enum class Type : std::uint16_t {
    A = 1,
    NS = 2,
    CNAME = 5,
    SOA = 6,
    MX = 15,
    TXT = 16,
    AAAA = 28,
    SRV = 33,
    TLSA = 52,
    CAA = 257,
};

// "A", "aaaa", "TYPE52" ... -> Type; nullopt when not one of the supported types.
// Case-insensitive; TYPEnnn is the RFC 3597 spelling.
std::optional<Type> typeFromString(std::string_view text);
// The mnemonic: Type::TLSA -> "TLSA".
std::string_view toString(Type type);

// The canonical presentation of `data` for `type`:
// - names absolute and lower-case (relative names are taken relative to `origin`, or the root);
// - numbers in decimal without leading zeros; IPv4 dotted quad; IPv6 as RFC 5952 text;
// - TLSA data as lower-case hex with no spaces;
// - TXT as quoted strings separated by one space, each at most 255 octets, with `"` and `\`
//   escaped as `\"` and `\\`, other non-printable octets as `\DDD`; an unquoted word is one string;
// - CAA as `flags tag "value"`.
// What is accepted, field by field:
// - A: a strict dotted quad, four parts of 0-255. A part with a leading zero ("01.2.3.4") is
//   rejected rather than read, because inet_aton() reads "010" as octal 8.
// - AAAA: any RFC 4291 text (inet_pton), also in brackets as in URLs ("[2001:db8::1]").
// - MX preference, SRV priority, weight and port: 0-65535. SOA numbers: 0-4294967295.
// - TXT: one or more strings, quoted or not; a string over 255 octets is cut into 255-octet
//   pieces. The whole RDATA must fit in 65535 octets.
// - TLSA: usage 0-3, selector 0-1, matching type 0-2, as numbers (mnemonics such as DANE-EE
//   are not read); the data is hex in either case and may be split by blanks (RFC 6698 §2.2);
//   matching type 1 needs 64 hex digits, 2 needs 128, 0 any even, non-zero number.
// - CAA: flags 0-255; tag of 1-255 ASCII letters and digits, case kept as written (RFC 8659
//   §4.1); the value quoted or, when it has no blank or `;`, unquoted.
// Throws Error(Exit::DataErr) with a message naming the type and the field that is wrong
// (e.g. "MX preference '70000' is not a number from 0 to 65535").
std::string canonical(Type type, std::string_view data, std::string_view origin = {});

// The RDATA in wire form (names uncompressed, lower-cased). Throws like canonical().
std::vector<std::uint8_t> toWire(Type type, std::string_view data, std::string_view origin = {});

// True when both spellings denote the same data ("0 issue letsencrypt.org" and
// `0 issue "letsencrypt.org"`; TLSA hex in either case; names in either case).
// TXT compares the concatenated text of its strings, so `"ab"` equals `"a" "b"`: every
// reader of the records cdm manages (SPF, DKIM, DMARC, MTA-STS, TLSRPT) concatenates them,
// and a provider may re-split a long string. CAA tags compare without case (RFC 8659 §4.1).
// Data that does not parse is compared as text. Never throws.
bool equalData(Type type, std::string_view a, std::string_view b);

// TXT: the decoded character-strings of presentation data `data`, after cutting at 255 octets.
// Throws like canonical().
std::vector<std::string> txtStrings(std::string_view data);
// TXT: the concatenation of the decoded character-strings (what SPF, DKIM and DMARC read).
// Throws like canonical().
std::string txtText(std::string_view data);
// TXT: presentation data for an arbitrary text, split into strings of at most 255 octets
// (octets, not characters: a UTF-8 sequence may be cut). "" gives `""`. Never throws.
std::string txtFromText(std::string_view text);

// One resource record.
struct Record {
    std::string name; // absolute, lower-case
    Type type = Type::A;
    std::uint32_t ttl = 0;
    std::string data; // canonical presentation

    // Build a record, normalising name and data (throws like canonical()).
    static Record make(std::string_view name, Type type, std::uint32_t ttl, std::string_view data);

    // A zone-file line: "www.example.test. 600 IN A 192.0.2.1". TTL and class are optional
    // in the input ("NAME [TTL] [IN] TYPE RDATA"); a missing TTL becomes `defaultTtl`.
    // TTL and class may come in either order, as BIND reads them. The TTL is a decimal number
    // up to 4294967295; the class, when given, must be IN. The type is a mnemonic or TYPEnnn
    // (RFC 3597). Names in the line, the owner included, are relative to `origin`. The owner
    // must start in the first column (a blank first column repeats the previous owner in a zone
    // file, and there is none here); `$ORIGIN` and other directives are rejected.
    // Throws Error(Exit::DataErr) naming the line and the problem, or as canonical() does.
    static Record parseLine(std::string_view line, std::string_view origin = {},
                            std::uint32_t defaultTtl = 3600);
    // "name ttl IN TYPE data", the fields separated by single spaces, no trailing newline;
    // parseLine() reads it back.
    std::string toZoneLine() const;

    // Same name (case-insensitive), same type and equal data. TTL is not compared.
    bool sameRecord(const Record& other) const;
};

} // namespace cdm::record
