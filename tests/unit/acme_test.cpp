#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <set>
#include <spawn.h>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <boost/json.hpp>
#include <openssl/evp.h>

#include "libcommon/acme.hpp"
#include "libcommon/http.hpp"
#include "libcommon/jws.hpp"
#include "libcommon/keys.hpp"
#include "libcommon/x509.hpp"

#include "test_util.hpp"

extern char** environ;

namespace {

using cdm::Exit;
using cdm::test::codeOf;
namespace acme = cdm::acme;
namespace fs = std::filesystem;
namespace json = boost::json;

std::string tempDir() {
    std::string tmpl = (fs::temp_directory_path() / "cdm-acme-test.XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
        throw std::runtime_error("unable to make a temporary directory");
    }
    return tmpl;
}

std::string run(const std::string& command) {
    std::string out;
    FILE* pipe = popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) {
        throw std::runtime_error("popen");
    }
    std::array<char, 4096> buffer{};
    std::size_t n = 0;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
        out.append(buffer.data(), n);
    }
    if (pclose(pipe) != 0) {
        throw std::runtime_error(command + ": " + out);
    }
    return out;
}

// ---------------------------------------------------------------- directory

TEST(AcmeDirectory, ParsesResourcesAndMeta) {
    const auto d = acme::parseDirectory(R"({
      "newNonce": "https://ca.test/nonce", "newAccount": "https://ca.test/acct",
      "newOrder": "https://ca.test/order", "revokeCert": "https://ca.test/revoke",
      "keyChange": "https://ca.test/kc", "renewalInfo": "https://ca.test/ari",
      "meta": {"termsOfService": "https://ca.test/tos", "website": "https://ca.test/",
               "caaIdentities": ["ca.test", "ca.example"], "externalAccountRequired": true,
               "profiles": {"classic": "the usual", "shortlived": "7 days"}}})",
                                        "https://ca.test/dir");
    EXPECT_EQ(d.url, "https://ca.test/dir");
    EXPECT_EQ(d.newNonce, "https://ca.test/nonce");
    EXPECT_EQ(d.newAccount, "https://ca.test/acct");
    EXPECT_EQ(d.newOrder, "https://ca.test/order");
    EXPECT_EQ(d.revokeCert, "https://ca.test/revoke");
    EXPECT_EQ(d.keyChange, "https://ca.test/kc");
    EXPECT_EQ(d.renewalInfo, "https://ca.test/ari");
    EXPECT_EQ(d.termsOfService, "https://ca.test/tos");
    EXPECT_EQ(d.caaIdentities, (std::vector<std::string>{"ca.test", "ca.example"}));
    EXPECT_TRUE(d.externalAccountRequired);
    EXPECT_EQ(d.profiles.size(), 2U);
    EXPECT_EQ(d.profiles.at("shortlived"), "7 days");
}

TEST(AcmeDirectory, MinimalDirectoryHasNoExtras) {
    const auto d = acme::parseDirectory(R"({"newNonce":"n","newAccount":"a","newOrder":"o"})", "u");
    EXPECT_TRUE(d.renewalInfo.empty());
    EXPECT_TRUE(d.caaIdentities.empty());
    EXPECT_FALSE(d.externalAccountRequired);
    EXPECT_TRUE(d.profiles.empty());
}

TEST(AcmeDirectory, MissingResourcesOrNotJsonAreDataErrors) {
    for (const char* bad : {R"({"newNonce":"n","newAccount":"a"})",
                            R"({"newNonce":"n","newAccount":"a","newOrder":5})", "[]",
                            "<html>not found</html>", ""}) {
        std::string message;
        EXPECT_EQ(codeOf([&] { acme::parseDirectory(bad, "https://ca.test/dir"); }, &message),
                  Exit::DataErr)
            << bad;
        EXPECT_NE(message.find("https://ca.test/dir"), std::string::npos) << message;
    }
}

TEST(AcmeProblem, ParsesTypeDetailAndSubproblems) {
    const auto p = acme::parseProblem(
        R"({"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"no",
            "subproblems":[{"type":"urn:ietf:params:acme:error:caa","detail":"CAA forbids",
                            "identifier":{"type":"dns","value":"www.ca.test"}}, 5]})");
    ASSERT_TRUE(p);
    EXPECT_EQ(acme::describe(*p), "urn:ietf:params:acme:error:rejectedIdentifier: no; "
                                  "www.ca.test: urn:ietf:params:acme:error:caa: CAA forbids");
    EXPECT_EQ(acme::exitFor(p->type, 400), Exit::DataErr);
    EXPECT_EQ(acme::exitFor("urn:ietf:params:acme:error:rateLimited", 400), Exit::TempFail);
    for (const char* notProblem : {"", "[]", R"({"detail":"no type"})", R"({"type":5})", "<html>"}) {
        EXPECT_FALSE(acme::parseProblem(notProblem)) << notProblem;
    }
}

// ---------------------------------------------------------------- ARI

TEST(AcmeRenewalInfo, ParsesTheWindow) {
    const auto info = acme::parseRenewalInfo(
        R"({"suggestedWindow":{"start":"2025-01-02T04:00:00Z","end":"2025-01-03T04:00:00.123456Z"},
            "explanationURL":"https://ca.test/why"})",
        "https://ca.test/ari/x", 77);
    EXPECT_EQ(info.start, 1735790400);
    EXPECT_EQ(info.end, 1735790400 + 86400);
    EXPECT_EQ(info.explanationUrl, "https://ca.test/why");
    EXPECT_EQ(info.retryAfter, 77);
    const auto offset = acme::parseRenewalInfo(
        R"({"suggestedWindow":{"start":"2025-01-02T06:00:00+02:00","end":"2025-01-02T03:30:00-00:30"}})",
        "u", 0);
    EXPECT_EQ(offset.start, 1735790400);
    EXPECT_EQ(offset.end, 1735790400);
}

