#include "libcommon/acme.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <iostream>
#include <set>
#include <sys/stat.h>
#include <thread>
#include <utility>

#include <boost/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "libcommon/error.hpp"
#include "libcommon/fsutil.hpp"
#include "libcommon/http.hpp"
#include "libcommon/jws.hpp"
#include "libcommon/keys.hpp"
#include "libcommon/log.hpp"
#include "libcommon/ossl.hpp"

namespace cdm::acme {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view errorPrefix = "urn:ietf:params:acme:error:";
constexpr std::string_view joseJson = "Content-Type: application/jose+json";

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string join(const std::vector<std::string>& items, std::string_view separator = ", ") {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) {
            out += separator;
        }
        out += item;
    }
    return out;
}

// "2025-01-02 03:04:05 UTC"
std::string utc(std::time_t t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::array<char, 32> buffer{};
    const std::size_t n = std::strftime(buffer.data(), buffer.size(), "%Y-%m-%d %H:%M:%S UTC", &tm);
    return std::string(buffer.data(), n);
}

std::string hex(std::string_view bytes) {
    static constexpr std::string_view digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out += digits[c >> 4U];
        out += digits[c & 15U];
    }
    return out;
}

std::string sha256(std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int length = 0;
    if (EVP_Digest(data.data(), data.size(), md.data(), &length, EVP_sha256(), nullptr) != 1) {
        throw Error(Exit::Software, "unable to compute SHA-256");
    }
    return std::string(reinterpret_cast<const char*>(md.data()), length);
}

// A body for a message: one line, at most 200 characters.
std::string snippet(std::string_view body) {
    std::string text(body.substr(0, 200));
    std::replace_if(
        text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
    return body.size() > 200 ? text + "..." : text;
}

const json::object* objectAt(const json::value* v) {
    return v != nullptr ? v->if_object() : nullptr;
}

std::string stringAt(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string{};
}

// An RFC 3339 time ("2025-01-02T03:04:05Z", fractions and offsets allowed).
std::optional<std::time_t> parseRfc3339(std::string_view text) {
    int y = 0;
    int mo = 0;
    int d = 0;
    int h = 0;
    int mi = 0;
    int s = 0;
    int consumed = 0;
    const std::string t(text);
    if (std::sscanf(t.c_str(), "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s,
                    &consumed) != 6 ||
        consumed < 19 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) {
        return std::nullopt;
    }
    std::string_view rest = text.substr(static_cast<std::size_t>(consumed));
    if (!rest.empty() && rest.front() == '.') {
        rest.remove_prefix(1);
        while (!rest.empty() && std::isdigit(static_cast<unsigned char>(rest.front())) != 0) {
            rest.remove_prefix(1);
        }
    }
    long offset = 0;
    if (rest == "Z" || rest == "z") {
        offset = 0;
    } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
        int oh = 0;
        int om = 0;
        if (std::sscanf(std::string(rest.substr(1)).c_str(), "%2d:%2d", &oh, &om) != 2) {
            return std::nullopt;
        }
        offset = (rest[0] == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
    } else {
        return std::nullopt;
    }
    // Days from civil (proleptic Gregorian), as in http.cpp.
    long long yy = y - (mo <= 2 ? 1 : 0);
    const long long era = (yy >= 0 ? yy : yy - 399) / 400;
    const auto yoe = static_cast<unsigned>(yy - era * 400);
    const auto m = static_cast<unsigned>(mo);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + static_cast<unsigned>(d) - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    const long long days = era * 146097 + static_cast<long long>(doe) - 719468;
    return static_cast<std::time_t>(days * 86400 + h * 3600 + mi * 60 + s - offset);
}

std::optional<Problem> problemOf(const json::object& o) {
    const std::string type = stringAt(o, "type");
    if (type.empty()) {
        return std::nullopt;
    }
    Problem p{type, stringAt(o, "detail"), {}};
    if (const auto* subs = o.if_contains("subproblems"); subs != nullptr && subs->is_array()) {
        for (const auto& sub : subs->as_array()) {
            const auto* so = sub.if_object();
            if (so == nullptr) {
                continue;
            }
            std::string who;
            if (const auto* id = objectAt(so->if_contains("identifier"))) {
                who = stringAt(*id, "value") + ": ";
            }
            p.subproblems.push_back(who + stringAt(*so, "type") + ": " + stringAt(*so, "detail"));
        }
    }
    return p;
}

std::optional<Problem> problemOf(const http::Response& response) {
    return parseProblem(response.body);
}

// The JSON object the CA answered `what` at `url` with.
json::object objectOf(std::string_view body, const std::string& url, const std::string& what) {
    json::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) {
        throw Error(Exit::DataErr,
                    "the CA answered " + what + " at '" + url +
                        "' with something other than a JSON object: " + snippet(body));
    }
    return std::move(v.as_object());
}

// The short name of an ACME error type ("rateLimited"), "" for other URNs.
std::string shortType(std::string_view type) {
    return type.starts_with(errorPrefix) ? std::string(type.substr(errorPrefix.size()))
                                         : std::string{};
}

} // namespace

