// Tests of libcommon/configdoc: configuration -> the document cdm-config prints.

#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libcommon/configdoc.hpp"

using cdm::Error;
using cdm::Exit;
using testing::HasSubstr;

namespace {

std::string writeFile(const std::string& name, const std::string& text) {
    const std::string path = testing::TempDir() + "/" + name;
    std::ofstream(path) << text;
    return path;
}

} // namespace

TEST(ConfigDoc, FilesMergeAndContentComesLast) {
    const auto a = writeFile("a.conf", "[cdm]\nstatedir = /a\n[domain:a.test]\nip4 = 192.0.2.1\n");
    const auto b = writeFile("b.conf", "[cdm]\nstatedir = /b\n");
    cdm::configdoc::Request req{{a, b}, std::string("[domain:a.test]  ip4 = 192.0.2.7")};
    const auto result = cdm::configdoc::run(req);
    const auto& cfg = result.document.at("config").as_object();
    EXPECT_EQ(cfg.at("cdm").at("DEFAULT").at("keys").at("statedir").as_string(), "/b");
    ASSERT_EQ(result.records.size(), 1U);
    EXPECT_EQ(*result.records[0].data, "192.0.2.7");
    EXPECT_EQ(result.records[0].source, "<config-content>:2");
    EXPECT_EQ(cfg.at("sources").as_array().size(), 3U);
}

TEST(ConfigDoc, SecretsNeverReachTheDocument) {
    cdm::configdoc::Request req{{}, std::string("[domain]  passwd = hunter2  user = me  [domain:a.test]  ip4 = 192.0.2.1")};
    const auto result = cdm::configdoc::run(req);
    const std::string text = cdm::document::serialize(result.document);
    EXPECT_EQ(text.find("hunter2"), std::string::npos);
    EXPECT_EQ(result.document.at("config").at("domain").at("a.test").at("keys").at("passwd").at("secret").as_string(),
              "<config-content>:2");
}

TEST(ConfigDoc, CertSectionsListTheirDomainsInConfigOrder) {
    cdm::configdoc::Request req{{}, std::string("[cert:main]  [domain:b.test]  cert = main  [domain:a.test]  cert = main")};
    const auto result = cdm::configdoc::run(req);
    const auto& domains = result.document.at("config").at("cert").at("main").at("domains").as_array();
    ASSERT_EQ(domains.size(), 2U);
    EXPECT_EQ(domains[0].as_string(), "b.test");
    EXPECT_EQ(domains[1].as_string(), "a.test");
}

TEST(ConfigDoc, BadInputChangesNothingAndNamesTheLine) {
    const auto bad = writeFile("bad.conf", "[domain:a.test]\nip4 = 192.0.2.1\nsrv = t.a.test:0:0:70000\n");
    try {
        cdm::configdoc::run({{bad}, std::nullopt});
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Exit::Config);
        EXPECT_THAT(e.what(), HasSubstr(bad + ":3"));
        EXPECT_THAT(e.what(), HasSubstr("70000"));
    }
    try {
        cdm::configdoc::run({{testing::TempDir() + "/missing.conf"}, std::nullopt});
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Exit::NoInput);
    }
}

TEST(ConfigDoc, DocumentParsesBack) {
    cdm::configdoc::Request req{{}, std::string("[domain:a.test]  mx = m.a.test:20  ip4 = auto  spf += a")};
    const auto result = cdm::configdoc::run(req);
    const auto doc = cdm::document::parse(cdm::document::serialize(result.document), "<stdin>");
    const auto records = cdm::document::records(doc, "<stdin>");
    ASSERT_EQ(records.size(), 3U);
    EXPECT_EQ(records[0].label, "SPF");
    EXPECT_EQ(records[1].placeholder, "ip4");
    EXPECT_EQ(*records[2].data, "20 m.a.test.");
    EXPECT_EQ(doc.at("report").as_array().size(), 1U);
}