TEST(AcmeRenewalInfo, BadWindowsAreDataErrors) {
    for (const char* bad :
         {"{}", R"({"suggestedWindow":{"start":"2025-01-02T04:00:00Z"}})",
          R"({"suggestedWindow":{"start":"yesterday","end":"2025-01-02T04:00:00Z"}})",
          R"({"suggestedWindow":{"start":"2025-01-03T04:00:00Z","end":"2025-01-02T04:00:00Z"}})",
          "not json"}) {
        std::string message;
        EXPECT_EQ(
            codeOf([&] { acme::parseRenewalInfo(bad, "https://ca.test/ari/x", 0); }, &message),
            Exit::DataErr)
            << bad;
        EXPECT_NE(message.find("https://ca.test/ari/x"), std::string::npos) << message;
    }
}

// RFC 9773 §4.1's example: keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:
// DE:01:C8:D4 and serial 00:87:65:43:21 give "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE". The
// certificate is made here with the openssl command: a CA with that subject key identifier
// issues a leaf with that serial.
TEST(AcmeRenewalInfo, CertIdOfRfc9773Example) {
    const std::string dir = tempDir();
    run("cd '" + dir +
        "' && "
        "printf "
        "'subjectKeyIdentifier=69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4\\n"
        "basicConstraints=critical,CA:TRUE\\n' > ca.ext && "
        "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -subj "
        "'/CN=ari ca' -out ca.csr && "
        "openssl x509 -req -in ca.csr -signkey ca.key -extfile ca.ext -days 2 -out ca.pem && "
        "printf 'authorityKeyIdentifier=keyid:always\\n' > leaf.ext && "
        "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key "
        "-subj '/CN=leaf' -out leaf.csr && "
        "openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -set_serial 0x87654321 -extfile "
        "leaf.ext -days 2 "
        "-out leaf.pem");
    const auto leaf = cdm::x509::loadChain(dir + "/leaf.pem").front();
    EXPECT_EQ(acme::certId(leaf), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    // The CA certificate itself has no AKI.
    const auto ca = cdm::x509::loadChain(dir + "/ca.pem").front();
    EXPECT_EQ(codeOf([&] { acme::certId(ca); }), Exit::DataErr);
    fs::remove_all(dir);
}

// ---------------------------------------------------------------- small parts

TEST(AcmeAccountDir, HostPortAndHashOfTheUrl) {
    const std::string url = "https://127.0.0.1:14000/dir";
    // The hash computed here with OpenSSL, independently.
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    EVP_Digest(url.data(), url.size(), md.data(), &len, EVP_sha256(), nullptr);
    char hex[9];
    std::snprintf(hex, sizeof hex, "%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
    EXPECT_EQ(acme::accountDir("/var/lib/cdm", url),
              std::string("/var/lib/cdm/acme/127.0.0.1_14000-") + hex);
    const std::string le =
        acme::accountDir("/s/", "https://acme-v02.api.letsencrypt.org/directory");
    EXPECT_EQ(le.rfind("/s/acme/acme-v02.api.letsencrypt.org-", 0), 0U) << le;
    EXPECT_EQ(le.size(), std::string("/s/acme/acme-v02.api.letsencrypt.org-").size() + 8);
    // Two CAs never share a directory, even on one host.
    EXPECT_NE(acme::accountDir("/s", "https://ca.test/a/dir"),
              acme::accountDir("/s", "https://ca.test/b/dir"));
    EXPECT_EQ(acme::accountDir("/s", "https://[::1]:443/dir").rfind("/s/acme/--1_443-", 0), 0U);
}

TEST(AcmeChallenge, NamesValuesAndPaths) {
    acme::Challenge c;
    c.domain = "www.example.test";
    c.token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
    c.keyAuthorization = c.token + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
    EXPECT_EQ(c.dnsName(), "_acme-challenge.www.example.test.");
    EXPECT_EQ(c.httpPath(),
              "/.well-known/acme-challenge/evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA");
    // SHA-256 by OpenSSL, base64url by hand from OpenSSL's base64.
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    EVP_Digest(c.keyAuthorization.data(), c.keyAuthorization.size(), md.data(), &len, EVP_sha256(),
               nullptr);
    std::string b64(64, '\0');
    b64.resize(static_cast<std::size_t>(EVP_EncodeBlock(
        reinterpret_cast<unsigned char*>(b64.data()), md.data(), static_cast<int>(len))));
    for (char& ch : b64) {
        ch = ch == '+' ? '-' : ch == '/' ? '_' : ch;
    }
    b64.erase(b64.find('='));
    EXPECT_EQ(c.dnsValue(), b64);
    EXPECT_EQ(c.dnsValue().size(), 43U);
    EXPECT_EQ(acme::toString(acme::ChallengeType::Dns01), "dns-01");
    EXPECT_EQ(acme::toString(acme::ChallengeType::Http01), "http-01");
    EXPECT_EQ(acme::challengeTypeFromString("http-01"), acme::ChallengeType::Http01);
    EXPECT_EQ(acme::challengeTypeFromString("dns-01"), acme::ChallengeType::Dns01);
    EXPECT_FALSE(acme::challengeTypeFromString("tls-alpn-01"));
}

// ---------------------------------------------------------------- account, order, authorization

TEST(AcmeAccount, ParsesTheRfc8555Example) {
    // RFC 8555 §7.1.2, with the URL of §7.3's Location.
    const auto a = acme::parseAccount(R"({
      "status": "valid",
      "contact": ["mailto:cert-admin@example.org", "mailto:admin@example.org"],
      "termsOfServiceAgreed": true,
      "orders": "https://example.com/acme/orders/rzGoeA"})",
                                      "https://example.com/acme/new-account",
                                      "https://example.com/acme/acct/evOfKhNU60wg");
    EXPECT_EQ(a.url, "https://example.com/acme/acct/evOfKhNU60wg");
    EXPECT_EQ(a.status, "valid");
    EXPECT_EQ(a.orders, "https://example.com/acme/orders/rzGoeA");
    EXPECT_TRUE(a.keyPath.empty());
    // Boulder gives no orders URL; that is no reason to stop.
    EXPECT_TRUE(acme::parseAccount(R"({"status":"valid"})", "n", "u").orders.empty());
    EXPECT_TRUE(acme::parseAccount(R"({"status":"valid","orders":5})", "n", "u").orders.empty());
}