Exit exitFor(const std::string& type, long status) {
    static const std::set<std::string, std::less<>> tempFail{"badNonce", "rateLimited",
                                                             "serverInternal"};
    static const std::set<std::string, std::less<>> dataErr{
        "rejectedIdentifier",    "malformed",      "badCSR",         "unsupportedIdentifier",
        "badSignatureAlgorithm", "badPublicKey",   "invalidContact", "unsupportedContact",
        "badRevocationReason",   "alreadyRevoked", "orderNotReady",  "compound",
        "invalidProfile"};
    static const std::set<std::string, std::less<>> noPerm{"unauthorized", "accountDoesNotExist",
                                                           "userActionRequired"};
    static const std::set<std::string, std::less<>> unavailable{"caa", "dns", "connection",
                                                                "incorrectResponse", "tls"};
    const std::string name = shortType(type);
    if (tempFail.contains(name) || status == 429 || status == 503) {
        return Exit::TempFail;
    }
    if (name == "externalAccountRequired") {
        return Exit::Config;
    }
    if (noPerm.contains(name)) {
        return Exit::NoPerm;
    }
    if (dataErr.contains(name)) {
        return Exit::DataErr;
    }
    if (unavailable.contains(name)) {
        return Exit::Unavailable;
    }
    return status >= 500 ? Exit::TempFail : Exit::DataErr;
}

std::string describe(const Problem& p) {
    std::string out = p.type + (p.detail.empty() ? "" : ": " + p.detail);
    for (const auto& sub : p.subproblems) {
        out += "; " + sub;
    }
    return out;
}

std::optional<Problem> parseProblem(std::string_view body) {
    json::error_code ec;
    const json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) {
        return std::nullopt;
    }
    return problemOf(v.as_object());
}

namespace {

std::string toPem(const x509::Certificate& cert) {
    const ossl::X509Ptr x = x509::toX509(cert);
    ossl::Bio bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), x.get()) != 1) {
        throw Error(Exit::Software, "unable to encode a certificate as PEM");
    }
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

std::string csrPem(const std::vector<std::uint8_t>& der) {
    std::string b64(((der.size() + 2) / 3) * 4 + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), der.data(),
                                  static_cast<int>(der.size()));
    b64.resize(static_cast<std::size_t>(n));
    std::string out = "-----BEGIN CERTIFICATE REQUEST-----\n";
    for (std::size_t i = 0; i < b64.size(); i += 64) {
        out += b64.substr(i, 64) + "\n";
    }
    return out + "-----END CERTIFICATE REQUEST-----\n";
}

// The CN of a certificate's issuer (or subject), or the whole name when it has no CN.
std::string commonName(const x509::Certificate& cert, bool issuer) {
    const ossl::X509Ptr x = x509::toX509(cert);
    const X509_NAME* name = issuer ? X509_get_issuer_name(x.get()) : X509_get_subject_name(x.get());
    const int at = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (at < 0) {
        return issuer ? cert.issuer : cert.subject;
    }
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at));
    unsigned char* utf8 = nullptr;
    const int n = ASN1_STRING_to_UTF8(&utf8, data);
    if (n < 0) {
        return issuer ? cert.issuer : cert.subject;
    }
    std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(n));
    OPENSSL_free(utf8);
    return out;
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

std::string parentOf(const std::string& path) {
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) {
        return ".";
    }
    return slash == 0 ? "/" : path.substr(0, slash);
}

// A name as it goes into an order and a CSR: lower-case, no final dot.
std::string normalizeName(std::string name) {
    name = lower(name);
    while (!name.empty() && name.back() == '.') {
        name.pop_back();
    }
    return name;
}

// Shows what cdm waits for on one line of a terminal.
class Progress {
public:
    explicit Progress(bool on) : on_(on) {}
    ~Progress() { done(); }
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;
    void show(const std::string& text) {
        if (on_) {
            std::cerr << "\r\033[K" << text << std::flush;
            shown_ = true;
        }
    }
    void done() {
        if (shown_) {
            std::cerr << "\r\033[K" << std::flush;
            shown_ = false;
        }
    }

private:
    bool on_;
    bool shown_ = false;
};

// Removes what a solver published when it goes out of scope, also on an exception.
class Published {
public:
    Published(Solver& solver, const std::vector<Challenge>& challenges)
        : solver_(solver), challenges_(challenges) {}
    ~Published() { remove(); }
    Published(const Published&) = delete;
    Published& operator=(const Published&) = delete;
    void remove() noexcept {
        if (!removed_) {
            removed_ = true;
            solver_.remove(challenges_);
        }
    }

private:
    Solver& solver_;
    const std::vector<Challenge>& challenges_;
    bool removed_ = false;
};

} // namespace

// ---------------------------------------------------------------- challenges

std::string_view toString(ChallengeType type) {
    return type == ChallengeType::Dns01 ? "dns-01" : "http-01";
}

std::optional<ChallengeType> challengeTypeFromString(std::string_view text) {
    if (text == "dns-01") {
        return ChallengeType::Dns01;
    }
    if (text == "http-01") {
        return ChallengeType::Http01;
    }
    return std::nullopt;
}

std::string Challenge::dnsName() const {
    return "_acme-challenge." + domain + ".";
}

std::string Challenge::dnsValue() const {
    return jws::base64url(sha256(keyAuthorization));
}

std::string Challenge::httpPath() const {
    return "/.well-known/acme-challenge/" + token;
}

// ---------------------------------------------------------------- account, order, authorization

