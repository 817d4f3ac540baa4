// Tests of libcommon/dhparam: DH parameter generation and the RFC 7919 groups, checked with
// the openssl command line as the independent judge, and the prepare/rollover/cleanup phases
// on a document. Generation tests use 1024 bits to stay fast; the production default is 2048.

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <memory>
#include <string>
#include <sys/stat.h>

#include "libcommon/dhparam.hpp"
#include "libcommon/document.hpp"
#include "libcommon/error.hpp"
#include "libcommon/fsutil.hpp"

#include "test_util.hpp"

using cdm::Error;
using cdm::Exit;
using cdm::test::codeOf;
using testing::HasSubstr;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// Output of a shell command (stderr included), and its exit status in `status`.
std::string shell(const std::string& command, int* status = nullptr) {
    std::string out;
    FILE* pipe = popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) {
        return out;
    }
    std::array<char, 4096> buffer{};
    std::size_t n = 0;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
        out.append(buffer.data(), n);
    }
    const int rc = pclose(pipe);
    if (status != nullptr) {
        *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    }
    return out;
}

class TempDir {
public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "cdm-dhparam-XXXXXX").string();
        path = mkdtemp(pattern.data()) != nullptr ? pattern : std::string();
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string path;
};

void writeText(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
}

std::string readText(const std::string& path) {
    return cdm::fsutil::readFile(path, 1 << 20);
}

// The prime p of a PEM file (the first INTEGER of the PKCS#3 DHParameter) in lower-case hex,
// as `openssl asn1parse` reads it.
std::string primeOf(const std::string& file) {
    const std::string text = shell("openssl asn1parse -in '" + file + "'");
    const auto integer = text.find("INTEGER");
    const auto colon = integer == std::string::npos ? std::string::npos : text.find(':', integer);
    std::string hex;
    for (std::size_t i = colon + 1;
         colon != std::string::npos && i < text.size() && text[i] != '\n'; ++i) {
        hex += static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
    }
    return hex;
}

// A pipeline document with one [dhparam:web] section written at d.conf lines 10-15.
json::object documentWith(const std::string& statedir, const json::object& keys) {
    json::object where;
    unsigned line = 11;
    for (const auto& [k, v] : keys) {
        where[k] = "d.conf:" + std::to_string(line++);
    }
    json::object doc = cdm::document::empty();
    doc["config"] = json::object{
        {"cdm",
         json::object{{"DEFAULT", json::object{{"keys", json::object{{"statedir", statedir}}}}}}},
        {"dhparam",
         json::object{
             {"DEFAULT", json::object{{"keys", json::object{{"keysize", "2048"}}}}},
             {"web", json::object{{"keys", keys}, {"where", where}, {"source", "d.conf:10"}}}}}};
    return doc;
}

const json::object& dh(const json::object& doc) {
    return doc.at("material").at("dhparam").at("web").as_object();
}

std::string field(const json::object& doc, const char* which, const char* key) {
    return std::string(dh(doc).at(which).at(key).as_string());
}

mode_t modeOf(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

} // namespace

TEST(DhparamGenerate, SafePrimeWithGeneratorTwoPassesOpensslCheck) {
    TempDir tmp;
    const std::string pem = cdm::dhparam::generate(1024);
    EXPECT_THAT(pem, HasSubstr("-----BEGIN DH PARAMETERS-----"));
    const std::string file = tmp.path + "/dh.pem";
    writeText(file, pem);
    int status = -1;
    // `openssl dhparam -check` tests that p is a safe prime and g a suitable generator.
    EXPECT_THAT(shell("openssl dhparam -check -noout -in '" + file + "'", &status),
                HasSubstr("DH parameters appear to be ok"));
    EXPECT_EQ(status, 0);
    const std::string text = shell("openssl pkeyparam -noout -text -in '" + file + "'");
    EXPECT_THAT(text, HasSubstr("(1024 bit)"));
    EXPECT_THAT(text, HasSubstr("G:    2 (0x2)"));
    const auto info = cdm::dhparam::inspect(pem, file);
    EXPECT_EQ(info.bits, 1024U);
    EXPECT_EQ(info.generator, 2UL);
    EXPECT_TRUE(info.valid);
    EXPECT_EQ(info.group, "");
    EXPECT_NE(cdm::dhparam::generate(1024), pem) << "every generation is new";
}

