// libcommon/challenge: the document the dns-01 solver hands to dnsapply, and the files the
// http-01 solver writes and removes. Publishing into real DNS servers is tested in
// tests/cli/cdm-cert-challenge.bats against the testbed (BIND, PowerDNS, Pebble).
#include "libcommon/challenge.hpp"

#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "libcommon/dnsapply.hpp"
#include "libcommon/document.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using cdm::Exit;
using cdm::test::codeOf;
using namespace cdm::challenge;

namespace {

// base64url(SHA-256(text)) without padding, computed here with OpenSSL directly (RFC 8555
// §8.4), as the independent check of Challenge::dnsValue().
std::string expectedTxt(const std::string& keyAuthorization) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    EXPECT_EQ(EVP_Digest(keyAuthorization.data(), keyAuthorization.size(), md.data(), &len, EVP_sha256(),
                         nullptr),
              1);
    std::array<unsigned char, 64> b64{};
    const int n = EVP_EncodeBlock(b64.data(), md.data(), static_cast<int>(len));
    std::string out(reinterpret_cast<const char*>(b64.data()), static_cast<std::size_t>(n));
    for (auto& ch : out) {
        ch = ch == '+' ? '-' : ch == '/' ? '_' : ch;
    }
    while (!out.empty() && out.back() == '=') {
        out.pop_back();
    }
    return out;
}

cdm::acme::Challenge dns(const std::string& domain, const std::string& token, bool wildcard = false) {
    cdm::acme::Challenge c;
    c.type = cdm::acme::ChallengeType::Dns01;
    c.domain = domain;
    c.wildcard = wildcard;
    c.token = token;
    c.keyAuthorization = token + ".thumbprint-of-the-account-key";
    c.url = "https://ca.test/chal/" + token;
    return c;
}

cdm::acme::Challenge http(const std::string& domain, const std::string& token) {
    auto c = dns(domain, token);
    c.type = cdm::acme::ChallengeType::Http01;
    return c;
}

const boost::json::object& rec(const boost::json::object& doc, std::size_t i) {
    return doc.at("records").as_array().at(i).as_object();
}

std::string str(const boost::json::object& o, const char* key) {
    return std::string(o.at(key).as_string());
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

unsigned modeOf(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
}

class TempDir {
public:
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "cdm-challenge-XXXXXX").string();
        path_ = ::mkdtemp(tmpl.data());
    }
    ~TempDir() {
        std::error_code ec;
        fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

} // namespace

// ------------------------------------------------------------------------------- dns-01

TEST(DnsDocument, OneAddRecordPerChallengeWithTheKeyAuthorizationDigest) {
    DnsOptions o;
    o.ttl = 30;
    o.sectionOf = {{"example.test", "example.test"}, {"www.shop.co.test", "shop"}};
    o.config["domain"] = boost::json::object{{"example.test", boost::json::object{{"keys", boost::json::object{}}}}};
    const std::vector<cdm::acme::Challenge> cs = {dns("example.test", "tok1"), dns("example.test", "tok2", true),
                                                  dns("www.shop.co.test", "tok3"), dns("other.test", "tok4")};
    const auto doc = dnsDocument(cs, o, true);

    EXPECT_EQ(doc.at("cdm").to_number<std::int64_t>(), cdm::document::schemaVersion);
    EXPECT_EQ(doc.at("config"), boost::json::value(o.config));
    ASSERT_EQ(doc.at("records").as_array().size(), 4U);
    const std::vector<std::string> names = {"_acme-challenge.example.test.", "_acme-challenge.example.test.",
                                            "_acme-challenge.www.shop.co.test.", "_acme-challenge.other.test."};
    const std::vector<std::string> sections = {"example.test", "example.test", "shop", ""};
    for (std::size_t i = 0; i < cs.size(); ++i) {
        const auto& r = rec(doc, i);
        SCOPED_TRACE(i);
        EXPECT_EQ(str(r, "name"), names[i]);
        EXPECT_EQ(str(r, "type"), "TXT");
        EXPECT_EQ(r.at("ttl").to_number<std::int64_t>(), 30);
        EXPECT_EQ(str(r, "data"), "\"" + expectedTxt(cs[i].keyAuthorization) + "\"");
        EXPECT_EQ(str(r, "op"), "add");
        EXPECT_EQ(r.at("scope"), (boost::json::value{{"name", names[i]}, {"type", "TXT"}}));
        EXPECT_EQ(str(r, "label"), "ACME");
        if (sections[i].empty()) {
            EXPECT_TRUE(!r.contains("section") || r.at("section").as_string().empty());
        } else {
            EXPECT_EQ(str(r, "section"), sections[i]);
        }
    }
    // The two values at one name differ (a name and its wildcard both stay published).
    EXPECT_NE(str(rec(doc, 0), "data"), str(rec(doc, 1), "data"));
}