TEST(AcmeAccount, AnAccountThatIsNotValidIsNoPermAndNotJsonIsDataErr) {
    for (const char* bad : {R"({"status":"deactivated"})", R"({"status":"revoked"})",
                            R"({"status":"Valid"})", R"({"status":true})",
                            R"({"status":["valid"]})", R"({"orders":"https://ca.test/o"})", "{}"}) {
        std::string message;
        EXPECT_EQ(codeOf(
                      [&] {
                          acme::parseAccount(bad, "https://ca.test/new-acct",
                                             "https://ca.test/acct/1");
                      },
                      &message),
                  Exit::NoPerm)
            << bad;
        EXPECT_NE(message.find("the account https://ca.test/acct/1 is '"), std::string::npos)
            << message;
    }
    for (const char* bad : {"", "[]", "\"valid\"", "<html>", R"({"status":"valid")"}) {
        std::string message;
        EXPECT_EQ(
            codeOf([&] { acme::parseAccount(bad, "https://ca.test/new-acct", "u"); }, &message),
            Exit::DataErr)
            << bad;
        EXPECT_NE(message.find("the CA answered the account at 'https://ca.test/new-acct'"),
                  std::string::npos)
            << message;
    }
}

TEST(AcmeOrder, ParsesTheRfc8555Example) {
    // RFC 8555 §7.1.3 (with the certificate URL of §7.4.2 once valid).
    const std::string pending = R"({
      "status": "pending",
      "expires": "2016-01-05T14:09:07.99Z",
      "identifiers": [{"type": "dns", "value": "www.example.org"},
                      {"type": "dns", "value": "example.org"}],
      "notBefore": "2016-01-01T00:00:00Z",
      "notAfter": "2016-01-08T00:00:00Z",
      "authorizations": ["https://example.com/acme/authz/PAniVnsZcis",
                         "https://example.com/acme/authz/r4HqLzrSrpI"],
      "finalize": "https://example.com/acme/order/TOlocE8rfgo/finalize",
      "certificate": "https://example.com/acme/cert/mAt3xBGaobw"})";
    const auto o = acme::parseOrder(pending, "https://example.com/acme/order/TOlocE8rfgo");
    EXPECT_EQ(o.status, "pending");
    EXPECT_EQ(o.authorizations,
              (std::vector<std::string>{"https://example.com/acme/authz/PAniVnsZcis",
                                        "https://example.com/acme/authz/r4HqLzrSrpI"}));
    EXPECT_EQ(o.finalize, "https://example.com/acme/order/TOlocE8rfgo/finalize");
    EXPECT_EQ(o.certificate, "https://example.com/acme/cert/mAt3xBGaobw");
    EXPECT_TRUE(o.profile.empty());
    EXPECT_FALSE(o.error);

    const auto valid = acme::parseOrder(
        R"({"status":"valid","authorizations":["a", 7, null, "b"],"finalize":"f",
            "certificate":"c","profile":"shortlived"})",
        "o");
    EXPECT_EQ(valid.authorizations, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(valid.profile, "shortlived");
    for (const char* status : {"ready", "processing"}) {
        EXPECT_EQ(acme::parseOrder(std::string(R"({"status":")") + status +
                                       R"(","authorizations":[],"finalize":"f"})",
                                   "o")
                      .status,
                  status);
    }
    // An invalid order is read for its reason, whatever else it lacks.
    const auto invalid = acme::parseOrder(
        R"({"status":"invalid","error":{"type":"urn:ietf:params:acme:error:caa",
            "detail":"CAA forbids"}})",
        "o");
    EXPECT_EQ(invalid.status, "invalid");
    ASSERT_TRUE(invalid.error);
    EXPECT_EQ(acme::describe(*invalid.error), "urn:ietf:params:acme:error:caa: CAA forbids");
}