namespace {

Account accountFrom(const json::object& o, const std::string& url) {
    Account account;
    account.url = url;
    account.status = stringAt(o, "status");
    account.orders = stringAt(o, "orders");
    if (account.status != "valid") {
        throw Error(Exit::NoPerm,
                    "the account " + account.url + " is '" + account.status + "', not valid");
    }
    return account;
}

std::optional<Problem> errorOf(const json::object& o) {
    if (const auto* err = objectAt(o.if_contains("error"))) {
        return problemOf(*err);
    }
    return std::nullopt;
}

// Why the order at `url` did not become valid: the CA's reason when it gives one (§7.1.3).
Error orderFailure(const Order& order, const std::string& url) {
    if (const auto& p = order.error) {
        const Exit code = exitFor(p->type, 400);
        return Error(code == Exit::DataErr && shortType(p->type).empty() ? Exit::Unavailable : code,
                     "the order " + url + " is '" + order.status + "': " + describe(*p));
    }
    return Error(Exit::Unavailable, "the order " + url + " is '" + order.status + "'");
}

Order orderFrom(const json::object& o, const std::string& url) {
    Order order;
    order.status = stringAt(o, "status");
    order.error = errorOf(o);
    if (order.status == "invalid") {
        return order; // what else it holds does not matter any more
    }
    const auto* authzs = o.if_contains("authorizations");
    if (authzs == nullptr || !authzs->is_array()) {
        throw Error(Exit::DataErr, "the order " + url + " lists no authorizations");
    }
    for (const auto& a : authzs->as_array()) {
        if (a.is_string()) {
            order.authorizations.emplace_back(a.as_string());
        }
    }
    static const std::set<std::string, std::less<>> known{"pending", "ready", "processing",
                                                          "valid"};
    if (!known.contains(order.status)) {
        throw orderFailure(order, url);
    }
    order.finalize = stringAt(o, "finalize");
    order.certificate = stringAt(o, "certificate");
    order.profile = stringAt(o, "profile");
    if (order.status == "ready" && order.finalize.empty()) {
        throw Error(Exit::DataErr, "the order " + url + " has no finalize URL");
    }
    if (order.status == "valid" && order.certificate.empty()) {
        throw Error(Exit::DataErr, "the valid order " + url + " has no certificate URL");
    }
    return order;
}

Authorization authorizationFrom(const json::object& o, const std::string& url) {
    Authorization authz;
    // cdm orders dns identifiers only (§9.7.7); anything else is not an answer to its order.
    const auto* id = objectAt(o.if_contains("identifier"));
    authz.domain = id != nullptr ? normalizeName(stringAt(*id, "value")) : std::string{};
    if (id == nullptr || stringAt(*id, "type") != "dns" || authz.domain.empty()) {
        throw Error(Exit::DataErr,
                    "the authorization at '" + url + "' has no dns identifier with a value");
    }
    const auto* wc = o.if_contains("wildcard");
    authz.wildcard = wc != nullptr && wc->is_bool() && wc->as_bool();
    if (authz.domain.starts_with("*.")) {
        authz.domain = authz.domain.substr(2);
    }
    authz.status = stringAt(o, "status");
    if (const auto* list = o.if_contains("challenges"); list != nullptr && list->is_array()) {
        for (const auto& ch : list->as_array()) {
            const auto* co = ch.if_object();
            if (co == nullptr) {
                continue;
            }
            authz.challenges.push_back(Authorization::Offer{
                stringAt(*co, "type"), stringAt(*co, "url"), stringAt(*co, "token"),
                stringAt(*co, "status"), errorOf(*co)});
        }
    }
    return authz;
}

} // namespace

Account parseAccount(std::string_view body, const std::string& from, const std::string& url) {
    return accountFrom(objectOf(body, from, "the account"), url);
}

Order parseOrder(std::string_view body, const std::string& url) {
    return orderFrom(objectOf(body, url, "the order"), url);
}

Authorization parseAuthorization(std::string_view body, const std::string& url) {
    return authorizationFrom(objectOf(body, url, "an authorization"), url);
}

std::string Authorization::label() const {
    return (wildcard ? "*." : "") + domain;
}