TEST(DhparamGenerate, RefusesSizesOutsideTheRange) {
    std::string message;
    EXPECT_EQ(codeOf([] { cdm::dhparam::generate(512, "--bits"); }, &message), Exit::Usage);
    EXPECT_THAT(message, HasSubstr("--bits '512' is not a number from 1024 to 8192"));
    EXPECT_EQ(codeOf([] { cdm::dhparam::generate(16384); }), Exit::Usage);
}

TEST(DhparamGroup, EveryGroupIsOpensslsRfc7919Group) {
    TempDir tmp;
    for (const auto name : cdm::dhparam::groupNames()) {
        const std::string n(name);
        const std::string mine = tmp.path + "/" + n + ".pem";
        const std::string theirs = tmp.path + "/" + n + "-openssl.pem";
        writeText(mine, cdm::dhparam::group(n));
        int status = -1;
        shell("openssl genpkey -genparam -algorithm DH -pkeyopt group:" + n + " -out '" + theirs +
                  "'",
              &status);
        ASSERT_EQ(status, 0) << n;
        const std::string p = primeOf(mine);
        EXPECT_EQ(p.size(), std::stoul(n.substr(5)) / 4) << n;
        EXPECT_EQ(p, primeOf(theirs)) << n;
        // RFC 7919 appendix A: every prime starts and ends with 64 one bits.
        ASSERT_GE(p.size(), 16U) << n;
        EXPECT_EQ(p.substr(0, 16), "ffffffffffffffff") << n;
        EXPECT_EQ(p.substr(p.size() - 16), "ffffffffffffffff") << n;
        const auto info = cdm::dhparam::inspect(readText(mine), mine);
        EXPECT_EQ(info.group, n);
        EXPECT_EQ(info.generator, 2UL) << n;
        EXPECT_EQ(info.bits, std::stoul(n.substr(5))) << n;
        EXPECT_TRUE(info.valid) << n;
        EXPECT_THAT(shell("openssl dhparam -check -noout -in '" + mine + "'"),
                    HasSubstr("appear to be ok"))
            << n;
    }
    std::string message;
    EXPECT_EQ(codeOf([] { cdm::dhparam::group("ffdhe1024", "--group"); }, &message), Exit::Usage);
    EXPECT_THAT(message, HasSubstr("--group 'ffdhe1024' is not ffdhe2048"));
}

TEST(DhparamInspect, RefusesWhatIsNotDhParameters) {
    std::string message;
    EXPECT_EQ(codeOf([] { cdm::dhparam::inspect("hello", "x.pem"); }, &message), Exit::DataErr);
    EXPECT_THAT(message, HasSubstr("x.pem: no PEM DH parameters"));
    const std::string key =
        shell("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -genparam");
    EXPECT_EQ(codeOf([&] { cdm::dhparam::inspect(key, "ec.pem"); }), Exit::DataErr)
        << "EC parameters are not DH";
}

