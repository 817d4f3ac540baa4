// Tests of libcommon/caa: the CAA issue records a CA asks for (RFC 8659, RFC 8657 accounturi
// and validationmethods), and the filling of "caa:NAME" placeholders in a document. The
// expected texts follow the examples of RFC 8657 §3 and §4. The Lookup is the function the
// phase gives fill(); here it answers as a CA directory with meta.caaIdentities would.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "libcommon/caa.hpp"
#include "libcommon/document.hpp"
#include "libcommon/error.hpp"
#include "libcommon/record.hpp"

#include "test_util.hpp"

using cdm::Error;
using cdm::Exit;
using cdm::Location;
using cdm::caa::CaFacts;
using cdm::caa::Pin;
using cdm::test::codeOf;
using testing::ElementsAre;
using testing::HasSubstr;
namespace json = boost::json;

TEST(CaaRecordData, Rfc8657Forms) {
    struct Row {
        const char* desc;
        const char* identity;
        const char* account;
        std::vector<std::string> methods;
        const char* expected;
    };
    const Row rows[] = {
        {"no parameter", "letsencrypt.org", "", {}, R"(0 issue "letsencrypt.org")"},
        {"RFC 8657 §3 example",
         "example.net",
         "https://example.net/account/1234",
         {},
         R"(0 issue "example.net; accounturi=https://example.net/account/1234")"},
        {"RFC 8657 §4 example",
         "example.net",
         "",
         {"dns-01"},
         R"(0 issue "example.net; validationmethods=dns-01")"},
        {"both, accounturi first",
         "example.net",
         "https://example.net/acme/acct/7",
         {"dns-01", "http-01"},
         R"(0 issue "example.net; accounturi=https://example.net/acme/acct/7; validationmethods=dns-01,http-01")"},
        {"identity lower-cased", "LetsEncrypt.ORG", "", {}, R"(0 issue "letsencrypt.org")"},
    };
    for (const auto& row : rows) {
        const std::string data = cdm::caa::recordData(row.identity, row.account, row.methods);
        EXPECT_EQ(data, row.expected) << row.desc;
        EXPECT_EQ(cdm::record::canonical(cdm::record::Type::CAA, data), data)
            << row.desc << ": canonical form";
    }
}

TEST(CaaRecordData, RefusesWhatCaaCannotHold) {
    struct Row {
        const char* desc;
        const char* identity;
        const char* account;
        std::vector<std::string> methods;
        const char* message;
    };
    const Row rows[] = {
        {"empty identity", "", "", {}, "CAA issuer '' is not a domain name"},
        {"identity with a blank", "lets encrypt.org", "", {}, "is not a domain name"},
        {"identity with a leading hyphen", "-ca.test", "", {}, "is not a domain name"},
        {"accounturi with ';'", "ca.test", "https://ca.test/a;b", {}, "holds a blank, ';' or '\"'"},
        {"accounturi with a blank", "ca.test", "https://ca.test/a b", {}, "holds a blank"},
        {"accounturi with a quote", "ca.test", "https://ca.test/\"", {}, "holds a blank"},
        {"method with a blank",
         "ca.test",
         "",
         {"dns 01"},
         "CAA validation method 'dns 01' is not a method name"},
    };
    for (const auto& row : rows) {
        std::string message;
        EXPECT_EQ(
            codeOf([&] { cdm::caa::recordData(row.identity, row.account, row.methods); }, &message),
            Exit::DataErr)
            << row.desc;
        EXPECT_THAT(message, HasSubstr(row.message)) << row.desc;
    }
}

TEST(CaaPins, ParsedInCanonicalOrder) {
    EXPECT_THAT(cdm::caa::parsePins("accounturi, validationmethods", {}),
                ElementsAre(Pin::AccountUri, Pin::ValidationMethods));
    EXPECT_THAT(cdm::caa::parsePins("ValidationMethods accounturi,accounturi", {}),
                ElementsAre(Pin::AccountUri, Pin::ValidationMethods));
    EXPECT_THAT(cdm::caa::parsePins("validationmethods", {}), ElementsAre(Pin::ValidationMethods));
    EXPECT_TRUE(cdm::caa::parsePins("", {}).empty());
    EXPECT_TRUE(cdm::caa::parsePins("none", {}).empty());
    std::string message;
    EXPECT_EQ(codeOf(
                  [] {
                      cdm::caa::parsePins("accounturi, iodef", Location{"c.conf", 7, {}});
                  },
                  &message),
              Exit::Config);
    EXPECT_EQ(message, "c.conf:7: caa pin 'iodef' is not accounturi or validationmethods");
    EXPECT_EQ(cdm::caa::toString(Pin::AccountUri), "accounturi");
    EXPECT_EQ(cdm::caa::toString(Pin::ValidationMethods), "validationmethods");
}

namespace {

// Two domains linking cert "main", one linking "other", and a CAA record written by hand.
json::object documentWithPlaceholders() {
    return cdm::document::parse(R"({"cdm": 1, "records": [
      {"name": "a.test.", "type": "CAA", "ttl": 300, "data": null, "op": "replace",
       "scope": {"name": "a.test.", "type": "CAA"}, "auto": "caa:main", "label": "CAA",
       "source": "a.conf:9", "section": "a.test"},
      {"name": "a.test.", "type": "A", "ttl": 300, "data": "192.0.2.1", "op": "replace",
       "scope": {"name": "a.test.", "type": "A"}, "label": "A", "source": "a.conf:8"},
      {"name": "b.test.", "type": "CAA", "ttl": 600, "data": null, "op": "add",
       "scope": {"name": "b.test.", "type": "CAA"}, "auto": "caa:main", "label": "CAA",
       "source": "a.conf:19", "section": "b.test"},
      {"name": "c.test.", "type": "CAA", "ttl": 600, "data": null, "op": "replace",
       "scope": {"name": "c.test.", "type": "CAA"}, "auto": "caa:other", "label": "CAA",
       "source": "a.conf:29", "section": "c.test"},
      {"name": "d.test.", "type": "CAA", "ttl": 600, "data": "0 issue \"own.ca\"", "op": "replace",
       "scope": {"name": "d.test.", "type": "CAA"}, "label": "CAA", "source": "a.conf:39"}]})",
                                "<test>");
}

} // namespace