std::optional<Challenge> challengeToAnswer(const Authorization& authz, const std::string& url,
                                           ChallengeType type, const std::string& thumbprint) {
    const std::string label = authz.label();
    if (authz.status == "valid") {
        return std::nullopt;
    }
    if (authz.status != "pending") {
        throw Error(Exit::Unavailable,
                    "the authorization of '" + label + "' is '" + authz.status + "' (" + url + ")");
    }
    const std::string wanted(toString(type));
    const auto found =
        std::find_if(authz.challenges.begin(), authz.challenges.end(),
                     [&](const Authorization::Offer& o) { return o.type == wanted; });
    if (found == authz.challenges.end()) {
        std::vector<std::string> offered;
        for (const auto& o : authz.challenges) {
            offered.push_back(o.type);
        }
        throw Error(Exit::Config,
                    "the CA offers no " + wanted + " challenge for '" + label + "' (only: " +
                        (offered.empty() ? std::string("none") : join(offered)) + ")");
    }
    // A token is base64url (§8.1); anything else would escape a file name or a record.
    if (found->token.empty() || found->url.empty() ||
        found->token.find_first_not_of(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
            std::string::npos) {
        throw Error(Exit::DataErr,
                    "the " + wanted + " challenge for '" + label + "' has no usable token or URL");
    }
    Challenge challenge;
    challenge.type = type;
    challenge.url = found->url;
    challenge.token = found->token;
    challenge.domain = authz.domain;
    challenge.wildcard = authz.wildcard;
    challenge.keyAuthorization = challenge.token + "." + thumbprint;
    return challenge;
}

// ---------------------------------------------------------------- directory, ARI, paths

Directory parseDirectory(std::string_view text, const std::string& url) {
    json::error_code ec;
    const json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) {
        throw Error(Exit::DataErr,
                    "the ACME directory at '" + url + "' is not a JSON object: " + snippet(text));
    }
    const auto& o = v.as_object();
    Directory d;
    d.url = url;
    auto required = [&](std::string_view key) {
        const auto* m = o.if_contains(key);
        if (m == nullptr || !m->is_string() || m->as_string().empty()) {
            throw Error(Exit::DataErr, "the ACME directory at '" + url + "' has no \"" +
                                           std::string(key) +
                                           "\" URL; is this an ACME (RFC 8555) server?");
        }
        return std::string(m->as_string());
    };
    d.newNonce = required("newNonce");
    d.newAccount = required("newAccount");
    d.newOrder = required("newOrder");
    d.revokeCert = stringAt(o, "revokeCert");
    d.keyChange = stringAt(o, "keyChange");
    d.renewalInfo = stringAt(o, "renewalInfo");
    if (const auto* meta = objectAt(o.if_contains("meta"))) {
        d.termsOfService = stringAt(*meta, "termsOfService");
        d.website = stringAt(*meta, "website");
        if (const auto* caa = meta->if_contains("caaIdentities");
            caa != nullptr && caa->is_array()) {
            for (const auto& id : caa->as_array()) {
                if (id.is_string()) {
                    d.caaIdentities.emplace_back(id.as_string());
                }
            }
        }
        if (const auto* ear = meta->if_contains("externalAccountRequired");
            ear != nullptr && ear->is_bool()) {
            d.externalAccountRequired = ear->as_bool();
        }
        if (const auto* profiles = objectAt(meta->if_contains("profiles"))) {
            for (const auto& [name, description] : *profiles) {
                d.profiles[std::string(name)] = description.is_string()
                                                    ? std::string(description.as_string())
                                                    : json::serialize(description);
            }
        }
    }
    return d;
}

std::string certId(const x509::Certificate& cert) {
    const ossl::X509Ptr x = x509::toX509(cert);
    const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(x.get());
    if (aki == nullptr || ASN1_STRING_length(aki) <= 0) {
        throw Error(Exit::DataErr,
                    "the certificate '" + cert.subject +
                        "' has no Authority Key Identifier, so it has no ARI certID");
    }
    const std::string keyId(reinterpret_cast<const char*>(ASN1_STRING_get0_data(aki)),
                            static_cast<std::size_t>(ASN1_STRING_length(aki)));
    // The serial: the content octets of its DER INTEGER, without tag and length (RFC 9773 §4.1).
    const auto der =
        ossl::encode(i2d_ASN1_INTEGER, const_cast<ASN1_INTEGER*>(X509_get0_serialNumber(x.get())));
    if (der.size() < 3) {
        throw Error(Exit::DataErr, "the certificate '" + cert.subject + "' has no serial number");
    }
    const std::size_t header = der[1] < 0x80 ? 2 : 2 + (der[1] & 0x7fU);
    const std::string serial(reinterpret_cast<const char*>(der.data() + header),
                             der.size() - header);
    return jws::base64url(keyId) + "." + jws::base64url(serial);
}

RenewalInfo parseRenewalInfo(std::string_view text, const std::string& url,
                             std::time_t retryAfter) {
    json::error_code ec;
    const json::value v = json::parse(text, ec);
    const auto bad = [&](const std::string& what) {
        return Error(Exit::DataErr, "the renewal information at '" + url + "' " + what);
    };
    if (ec || !v.is_object()) {
        throw bad("is not a JSON object: " + snippet(text));
    }
    const auto* window = objectAt(v.as_object().if_contains("suggestedWindow"));
    if (window == nullptr) {
        throw bad("has no \"suggestedWindow\"");
    }
    const auto start = parseRfc3339(stringAt(*window, "start"));
    const auto end = parseRfc3339(stringAt(*window, "end"));
    if (!start || !end) {
        throw bad("has a suggestedWindow without RFC 3339 \"start\" and \"end\"");
    }
    if (*end < *start) {
        throw bad("has a suggestedWindow that ends before it starts");
    }
    RenewalInfo info;
    info.start = *start;
    info.end = *end;
    info.explanationUrl = stringAt(v.as_object(), "explanationURL");
    info.retryAfter = retryAfter;
    return info;
}