// Every key that carries a credential in some section the configuration knows (the providers'
// passwd, apikey, tsig_secret and tfa_secret, ACME's eab_hmac_key, and any interpolation of
// one) is {"secret": "FILE:LINE"} in the document; the programs that need the value read it
// again from the file (issue 7).
TEST(ConfigDoc, EverySecretKeyIsReplacedByItsOriginAndCanBeReadAgain) {
    const auto path = writeFile("secrets.conf",
                                "[DEFAULT]\n"                                 // 1
                                "token = v-token-01\n"                        // 2
                                "[domain]\n"                                  // 3
                                "passwd = v-passwd-02\n"                      // 4
                                "[domain:a.test]\n"                           // 5
                                "handler = rfc2136\n"                         // 6
                                "tsig_secret = v-tsig-03\n"                   // 7
                                "apikey = v-apikey-04\n"                      // 8
                                "tfa_secret = v-tfa-05\n"                     // 9
                                "password = v-password-06\n"                  // 10
                                "api_key = v-api_key-07\n"                    // 11
                                "user = x%(tsig_secret)sy\n"                  // 12
                                "[cert:main]\n"                               // 13
                                "eab_kid = kid\n"                             // 14
                                "eab_hmac_key = v-eab-08\n");                 // 15
    const auto result = cdm::configdoc::run({{path}, std::nullopt});
    const std::string text = boost::json::serialize(result.document);
    for (const char* v : {"v-token-01", "v-passwd-02", "v-tsig-03", "v-apikey-04", "v-tfa-05",
                          "v-password-06", "v-api_key-07", "v-eab-08"}) {
        EXPECT_EQ(text.find(v), std::string::npos) << v << " is in the document";
    }
    const auto& cfg = result.document.at("config").as_object();
    const auto& domain = cfg.at("domain").at("a.test").at("keys").as_object();
    const struct {
        const char* key;
        std::string where;
    } rows[] = {
        {"tsig_secret", path + ":7"}, {"apikey", path + ":8"},     {"tfa_secret", path + ":9"},
        {"password", path + ":10"},   {"api_key", path + ":11"},   {"passwd", path + ":4"},
        {"token", path + ":2"},       {"user", path + ":12"},
    };
    for (const auto& row : rows) {
        ASSERT_TRUE(domain.contains(row.key)) << row.key;
        EXPECT_EQ(boost::json::serialize(domain.at(row.key)),
                  boost::json::serialize(boost::json::object{{"secret", row.where}}))
            << row.key;
    }
    EXPECT_EQ(domain.at("handler").as_string(), "rfc2136") << "other keys stay as they are";
    const auto& cert = cfg.at("cert").at("main").at("keys").as_object();
    EXPECT_EQ(boost::json::serialize(cert.at("eab_hmac_key")),
              boost::json::serialize(boost::json::object{{"secret", path + ":15"}}));

    using cdm::config::SectionType;
    EXPECT_EQ(cdm::configdoc::rereadSecret(result.document, SectionType::Cert, "main", "eab_hmac_key"),
              "v-eab-08");
    EXPECT_EQ(cdm::configdoc::rereadSecret(result.document, SectionType::Domain, "a.test", "user"),
              "xv-tsig-03y");
    EXPECT_EQ(cdm::configdoc::rereadSecret(result.document, SectionType::Domain, "a.test", "token"),
              "v-token-01");
}

TEST(ConfigDoc, ASecretFromConfigContentCannotBeReadAgain) {
    const auto result = cdm::configdoc::run(
        {{}, std::string("[cert:main]  eab_kid = kid  eab_hmac_key = v-eab")});
    try {
        cdm::configdoc::rereadSecret(result.document, cdm::config::SectionType::Cert, "main",
                                     "eab_hmac_key");
        ADD_FAILURE() << "read again from <config-content>";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Exit::Config);
        EXPECT_THAT(e.what(), HasSubstr("'eab_hmac_key' of [cert:main] comes from <config-content>:3, "
                                        "which cannot be read again; write it in a file and set "
                                        "eab_hmac_key_file"));
        EXPECT_THAT(e.what(), testing::Not(HasSubstr("v-eab")));
    }
}