TEST(CaaFill, OneRecordPerIdentityKeepingOpScopeAndSource) {
    json::object doc = documentWithPlaceholders();
    std::vector<std::string> asked;
    const auto lookup = [&](const std::string& cert) {
        asked.push_back(cert);
        CaFacts facts;
        facts.directoryUrl = "https://ca.test/dir";
        if (cert == "main") {
            facts.caaIdentities = {"ca.test", "ca-alias.test"};
            facts.accountUrl = "https://ca.test/acct/42";
            facts.challenge = "dns-01";
            facts.pins = {Pin::AccountUri, Pin::ValidationMethods};
        } else {
            facts.caaIdentities = {"other.test"};
        }
        return facts;
    };
    EXPECT_EQ(cdm::caa::fill(doc, lookup), 3U);
    EXPECT_THAT(asked, ElementsAre("main", "other")) << "each cert section is looked up once";
    const auto records = cdm::document::records(doc, "<test>");
    ASSERT_EQ(records.size(), 7U);
    const std::string pinned = "; accounturi=https://ca.test/acct/42; validationmethods=dns-01\"";
    EXPECT_EQ(records[0].name, "a.test.");
    EXPECT_EQ(*records[0].data, "0 issue \"ca.test" + pinned);
    EXPECT_EQ(*records[1].data, "0 issue \"ca-alias.test" + pinned);
    for (const auto& r : {records[0], records[1]}) {
        EXPECT_EQ(r.op, cdm::document::Op::Replace);
        EXPECT_EQ(r.ttl, 300U);
        EXPECT_EQ(r.source, "a.conf:9");
        EXPECT_EQ(r.section, "a.test");
        EXPECT_EQ(r.scope.name, "a.test.");
        EXPECT_TRUE(r.placeholder.empty());
    }
    EXPECT_EQ(records[2].type, cdm::record::Type::A) << "other records stay, in order";
    EXPECT_EQ(records[3].name, "b.test.");
    EXPECT_EQ(records[3].op, cdm::document::Op::Add);
    EXPECT_EQ(*records[4].data, "0 issue \"ca-alias.test" + pinned);
    EXPECT_EQ(*records[5].data, "0 issue \"other.test\"") << "no pins for cert:other";
    EXPECT_EQ(records[5].source, "a.conf:29");
    EXPECT_EQ(*records[6].data, "0 issue \"own.ca\"");
    EXPECT_FALSE(doc.at("records").as_array()[0].as_object().contains("auto"));
    EXPECT_EQ(cdm::caa::fill(doc, lookup), 0U) << "nothing left to fill";
}

TEST(CaaFill, ACaWithoutCaaIdentitiesIsAConfigErrorAtTheKey) {
    json::object doc = documentWithPlaceholders();
    const json::object before = doc;
    std::string message;
    const auto lookup = [](const std::string& cert) {
        CaFacts facts;
        facts.directoryUrl = "https://127.0.0.1:14000/dir";
        if (cert == "main") {
            facts.caaIdentities = {"ca.test"};
        }
        return facts;
    };
    EXPECT_EQ(codeOf([&] { cdm::caa::fill(doc, lookup); }, &message), Exit::Config);
    EXPECT_EQ(
        message,
        "a.conf:29: caa = auto: the CA 'https://127.0.0.1:14000/dir' of cert:other names no CAA "
        "identity (its directory has no meta.caaIdentities); write the CAA value instead of "
        "'auto'");
    EXPECT_EQ(doc, before) << "a failed fill changes nothing";
}

TEST(CaaFill, PinsNeedTheirFactsAndLookupErrorsPassThrough) {
    json::object doc = documentWithPlaceholders();
    const json::object before = doc;
    std::string message;
    const auto noAccount = [](const std::string&) {
        CaFacts facts;
        facts.caaIdentities = {"ca.test"};
        facts.pins = {Pin::AccountUri};
        return facts;
    };
    EXPECT_EQ(codeOf([&] { cdm::caa::fill(doc, noAccount); }, &message), Exit::Config);
    EXPECT_THAT(message,
                HasSubstr("a.conf:9: caapin accounturi of cert:main needs the ACME account's URL"));
    const auto unreachable = [](const std::string&) -> CaFacts {
        throw Error(Exit::Unavailable, "unable to reach 'https://ca.test/dir'");
    };
    EXPECT_EQ(codeOf([&] { cdm::caa::fill(doc, unreachable); }, &message), Exit::Unavailable);
    EXPECT_EQ(doc, before);
}

TEST(CaaFill, RefusesAPlaceholderOnAnotherType) {
    json::object doc = cdm::document::parse(R"({"cdm": 1, "records": [
      {"name": "a.test.", "type": "TXT", "data": null, "op": "replace", "auto": "caa:main"}]})",
                                            "<test>");
    std::string message;
    EXPECT_EQ(codeOf([&] { cdm::caa::fill(doc, [](const std::string&) { return CaFacts{}; }); },
                     &message),
              Exit::DataErr);
    EXPECT_THAT(message, HasSubstr("records[0]: a 'caa:' placeholder on a TXT record"));
}
