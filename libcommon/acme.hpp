#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/exit.hpp"
#include "libcommon/x509.hpp"

// An ACME client (RFC 8555) over libcurl, OpenSSL and Boost.JSON: the directory (with RFC
// 8555 §9.7.6 meta, RFC 8657 caaIdentities use, draft-ietf-acme-profiles meta.profiles),
// nonces (badNonce retried), accounts (created or found again by key, External Account
// Binding), orders with SAN identifiers, authorizations and their challenges (answered
// through a Solver), finalize with a CSR, the certificate chain and its alternates (Link
// rel="alternate"), and ACME Renewal Information (RFC 9773). Every request is a JWS signed
// with the account key (libcommon/jws); HTTP goes through libcommon/http.
//
// Failures are cdm::Error with the CA's problem document in the message:
//   69 (Unavailable) the CA cannot be reached, or a challenge failed (its detail and the
//      record or URL it looked at);
//   75 (TempFail)    rateLimited, serverInternal, 503 or badNonce after the retries, a
//                    Retry-After longer than the patience left ("try again after <UTC time>");
//   65 (DataErr)     rejectedIdentifier, malformed, badCSR, an answer that is not ACME;
//   77 (NoPerm)      unauthorized/accountDoesNotExist with EAB or an account problem;
//   78 (Config)      externalAccountRequired without eab_kid/eab_hmac_key, a bad directory URL.

namespace cdm::acme {

struct ClientOptions {
    std::string directoryUrl;
    std::string caBundle;                          // PEM file of the CA's TLS roots; "" = system
    std::chrono::seconds requestTimeout{30};       // one HTTP request
    std::chrono::seconds patience{std::chrono::minutes(5)}; // validation + processing wait
    unsigned retries = 5;                          // badNonce, 5xx, 429 within patience
    bool progress = false;                         // show waits on stderr (a terminal)
};

struct Directory {
    std::string url;
    std::string newNonce, newAccount, newOrder, revokeCert, keyChange;
    std::string renewalInfo;                       // "" when the CA offers no ARI
    std::string termsOfService, website;
    std::vector<std::string> caaIdentities;        // meta.caaIdentities
    bool externalAccountRequired = false;
    std::map<std::string, std::string> profiles;   // meta.profiles: name -> description
};
// Parse a directory object. Throws Error(Exit::DataErr) naming `url` when a required
// resource (newNonce, newAccount, newOrder) is missing or not a string.
Directory parseDirectory(std::string_view json, const std::string& url);

// A problem document (RFC 7807; RFC 8555 §6.7) as a CA sends it with an error.
struct Problem {
    std::string type; // as the CA wrote it ("urn:ietf:params:acme:error:rateLimited")
    std::string detail;
    std::vector<std::string> subproblems; // "identifier: type: detail"
};
// The problem document in an answer's body; nullopt when the body is not a JSON object with
// a "type". Never throws.
std::optional<Problem> parseProblem(std::string_view body);
// "type: detail; subproblem; ..." for messages.
std::string describe(const Problem& problem);
// The exit code of a problem of `type` in an answer with HTTP `status`, as listed above.
Exit exitFor(const std::string& type, long status);

struct AccountRequest {
    std::string keyPath;               // account key; created ECDSA P-256 0600 when missing
    std::vector<std::string> contact;  // "mailto:admin@example.test"
    std::string eabKid;                // External Account Binding, both or neither
    std::string eabHmacKey;            // base64url, as CAs hand it out (a secret: never logged)
};

struct Account {
    std::string url;     // the kid of every later request
    std::string keyPath;
    std::string status;  // "valid"
    std::string orders;  // the account's orders list (§7.1.2.1); "" when the CA gives none
};
// The account object (§7.1.2) the CA answered `from` (its newAccount URL) with, for the
// account at `url` (the Location it gave); keyPath is left empty. Throws Error(Exit::DataErr)
// when it is not a JSON object, Error(Exit::NoPerm) when its status is not "valid".
Account parseAccount(std::string_view body, const std::string& from, const std::string& url);

enum class ChallengeType { Dns01, Http01 };
std::string_view toString(ChallengeType type);           // "dns-01", "http-01"
std::optional<ChallengeType> challengeTypeFromString(std::string_view text);

struct Challenge {
    ChallengeType type = ChallengeType::Dns01;
    std::string url;
    std::string token;
    std::string domain;            // the identifier, lower-case, without "*." and final dot
    bool wildcard = false;
    std::string keyAuthorization;  // token "." base64url(JWK thumbprint of the account key)