TEST(DhparamPhases, PrepareTwiceGeneratesOnceRolloverDeploysCleanupKeepsCurrent) {
    TempDir tmp;
    const std::string target = tmp.path + "/etc/dh.pem";
    fs::create_directories(tmp.path + "/etc");
    json::object doc = documentWith(
        tmp.path + "/state", {{"handler", "openssl"}, {"keysize", "1024"}, {"filename", target}});
    auto s = cdm::dhparam::run(doc, "prepare", 1700000000);
    EXPECT_EQ(s.generated, 1U);
    const std::string staged = field(doc, "next", "file");
    EXPECT_EQ(staged, tmp.path + "/state/dhparam/web/20231114T221320Z.pem");
    EXPECT_EQ(modeOf(tmp.path + "/state/dhparam/web"), 0700U);
    EXPECT_EQ(dh(doc).at("next").at("bits").to_number<int>(), 1024);
    EXPECT_EQ(field(doc, "next", "group"), "");
    EXPECT_EQ(field(doc, "next", "sha256"), cdm::dhparam::sha256Hex(readText(staged)));
    EXPECT_THAT(shell("openssl dhparam -check -noout -in '" + staged + "'"),
                HasSubstr("appear to be ok"));
    EXPECT_FALSE(fs::exists(target)) << "prepare deploys nothing";

    s = cdm::dhparam::run(doc, "prepare", 1700000100);
    EXPECT_EQ(s.generated, 0U) << "a staged set is kept";
    EXPECT_EQ(field(doc, "next", "file"), staged);

    s = cdm::dhparam::run(doc, "rollover", 1700000200);
    EXPECT_EQ(s.deployed, 1U);
    EXPECT_EQ(readText(target), readText(staged));
    EXPECT_EQ(modeOf(target), 0644U);
    EXPECT_FALSE(dh(doc).contains("next"));
    EXPECT_EQ(field(doc, "current", "deployed"), target);
    EXPECT_EQ(cdm::dhparam::run(doc, "rollover", 1700000300).deployed, 0U)
        << "a second rollover changes nothing";

    s = cdm::dhparam::run(doc, "prepare", 1700000400);
    EXPECT_EQ(s.generated, 0U) << "regenerate = no: made once, then reused";
    EXPECT_FALSE(dh(doc).contains("next"));
    EXPECT_EQ(cdm::dhparam::run(doc, "cleanup", 1700000500).cleaned, 0U);
    EXPECT_TRUE(fs::exists(staged)) << "the current set stays";

    const auto& report = doc.at("report").as_array();
    ASSERT_FALSE(report.empty());
    EXPECT_EQ(report.front().at("event"), "dhparam");
    EXPECT_EQ(report.front().at("action"), "generated");
    EXPECT_EQ(report.front().at("reason"), "none yet");
}

TEST(DhparamPhases, RegenerateYesRollsAndCleanupRemovesOnlyThePrevious) {
    TempDir tmp;
    const std::string target = tmp.path + "/dh.pem";
    json::object doc = documentWith(tmp.path + "/state", {{"handler", "openssl"},
                                                          {"group", "ffdhe2048"},
                                                          {"filename", target},
                                                          {"regenerate", "yes"}});
    cdm::dhparam::run(doc, "prepare", 1700000000);
    cdm::dhparam::run(doc, "rollover", 1700000100);
    const std::string first = field(doc, "current", "file");
    EXPECT_EQ(cdm::dhparam::run(doc, "prepare", 1700086400).generated, 1U) << "yes: every prepare";
    const std::string second = field(doc, "next", "file");
    EXPECT_NE(first, second);
    EXPECT_EQ(cdm::dhparam::run(doc, "rollover", 1700086500).deployed, 1U);
    EXPECT_EQ(field(doc, "previous", "file"), first);
    EXPECT_EQ(field(doc, "current", "file"), second);
    EXPECT_EQ(readText(target), readText(second));
    EXPECT_EQ(cdm::dhparam::inspect(readText(target), target).group, "ffdhe2048");

    // A user's file in the directory and a set a crash left behind (never recorded).
    const std::string dir = tmp.path + "/state/dhparam/web";
    writeText(dir + "/notes.txt", "mine\n");
    writeText(dir + "/20200101T000000Z.pem", "stray\n");
    EXPECT_EQ(cdm::dhparam::run(doc, "cleanup", 1700086600).cleaned, 2U);
    EXPECT_FALSE(fs::exists(first));
    EXPECT_FALSE(fs::exists(dir + "/20200101T000000Z.pem"));
    EXPECT_TRUE(fs::exists(second));
    EXPECT_TRUE(fs::exists(dir + "/notes.txt")) << "only files cdm names are removed";
    EXPECT_TRUE(fs::exists(target));
    EXPECT_FALSE(dh(doc).contains("previous"));
}

