// What an ACME server sends back (libcommon/acme): the directory, the account, order and
// authorization objects (and the challenge cdm picks from one), renewal information, problem
// documents, and the headers cdm reads (Link, Retry-After, Location).

#include <algorithm>
#include <string>

#include "libcommon/acme.hpp"
#include "libcommon/error.hpp"
#include "libcommon/http.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace {

using namespace cdm;

const std::string base = "https://acme.example.test/dir";

void bodies(std::string_view text) {
    try {
        const acme::Directory d = acme::parseDirectory(text, base);
        fuzz::require(!d.newNonce.empty() && !d.newAccount.empty() && !d.newOrder.empty(),
                      "a parsed directory has its three required URLs");
    } catch (const Error&) {
    }
    try {
        const acme::RenewalInfo info = acme::parseRenewalInfo(text, base, 0);
        fuzz::require(info.start <= info.end, "a renewal window does not end before it starts");
    } catch (const Error&) {
    }
    if (const auto problem = acme::parseProblem(text)) {
        fuzz::require(!problem->type.empty(), "a problem has a type");
        acme::describe(*problem);
        for (long status : {400L, 403L, 429L, 500L, 503L}) {
            acme::exitFor(problem->type, status);
        }
    }
}

bool base64url(const std::string& text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_';
    });
}

// The objects issue() and account() read between requests (RFC 8555 §7.1.2-7.1.4).
void objects(std::string_view text) {
    try {
        const acme::Account a = acme::parseAccount(text, base, "https://acme.example.test/acct/1");
        fuzz::require(a.status == "valid", "an account that parses is valid");
    } catch (const Error&) {
    }
    try {
        const acme::Order o = acme::parseOrder(text, "https://acme.example.test/order/1");
        fuzz::require(o.status == "pending" || o.status == "ready" || o.status == "processing" ||
                          o.status == "valid" || o.status == "invalid",
                      "an order that parses has a status RFC 8555 defines");
        fuzz::require(o.status != "ready" || !o.finalize.empty(), "a ready order can be finalized");
        fuzz::require(o.status != "valid" || !o.certificate.empty(),
                      "a valid order has a certificate URL");
        fuzz::require(!o.error || !o.error->type.empty(), "an order's error has a type");
    } catch (const Error&) {
    }
    try {
        const std::string url = "https://acme.example.test/authz/1";
        const acme::Authorization a = acme::parseAuthorization(text, url);
        fuzz::require(!a.domain.empty() && !a.domain.starts_with("*.") && !a.domain.ends_with("."),
                      "an authorization names a domain without \"*.\" and final dot");
        fuzz::require(std::none_of(a.domain.begin(), a.domain.end(),
                                   [](char c) { return c >= 'A' && c <= 'Z'; }),
                      "an authorization's domain is lower-case");
        fuzz::require(a.label() == (a.wildcard ? "*." + a.domain : a.domain),
                      "a label is the domain, with \"*.\" for a wildcard");
        for (const auto type : {acme::ChallengeType::Dns01, acme::ChallengeType::Http01}) {
            try {
                const auto c = acme::challengeToAnswer(a, url, type, "THUMB");
                fuzz::require(c.has_value() == (a.status != "valid"),
                              "only a valid authorization needs no answer");
                if (!c) {
                    continue;
                }
                fuzz::require(a.status == "pending", "only a pending authorization is answered");
                fuzz::require(c->type == type, "the challenge is of the solver's type");
                fuzz::require(base64url(c->token) && !c->url.empty(),
                              "a challenge to answer has a base64url token and a URL");
                fuzz::require(c->keyAuthorization == c->token + ".THUMB",
                              "the key authorization is token.thumbprint");
                fuzz::require(c->domain == a.domain && c->wildcard == a.wildcard,
                              "the challenge is for the authorization's identifier");
                fuzz::require(c->dnsName() == "_acme-challenge." + a.domain + ".",
                              "the dns-01 record is under _acme-challenge of the domain");
                fuzz::require(c->httpPath().find_first_of("/.", 28) == std::string::npos,
                              "the http-01 path cannot leave /.well-known/acme-challenge/");
                const auto offered = std::find_if(a.challenges.begin(), a.challenges.end(),
                                                  [&](const acme::Authorization::Offer& o) {
                                                      return o.type == acme::toString(type);
                                                  });
                fuzz::require(offered != a.challenges.end() && offered->token == c->token &&
                                  offered->url == c->url,
                              "the challenge answered is the first one of its type");
            } catch (const Error&) {
            }
        }
    } catch (const Error&) {
    }
}

void headers(std::string_view text) {
    const std::string value(text);
    http::parseRetryAfter(value, 1700000000);
    http::parseHttpDate(value);
    const auto links = http::parseLinks({value}, base);
    http::linksWithRel(links, "alternate");
    try {
        http::resolveUrl(base, value);
    } catch (const Error&) {
    }
}

} // namespace

CDM_FUZZ_TARGET(acme) {
    cdm::fuzz::quiet();
    const std::string_view text = cdm::fuzz::text(data, size);
    bodies(text);
    objects(text);
    headers(text);
    return 0;
}