std::string accountDir(const std::string& statedir, const std::string& directoryUrl) {
    std::string rest = directoryUrl;
    if (const auto scheme = rest.find("://"); scheme != std::string::npos) {
        rest = rest.substr(scheme + 3);
    }
    std::string authority = rest.substr(0, rest.find_first_of("/?#"));
    if (const auto at = authority.rfind('@'); at != std::string::npos) {
        authority = authority.substr(at + 1);
    }
    std::string host = authority;
    std::string port;
    if (authority.starts_with("[")) {
        const auto close = authority.find(']');
        host = authority.substr(1, close == std::string::npos ? std::string::npos : close - 1);
        if (close != std::string::npos && close + 1 < authority.size() &&
            authority[close + 1] == ':') {
            port = authority.substr(close + 2);
        }
    } else if (const auto colon = authority.rfind(':'); colon != std::string::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    host = lower(host);
    for (char& c : host) {
        if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '.' && c != '-') {
            c = '-';
        }
    }
    if (host.empty()) {
        host = "ca";
    }
    std::string name = host;
    if (!port.empty() && port.find_first_not_of("0123456789") == std::string::npos) {
        name += "_" + port;
    }
    name += "-" + hex(sha256(directoryUrl)).substr(0, 8);
    std::string dir = statedir;
    while (dir.size() > 1 && dir.back() == '/') {
        dir.pop_back();
    }
    return dir + "/acme/" + name;
}

// ---------------------------------------------------------------- the client

struct Client::Impl {
    explicit Impl(ClientOptions o)
        : options(std::move(o)), http(httpOptions(options)), progress(options.progress) {}

    static http::Options httpOptions(const ClientOptions& o) {
        http::Options h;
        h.caBundle = o.caBundle;
        h.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(o.requestTimeout);
        return h;
    }

    ClientOptions options;
    http::Client http;
    Progress progress;
    std::optional<Directory> dir;
    std::string nonce;
    std::string keyPath; // of `key`
    std::optional<keys::PrivateKey> key;
    Clock::time_point deadline = Clock::time_point::max();

    const Directory& directory() {
        if (dir) {
            return *dir;
        }
        const std::string& url = options.directoryUrl;
        if (url.empty()) {
            throw Error(Exit::Config, "no ACME directory URL");
        }
        http::Response r;
        try {
            r = http.request("GET", url, {"Accept: application/json"});
        } catch (const Error& e) {
            throw Error(e.code() == Exit::Usage ? Exit::Config : e.code(), e.message());
        }
        if (r.status != 200) {
            throw failure(r, "fetching the ACME directory", url);
        }
        dir = parseDirectory(r.body, url);
        log::debug("acme: directory " + url + (dir->renewalInfo.empty() ? "" : " (with ARI)") +
                   (dir->externalAccountRequired ? " (external account binding required)" : ""));
        return *dir;
    }

    void loadKey(const std::string& path) {
        if (key && keyPath == path) {
            return;
        }
        key = keys::PrivateKey::load(path);
        keyPath = path;
    }

    void freshNonce() {
        const std::string& url = directory().newNonce;
        const http::Response r = http.request("HEAD", url);
        const auto n = r.header("Replay-Nonce");
        if ((r.status != 200 && r.status != 204) || !n || n->empty()) {
            throw failure(r, "fetching a nonce", url);
        }
        nonce = *n;
    }

    // The Error for a failed request: the CA's problem document when it sent one.
    Error failure(const http::Response& r, const std::string& what, const std::string& url) const {
        std::string tail;
        if (const auto ra = r.header("Retry-After")) {
            if (const auto when = http::parseRetryAfter(*ra, std::time(nullptr))) {
                tail = "; try again after " + utc(*when);
            }
        }
        if (const auto p = problemOf(r)) {
            const Exit code = exitFor(p->type, r.status);
            if (tail.empty() && code == Exit::TempFail) {
                tail = "; try again later";
            }
            return Error(code, what + " at '" + url + "' failed (HTTP " + std::to_string(r.status) +
                                   "): " + describe(*p) + tail);
        }
        const Exit code = r.status >= 500 || r.status == 429 ? Exit::TempFail : Exit::Unavailable;
        if (tail.empty() && code == Exit::TempFail) {
            tail = "; try again later";
        }
        return Error(code, what + " at '" + url + "' failed: HTTP " + std::to_string(r.status) +
                               (r.body.empty() ? "" : ": " + snippet(r.body)) + tail);
    }

    // Sleep `wait` unless that passes the deadline; then the Error says when to try again.
    void pause(std::chrono::milliseconds wait, const std::string& what) {
        if (Clock::now() + wait > deadline) {
            const auto secs = std::chrono::duration_cast<std::chrono::seconds>(wait).count();
            throw Error(Exit::TempFail, "gave up waiting for " + what + " after " +
                                            std::to_string(options.patience.count()) +
                                            " s; try again after " +
                                            utc(std::time(nullptr) + std::max<long long>(secs, 1)));
        }
        std::this_thread::sleep_for(wait);
    }

    // How long a Retry-After header asks to wait; nullopt without one.
    static std::optional<std::chrono::milliseconds> retryAfter(const http::Response& r) {
        const auto ra = r.header("Retry-After");
        if (!ra) {
            return std::nullopt;
        }
        const std::time_t now = std::time(nullptr);
        const auto when = http::parseRetryAfter(*ra, now);
        if (!when) {
            return std::nullopt;
        }
        return std::chrono::milliseconds(std::max<std::time_t>(*when - now, 0) * 1000);
    }