TEST(DnsDocument, RemoveAsksForExactlyThoseValues) {
    const auto doc = dnsDocument({dns("a.example.test", "t1")}, DnsOptions{}, false);
    EXPECT_EQ(doc.at("config"), boost::json::value(boost::json::object{})); // document::empty()'s
    ASSERT_EQ(doc.at("records").as_array().size(), 1U);
    const auto& r = rec(doc, 0);
    EXPECT_EQ(str(r, "op"), "remove");
    EXPECT_EQ(str(r, "data"), "\"" + expectedTxt("t1.thumbprint-of-the-account-key") + "\"");
    EXPECT_EQ(r.at("ttl").to_number<std::int64_t>(), 60); // the default
}

TEST(DnsDocument, TheSameChallengeTwiceIsOneRecord) {
    const auto doc = dnsDocument({dns("a.example.test", "t1"), dns("a.example.test", "t1")}, DnsOptions{}, true);
    EXPECT_EQ(doc.at("records").as_array().size(), 1U);
}

TEST(DnsDocument, IsADocumentDnsapplyReadsBack) {
    DnsOptions o;
    o.sectionOf = {{"a.example.test", "a"}};
    const auto doc = dnsDocument({dns("a.example.test", "t1"), dns("b.example.net", "t2")}, o, true);
    const auto text = cdm::document::serialize(doc);
    const auto parsed = cdm::dnsapply::parseInput(text, "<test>");
    const auto records = cdm::document::records(parsed, "<test>");
    ASSERT_EQ(records.size(), 2U);
    EXPECT_EQ(records[0].op, cdm::document::Op::Add);
    EXPECT_EQ(records[0].type, cdm::record::Type::TXT);
    EXPECT_EQ(records[0].section, "a");
    EXPECT_EQ(records[1].name, "_acme-challenge.b.example.net.");
    EXPECT_EQ(records[1].scope.name, "_acme-challenge.b.example.net.");
    EXPECT_EQ(records[1].scope.type, cdm::record::Type::TXT);
    EXPECT_EQ(records[1].label, "ACME");
}

TEST(DnsDocument, AnHttpChallengeIsAProgrammingError) {
    EXPECT_EQ(codeOf([] { (void)dnsDocument({http("a.example.test", "t1")}, DnsOptions{}, true); }),
              Exit::Software);
}

TEST(DnsSolver, RemoveNeverThrowsAndLogsWhatFailed) {
    DnsOptions o;
    o.base.handler = "no-such-provider";
    o.base.zone = "example.test.";
    DnsSolver solver(o);
    cdm::test::LogCapture logs;
    solver.remove({dns("a.example.test", "t1")}); // noexcept: must come back
    EXPECT_NE(logs.all().find("could not remove the challenge records"), std::string::npos) << logs.all();
    // And publish reports the same failure as an error.
    EXPECT_NE(codeOf([&] { solver.publish({dns("a.example.test", "t1")}); }), Exit::Ok);
}