TEST(AcmeOrder, MissingMembersWrongTypesAndUnknownStatusAreErrors) {
    const std::string url = "https://ca.test/order/1";
    const struct {
        const char* body;
        Exit code;
        const char* message;
    } cases[] = {
        {R"({"status":"pending","finalize":"f"})", Exit::DataErr, "lists no authorizations"},
        {R"({"status":"pending","authorizations":"a","finalize":"f"})", Exit::DataErr,
         "lists no authorizations"},
        {R"({"status":"pending","authorizations":{"a":"b"}})", Exit::DataErr,
         "lists no authorizations"},
        {R"({"status":"ready","authorizations":[]})", Exit::DataErr, "has no finalize URL"},
        {R"({"status":"ready","authorizations":[],"finalize":5})", Exit::DataErr,
         "has no finalize URL"},
        {R"({"status":"valid","authorizations":[],"finalize":"f"})", Exit::DataErr,
         "the valid order https://ca.test/order/1 has no certificate URL"},
        {R"({"status":"valid","authorizations":[],"certificate":""})", Exit::DataErr,
         "has no certificate URL"},
        {R"({"status":"done","authorizations":[]})", Exit::Unavailable,
         "the order https://ca.test/order/1 is 'done'"},
        {R"({"status":"expired","authorizations":[]})", Exit::Unavailable, "is 'expired'"},
        {R"({"status":1,"authorizations":[]})", Exit::Unavailable, "is ''"},
        {R"({"authorizations":[]})", Exit::Unavailable, "is ''"},
        // The CA's reason decides the exit code, as for an invalid order.
        {R"({"status":"deactivated","authorizations":[],
             "error":{"type":"urn:ietf:params:acme:error:rateLimited","detail":"slow down"}})",
         Exit::TempFail, "is 'deactivated': urn:ietf:params:acme:error:rateLimited: slow down"},
        {"", Exit::DataErr, "the CA answered the order at 'https://ca.test/order/1' with"},
        {"[]", Exit::DataErr, "something other than a JSON object: []"},
        {"null", Exit::DataErr, "something other than a JSON object"},
    };
    for (const auto& c : cases) {
        std::string message;
        EXPECT_EQ(codeOf([&] { acme::parseOrder(c.body, url); }, &message), c.code) << c.body;
        EXPECT_NE(message.find(c.message), std::string::npos) << c.body << " -> " << message;
    }
}

const char* const rfc8555Authorization = R"({
  "status": "pending",
  "expires": "2016-01-02T14:09:30Z",
  "identifier": {"type": "dns", "value": "WWW.Example.ORG."},
  "challenges": [
    {"type": "http-01", "url": "https://example.com/acme/chall/prV_B7yEyA4",
     "token": "DGyRejmCefe7v4NfDGDKfA"},
    {"type": "dns-01", "url": "https://example.com/acme/chall/Rg5dV14Gh1Q",
     "token": "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"},
    {"type": "tls-alpn-01", "url": "https://example.com/acme/chall/lX8Rn1w7sIo",
     "token": "f5BMkJzD0ebzaKwlGsbJCAZ9yeTYc7A3CnmGs3dSvKo"},
    "not an object"
  ]})";

TEST(AcmeAuthorization, ParsesTheRfc8555ExampleAndChoosesTheSolversChallenge) {
    // RFC 8555 §7.1.4 and §8.3/§8.4 (the tls-alpn-01 one from RFC 8737).
    const std::string url = "https://example.com/acme/authz/PAniVnsZcis";
    const auto a = acme::parseAuthorization(rfc8555Authorization, url);
    EXPECT_EQ(a.domain, "www.example.org");
    EXPECT_FALSE(a.wildcard);
    EXPECT_EQ(a.label(), "www.example.org");
    EXPECT_EQ(a.status, "pending");
    ASSERT_EQ(a.challenges.size(), 3U);
    EXPECT_EQ(a.challenges[2].type, "tls-alpn-01");
    EXPECT_EQ(a.challenges[1].token, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA");

    const auto dns = acme::challengeToAnswer(a, url, acme::ChallengeType::Dns01, "THUMB");
    ASSERT_TRUE(dns);
    EXPECT_EQ(dns->type, acme::ChallengeType::Dns01);
    EXPECT_EQ(dns->url, "https://example.com/acme/chall/Rg5dV14Gh1Q");
    EXPECT_EQ(dns->keyAuthorization, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.THUMB");
    EXPECT_EQ(dns->dnsName(), "_acme-challenge.www.example.org.");
    const auto http = acme::challengeToAnswer(a, url, acme::ChallengeType::Http01, "THUMB");
    ASSERT_TRUE(http);
    EXPECT_EQ(http->httpPath(), "/.well-known/acme-challenge/DGyRejmCefe7v4NfDGDKfA");

    // A wildcard (§7.1.4: the value without "*.", "wildcard": true); a valid one needs nothing.
    const auto w = acme::parseAuthorization(
        R"({"status":"valid","identifier":{"type":"dns","value":"example.org"},"wildcard":true,
            "challenges":[{"type":"dns-01","url":"u","token":"t","status":"valid",
                           "validated":"2014-12-01T12:05:58.16Z"}]})",
        url);
    EXPECT_TRUE(w.wildcard);
    EXPECT_EQ(w.label(), "*.example.org");
    EXPECT_EQ(w.challenges.at(0).status, "valid");
    EXPECT_FALSE(acme::challengeToAnswer(w, url, acme::ChallengeType::Dns01, "T"));
    // A value that says "*." itself is read the same; "wildcard" that is not a bool is false.
    const auto star = acme::parseAuthorization(
        R"({"status":"pending","identifier":{"type":"dns","value":"*.Example.org"},
            "wildcard":"yes"})",
        url);
    EXPECT_EQ(star.domain, "example.org");
    EXPECT_FALSE(star.wildcard);
}

TEST(AcmeAuthorization, TheChallengesErrorIsKept) {
    const auto a = acme::parseAuthorization(
        R"({"status":"invalid","identifier":{"type":"dns","value":"a.test"},
            "challenges":[{"type":"http-01","url":"u","token":"t","status":"invalid",
              "error":{"type":"urn:ietf:params:acme:error:connection","detail":"refused"}}]})",
        "u");
    ASSERT_EQ(a.challenges.size(), 1U);
    ASSERT_TRUE(a.challenges[0].error);
    EXPECT_EQ(acme::describe(*a.challenges[0].error),
              "urn:ietf:params:acme:error:connection: refused");
}