TEST(DhparamPhases, RegenerateDaysAndChangedParameters) {
    TempDir tmp;
    json::object keys{{"handler", "openssl"},
                      {"group", "ffdhe2048"},
                      {"filename", tmp.path + "/dh.pem"},
                      {"regenerate", "30"}};
    json::object doc = documentWith(tmp.path + "/state", keys);
    cdm::dhparam::run(doc, "prepare", 1700000000);
    cdm::dhparam::run(doc, "rollover", 1700000000);
    EXPECT_EQ(cdm::dhparam::run(doc, "prepare", 1700000000 + 29 * 86400).generated, 0U);
    EXPECT_EQ(cdm::dhparam::run(doc, "prepare", 1700000000 + 30 * 86400).generated, 1U);
    EXPECT_EQ(doc.at("report").as_array().back().at("reason"), "older than 30 days");

    // Another group in the config: a new set, even with a staged one waiting.
    json::object changed = documentWith(tmp.path + "/state", keys);
    changed["config"]
        .as_object()["dhparam"]
        .as_object()["web"]
        .as_object()["keys"]
        .as_object()["group"] = "ffdhe3072";
    changed["material"] = doc["material"];
    const std::string stale = field(changed, "next", "file");
    EXPECT_EQ(cdm::dhparam::run(changed, "prepare", 1700000000 + 31 * 86400).generated, 1U);
    EXPECT_EQ(field(changed, "next", "group"), "ffdhe3072");
    EXPECT_EQ(dh(changed).at("next").at("bits").to_number<int>(), 3072);
    EXPECT_FALSE(fs::exists(stale)) << "the stale staged set is removed";
}

TEST(DhparamPhases, RolloverRedeploysAMissingFileAndFailsWithoutItsDirectory) {
    TempDir tmp;
    const std::string target = tmp.path + "/dh.pem";
    json::object doc =
        documentWith(tmp.path + "/state",
                     {{"handler", "openssl"}, {"group", "ffdhe2048"}, {"filename", target}});
    cdm::dhparam::run(doc, "prepare", 1700000000);
    cdm::dhparam::run(doc, "rollover", 1700000000);
    fs::remove(target);
    EXPECT_EQ(cdm::dhparam::run(doc, "rollover", 1700000100).deployed, 1U) << "converges";
    EXPECT_TRUE(fs::exists(target));

    json::object missing =
        documentWith(tmp.path + "/state", {{"handler", "openssl"},
                                           {"group", "ffdhe2048"},
                                           {"filename", tmp.path + "/no/such/dh.pem"}});
    missing["material"] = json::object{};
    cdm::dhparam::run(missing, "prepare", 1700000000);
    const json::value before = missing["material"];
    std::string message;
    EXPECT_EQ(codeOf([&] { cdm::dhparam::run(missing, "rollover", 1700000100); }, &message),
              Exit::CantCreat);
    EXPECT_THAT(message, HasSubstr("d.conf:13: unable to deploy DH parameters to '"));
    EXPECT_THAT(message, HasSubstr("no directory"));
    EXPECT_EQ(missing["material"], before) << "material is unchanged by a failed rollover";
}

TEST(DhparamPhases, BadValuesNameTheirKey) {
    TempDir tmp;
    struct Bad {
        const char* desc;
        json::object keys;
        const char* message;
    };
    const Bad cases[] = {
        {"keysize",
         {{"handler", "openssl"}, {"keysize", "512"}},
         "d.conf:12: keysize '512' is not a number"},
        {"group",
         {{"handler", "openssl"}, {"group", "modp2048"}},
         "d.conf:12: group 'modp2048' is not ffdhe2048"},
        {"regenerate",
         {{"handler", "openssl"}, {"regenerate", "sometimes"}},
         "d.conf:12: regenerate 'sometimes' is not no, yes or a number of days"},
        {"handler", {{"handler", "gnutls"}}, "d.conf:11: dhparam handler 'gnutls' is not openssl"},
    };
    for (const auto& c : cases) {
        json::object doc = documentWith(tmp.path + "/state", c.keys);
        std::string message;
        EXPECT_EQ(codeOf([&] { cdm::dhparam::run(doc, "prepare", 1700000000); }, &message),
                  Exit::Config)
            << c.desc;
        EXPECT_THAT(message, HasSubstr(c.message)) << c.desc;
        EXPECT_FALSE(fs::exists(tmp.path + "/state")) << c.desc << ": nothing written";
    }
    json::object none = documentWith(tmp.path + "/state", {{"keysize", "2048"}});
    EXPECT_EQ(cdm::dhparam::run(none, "prepare", 1700000000).generated, 0U)
        << "no handler: skipped";
    EXPECT_EQ(cdm::dhparam::run(none, "update", 1700000000).generated, 0U);
}
