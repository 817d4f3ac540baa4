// Tests of libcommon/dkimphase: a DKIM key's whole life through prepare, rollover and cleanup,
// with real key files in a temporary state directory.

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libcommon/configdoc.hpp"
#include "libcommon/dkimphase.hpp"
#include "libcommon/document.hpp"

using cdm::document::Op;
using testing::HasSubstr;
namespace json = boost::json;

namespace {

class DkimPhase : public testing::Test {
protected:
    void SetUp() override {
        dir_ = testing::TempDir() + "/dkimphase-" + std::to_string(::getpid());
        std::filesystem::remove_all(dir_);
        const std::string content = "[cdm]  statedir = " + dir_ + "/state  [dkim:mail]  handler = rspamd"
                                    "  keybasename = mail  keysize = 1024  keylocation = " + dir_ + "/deploy"
                                    "  keyname = dkim.key  signingconfdestinationfile = " + dir_ + "/conf/dkim_signing.conf"
                                    "  grace = 1h  revoked = 30m  [domain:a.test]  dkim = auto:mail"
                                    "  [domain:b.test]  dkim += auto:mail";
        doc_ = cdm::configdoc::run({{}, content}).document;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // Run a phase on a fresh copy of the records, keeping the material as cdm-phase would.
    std::vector<cdm::document::DesiredRecord> phase(const std::string& name, std::time_t now) {
        doc_["records"] = json::array{};
        last_ = cdm::dkimphase::run(doc_, name, now);
        return cdm::document::records(doc_, "<test>");
    }
    const json::object& material() { return doc_["material"].as_object()["dkim"].as_object()["mail"].as_object(); }
    std::string selector(const char* which) {
        return std::string(material().at(which).as_object().at("selector").as_string());
    }
    std::string keyFile(const char* which) {
        return std::string(material().at(which).as_object().at("key").as_string());
    }

    std::string dir_;
    json::object doc_;
    cdm::dkimphase::Summary last_;
};

unsigned modeOf(const std::string& path) {
    struct stat st {};
    ::stat(path.c_str(), &st);
    return st.st_mode & 07777U;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

} // namespace

TEST_F(DkimPhase, AKeyFromPrepareToDeletion) {
    const std::time_t t0 = 1700000000;
    auto records = phase("prepare", t0);
    EXPECT_EQ(last_.generated, 1U);
    EXPECT_EQ(selector("next"), "mail_1700000000") << "the original's keybasename_<unix time>";
    EXPECT_EQ(modeOf(keyFile("next")), 0600U);
    EXPECT_EQ(modeOf(dir_ + "/state/modules/dkim/mail"), 0700U);
    ASSERT_EQ(records.size(), 2U) << "one record for each linking domain";
    EXPECT_EQ(records[0].name, "mail_1700000000._domainkey.a.test.");
    EXPECT_EQ(records[1].name, "mail_1700000000._domainkey.b.test.");
    EXPECT_EQ(records[0].op, Op::Add) << "next stands beside current until cleanup";
    EXPECT_EQ(records[0].section, "a.test") << "cdm-dns-apply publishes through that section's provider";
    EXPECT_EQ(records[1].section, "b.test");
    EXPECT_THAT(*records[0].data, HasSubstr("v=DKIM1; k=rsa; p=MI"));
    const std::string firstKey = keyFile("next");

    phase("prepare", t0 + 60);
    EXPECT_EQ(last_.generated, 0U) << "a second prepare reuses the prepared key";

    records = phase("rollover", t0 + 7200);
    EXPECT_EQ(last_.deployed, 1U);
    // Each key its own file, named by its selector: the configuration's one rename switches
    // selector and key together (one file overwritten in place would not).
    const std::string firstDeployed = dir_ + "/deploy/mail_1700000000.key";
    EXPECT_EQ(slurp(firstDeployed), slurp(firstKey));
    EXPECT_EQ(modeOf(firstDeployed), 0600U);
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/deploy/dkim.key")) << "keyname is for set-ups without a signing configuration";
    const std::string conf = slurp(dir_ + "/conf/dkim_signing.conf");
    EXPECT_THAT(conf, HasSubstr("path = \"" + firstDeployed + "\";"));
    EXPECT_THAT(conf, HasSubstr("selector = \"mail_1700000000\";"));
    EXPECT_EQ(selector("current"), "mail_1700000000");
    EXPECT_FALSE(material().contains("next"));

    // The next cycle: a new key beside the current one, then the switch.
    const std::time_t t1 = t0 + 86400;
    records = phase("prepare", t1);
    ASSERT_EQ(records.size(), 4U) << "current and next, for both domains";
    phase("rollover", t1 + 7200);
    EXPECT_EQ(selector("previous"), "mail_1700000000");
    EXPECT_EQ(selector("current"), "mail_1700086400");
    EXPECT_THAT(slurp(dir_ + "/conf/dkim_signing.conf"), HasSubstr("path = \"" + dir_ + "/deploy/mail_1700086400.key\";"));
    EXPECT_TRUE(std::filesystem::exists(firstDeployed)) << "the old key stays deployed until cleanup removes it";

    // Cleanup inside the grace period keeps the old selector published as it was.
    records = phase("cleanup", t1 + 7200 + 60);
    const auto old = [&](const std::vector<cdm::document::DesiredRecord>& rs) {
        std::vector<cdm::document::DesiredRecord> out;
        for (const auto& r : rs) {
            if (r.name == "mail_1700000000._domainkey.a.test.") {
                out.push_back(r);
            }
        }
        return out;
    };
    ASSERT_EQ(old(records).size(), 1U);
    EXPECT_EQ(old(records)[0].op, Op::Add);
    EXPECT_THAT(*old(records)[0].data, HasSubstr("p=MI"));

    // After the grace period: revoked (empty p=), replacing the old key's record.
    records = phase("cleanup", t1 + 7200 + 3601);
    ASSERT_EQ(old(records).size(), 1U);
    EXPECT_EQ(old(records)[0].op, Op::Replace);
    EXPECT_EQ(*old(records)[0].data, "\"v=DKIM1; p=\"");
    EXPECT_TRUE(std::filesystem::exists(firstKey));

    // After the revocation period: deleted, with its key; the current key is untouched.
    records = phase("cleanup", t1 + 7200 + 3601 + 1801);
    ASSERT_EQ(old(records).size(), 1U);
    EXPECT_EQ(old(records)[0].op, Op::None);
    EXPECT_FALSE(std::filesystem::exists(firstKey));
    EXPECT_FALSE(std::filesystem::exists(firstDeployed));
    EXPECT_TRUE(std::filesystem::exists(dir_ + "/deploy/mail_1700086400.key"));
    EXPECT_FALSE(material().contains("previous"));
    EXPECT_EQ(selector("current"), "mail_1700086400");
}

// cdm-reload reloads a service when a key it serves was deployed in this run: the report
// names each section's event.
TEST_F(DkimPhase, ReportsEachSectionsEvent) {
    const std::time_t t0 = 1700000000;
    const auto events = [&](const char* event) {
        std::vector<std::string> out;
        for (const auto& e : doc_["report"].as_array()) {
            const auto& o = e.as_object();
            if (o.at("program") == "cdm-dkim" && o.at("event") == event) {
                out.push_back(std::string(o.at("dkim").as_string()) + " " +
                              std::string(o.at("selector").as_string()) + " " +
                              std::string(o.at("phase").as_string()));
            }
        }
        return out;
    };
    phase("prepare", t0);
    EXPECT_EQ(events("generated"), std::vector<std::string>{"mail mail_1700000000 prepare"});
    phase("prepare", t0 + 1);
    EXPECT_EQ(events("generated").size(), 1U) << "a kept key is not generated again";
    EXPECT_TRUE(events("deployed").empty());
    phase("rollover", t0 + 2);
    EXPECT_EQ(events("deployed"), std::vector<std::string>{"mail mail_1700000000 rollover"});
    phase("prepare", t0 + 3);
    phase("rollover", t0 + 4);
    phase("cleanup", t0 + 4 + 3600);
    EXPECT_EQ(events("revoked"), std::vector<std::string>{"mail mail_1700000000 cleanup"});
    phase("cleanup", t0 + 4 + 3600 + 1800);
    EXPECT_EQ(events("removed"), std::vector<std::string>{"mail mail_1700000000 cleanup"});
}

TEST_F(DkimPhase, CleanupTouchesOnlyTheOldSelectorsDkimRecords) {
    phase("prepare", 1700000000);
    phase("rollover", 1700000100);
    phase("prepare", 1700100000);
    phase("rollover", 1700100100);
    const auto records = phase("cleanup", 1700100100 + 3601);
    const cdm::record::Record unrelated[] = {
        {"_dmarc.sub.a.test.", cdm::record::Type::TXT, 600, "\"v=DMARC1;p=none\""},
        {"_acme-challenge.sub.a.test.", cdm::record::Type::TXT, 600, "\"token\""},
        {"mail_1700100000._domainkey.a.test.", cdm::record::Type::TXT, 600, "\"v=DKIM1; k=rsa; p=AAAA\""},
        {"other._domainkey.a.test.", cdm::record::Type::TXT, 600, "\"v=DKIM1; k=rsa; p=AAAA==\""},
        {"mail_1700000000._domainkey.a.test.", cdm::record::Type::TXT, 600, "\"not a key record\""},
    };
    std::size_t judged = 0;
    for (const auto& r : records) {
        if (r.op == Op::Add || r.name.find("a.test.") == std::string::npos || r.name.find("b.test") != std::string::npos) {
            continue;
        }
        ++judged;
        for (const auto& u : unrelated) {
            EXPECT_FALSE(r.scope.contains(u)) << r.name << " would touch " << u.name << " " << u.data;
        }
        EXPECT_TRUE(r.scope.contains({"mail_1700000000._domainkey.a.test.", cdm::record::Type::TXT, 600,
                                      "\"v=DKIM1; k=rsa; p=MIIB\""}));
    }
    EXPECT_EQ(judged, 1U) << "the revocation of the old selector at a.test";
}

TEST(DkimPhaseDuration, Units) {
    EXPECT_EQ(cdm::dkimphase::parseDuration("88h", "grace"), 88 * 3600);
    EXPECT_EQ(cdm::dkimphase::parseDuration("4d", "grace"), 4 * 86400);
    EXPECT_EQ(cdm::dkimphase::parseDuration("30m", "grace"), 1800);
    EXPECT_EQ(cdm::dkimphase::parseDuration("3600", "grace"), 3600);
    EXPECT_THROW(cdm::dkimphase::parseDuration("soon", "grace"), cdm::Error);
    EXPECT_THROW(cdm::dkimphase::parseDuration("", "grace"), cdm::Error);
}

// Without a signing configuration the signer's own configuration names one file: keyname.
TEST(DkimPhaseKeyname, WithoutASigningConfigurationTheKeyGoesToKeyname) {
    const std::string dir = testing::TempDir() + "/dkimphase-keyname-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);
    auto doc = cdm::configdoc::run({{}, "[cdm]  statedir = " + dir + "/state  [dkim:mail]  keysize = 1024"
                                        "  keylocation = " + dir + "/deploy  keyname = example.key"
                                        "  grace = 0  revoked = 0  [domain:a.test]  dkim = auto:mail"})
                   .document;
    cdm::dkimphase::run(doc, "prepare", 1700000000);
    cdm::dkimphase::run(doc, "rollover", 1700000001);
    cdm::dkimphase::run(doc, "prepare", 1700000002);
    cdm::dkimphase::run(doc, "rollover", 1700000003);
    const auto& m = doc["material"].as_object()["dkim"].as_object()["mail"].as_object();
    EXPECT_EQ(std::string(m.at("current").as_object().at("deployed").as_string()), dir + "/deploy/example.key");
    EXPECT_EQ(slurp(dir + "/deploy/example.key"), slurp(std::string(m.at("current").as_object().at("key").as_string())));
    cdm::dkimphase::run(doc, "cleanup", 1700000004);
    cdm::dkimphase::run(doc, "cleanup", 1700000005);
    EXPECT_FALSE(doc["material"].as_object()["dkim"].as_object()["mail"].as_object().contains("previous"));
    EXPECT_TRUE(std::filesystem::exists(dir + "/deploy/example.key")) << "the current key's file is never removed";
    std::filesystem::remove_all(dir);
}

// rotate: a current key younger than that stays; prepare stages nothing for the section.
TEST(DkimPhaseRotate, AYoungKeyIsKept) {
    const std::string dir = testing::TempDir() + "/dkimphase-rotate-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);
    auto doc = cdm::configdoc::run({{}, "[cdm]  statedir = " + dir + "/state  [dkim:mail]  keysize = 1024"
                                        "  keylocation = " + dir + "/deploy  rotate = 30d"
                                        "  signingconfdestinationfile = " + dir + "/signing.conf"
                                        "  [domain:a.test]  dkim = auto:mail"})
                   .document;
    const std::time_t t0 = 1700000000;
    cdm::dkimphase::run(doc, "prepare", t0);
    cdm::dkimphase::run(doc, "rollover", t0 + 10);
    const auto material = [&]() -> const json::object& {
        return doc["material"].as_object()["dkim"].as_object()["mail"].as_object();
    };
    EXPECT_EQ(cdm::dkimphase::run(doc, "prepare", t0 + 29 * 86400).generated, 0U);
    EXPECT_FALSE(material().contains("next")) << "29 days old: kept";
    EXPECT_EQ(cdm::dkimphase::run(doc, "prepare", t0 + 30 * 86400).generated, 1U);
    EXPECT_TRUE(material().contains("next")) << "30 days old: replaced";
    std::filesystem::remove_all(dir);
    doc["config"].as_object()["dkim"].as_object()["mail"].as_object()["keys"].as_object()["rotate"] = "soon";
    const auto failed = cdm::dkimphase::run(doc, "prepare", t0);
    ASSERT_TRUE(failed.failure);
    EXPECT_EQ(failed.failure->code(), cdm::Exit::Config);
    EXPECT_THAT(failed.failure->message(), HasSubstr("[dkim:mail] rotate 'soon' is not a duration"));
}

// A section that fails keeps its material and records as they were, is reported, and the
// others go on; the caller writes the document and exits with the failure.
TEST(DkimPhaseFailure, OneSectionFailsTheOthersGoOn) {
    const std::string dir = testing::TempDir() + "/dkimphase-fail-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    // b's key location is a file: its rollover cannot deploy there.
    std::ofstream(dir + "/notadir") << "x";
    auto doc = cdm::configdoc::run({{}, "[cdm]  statedir = " + dir + "/state"
                                        "  [dkim:a]  keysize = 1024  keylocation = " + dir + "/a"
                                        "  signingconfdestinationfile = " + dir + "/a.conf"
                                        "  [dkim:b]  keysize = 1024  keylocation = " + dir + "/notadir"
                                        "  signingconfdestinationfile = " + dir + "/b.conf"
                                        "  [domain:a.test]  dkim = auto:a  [domain:b.test]  dkim = auto:b"})
                   .document;
    ASSERT_FALSE(cdm::dkimphase::run(doc, "prepare", 1700000000).failure);
    doc["records"] = json::array{};
    const auto r = cdm::dkimphase::run(doc, "rollover", 1700000100);
    ASSERT_TRUE(r.failure);
    const auto& material = doc["material"].as_object()["dkim"].as_object();
    EXPECT_TRUE(material.at("a").as_object().contains("current")) << "a rolled over";
    EXPECT_TRUE(material.at("b").as_object().contains("next")) << "b kept its next, for a rerun";
    EXPECT_FALSE(material.at("b").as_object().contains("current"));
    std::vector<std::string> events;
    for (const auto& e : doc["report"].as_array()) {
        const auto& o = e.as_object();
        if (o.at("program") == "cdm-dkim" && o.contains("dkim")) {
            events.push_back(std::string(o.at("event").as_string()) + " " + std::string(o.at("dkim").as_string()));
        }
    }
    EXPECT_THAT(events, testing::Contains("deployed a"));
    EXPECT_THAT(events, testing::Contains("failed b"));
    for (const auto& rec : cdm::document::records(doc, "<test>")) {
        EXPECT_THAT(rec.name, testing::EndsWith("a.test.")) << "no record of the failed section";
    }
    std::filesystem::remove_all(dir);
}

// Unnamed key files in the state directory. Cleanup never takes a key the state names, however
// the state spells its path, and takes nothing when the document has no material.
TEST_F(DkimPhase, CleanupKeepsTheNamedKeysAndAnOlderUnnamedOne) {
    namespace fs = std::filesystem;
    const std::time_t t0 = 1700000000;
    phase("prepare", t0);
    phase("rollover", t0 + 7200);
    // TempDir() ends in '/': the state spells its paths with "//"; compared normalised here.
    const auto normal = [](const std::string& p) {
        return fs::path(p).lexically_normal().string();
    };
    const std::string keyDir = normal(dir_ + "/state/modules/dkim/mail");
    const std::string current = keyDir + "/mail_1700000000.key";
    ASSERT_EQ(normal(keyFile("current")), current);
    const auto currentTime = fs::last_write_time(current);
    const std::string older = keyDir + "/mail_1600000000.key";
    fs::copy_file(current, older);
    fs::last_write_time(older, currentTime - std::chrono::hours(24));

    // Cleanup, the state naming the key through a symlink to the state directory.
    fs::create_directory_symlink(dir_ + "/state", dir_ + "/state-link");
    doc_["material"]
        .as_object()["dkim"]
        .as_object()["mail"]
        .as_object()["current"]
        .as_object()["key"] = dir_ + "/state-link/modules/dkim/mail/mail_1700000000.key";
    phase("cleanup", t0 + 7200 + 60);
    EXPECT_FALSE(last_.failure);
    EXPECT_TRUE(fs::exists(current)) << "the current key, named another way";
    EXPECT_TRUE(fs::exists(older)) << "older than the named keys: not a crashed run's";

    // Cleanup without material (a run by hand on cdm-config's output) removes no key.
    doc_["material"].as_object()["dkim"].as_object().erase("mail");
    phase("cleanup", t0 + 7200 + 120);
    EXPECT_FALSE(last_.failure);
    EXPECT_TRUE(fs::exists(current));
    EXPECT_TRUE(fs::exists(older));
}

// Only an unnamed key newer than every key the state names can be a crashed prepare's next key;
// an older one may be a retired key a rollover left behind and must never come back.
TEST_F(DkimPhase, PrepareAdoptsOnlyANewerUnnamedKey) {
    namespace fs = std::filesystem;
    const std::time_t t0 = 1700000000;
    phase("prepare", t0);
    phase("rollover", t0 + 7200);
    // TempDir() ends in '/': the state spells its paths with "//"; compared normalised here.
    const auto normal = [](const std::string& p) {
        return fs::path(p).lexically_normal().string();
    };
    const std::string keyDir = normal(dir_ + "/state/modules/dkim/mail");
    const std::string current = keyDir + "/mail_1700000000.key";
    ASSERT_EQ(normal(keyFile("current")), current);
    const auto currentTime = fs::last_write_time(current);
    const std::string older = keyDir + "/mail_1600000000.key";
    fs::copy_file(current, older);
    fs::last_write_time(older, currentTime - std::chrono::hours(24));

    // Prepare does not adopt the older key: a new selector and key.
    const std::time_t t1 = t0 + 86400;
    phase("prepare", t1);
    EXPECT_EQ(last_.generated, 1U);
    EXPECT_EQ(selector("next"), "mail_1700086400");
    EXPECT_EQ(normal(keyFile("next")), keyDir + "/mail_1700086400.key");
    EXPECT_TRUE(fs::exists(older));

    // A key newer than the named ones, no state naming it (a prepare killed before the state's
    // write): prepare takes it as next, under the selector its file name gives.
    fs::remove(keyFile("next"));
    doc_["material"].as_object()["dkim"].as_object()["mail"].as_object().erase("next");
    const std::string newer = keyDir + "/mail_1700050000.key";
    fs::copy_file(current, newer);
    fs::last_write_time(newer, currentTime + std::chrono::hours(1));
    phase("prepare", t1 + 60);
    EXPECT_EQ(selector("next"), "mail_1700050000");
    EXPECT_EQ(normal(keyFile("next")), newer);
    EXPECT_TRUE(fs::exists(older));
    EXPECT_TRUE(fs::exists(current));
}