TEST(AcmeAuthorization, MissingOrForeignIdentifiersAndNotJsonAreDataErrors) {
    const std::string url = "https://ca.test/authz/1";
    for (const char* bad : {
             R"({"status":"pending"})",
             R"({"status":"pending","identifier":"a.test"})",
             R"({"status":"pending","identifier":{"type":"dns"}})",
             R"({"status":"pending","identifier":{"type":"dns","value":""}})",
             R"({"status":"pending","identifier":{"type":"dns","value":"."}})",
             R"({"status":"pending","identifier":{"type":"dns","value":7}})",
             R"({"status":"pending","identifier":{"value":"a.test"}})",
             R"({"status":"pending","identifier":{"type":"ip","value":"192.0.2.1"}})",
             R"({"status":"pending","identifier":{"type":"DNS","value":"a.test"}})",
         }) {
        std::string message;
        EXPECT_EQ(codeOf([&] { acme::parseAuthorization(bad, url); }, &message), Exit::DataErr)
            << bad;
        EXPECT_NE(message.find("the authorization at 'https://ca.test/authz/1' has no dns "
                               "identifier"),
                  std::string::npos)
            << message;
    }
    for (const char* bad : {"", "[]", "<html>", R"({"status":"pending")"}) {
        std::string message;
        EXPECT_EQ(codeOf([&] { acme::parseAuthorization(bad, url); }, &message), Exit::DataErr)
            << bad;
        EXPECT_NE(message.find("the CA answered an authorization at 'https://ca.test/authz/1'"),
                  std::string::npos)
            << message;
    }
}

TEST(AcmeAuthorization, ChallengeToAnswerRejectsWhatCannotBeAnswered) {
    const std::string url = "https://ca.test/authz/1";
    const auto authz = [&](const std::string& status, const std::string& challenges) {
        return acme::parseAuthorization(R"({"status":)" + status +
                                            R"(,"identifier":{"type":"dns","value":"a.test"},
                                            "challenges":)" +
                                            challenges + "}",
                                        url);
    };
    const std::string dns = R"([{"type":"dns-01","url":"https://ca.test/c","token":"tok"}])";
    const struct {
        std::string status;
        std::string challenges;
        Exit code;
        const char* message;
    } cases[] = {
        // Statuses other than pending and valid (§7.1.6), also unknown or of the wrong type.
        {R"("invalid")", dns, Exit::Unavailable,
         "the authorization of 'a.test' is 'invalid' (https://ca.test/authz/1)"},
        {R"("deactivated")", dns, Exit::Unavailable, "is 'deactivated'"},
        {R"("expired")", dns, Exit::Unavailable, "is 'expired'"},
        {R"("revoked")", dns, Exit::Unavailable, "is 'revoked'"},
        {R"("ready")", dns, Exit::Unavailable, "is 'ready'"},
        {R"(1)", dns, Exit::Unavailable, "is ''"},
        {R"(null)", dns, Exit::Unavailable, "is ''"},
        // No challenge of the solver's type.
        {R"("pending")", R"([{"type":"http-01","url":"u","token":"t"},{"type":"tls-alpn-01"},
                            {"url":"u"}])",
         Exit::Config,
         "the CA offers no dns-01 challenge for 'a.test' (only: http-01, tls-alpn-01, )"},
        {R"("pending")", "[]", Exit::Config, "(only: none)"},
        {R"("pending")", R"({"type":"dns-01"})", Exit::Config, "(only: none)"},
        {R"("pending")", R"([{"type":["dns-01"],"url":"u","token":"t"}])", Exit::Config,
         "(only: )"},
        // Tokens that are not base64url, or no URL.
        {R"("pending")", R"([{"type":"dns-01","url":"u"}])", Exit::DataErr,
         "the dns-01 challenge for 'a.test' has no usable token or URL"},
        {R"("pending")", R"([{"type":"dns-01","url":"u","token":""}])", Exit::DataErr, "token"},
        {R"("pending")", R"([{"type":"dns-01","url":"u","token":5}])", Exit::DataErr, "token"},
        {R"("pending")", R"([{"type":"dns-01","url":"u","token":"../../etc/passwd"}])",
         Exit::DataErr, "token"},
        {R"("pending")", R"([{"type":"dns-01","url":"u","token":"a b"}])", Exit::DataErr, "token"},
        {R"("pending")", R"([{"type":"dns-01","url":"u","token":"YWJj="}])", Exit::DataErr,
         "token"},
        {R"("pending")", R"([{"type":"dns-01","token":"t"}])", Exit::DataErr, "or URL"},
        {R"("pending")", R"([{"type":"dns-01","url":null,"token":"t"}])", Exit::DataErr, "or URL"},
        // The first challenge of the type is the one taken.
        {R"("pending")", R"([{"type":"dns-01","url":"u","token":"a/b"},
                            {"type":"dns-01","url":"u","token":"good"}])",
         Exit::DataErr, "token"},
    };
    for (const auto& c : cases) {
        std::string message;
        EXPECT_EQ(codeOf(
                      [&] {
                          acme::challengeToAnswer(authz(c.status, c.challenges), url,
                                                  acme::ChallengeType::Dns01, "T");
                      },
                      &message),
                  c.code)
            << c.status << " " << c.challenges;
        EXPECT_NE(message.find(c.message), std::string::npos)
            << c.status << " " << c.challenges << " -> " << message;
    }
}

// ---------------------------------------------------------------- against a real Pebble

int freePort() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
}

