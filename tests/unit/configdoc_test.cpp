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
