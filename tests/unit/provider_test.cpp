// Tests of libcommon/provider: the settings a provider reads from the document, secrets read
// back from the configuration, the registry, and RRset changes.

#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libcommon/configdoc.hpp"
#include "libcommon/provider.hpp"
#include "tests/unit/test_util.hpp"

using cdm::Exit;
using cdm::provider::RRsetChange;
using cdm::provider::Settings;
using cdm::record::Record;
using cdm::test::codeOf;
using testing::HasSubstr;

namespace {

class ProviderSettings : public testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("cdm-provider-test-" + std::to_string(::getpid()) + "-" +
                testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::string write(const std::string& name, const std::string& text) {
        const auto path = (dir_ / name).string();
        std::ofstream(path) << text;
        return path;
    }

    // The document cdm-config makes of `conf`, written to a file first.
    boost::json::object documentOf(const std::string& conf) {
        cdm::configdoc::Request request;
        request.files = {write("cdm.conf", conf)};
        return cdm::configdoc::run(request).document;
    }

    std::filesystem::path dir_;
};

} // namespace

TEST_F(ProviderSettings, ReadsTheSectionsKeysAndItsSecretBackFromTheFile) {
    const auto doc = documentOf("[domain]\nhandler = dnsuptools/inwx\nuser = me\npasswd = s3cr%%et\n\n"
                                "[domain:www.a.test]\nip4 = 192.0.2.1\n");
    // The document itself never holds the password.
    EXPECT_EQ(boost::json::serialize(doc).find("s3cr"), std::string::npos);
    const Settings s = Settings::fromDocument(doc, "www.a.test");
    EXPECT_EQ(s.handler, "inwx");
    EXPECT_EQ(s.get("user"), "me");
    EXPECT_FALSE(s.get("passwd"));
    EXPECT_EQ(s.secret("passwd"), "s3cr%et");
    EXPECT_FALSE(s.secret("apikey"));
    EXPECT_EQ(s.locate("user").line, 3U);
}

TEST_F(ProviderSettings, ASecretFromAFileWinsAndAnEmptyFileIsAnError) {
    const std::string keyFile = write("apikey", "k-123  \nsecond line\n");
    const auto doc = documentOf("[domain:www.a.test]\nhandler = powerdns\napikey_file = " + keyFile + "\n");
    const Settings s = Settings::fromDocument(doc, "www.a.test");
    EXPECT_EQ(s.secret("apikey"), "k-123");
    const auto empty = documentOf("[domain:www.a.test]\nhandler = powerdns\napikey_file = " + write("e", "\n") + "\n");
    std::string message;
    EXPECT_EQ(codeOf([&] { (void)Settings::fromDocument(empty, "www.a.test").secret("apikey"); }, &message), Exit::Config);
    EXPECT_THAT(message, HasSubstr("is empty"));
}

TEST_F(ProviderSettings, ASecretFromConfigContentCannotBeReadAgain) {
    cdm::configdoc::Request request;
    request.content = "[domain:www.a.test]  handler = inwx  passwd = x";
    const auto doc = cdm::configdoc::run(request).document;
    std::string message;
    EXPECT_EQ(codeOf([&] { (void)Settings::fromDocument(doc, "www.a.test").secret("passwd"); }, &message), Exit::Config);
    EXPECT_THAT(message, HasSubstr("passwd_file"));
}

TEST_F(ProviderSettings, NumbersAreCheckedAndHandlersComeFromTheRegistry) {
    const auto doc = documentOf("[domain:www.a.test]\nhandler = rfc2136\nport = 70000\n");
    const Settings s = Settings::fromDocument(doc, "www.a.test");
    std::string message;
    EXPECT_EQ(codeOf([&] { (void)s.number("port", 53, 1, 65535); }, &message), Exit::Config);
    EXPECT_THAT(message, HasSubstr("port '70000' is not a number from 1 to 65535"));
    EXPECT_EQ(s.number("timeout", 10, 1, 600), 10UL);
    EXPECT_EQ(cdm::provider::handlers(), (std::vector<std::string>{"inwx", "powerdns", "rfc2136", "zonefile"}));
    Settings unknown = s;
    unknown.handler = "bind";
    EXPECT_EQ(codeOf([&] { (void)cdm::provider::make(unknown); }, &message), Exit::Config);
    EXPECT_THAT(message, HasSubstr("unknown handler 'bind'"));
    EXPECT_EQ(codeOf([] { (void)Settings::fromDocument(cdm::document::empty(), "x.test"); }), Exit::DataErr);
}

TEST(ProviderRRsetChange, AddsDeletesAndTtl) {
    const Record a1 = Record::parseLine("a.test. 600 TXT \"v=spf1 \" \"-all\"");
    const Record a2 = Record::parseLine("a.test. 300 TXT \"v=spf1 -all\"");
    const Record b = Record::parseLine("a.test. 300 TXT \"other\"");
    const RRsetChange same{{"a.test.", cdm::record::Type::TXT}, {a1}, {a2}};
    EXPECT_TRUE(same.adds().empty());
    EXPECT_TRUE(same.deletes().empty());
    EXPECT_TRUE(same.ttlChanged());
    const RRsetChange swap{{"a.test.", cdm::record::Type::TXT}, {a1}, {b}};
    ASSERT_EQ(swap.adds().size(), 1U);
    EXPECT_EQ(swap.adds().front().data, "\"other\"");
    ASSERT_EQ(swap.deletes().size(), 1U);
    const RRsetChange gone{{"a.test.", cdm::record::Type::TXT}, {a1, b}, {}};
    EXPECT_EQ(gone.deletes().size(), 2U);
    EXPECT_FALSE(gone.ttlChanged());
}