TEST(DnsSolver, NothingToPublishDoesNothing) {
    DnsOptions o;
    o.base.handler = "no-such-provider";
    DnsSolver solver(o);
    EXPECT_EQ(codeOf([&] { solver.publish({}); }), Exit::Ok);
    EXPECT_EQ(solver.type(), cdm::acme::ChallengeType::Dns01);
}

// ------------------------------------------------------------------------------ http-01

TEST(SafeToken, OnlyBase64url) {
    EXPECT_TRUE(safeToken("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"));
    EXPECT_TRUE(safeToken("a-b_c"));
    for (const char* bad : {"", ".", "..", "a/b", "/etc", "../x", "a.b", "a b", "a\\b", "a%2Fb", "a\nb"}) {
        EXPECT_FALSE(safeToken(bad)) << bad;
    }
}

TEST(HttpSolver, AnEmptyWebrootIsAConfigError) {
    EXPECT_EQ(codeOf([] { HttpSolver s(""); }), Exit::Config);
}

TEST(HttpSolver, WritesEachKeyAuthorizationReadableAndRemovesWhatItMade) {
    TempDir t;
    HttpSolver s(t.path().string() + "/");
    EXPECT_EQ(s.type(), cdm::acme::ChallengeType::Http01);
    const std::vector<cdm::acme::Challenge> cs = {http("www.example.test", "tokA"), http("example.test", "tok-B_")};
    ::umask(077); // the files must still be readable by the web server
    s.publish(cs);
    ::umask(022);
    const fs::path dir = t.path() / ".well-known" / "acme-challenge";
    for (const auto& c : cs) {
        EXPECT_EQ(slurp(dir / c.token), c.keyAuthorization);
        EXPECT_EQ(modeOf(dir / c.token), 0644U);
    }
    EXPECT_EQ(modeOf(t.path() / ".well-known"), 0755U);
    EXPECT_EQ(modeOf(dir), 0755U);
    s.remove(cs);
    EXPECT_FALSE(fs::exists(t.path() / ".well-known"));
    EXPECT_TRUE(fs::exists(t.path()));
}

TEST(HttpSolver, LeavesDirectoriesAndFilesItDidNotMake) {
    TempDir t;
    const fs::path dir = t.path() / ".well-known" / "acme-challenge";
    fs::create_directories(t.path() / ".well-known");
    std::ofstream(t.path() / ".well-known" / "security.txt") << "Contact: mailto:a@example.test\n";
    HttpSolver s(t.path().string());
    s.publish({http("www.example.test", "tok1")});
    // Someone else's answer appears meanwhile.
    std::ofstream(dir / "other-client-token") << "x";
    s.remove({http("www.example.test", "tok1")});
    EXPECT_FALSE(fs::exists(dir / "tok1"));
    EXPECT_TRUE(fs::exists(dir / "other-client-token"));
    EXPECT_TRUE(fs::exists(t.path() / ".well-known" / "security.txt"));
}

TEST(HttpSolver, RemovesOnlyTheChallengesItIsGiven) {
    TempDir t;
    HttpSolver s(t.path().string());
    s.publish({http("a.example.test", "t1"), http("b.example.test", "t2")});
    const fs::path dir = t.path() / ".well-known" / "acme-challenge";
    s.remove({http("a.example.test", "t1")});
    EXPECT_FALSE(fs::exists(dir / "t1"));
    EXPECT_TRUE(fs::exists(dir / "t2"));
    s.remove({http("b.example.test", "t2")});
    EXPECT_FALSE(fs::exists(t.path() / ".well-known"));
}