// Debian's pebble on loopback ports of its own, with a throwaway HTTPS certificate, -strict,
// validating at once. `env` adds PEBBLE_* settings (PEBBLE_VA_ALWAYS_VALID=1 answers every
// challenge without looking; PEBBLE_WFE_NONCEREJECT=N rejects N % of good nonces).
class Pebble {
public:
    explicit Pebble(const std::vector<std::string>& env) : dir_(tempDir()) {
        run("cd '" + dir_ +
            "' && "
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
            "-out ca.pem "
            "-days 2 -subj '/CN=cdm acme test web CA' && "
            "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout web.key -out "
            "web.csr -subj /CN=localhost && "
            "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > "
            "web.ext && "
            "openssl x509 -req -in web.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
            "-extfile web.ext -out web.pem");
        port_ = freePort();
        mgmt_ = freePort();
        const int mgmt = mgmt_;
        std::ofstream(dir_ + "/pebble.json")
            << R"({"pebble":{"listenAddress":"127.0.0.1:)" << port_
            << R"(","managementListenAddress":"127.0.0.1:)" << mgmt << R"(","certificate":")"
            << dir_ << R"(/web.pem","privateKey":")" << dir_ << R"(/web.key","httpPort":)"
            << freePort() << R"(,"tlsPort":)" << freePort()
            << R"(,"ocspResponderURL":"","externalAccountBindingRequired":false}})";
        std::vector<std::string> envs{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_AUTHZREUSE=0",
                                      "PATH=/usr/bin:/bin"};
        envs.insert(envs.end(), env.begin(), env.end());
        std::vector<char*> envp;
        for (auto& e : envs) {
            envp.push_back(e.data());
        }
        envp.push_back(nullptr);
        std::vector<std::string> args{
            "pebble",  "-config",    dir_ + "/pebble.json",
            "-strict", "-dnsserver", "127.0.0.1:" + std::to_string(freePort())};
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 1, (dir_ + "/pebble.log").c_str(),
                                         O_WRONLY | O_CREAT, 0600);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        const int rc = posix_spawnp(&pid_, "pebble", &actions, nullptr, argv.data(), envp.data());
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) {
            throw std::runtime_error("unable to start pebble (is it installed?)");
        }
        cdm::http::Options o;
        o.caBundle = caBundle();
        cdm::http::Client probe(o);
        for (int i = 0; i < 200; ++i) {
            try {
                if (probe.request("GET", url()).status == 200) {
                    return;
                }
            } catch (const cdm::Error&) {
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        throw std::runtime_error("pebble did not start: " + log());
    }
    ~Pebble() {
        kill(pid_, SIGTERM);
        int status = 0;
        waitpid(pid_, &status, 0);
        fs::remove_all(dir_);
    }
    Pebble(const Pebble&) = delete;
    Pebble& operator=(const Pebble&) = delete;

    std::string url() const { return "https://127.0.0.1:" + std::to_string(port_) + "/dir"; }
    std::string management() const { return "https://127.0.0.1:" + std::to_string(mgmt_); }
    std::string caBundle() const { return dir_ + "/ca.pem"; }
    const std::string& dir() const { return dir_; }
    std::string log() const {
        std::ifstream in(dir_ + "/pebble.log");
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }

private:
    std::string dir_;
    int port_ = 0;
    int mgmt_ = 0;
    pid_t pid_ = 0;
};

// Records what it is asked to do; publishes nothing (Pebble's always-valid VA looks at nothing).
class RecordingSolver : public acme::Solver {
public:
    explicit RecordingSolver(acme::ChallengeType type, bool fail = false)
        : type_(type), fail_(fail) {}
    acme::ChallengeType type() const override { return type_; }
    void publish(const std::vector<acme::Challenge>& challenges) override {
        published.push_back(challenges);
        if (fail_) {
            throw cdm::Error(Exit::TempFail, "the records did not show up");
        }
    }
    void remove(const std::vector<acme::Challenge>& challenges) noexcept override {
        removed.push_back(challenges);
    }
    std::vector<std::vector<acme::Challenge>> published;
    std::vector<std::vector<acme::Challenge>> removed;

private:
    acme::ChallengeType type_;
    bool fail_;
};

class AcmePebble : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        // Half of all good nonces are refused, so that every run exercises the badNonce retry.
        pebble_ = new Pebble({"PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_WFE_NONCEREJECT=50"});
    }
    static void TearDownTestSuite() {
        delete pebble_;
        pebble_ = nullptr;
    }
    void SetUp() override { dir_ = tempDir(); }
    void TearDown() override { fs::remove_all(dir_); }
    acme::ClientOptions options() const {
        acme::ClientOptions o;
        o.directoryUrl = pebble_->url();
        o.caBundle = pebble_->caBundle();
        o.retries = 20;
        o.patience = std::chrono::seconds(30);
        return o;
    }
    static Pebble* pebble_;
    std::string dir_;
};
Pebble* AcmePebble::pebble_ = nullptr;

TEST_F(AcmePebble, DirectoryOfPebble) {
    acme::Client client(options());
    const auto& d = client.directory();
    EXPECT_EQ(d.url, pebble_->url());
    EXPECT_NE(d.newOrder.find("127.0.0.1"), std::string::npos);
    EXPECT_FALSE(d.externalAccountRequired);
    EXPECT_FALSE(d.termsOfService.empty());
}