    std::string dnsName() const;   // "_acme-challenge.<domain>." (RFC 8555 §8.4)
    std::string dnsValue() const;  // base64url(SHA-256(keyAuthorization))
    std::string httpPath() const;  // "/.well-known/acme-challenge/<token>" (§8.3)
};

// An order object (§7.1.3) as read from `url`. Members that are not of their type read as
// missing. Throws Error(Exit::DataErr) when the body is not a JSON object, when an order that
// is not "invalid" has no "authorizations" array, when a "ready" one has no "finalize" URL or
// a "valid" one no "certificate" URL. A status RFC 8555 does not define for orders (also a
// missing one) is the order's failure: the exit code of its "error" problem, else
// Error(Exit::Unavailable).
struct Order {
    std::string status;                      // pending, ready, processing, valid, invalid
    std::vector<std::string> authorizations; // URLs, in order (non-strings skipped)
    std::string finalize;
    std::string certificate;                 // "" until valid
    std::string profile;                     // "" when the CA names none
    std::optional<Problem> error;            // why it is invalid, when the CA says
};
Order parseOrder(std::string_view body, const std::string& url);

// An authorization object (§7.1.4) as read from `url`. The identifier must be of type "dns"
// with a value, else Error(Exit::DataErr), as for a body that is not a JSON object; its status
// is judged by challengeToAnswer(). Challenges that are not objects are skipped.
struct Authorization {
    struct Offer {                 // one of its challenges (§8)
        std::string type;          // "dns-01", "http-01", "tls-alpn-01", ...; "" when missing
        std::string url;
        std::string token;
        std::string status;
        std::optional<Problem> error; // why validation failed, when the CA says
    };
    std::string domain;            // the identifier, lower-case, without "*." and final dot
    bool wildcard = false;
    std::string status;            // "" when missing or not a string
    std::vector<Offer> challenges; // in the CA's order

    std::string label() const;     // "*.<domain>" for a wildcard, else <domain>
};
Authorization parseAuthorization(std::string_view body, const std::string& url);

// The challenge of `type` to answer for `authz` (read from `url`), with the key authorization
// for the account key of JWK `thumbprint`; nullopt when the authorization is valid already.
// Throws Error(Exit::Unavailable) when it is neither valid nor pending, Error(Exit::Config)
// when the CA offers no challenge of `type` (the first one is taken), Error(Exit::DataErr)
// when its URL is empty or its token is not base64url (§8.1).
std::optional<Challenge> challengeToAnswer(const Authorization& authz, const std::string& url,
                                           ChallengeType type, const std::string& thumbprint);

// Publishes the answers to challenges. publish() gets every pending challenge of an order at
// once (so one DNS change carries them all) and returns only when they can be validated
// (dns-01: served by every authoritative server). remove() is called afterwards, also when
// the order failed; it must not throw.
class Solver {
public:
    virtual ~Solver() = default;
    virtual ChallengeType type() const = 0;
    virtual void publish(const std::vector<Challenge>& challenges) = 0;
    virtual void remove(const std::vector<Challenge>& challenges) noexcept = 0;
};

struct OrderRequest {
    std::vector<std::string> names;  // SAN dNSNames, first one first; "*.x" allowed with dns-01
    std::string keyPath;             // the certificate's private key (libcommon/keys)
    bool mustStaple = false;         // TLS feature status_request in the CSR (RFC 7633)
    std::string profile;             // "" none; else must be in Directory::profiles
    std::string replaces;            // ARI certID of the certificate this one renews; "" none
    std::string preferredChain;      // issuer CN (or a substring of it) of the chain's top
    std::string csrOut;              // where to write the CSR (PEM, 0644); "" not written
};

struct Issued {
    std::string certPem;       // the leaf
    std::string chainPem;      // the intermediates, in order
    std::string fullchainPem;  // leaf + intermediates
    std::string url;           // where the chain was downloaded from
    std::string chosenIssuer;  // subject CN of the top certificate of the chain taken
    std::string profile;       // the order's profile, if the CA said
    std::string orderUrl;
};

// RFC 9773 §4.2: a suggested renewal window.
struct RenewalInfo {
    std::time_t start = 0;
    std::time_t end = 0;
    std::string explanationUrl;
    std::time_t retryAfter = 0;  // when to ask again (0: not said)
};
// "base64url(AKI keyIdentifier).base64url(serial)" of a certificate (RFC 9773 §4.1).
// Throws Error(Exit::DataErr) when it has no Authority Key Identifier.
std::string certId(const x509::Certificate& cert);
// Parse a renewalInfo object. Throws Error(Exit::DataErr) naming `url`.
RenewalInfo parseRenewalInfo(std::string_view json, const std::string& url, std::time_t retryAfter);

// Where an account for `directoryUrl` lives under a state directory:
// "<statedir>/acme/<host>[_<port>]-<first 8 hex digits of SHA-256(url)>" (account.key 0600,
// account.json with the account URL), so that two CAs never share an account.
std::string accountDir(const std::string& statedir, const std::string& directoryUrl);

class Client {
public:
    explicit Client(ClientOptions options);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Fetched on first use.
    const Directory& directory();
    // The account of the key: found again (onlyReturnExisting) or created, agreeing to the
    // terms. Throws as above; Exit::Config for externalAccountRequired without EAB.
    Account account(const AccountRequest& request);
    // Order, solve every authorization with `solver`, finalize, download; with
    // preferredChain, the alternate whose top issuer matches. Throws as above; the solver's
    // remove() has run for every challenge it published by the time this returns or throws.
    Issued issue(const Account& account, const OrderRequest& request, Solver& solver);
    // ARI for `cert`; nullopt when the CA offers none (or answers 404 for it).
    std::optional<RenewalInfo> renewalInfo(const x509::Certificate& cert);

    // HTTP requests made (for the report and the benchmarks).
    std::size_t requests() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace cdm::acme