TEST(HttpSolver, RefusesTokensThatAreNoPlainFileNameAndWritesNothing) {
    TempDir t;
    fs::create_directories(t.path() / "www");
    HttpSolver s((t.path() / "www").string());
    for (const char* bad : {"../../escape", "a/b", "..", ".", ""}) {
        std::string message;
        EXPECT_EQ(codeOf([&] { s.publish({http("www.example.test", "good"), http("x.example.test", bad)}); },
                         &message),
                  Exit::DataErr)
            << bad;
        EXPECT_NE(message.find("not base64url"), std::string::npos) << message;
    }
    EXPECT_FALSE(fs::exists(t.path() / "www" / ".well-known"));
    EXPECT_FALSE(fs::exists(t.path() / "escape"));
    s.remove({http("www.example.test", "good")}); // nothing to do, nothing thrown
}

TEST(HttpSolver, AMissingWebrootIsNotCreated) {
    TempDir t;
    HttpSolver s((t.path() / "no-such-dir").string());
    EXPECT_EQ(codeOf([&] { s.publish({http("www.example.test", "tok")}); }), Exit::CantCreat);
    EXPECT_FALSE(fs::exists(t.path() / "no-such-dir"));
}

TEST(HttpSolver, AWebrootWhereTheDirectoriesCannotBeMadeFails) {
    if (::geteuid() == 0) {
        // root writes anyway; the check below would be meaningless. Use a file instead of a
        // directory where .well-known should go, which fails for root too.
        TempDir t;
        std::ofstream(t.path() / ".well-known") << "a file";
        HttpSolver s(t.path().string());
        EXPECT_EQ(codeOf([&] { s.publish({http("www.example.test", "tok")}); }), Exit::CantCreat);
        return;
    }
    TempDir t;
    fs::permissions(t.path(), fs::perms::owner_read | fs::perms::owner_exec);
    HttpSolver s(t.path().string());
    EXPECT_EQ(codeOf([&] { s.publish({http("www.example.test", "tok")}); }), Exit::NoPerm);
}

TEST(HttpSolver, ADnsChallengeIsAProgrammingError) {
    TempDir t;
    HttpSolver s(t.path().string());
    EXPECT_EQ(codeOf([&] { s.publish({dns("a.example.test", "t1")}); }), Exit::Software);
}

// The journal publish() writes before it sends anything holds the records only: the
// configuration (about 0.9 MB at 1,000 domains) is added again from the options when the
// records are removed, and a copy of it would outgrow the journal's 1 MiB read limit.
// The provider here does not exist, so publish fails after the journal is written and before
// any record could be sent.
TEST(DnsSolver, TheJournalHoldsTheRecordsButNotTheConfiguration) {
    TempDir dir;
    DnsOptions o;
    o.base.handler = "no-such-provider";
    o.base.zone = "example.test.";
    o.config["domain"] = boost::json::object{
        {"a.example.test",
         boost::json::object{{"keys", boost::json::object{{"marker", "config-copy"}}}}}};
    o.journal = (dir.path() / "cert.challenges.json").string();
    DnsSolver solver(o);
    cdm::test::LogCapture logs;
    const std::vector<cdm::acme::Challenge> cs = {dns("a.example.test", "t1"),
                                                  dns("b.example.test", "t2")};
    EXPECT_NE(codeOf([&] { solver.publish(cs); }), Exit::Ok);
    ASSERT_TRUE(fs::exists(o.journal));
    EXPECT_EQ(modeOf(o.journal), 0600U);
    const std::string text = slurp(o.journal);
    EXPECT_EQ(text.find("config-copy"), std::string::npos) << text;
    const auto journal = cdm::document::parse(text, o.journal);
    EXPECT_FALSE(journal.contains("config")) << text;
    ASSERT_EQ(journal.at("records").as_array().size(), 2U);
    EXPECT_EQ(str(rec(journal, 0), "name"), "_acme-challenge.a.example.test.");
    EXPECT_EQ(str(rec(journal, 0), "op"), "remove");
    EXPECT_EQ(str(rec(journal, 0), "data"), "\"" + expectedTxt(cs[0].keyAuthorization) + "\"");
    EXPECT_EQ(str(rec(journal, 1), "name"), "_acme-challenge.b.example.test.");
}
