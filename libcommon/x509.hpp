#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/ossl.hpp"

// Certificates and certificate requests: read from PEM or DER, with the public facts the
// other modules need. No private key is ever read here (that is libcommon/keys).

namespace cdm::x509 {

struct Certificate {
    std::vector<std::uint8_t> der;  // the whole certificate
    std::vector<std::uint8_t> spki; // its SubjectPublicKeyInfo, DER
    std::string subject;            // one-line RFC 2253 form, for messages
    std::string issuer;
};

// Every certificate in `data` in file order: PEM with one or more CERTIFICATE blocks (text
// between them is ignored, as in a full chain with comments), or one DER certificate.
// Throws Error(Exit::DataErr) naming `sourceName`: no certificate, a truncated or garbled
// PEM block (with the line where it starts), trailing garbage in DER.
std::vector<Certificate> parseChain(std::string_view data, const std::string& sourceName);

// parseChain() of a file (at most 1 MiB). Throws Error(Exit::NoInput) when unreadable.
std::vector<Certificate> loadChain(const std::string& path);

// The SubjectPublicKeyInfo of a certificate signing request (PEM or DER), after checking the
// request's own signature. Throws Error(Exit::DataErr) naming the file.
std::vector<std::uint8_t> csrPublicKey(const std::string& path);

// True when `issuer` issued `subject` (names and key identifiers match and the signature
// verifies with the issuer's key).
bool issued(const Certificate& issuer, const Certificate& subject);

// The OpenSSL object of a certificate, for code that hands it to OpenSSL (verification).
ossl::X509Ptr toX509(const Certificate& cert);

// The DNS names of a certificate's subjectAltName extension, lower-case.
std::vector<std::string> dnsNames(const Certificate& cert);

} // namespace cdm::x509