    // A JWS POST, signed with the loaded key (kid: the account URL; empty: the JWK). `payload`
    // nullopt is POST-as-GET. badNonce is retried at once with the fresh nonce it carries,
    // 5xx after a backoff within the patience. The answer is returned whatever its status.
    http::Response send(const std::string& url, const std::optional<std::string>& payload,
                        const std::string& kid, bool pemChain = false) {
        std::chrono::milliseconds backoff{1000};
        for (unsigned attempt = 0;; ++attempt) {
            if (nonce.empty()) {
                freshNonce();
            }
            const std::string body = jws::sign(*key, url, nonce, kid, payload.value_or(""));
            nonce.clear();
            std::vector<std::string> headers{std::string(joseJson)};
            if (pemChain) {
                headers.emplace_back("Accept: application/pem-certificate-chain");
            }
            http::Response r = http.request("POST", url, headers, body);
            if (const auto n = r.header("Replay-Nonce")) {
                nonce = *n;
            }
            if (r.status < 400 || attempt >= options.retries) {
                return r;
            }
            const auto p = problemOf(r);
            const std::string type = p ? shortType(p->type) : "";
            if (type == "badNonce") {
                log::debug("acme: " + url + ": badNonce, retrying with the fresh nonce");
                continue;
            }
            if (r.status >= 500 && type != "rateLimited") {
                const auto wait = retryAfter(r).value_or(backoff);
                if (Clock::now() + wait > deadline) {
                    return r;
                }
                log::debug("acme: " + url + ": HTTP " + std::to_string(r.status) +
                           ", retrying in " + std::to_string(wait.count()) + " ms");
                std::this_thread::sleep_for(wait);
                backoff = std::min(backoff * 2, std::chrono::milliseconds(16000));
                continue;
            }
            return r;
        }
    }

    http::Response post(const std::string& url, const std::optional<std::string>& payload,
                        const std::string& kid, const std::string& what, bool pemChain = false) {
        http::Response r = send(url, payload, kid, pemChain);
        if (r.status >= 400) {
            throw failure(r, what, url);
        }
        return r;
    }

    static json::object object(const http::Response& r, const std::string& url,
                               const std::string& what) {
        return objectOf(r.body, url, what);
    }

