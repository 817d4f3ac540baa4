#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "libcommon/document.hpp"
#include "libcommon/x509.hpp"

// TLSA records (RFC 6698, RFC 7671): the certificate association data for every
// usage, selector and matching type, from a certificate chain, a bare public key or a CSR.

namespace cdm::tlsa {

// The RFC mnemonics with their numbers (RFC 7218).
enum class Usage : std::uint8_t { PkixTa = 0, PkixEe = 1, DaneTa = 2, DaneEe = 3 };
enum class Selector : std::uint8_t { Cert = 0, Spki = 1 };
enum class Matching : std::uint8_t { Full = 0, Sha256 = 1, Sha512 = 2 };

struct Params {
    Usage usage = Usage::DaneEe;
    Selector selector = Selector::Spki;
    Matching matching = Matching::Sha256;

    bool operator==(const Params&) const = default;
    std::string toString() const; // "3 1 1"
};

// "3:1:1,2:0:1" or "DANE-EE:SPKI:SHA2-256" (RFC 7218 names, any case). Throws
// Error(Exit::Usage) naming the bad item ("TLSA usage '7' is not one of 0 to 3").
std::vector<Params> parseParams(std::string_view text);
// One number or mnemonic of each kind; throws like parseParams().
Usage parseUsage(std::string_view text);
Selector parseSelector(std::string_view text);
Matching parseMatching(std::string_view text);

// What the data is computed from: a chain (leaf first), or a bare public key (from a key file
// or a CSR) that can answer selector 1 with usage 1 or 3 only.
struct Source {
    std::vector<x509::Certificate> chain;
    std::vector<std::uint8_t> spki; // set for a bare key or CSR
    std::string name;               // file name, for messages
};

// Which certificate of the chain usage 0 and 2 take: by default (`caDepth` 0) the issuer of
// the leaf, found by signature among the chain's certificates (so a chain out of order
// still works); with `caDepth` N, the certificate N places above the leaf in file order.
// The leaf's issuer is the default because a server always sends it and it is what changes
// least: a new leaf from the same CA keeps `2 x x` records valid (RFC 7671 §5.2).
const x509::Certificate& trustAnchor(const Source& source, unsigned caDepth = 0);

// The certificate association data, lower-case hex (RFC 6698 §2.1.3).
// Throws Error(Exit::DataErr) naming the source when the data cannot be made: usage 0/2 with
// no CA certificate in the chain, selector 0 or usage 0/2 from a bare key.
std::string associationData(const Source& source, const Params& params, unsigned caDepth = 0);

// "3 1 1 <hex>": the RDATA of one record.
std::string rdata(const Source& source, const Params& params, unsigned caDepth = 0);

// A port number 1-65535 from text; throws Error(Exit::Usage).
std::uint16_t parsePort(std::string_view text);

// The owner "_PORT._PROTO.HOST." or, without a port, the original's "*._PROTO.HOST.".
// Throws Error(Exit::Usage) for a port outside 1-65535 or an invalid host or protocol.
std::string ownerName(std::optional<unsigned> port, std::string_view proto, std::string_view host);

// `--usage/--selector/--matching` given as lists: position i of each makes one triple; a list
// of one value applies to every triple and an empty one takes the default (3, 1, 1).
// Throws Error(Exit::Usage) when two lists have different lengths above one.
std::vector<Params> pairParams(const std::vector<std::string>& usages,
                               const std::vector<std::string>& selectors,
                               const std::vector<std::string>& matchings);

// One record set from flags (cdm-tlsa without a document).
struct Request {
    std::string cert; // a certificate or full chain (PEM or DER), or
    std::string key;  // a public or private key, or
    std::string csr;  // a certificate signing request
    std::vector<Params> params;
    std::optional<unsigned> port; // none: the owner "*._PROTO.HOST."
    std::string proto = "tcp";
    std::string host;
    unsigned caDepth = 0;
    std::uint32_t ttl = 3600;
};
// Throws Error(Exit::Usage) for a request without exactly one source or without a host,
// and like associationData() and ownerName().
std::vector<document::DesiredRecord> fromRequest(const Request& request);

// Output forms of fromRequest(): a cdm document holding the records, or one RDATA per line.
std::string toDocumentText(const std::vector<document::DesiredRecord>& records);
std::string toRdataText(const std::vector<document::DesiredRecord>& records);

// Pipe mode: for every domain of the document whose `tlsa` keys publish (op "auto") and whose
// linked certificates have material ("material.cert.NAME.current" and, in prepare,
// ".next", each with "fullchain", "key" or "csr" paths), append TLSA records with the op and
// scope of the key; records for current and next stand side by side. A pre-generated standby
// key ("material.cert.NAME.standby.key", reusekey = yes) adds the records of its public key
// only (selector 1 with usage 1 or 3, e.g. `3 1 1`), so that they are published a full cycle
// before a key roll puts the key into a certificate. Keys with op "none"
// add a deletion of their scope. Returns the number of records added.
// Throws Error(Exit::DataErr) naming the JSON path or file that is wrong.
std::size_t addRecords(boost::json::object& document);

} // namespace cdm::tlsa