TEST_F(AcmePebble, AccountIsCreatedOnceThenFoundByItsKey) {
    const std::string key = dir_ + "/state/acme/x/account.key";
    acme::AccountRequest request{key, {"mailto:admin@example.test"}, "", ""};
    std::string firstUrl;
    {
        cdm::test::LogCapture log;
        acme::Client client(options());
        const auto account = client.account(request);
        EXPECT_EQ(account.status, "valid");
        EXPECT_NE(log.all().find("created"), std::string::npos) << log.all();
        firstUrl = account.url;
    }
    struct stat st {};
    ASSERT_EQ(::stat(key.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600U);
    ASSERT_EQ(::stat((dir_ + "/state/acme/x").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700U);
    EXPECT_EQ(cdm::keys::algorithmOf(cdm::keys::publicKeyDer(key)),
              cdm::keys::Algorithm::EcdsaP256);
    std::ifstream in(dir_ + "/state/acme/x/account.json");
    const auto saved = json::parse(std::string(std::istreambuf_iterator<char>(in), {})).as_object();
    EXPECT_EQ(saved.at("url").as_string(), firstUrl);
    EXPECT_EQ(saved.at("ca").as_string(), pebble_->url());

    cdm::test::LogCapture log;
    acme::Client again(options());
    EXPECT_EQ(again.account(request).url, firstUrl);
    EXPECT_EQ(log.all().find("created"), std::string::npos) << log.all();
}

TEST_F(AcmePebble, IssueHandsEveryChallengeToTheSolverAtOnceAndRemovesThem) {
    acme::Client client(options());
    const auto account = client.account({dir_ + "/account.key", {}, "", ""});
    cdm::keys::generate({cdm::keys::Algorithm::EcdsaP256, 0}, dir_ + "/cert.key");
    RecordingSolver solver(acme::ChallengeType::Dns01);
    acme::OrderRequest order;
    order.names = {"www.example.test", "Example.TEST.", "*.shop.example.test"};
    order.keyPath = dir_ + "/cert.key";
    order.csrOut = dir_ + "/csr.pem";
    cdm::test::LogCapture log;
    cdm::log::setLevel(cdm::log::Level::Debug);
    const auto issued = client.issue(account, order, solver);
    cdm::log::setLevel(cdm::log::Level::Info);
    // This Pebble refuses half of all good nonces: with a dozen requests, some were retried
    // (the chance that none was refused is below 1 in 4000).
    EXPECT_NE(log.all().find("badNonce, retrying with the fresh nonce"), std::string::npos)
        << log.all();
    ASSERT_EQ(solver.published.size(), 1U);
    ASSERT_EQ(solver.published[0].size(), 3U);
    ASSERT_EQ(solver.removed.size(), 1U);
    EXPECT_EQ(solver.removed[0].size(), 3U);
    std::set<std::string> domains;
    for (const auto& c : solver.published[0]) {
        EXPECT_EQ(c.type, acme::ChallengeType::Dns01);
        EXPECT_EQ(c.keyAuthorization.rfind(c.token + ".", 0), 0U);
        EXPECT_EQ(
            c.keyAuthorization.substr(c.token.size() + 1),
            cdm::jws::thumbprint(cdm::jws::jwk(cdm::keys::publicKeyDer(dir_ + "/account.key"))));
        domains.insert((c.wildcard ? "*." : "") + c.domain);
    }
    EXPECT_EQ(domains,
              (std::set<std::string>{"www.example.test", "example.test", "*.shop.example.test"}));
    // The certificate: for the key, the names, and chained.
    const auto chain = cdm::x509::parseChain(issued.fullchainPem, "fullchain");
    ASSERT_GE(chain.size(), 2U);
    EXPECT_EQ(chain[0].spki, cdm::keys::publicKeyDer(dir_ + "/cert.key"));
    EXPECT_TRUE(cdm::x509::issued(chain[1], chain[0]));
    auto names = cdm::x509::dnsNames(chain[0]);
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"*.shop.example.test", "example.test",
                                               "www.example.test"}));
    EXPECT_EQ(cdm::x509::parseChain(issued.certPem, "cert").size(), 1U);
    EXPECT_EQ(cdm::x509::parseChain(issued.chainPem, "chain").size(), chain.size() - 1);
    EXPECT_EQ(issued.chosenIssuer.rfind("Pebble Intermediate CA", 0), 0U) << issued.chosenIssuer;
    EXPECT_EQ(cdm::x509::csrPublicKey(dir_ + "/csr.pem"), chain[0].spki);
    EXPECT_NE(log.all().find("acme: order for www.example.test, example.test, *.shop.example.test"),
              std::string::npos)
        << log.all();
    EXPECT_NE(log.all().find("acme: authorization www.example.test valid"), std::string::npos);
    // Pebble 2.4.0 has no ARI.
    EXPECT_FALSE(client.renewalInfo(chain[0]));
    EXPECT_GT(client.requests(), 8U);
}

TEST_F(AcmePebble, SolverFailureStillRemovesAndNothingIsFinalized) {
    acme::Client client(options());
    const auto account = client.account({dir_ + "/account.key", {}, "", ""});
    cdm::keys::generate({cdm::keys::Algorithm::Rsa, 2048}, dir_ + "/cert.key");
    RecordingSolver solver(acme::ChallengeType::Http01, true);
    acme::OrderRequest order;
    order.names = {"www.example.test"};
    order.keyPath = dir_ + "/cert.key";
    std::string message;
    EXPECT_EQ(codeOf([&] { client.issue(account, order, solver); }, &message), Exit::TempFail);
    EXPECT_EQ(message, "the records did not show up");
    EXPECT_EQ(solver.published.size(), 1U);
    EXPECT_EQ(solver.removed.size(), 1U);
}

TEST_F(AcmePebble, RejectedIdentifierIsADataErrorWithTheCasWords) {
    acme::Client client(options());
    const auto account = client.account({dir_ + "/account.key", {}, "", ""});
    cdm::keys::generate({cdm::keys::Algorithm::EcdsaP256, 0}, dir_ + "/cert.key");
    RecordingSolver solver(acme::ChallengeType::Dns01);
    acme::OrderRequest order;
    order.names = {"bad_name!.example.test"};
    order.keyPath = dir_ + "/cert.key";
    std::string message;
    const Exit code = codeOf([&] { client.issue(account, order, solver); }, &message);
    EXPECT_EQ(code, Exit::DataErr) << message;
    EXPECT_NE(message.find("urn:ietf:params:acme:error:"), std::string::npos) << message;
    EXPECT_TRUE(solver.published.empty());
}