    // POST-as-GET `url` until `status` is no longer one of `waiting`, honouring Retry-After;
    // without one poll fast first (0.25 s, doubling to 2 s): validation is often done in
    // well under a second.
    json::object poll(const std::string& url, const std::string& kid, const std::string& what,
                      std::initializer_list<std::string_view> waiting, json::object current,
                      std::optional<std::chrono::milliseconds> firstWait = std::nullopt) {
        std::chrono::milliseconds delay{250};
        const auto start = Clock::now();
        std::optional<std::chrono::milliseconds> wait = firstWait;
        for (;;) {
            const std::string status = stringAt(current, "status");
            if (std::find(waiting.begin(), waiting.end(), status) == waiting.end()) {
                progress.done();
                return current;
            }
            const auto step = wait.value_or(delay);
            if (!wait) {
                delay = std::min(delay * 2, std::chrono::milliseconds(2000));
            }
            const auto waited =
                std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
            std::array<char, 32> secs{};
            std::snprintf(secs.data(), secs.size(), "%.1f",
                          static_cast<double>(waited.count()) / 1000.0);
            progress.show("acme: waiting for " + what + " (" + status + ", " + secs.data() + " s)");
            pause(step, what);
            const http::Response r = post(url, std::nullopt, kid, "reading " + what);
            wait = retryAfter(r);
            current = object(r, url, what);
        }
    }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;

const Directory& Client::directory() {
    return impl_->directory();
}

std::size_t Client::requests() const {
    return impl_->http.requests();
}

Account Client::account(const AccountRequest& request) {
    Impl& c = *impl_;
    const Directory& d = c.directory();
    if (request.eabKid.empty() != request.eabHmacKey.empty()) {
        throw Error(Exit::Config, "External Account Binding needs both eab_kid and eab_hmac_key");
    }
    if (request.keyPath.empty()) {
        throw Error(Exit::Config, "no file for the ACME account key");
    }
    if (!exists(request.keyPath)) {
        keys::generate(keys::KeySpec{keys::Algorithm::EcdsaP256, 256}, request.keyPath);
        log::info("acme: new account key " + request.keyPath);
    }
    c.loadKey(request.keyPath);
    const json::object jwk = jws::jwk(c.key->publicKeyDer());

    // Found again by its key (RFC 8555 §7.3.1), so that a lost account.json costs nothing.
    http::Response r = c.send(d.newAccount, R"({"onlyReturnExisting":true})", "");
    bool created = false;
    if (r.status >= 400) {
        const auto p = problemOf(r);
        if (!p || shortType(p->type) != "accountDoesNotExist") {
            throw c.failure(r, "looking up the account", d.newAccount);
        }
        if (d.externalAccountRequired && request.eabKid.empty()) {
            throw Error(Exit::Config, "the CA at '" + d.url +
                                          "' requires External Account Binding: give eab_kid and "
                                          "eab_hmac_key (--eab-kid, --eab-hmac-key-file)");
        }
        json::object payload;
        payload["termsOfServiceAgreed"] = true;
        if (!request.contact.empty()) {
            json::array contact;
            for (const auto& ct : request.contact) {
                contact.emplace_back(ct);
            }
            payload["contact"] = std::move(contact);
        }
        if (!request.eabKid.empty()) {
            payload["externalAccountBinding"] =
                jws::externalAccountBinding(jwk, request.eabKid, request.eabHmacKey, d.newAccount);
        }
        r = c.post(d.newAccount, json::serialize(payload), "", "creating the account");
        created = true;
    }
    const auto location = r.header("Location");
    if (!location || location->empty()) {
        throw Error(Exit::DataErr,
                    "the CA at '" + d.newAccount + "' gave the account no URL (Location)");
    }
    Account account = parseAccount(r.body, d.newAccount, http::resolveUrl(d.newAccount, *location));
    account.keyPath = request.keyPath;
    log::info(std::string("acme: account ") + account.url + (created ? " created" : ""));

    // account.json beside the key: the URL for people and for cdm-cert caa's accounturi.
    const std::string file = parentOf(request.keyPath) + "/account.json";
    json::object record{{"url", account.url}, {"ca", d.url}};
    const std::string text = json::serialize(record) + "\n";
    std::string old;
    try {
        old = fsutil::readFile(file, 64 * 1024);
    } catch (const Error&) {
        old.clear();
    }
    if (old != text) {
        fsutil::writeFileAtomic(file, text, 0600);
    }
    return account;
}

Issued Client::issue(const Account& account, const OrderRequest& request, Solver& solver) {
    Impl& c = *impl_;
    c.deadline = Clock::now() + c.options.patience;
    const Directory& d = c.directory();
    if (request.names.empty()) {
        throw Error(Exit::Usage, "an order needs at least one name");
    }
    if (!request.profile.empty() && !d.profiles.contains(request.profile)) {
        std::vector<std::string> offered;
        for (const auto& [name, description] : d.profiles) {
            offered.push_back(name);
        }
        throw Error(
            Exit::Config,
            "the CA at '" + d.url + "' offers no profile '" + request.profile + "'" +
                (offered.empty() ? " (it offers none)" : " (it offers: " + join(offered) + ")"));
    }
    std::vector<std::string> names;
    for (const auto& n : request.names) {
        const std::string name = normalizeName(n);
        if (name.empty()) {
            throw Error(Exit::Usage, "an empty name in the order");
        }
        if (std::find(names.begin(), names.end(), name) == names.end()) {
            names.push_back(name);
        }
    }
    // The certificate's key first: a bad key file fails before anything is ordered.
    const keys::PrivateKey certKey = keys::PrivateKey::load(request.keyPath);
    const std::vector<std::uint8_t> csr = certKey.csr(names, request.mustStaple);
    c.loadKey(account.keyPath);
    const std::string& kid = account.url;
    const std::string thumbprint = jws::thumbprint(jws::jwk(c.key->publicKeyDer()));

    // newOrder (RFC 8555 §7.4)
    json::array identifiers;
    for (const auto& n : names) {
        identifiers.push_back(json::object{{"type", "dns"}, {"value", n}});
    }
    json::object payload{{"identifiers", std::move(identifiers)}};
    if (!request.profile.empty()) {
        payload["profile"] = request.profile;
    }
    if (!request.replaces.empty()) {
        payload["replaces"] = request.replaces;
    }
    log::info("acme: order for " + join(names) +
              (request.profile.empty() ? "" : " (profile " + request.profile + ")"));
    http::Response r = c.post(d.newOrder, json::serialize(payload), kid, "ordering " + join(names));
    const auto location = r.header("Location");
    if (!location || location->empty()) {
        throw Error(Exit::DataErr,
                    "the CA at '" + d.newOrder + "' gave the order no URL (Location)");
    }
    Issued issued;
    issued.orderUrl = http::resolveUrl(d.newOrder, *location);
    json::object orderObject = c.object(r, issued.orderUrl, "the order");
    Order order = orderFrom(orderObject, issued.orderUrl);
    if (order.status == "invalid") {
        throw Error(Exit::Unavailable,
                    "the CA made the order " + issued.orderUrl + " invalid at once");
    }

    // Authorizations: the valid ones need nothing; every pending one gets the solver's kind of
    // challenge, and the solver gets them all at once.
    struct Pending {
        std::string authzUrl;
        std::string domain;
    };
    std::vector<Challenge> challenges;
    std::vector<Pending> pending;
    const std::string wanted(toString(solver.type()));
    for (const auto& url : order.authorizations) {
        const Authorization authz =
            authorizationFrom(c.object(c.post(url, std::nullopt, kid, "reading an authorization"),
                                       url, "an authorization"),
                              url);
        auto challenge = challengeToAnswer(authz, url, solver.type(), thumbprint);
        if (!challenge) {
            log::info("acme: authorization " + authz.label() + " valid (from before)");
            continue;
        }
        challenges.push_back(std::move(*challenge));
        pending.push_back(Pending{url, authz.label()});
    }

    if (!challenges.empty()) {
        Published published(solver, challenges);
        std::vector<std::string> labels;
        for (const auto& p : pending) {
            labels.push_back(p.domain);
        }
        log::info("acme: publishing " + wanted + " for " + join(labels));
        solver.publish(challenges);
        // The patience is for the CA: DNS propagation has its own timeout inside publish().
        c.deadline = Clock::now() + c.options.patience;
        for (const auto& ch : challenges) {
            c.post(ch.url, "{}", kid,
                   "answering the " + wanted + " challenge of '" + ch.domain + "'");
        }
        for (const auto& p : pending) {
            const Authorization authz = authorizationFrom(
                c.poll(p.authzUrl, kid, "authorization " + p.domain, {"pending", "processing"},
                       json::object{{"status", "pending"}}, std::chrono::milliseconds(0)),
                p.authzUrl);
            if (authz.status != "valid") {
                std::string why;
                for (const auto& offer : authz.challenges) {
                    if (offer.type == wanted && offer.error) {
                        why = ": " + describe(*offer.error);
                    }
                }
                throw Error(Exit::Unavailable, "the " + wanted + " challenge of '" + p.domain +
                                                   "' failed (" + authz.status + ")" + why);
            }
            log::info("acme: authorization " + p.domain + " valid");
        }
        published.remove();
    }

    // Finalize (§7.4) once the order is ready.
    // Read again at once: with every authorization valid the order is usually ready already.
    orderObject = c.poll(issued.orderUrl, kid, "the order to become ready", {"pending"},
                         std::move(orderObject), std::chrono::milliseconds(0));
    if (!request.csrOut.empty()) {
        fsutil::writeFileAtomic(request.csrOut, csrPem(csr), 0644);
    }
    order = orderFrom(orderObject, issued.orderUrl);
    if (order.status == "ready") {
        log::info("acme: finalizing the order for " + join(names));
        r = c.post(order.finalize, json::serialize(json::object{{"csr", jws::base64url(csr)}}), kid,
                   "finalizing the order");
        orderObject = c.object(r, order.finalize, "the order");
        order = orderFrom(c.poll(issued.orderUrl, kid, "the certificate", {"processing", "ready"},
                                 std::move(orderObject), c.retryAfter(r)),
                          issued.orderUrl);
    }
    if (order.status != "valid") {
        throw orderFailure(order, issued.orderUrl);
    }
    issued.profile = order.profile;

    // Download (§7.4.2), and the alternates when another chain is preferred.
    const std::string& certUrl = order.certificate;
    r = c.post(certUrl, std::nullopt, kid, "downloading the certificate", true);
    auto chain = x509::parseChain(r.body, certUrl);
    std::string chosenUrl = certUrl;
    const auto topIssuer = [](const std::vector<x509::Certificate>& certs) {
        return commonName(certs.back(), true);
    };
    if (!request.preferredChain.empty() &&
        topIssuer(chain).find(request.preferredChain) == std::string::npos) {
        const auto alternates =
            http::linksWithRel(http::parseLinks(r.all("Link"), certUrl), "alternate");
        bool matched = false;
        for (const auto& alt : alternates) {
            const http::Response ar =
                c.post(alt, std::nullopt, kid, "downloading an alternate chain", true);
            auto altChain = x509::parseChain(ar.body, alt);
            if (topIssuer(altChain).find(request.preferredChain) != std::string::npos) {
                chain = std::move(altChain);
                chosenUrl = alt;
                matched = true;
                break;
            }
        }
        if (!matched) {
            log::warn("acme: no chain of " + std::to_string(alternates.size() + 1) +
                      " has a top issuer matching '" + request.preferredChain +
                      "', taking the default one");
        }
    }
    const std::set<std::string> leafNames = [&] {
        const auto dns = x509::dnsNames(chain.front());
        return std::set<std::string>(dns.begin(), dns.end());
    }();
    for (const auto& n : names) {
        if (!leafNames.contains(n)) {
            throw Error(Exit::DataErr,
                        "the certificate from '" + chosenUrl + "' does not name '" + n + "'");
        }
    }
    if (chain.front().spki != certKey.publicKeyDer()) {
        throw Error(Exit::DataErr,
                    "the certificate from '" + chosenUrl + "' is not for the requested key");
    }
    issued.url = chosenUrl;
    issued.chosenIssuer = commonName(chain.back(), false);
    issued.certPem = toPem(chain.front());
    for (std::size_t i = 1; i < chain.size(); ++i) {
        issued.chainPem += toPem(chain[i]);
    }
    issued.fullchainPem = issued.certPem + issued.chainPem;
    log::info("acme: certificate for " + join(names) + " issued by " +
              commonName(chain.front(), true) + " (" + std::to_string(c.http.requests()) +
              " requests)");
    return issued;
}

std::optional<RenewalInfo> Client::renewalInfo(const x509::Certificate& cert) {
    Impl& c = *impl_;
    const Directory& d = c.directory();
    if (d.renewalInfo.empty()) {
        return std::nullopt;
    }
    std::string base = d.renewalInfo;
    while (!base.empty() && base.back() == '/') {
        base.pop_back();
    }
    const std::string url = base + "/" + certId(cert);
    const http::Response r = c.http.request("GET", url, {"Accept: application/json"});
    if (r.status == 404) {
        return std::nullopt;
    }
    if (r.status != 200) {
        throw c.failure(r, "asking for renewal information", url);
    }
    std::time_t retry = 0;
    if (const auto ra = r.header("Retry-After")) {
        retry = http::parseRetryAfter(*ra, std::time(nullptr)).value_or(0);
    }
    return parseRenewalInfo(r.body, url, retry);
}

} // namespace cdm::acme
