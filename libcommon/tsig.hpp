#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/error.hpp"
#include "libcommon/keys.hpp"

// TSIG (RFC 8945): shared-secret signatures on DNS messages, and the keys as BIND's
// tsig-keygen writes them and `nsupdate -k` reads them:
//   key "name" { algorithm hmac-sha256; secret "base64"; };
// Every algorithm is computed with OpenSSL's HMAC, in one code path: ldns 1.8.3 spells
// hmac-sha384 wrongly and has no hmac-sha224, so it signs nothing here.

namespace cdm::tsig {

enum class Algorithm { HmacMd5, HmacSha1, HmacSha224, HmacSha256, HmacSha384, HmacSha512 };

// "hmac-sha256" -> Algorithm::HmacSha256, in any case, with or without a final dot; the
// MD5 algorithm also by its wire name "hmac-md5.sig-alg.reg.int". nullopt for anything else
// (truncated forms such as "hmac-sha256-128" included).
std::optional<Algorithm> algorithmFromString(std::string_view text);
// The key-file spelling: "hmac-sha256".
std::string_view toString(Algorithm algorithm);
// The algorithm's absolute domain name in the TSIG record: "hmac-sha256.",
// "hmac-md5.sig-alg.reg.int.".
std::string_view wireName(Algorithm algorithm);
// The MAC length in octets: 16, 20, 28, 32, 48, 64.
std::size_t macSize(Algorithm algorithm);

struct Key {
    std::string name; // absolute, lower-case
    Algorithm algorithm = Algorithm::HmacSha256;
    keys::SecretBuffer secret{0}; // the decoded secret, wiped when the Key goes
};

// Read a key file; `wanted` picks a key by name (case-insensitive, final dot optional) when
// the file holds several. The file is read into wiped memory, and its secret never appears
// in a message. Throws Error(Exit::NoInput) when it cannot be read, Error(Exit::Config)
// naming file and line when it is not a key file (syntax, a missing or doubled algorithm
// or secret, a secret that is not base64, an algorithm other than the six), when it holds
// several keys and `wanted` is empty, or when it has no key `wanted`.
Key readKeyFile(const std::string& path, std::string_view wanted = {});
// The same for text already in memory; `source` names it in messages.
Key parseKeyFile(std::string_view text, const std::string& source, std::string_view wanted = {});

// A key from its parts (a [domain] section's key, algorithm and tsig_secret). Throws
// Error(Exit::Config) at `where` for a bad name, an unknown algorithm or a secret that is not
// base64 (never showing the secret).
Key makeKey(std::string_view name, std::string_view algorithm, std::string_view secretBase64,
            const Location& where);

// HMAC of `data` with the key. Never throws, except Error(Exit::Software) if OpenSSL fails.
std::vector<std::uint8_t> hmac(const Key& key, std::span<const std::uint8_t> data);

// The octets sign() appends: the size of the TSIG record of this key with a full MAC.
std::size_t recordSize(const Key& key);

constexpr std::uint16_t defaultFudge = 300;
constexpr std::uint16_t typeTsig = 250;
// TSIG error codes (RFC 8945 §3; the RCODE space above 15).
constexpr std::uint16_t badSig = 16;
constexpr std::uint16_t badKey = 17;
constexpr std::uint16_t badTime = 18;
constexpr std::uint16_t badTrunc = 22;
// "BADSIG", "BADKEY", "BADTIME", "BADTRUNC", or the number.
std::string errorName(std::uint16_t error);

// Sign a request (RFC 8945 §4.3.3): append a TSIG record to `message` (wire form, no TSIG
// yet) and increment ARCOUNT. `timeSigned` is seconds since the epoch. Returns the MAC,
// which verifies the response. Throws Error(Exit::Software) when `message` is shorter than a
// DNS header or the result would exceed 65535 octets.
std::vector<std::uint8_t> sign(const Key& key, std::vector<std::uint8_t>& message,
                               std::uint64_t timeSigned, std::uint16_t fudge = defaultFudge);

// What verifying one response message found.
struct Check {
    enum class Status {
        Ok,        // signed with the key, MAC and time good
        Unsigned,  // no TSIG record
        Rejected,  // the server rejected the request's TSIG: `error` is BADSIG or BADKEY and
                   // the record carries no MAC (RFC 8945 §5.3.2), so it cannot be verified
        WrongKey,  // signed with another key name or algorithm
        BadMac,    // the MAC does not match, or is truncated
        BadTime,   // time signed more than fudge seconds from `now`
        Malformed, // not a DNS message, or the TSIG record is cut short
    };
    Status status = Status::Malformed;
    std::uint16_t error = 0;    // the TSIG record's error field (BADTIME from the server ...)
    std::size_t tsigOffset = 0; // where the TSIG record starts (the message's size if none)
    std::uint64_t timeSigned = 0;
};
std::string_view toString(Check::Status status);

// Verifies the responses to one signed request in the order they arrive: one for a query or
// an UPDATE, several for a zone transfer over TCP, where messages may be unsigned in between
// (RFC 8945 §5.3.1: the MAC then covers them with the next signed one).
class Verifier {
public:
    Verifier(const Key& key, std::vector<std::uint8_t> requestMac);

    // Check the next message at time `now` (seconds since the epoch). A message without TSIG
    // is Unsigned; it is kept for the next signed message's MAC (up to 99 in a row; the 100th
    // is BadMac).
    Check verify(std::span<const std::uint8_t> message, std::uint64_t now);

private:
    const Key& key_;
    std::vector<std::uint8_t> priorMac_;
    bool first_ = true;
    std::vector<std::uint8_t> pending_; // unsigned messages since the last signed one
    unsigned unsignedCount_ = 0;
};

// `message` without its TSIG record (the Check's tsigOffset), ARCOUNT decremented; unchanged
// when tsigOffset is the message's size.
std::vector<std::uint8_t> stripped(std::span<const std::uint8_t> message, std::size_t tsigOffset);

} // namespace cdm::tsig