TEST_F(AcmePebble, UnknownProfileIsAConfigErrorBeforeOrdering) {
    acme::Client client(options());
    const auto account = client.account({dir_ + "/account.key", {}, "", ""});
    cdm::keys::generate({cdm::keys::Algorithm::EcdsaP256, 0}, dir_ + "/cert.key");
    RecordingSolver solver(acme::ChallengeType::Dns01);
    acme::OrderRequest order{
        {"www.example.test"}, dir_ + "/cert.key", false, "shortlived", "", "", ""};
    std::string message;
    EXPECT_EQ(codeOf([&] { client.issue(account, order, solver); }, &message), Exit::Config);
    EXPECT_NE(message.find("'shortlived'"), std::string::npos) << message;
}

TEST_F(AcmePebble, UnreachableCaIsUnavailable) {
    acme::ClientOptions o = options();
    o.directoryUrl = "https://127.0.0.1:" + std::to_string(freePort()) + "/dir";
    acme::Client client(o);
    std::string message;
    EXPECT_EQ(codeOf([&] { client.directory(); }, &message), Exit::Unavailable);
    EXPECT_NE(message.find(o.directoryUrl), std::string::npos) << message;
    o.directoryUrl = "ftp://ca.test/dir";
    acme::Client bad(o);
    EXPECT_EQ(codeOf([&] { bad.directory(); }), Exit::Config);
}

// A Pebble that really validates: dns-01 answers nobody published fail with Pebble's
// detail, as exit 69.
TEST(AcmePebbleValidating, FailedChallengeIsUnavailableWithTheCasDetail) {
    Pebble pebble({"PEBBLE_WFE_NONCEREJECT=0"});
    const std::string dir = tempDir();
    acme::ClientOptions o;
    o.directoryUrl = pebble.url();
    o.caBundle = pebble.caBundle();
    o.patience = std::chrono::seconds(60);
    acme::Client client(o);
    const auto account = client.account({dir + "/account.key", {}, "", ""});
    cdm::keys::generate({cdm::keys::Algorithm::EcdsaP256, 0}, dir + "/cert.key");
    RecordingSolver solver(acme::ChallengeType::Dns01);
    acme::OrderRequest order;
    order.names = {"www.example.test"};
    order.keyPath = dir + "/cert.key";
    std::string message;
    EXPECT_EQ(codeOf([&] { client.issue(account, order, solver); }, &message), Exit::Unavailable);
    EXPECT_NE(message.find("dns-01 challenge of 'www.example.test' failed (invalid)"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("urn:ietf:params:acme:error:"), std::string::npos) << message;
    EXPECT_EQ(solver.removed.size(), 1U);
    fs::remove_all(dir);
}

// Pebble with alternate roots: each chain ends below a different root; the preferred one is
// found through Link rel="alternate" by its top issuer's CN, which Pebble's management API
// names (/roots/N).
TEST(AcmePebbleAlternates, PreferredChainIsTakenFromTheAlternates) {
    Pebble pebble(
        {"PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_ALTERNATE_ROOTS=2"});
    const std::string dir = tempDir();
    cdm::http::Options ho;
    ho.caBundle = pebble.caBundle();
    cdm::http::Client mgmt(ho);
    std::vector<std::string> roots;
    for (int i = 0; i < 3; ++i) {
        const auto r = mgmt.request("GET", pebble.management() + "/roots/" + std::to_string(i));
        ASSERT_EQ(r.status, 200);
        roots.push_back(cdm::x509::parseChain(r.body, "root").front().subject);
    }
    acme::ClientOptions o;
    o.directoryUrl = pebble.url();
    o.caBundle = pebble.caBundle();
    acme::Client client(o);
    const auto account = client.account({dir + "/account.key", {}, "", ""});
    cdm::keys::generate({cdm::keys::Algorithm::EcdsaP256, 0}, dir + "/cert.key");
    RecordingSolver solver(acme::ChallengeType::Dns01);
    acme::OrderRequest order;
    order.names = {"www.example.test"};
    order.keyPath = dir + "/cert.key";
    const auto plain = client.issue(account, order, solver);
    // The root CN of alternate 2, e.g. "Pebble Root CA 3a0b6c" from "CN=Pebble Root CA 3a0b6c".
    const std::string wanted = roots[2].substr(roots[2].find("CN=") + 3);
    // A substring is enough: the random suffix that tells Pebble's roots apart.
    order.preferredChain = wanted.substr(wanted.rfind(' ') + 1);
    const auto preferred = client.issue(account, order, solver);
    EXPECT_EQ(plain.url.find("/alternate/"), std::string::npos) << plain.url;
    EXPECT_NE(preferred.url.find("/alternate/2"), std::string::npos) << preferred.url;
    const auto chain = cdm::x509::parseChain(preferred.fullchainPem, "preferred");
    EXPECT_NE(chain.back().issuer.find(wanted), std::string::npos)
        << chain.back().issuer << " / " << wanted;
    // A name no chain has: the default chain, with a warning.
    order.preferredChain = "No Such Root";
    cdm::test::LogCapture log;
    const auto fallback = client.issue(account, order, solver);
    EXPECT_NE(log.all().find("no chain of 3 has a top issuer matching 'No Such Root'"),
              std::string::npos)
        << log.all();
    EXPECT_EQ(fallback.url.find("/alternate/"), std::string::npos) << fallback.url;
    fs::remove_all(dir);
}

} // namespace
