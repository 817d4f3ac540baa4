// Tests of libcommon/dkim: records, tags, selectors, output formats, reading other tools'
// records, comparison with keys, judging published records (test), and the verb table of
// cdm-dkim. The DNS side of `test` runs against the test bed in tests/cli/cdm-dkim-test.bats.

#include <filesystem>
#include <fstream>
#include <functional>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/test_util.hpp"
#include <map>
#include <set>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <openssl/evp.h>

#include "libcommon/dkim.hpp"
#include "libcommon/document.hpp"
#include "libcommon/error.hpp"
#include "libcommon/keys.hpp"
#include "libcommon/record.hpp"
#include "libcommon/resolve.hpp"

using cdm::Error;
using cdm::Exit;
using testing::HasSubstr;
namespace fs = std::filesystem;
namespace dkim = cdm::dkim;
namespace keys = cdm::keys;

namespace {

using cdm::test::codeOf;

class TempDir {
public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "cdm-dkim-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        dir_ = pattern;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() { fs::remove_all(dir_); }
    std::string path(const std::string& name) const { return dir_ + "/" + name; }
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& e : fs::recursive_directory_iterator(dir_)) {
            out.push_back(fs::relative(e.path(), dir_).string());
        }
        std::sort(out.begin(), out.end());
        return out;
    }

private:
    std::string dir_;
};

// Keys generated once for the whole file: RSA generation is slow under the sanitizers.
struct Keys {
    TempDir dir;
    std::vector<std::uint8_t> rsa2048, rsa3072, rsaOther, ed25519, p256;
    Keys() {
        rsa2048 = keys::generate({keys::Algorithm::Rsa, 2048}, dir.path("rsa2048.pem"));
        rsa3072 = keys::generate({keys::Algorithm::Rsa, 3072}, dir.path("rsa3072.pem"));
        rsaOther = keys::generate({keys::Algorithm::Rsa, 1024}, dir.path("other.pem"));
        ed25519 = keys::generate({keys::Algorithm::Ed25519, 0}, dir.path("ed.pem"));
        p256 = keys::generate({keys::Algorithm::EcdsaP256, 0}, dir.path("p256.pem"));
    }
};

const Keys& testKeys() {
    static const Keys k;
    return k;
}

std::string base64(const std::vector<std::uint8_t>& bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                                  static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

dkim::Entry entry(const std::string& selector, const std::vector<std::uint8_t>& spki,
                  const std::string& keyPath) {
    dkim::Entry e;
    e.domain = "example.test.";
    e.selector = selector;
    e.record = dkim::fromPublicKey(spki);
    e.keyPath = keyPath;
    e.bits = e.record.type == dkim::KeyType::Rsa ? keys::bitsOf(spki) : 0;
    return e;
}

int runVerb(const std::vector<dkim::Verb>& table, std::vector<const char*> args) {
    args.insert(args.begin(), "cdm-dkim");
    return dkim::dispatch(table, static_cast<int>(args.size()), args.data());
}

} // namespace

TEST(DkimVerbs, EveryVerbReachesItsHandler) {
    // Arguments that satisfy each verb's required options; a verb without a row fails here.
    const std::map<std::string, std::vector<const char*>> rows{
        {"generate", {"generate", "--domain", "a.test", "--key-out", "k.pem"}},
        {"record", {"record", "--domain", "a.test", "--key", "k.pem", "--selector", "s"}},
        {"compare", {"compare", "--record", "r.txt", "--key", "k.pem"}},
        {"revoke", {"revoke", "--domain", "a.test", "--selector", "s"}},
        {"test", {"test", "--domain", "a.test", "--selector", "s", "--key", "k.pem"}},
        {"phase", {"phase", "--phase", "prepare"}},
    };
    std::vector<dkim::Verb> table = dkim::verbs();
    std::string reached;
    for (auto& verb : table) {
        verb.handler = [&reached, name = std::string(verb.name)](const auto&, const auto&) {
            reached = name;
            return 42;
        };
    }
    for (const auto& verb : table) {
        const std::string name(verb.name);
        ASSERT_EQ(rows.count(name), 1U) << name << " has no row in this test";
        reached.clear();
        EXPECT_EQ(runVerb(table, rows.at(name)), 42) << name;
        EXPECT_EQ(reached, name) << name;
    }
    EXPECT_EQ(rows.size(), table.size());
}

TEST(DkimVerbs, TableEntriesAreComplete) {
    std::set<std::string> names;
    for (const auto& verb : dkim::verbs()) {
        EXPECT_TRUE(names.insert(std::string(verb.name)).second) << verb.name;
        EXPECT_TRUE(verb.synopsis.starts_with(std::string(verb.name) + " ")) << verb.name;
        EXPECT_FALSE(verb.help.empty()) << verb.name;
        EXPECT_TRUE(verb.handler) << verb.name;
        EXPECT_TRUE(verb.options) << verb.name;
    }
    EXPECT_EQ(names, (std::set<std::string>{"compare", "generate", "record", "revoke", "test", "phase"}));
}

TEST(DkimVerbs, HelpAndUsageErrors) {
    struct Case {
        const char* desc;
        std::vector<const char*> args;
        int code;
        const char* out;
        const char* err;
    };
    const Case cases[] = {
        {"overall help lists every synopsis",
         {"--help"},
         0,
         "cdm-dkim revoke --domain D --selector S",
         ""},
        {"verb help shows its usage",
         {"generate", "--help"},
         0,
         "usage: cdm-dkim generate --domain D [--algorithm rsa|ed25519|rsa+ed25519]",
         ""},
        {"no verb",
         {},
         64,
         "",
         "cdm-dkim: no command given\nusage: cdm-dkim generate|record|compare|revoke|test|phase "
         "[options]\n"},
        {"unknown verb", {"sign"}, 64, "", "cdm-dkim: unknown command 'sign'\n"},
        {"missing required option",
         {"revoke", "--domain", "a.test"},
         64,
         "",
         "cdm-dkim: the option '--selector' is required but missing\nusage: cdm-dkim revoke"},
        {"version without a verb", {"--version"}, 0, "cdm-dkim (cdm) ", ""},
        {"-v and -q before the verb",
         {"-v", "-qq", "revoke", "--domain", "a.test", "--selector", "s", "--format", "zone"},
         0,
         "s._domainkey.a.test. 3600 IN TXT \"v=DKIM1; p=\"",
         ""},
        {"only flags", {"-v"}, 64, "", "cdm-dkim: no command given"},
    };
    for (const auto& c : cases) {
        testing::internal::CaptureStdout();
        testing::internal::CaptureStderr();
        const int code = runVerb(dkim::verbs(), c.args);
        const std::string out = testing::internal::GetCapturedStdout();
        const std::string err = testing::internal::GetCapturedStderr();
        EXPECT_EQ(code, c.code) << c.desc;
        EXPECT_THAT(out, HasSubstr(c.out)) << c.desc;
        EXPECT_THAT(err, HasSubstr(c.err)) << c.desc;
    }
}

TEST(DkimFlags, ParseFlags) {
    struct Case {
        const char* desc;
        const char* text;
        std::string record; // the tags as printed, with k=rsa and p=X
    };
    const Case cases[] = {
        {"none", "", "v=DKIM1; k=rsa; p=X"},
        {"hash", "h=sha256", "v=DKIM1; h=sha256; k=rsa; p=X"},
        {"strict and testing, repeated t", "t=s,t=y", "v=DKIM1; k=rsa; t=s:y; p=X"},
        {"colon list and duplicates", "t=y:s, t=y ,s=email", "v=DKIM1; k=rsa; s=email; t=y:s; p=X"},
        {"upper case", "H=SHA256,S=*", "v=DKIM1; h=sha256; k=rsa; s=*; p=X"},
        {"notes are quoted-printable", "n=key for a;b=c",
         "v=DKIM1; k=rsa; n=key=20for=20a=3Bb=3Dc; p=X"},
    };
    for (const auto& c : cases) {
        dkim::KeyRecord r;
        r.publicKey = "X";
        r.tags = dkim::parseFlags(c.text);
        EXPECT_EQ(r.toText(), c.record) << c.desc;
    }
}

TEST(DkimFlags, ParseFlagsErrors) {
    struct Case {
        const char* desc;
        const char* text;
        const char* message;
    };
    const Case cases[] = {
        {"sha1 is retired", "h=sha1", "RFC 8301 retired SHA-1"},
        {"unknown flag", "t=x", "--flags t='x' is not known"},
        {"unknown tag", "k=rsa", "--flags tag 'k' is not one of h, s, t, n"},
        {"no equals", "sha256", "--flags item 'sha256' is not tag=value"},
    };
    for (const auto& c : cases) {
        std::string message;
        EXPECT_EQ(codeOf([&] { dkim::parseFlags(c.text); }, &message), Exit::Usage) << c.desc;
        EXPECT_THAT(message, HasSubstr(c.message)) << c.desc;
    }
}

TEST(DkimSelectors, ChoosesAsTheRuleSays) {
    const std::time_t now = 1763913600; // 2025-11-23 16:00:00 UTC
    struct Case {
        const char* desc;
        dkim::SelectorRule rule;
        std::size_t count;
        std::vector<std::string> expected;
    };
    const Case cases[] = {
        {"original default", {{}, "", "key", now}, 1, {"key_1763913600"}},
        {"keybasename", {{}, "", "mail", now}, 1, {"mail_1763913600"}},
        {"fixed", {{"s1"}, "", "key", now}, 1, {"s1"}},
        {"two fixed", {{"r", "e"}, "", "key", now}, 2, {"r", "e"}},
        {"one fixed as a base", {{"s"}, "", "key", now}, 2, {"s-rsa", "s-ed25519"}},
        {"default for two",
         {{}, "", "key", now},
         2,
         {"key_1763913600-rsa", "key_1763913600-ed25519"}},
        {"date", {{}, "YYYYMMDD", "key", now}, 1, {"20251123"}},
        {"date with time and literals",
         {{}, "sYYYY-MM-DDThhmmss", "key", now},
         1,
         {"s2025-11-23T160000"}},
        {"date for two", {{}, "YYYYMM", "key", now}, 2, {"202511-rsa", "202511-ed25519"}},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(dkim::selectors(c.rule, c.count), c.expected) << c.desc;
    }
}

TEST(DkimSelectors, RefusesBadSelectors) {
    struct Case {
        const char* desc;
        dkim::SelectorRule rule;
        std::size_t count;
        const char* message;
    };
    const Case cases[] = {
        {"too many", {{"a", "b"}, "", "key", 0}, 1, "2 selectors given for 1 key"},
        {"fixed and date", {{"a"}, "YYYY", "key", 0}, 1, "exclude each other"},
        {"space", {{"a b"}, "", "key", 0}, 1, "selector 'a b' may hold only letters"},
        {"empty label", {{"a..b"}, "", "key", 0}, 1, "has an empty label"},
        {"long label", {{std::string(64, 'a')}, "", "key", 0}, 1, "longer than 63"},
        {"same twice", {{"A", "a"}, "", "key", 0}, 2, "two different selectors"},
        {"bad base name", {{}, "", "my key", 0}, 1, "may hold only letters"},
    };
    for (const auto& c : cases) {
        std::string message;
        EXPECT_EQ(codeOf([&] { dkim::selectors(c.rule, c.count); }, &message), Exit::Usage)
            << c.desc;
        EXPECT_THAT(message, HasSubstr(c.message)) << c.desc;
    }
}

TEST(DkimOwner, BuildsTheDomainkeyName) {
    EXPECT_EQ(dkim::owner("S1", "Example.TEST"), "s1._domainkey.example.test.");
    EXPECT_EQ(dkim::owner("a.b", "example.test."), "a.b._domainkey.example.test.");
    std::string message;
    EXPECT_EQ(codeOf([&] { dkim::owner("s", "a..test"); }, &message), Exit::Usage);
    EXPECT_THAT(message, HasSubstr("--domain 'a..test'"));
    EXPECT_EQ(codeOf([&] { dkim::owner("s", "."); }, &message), Exit::Usage);
    EXPECT_EQ(codeOf([&] { dkim::owner("s", ""); }, &message), Exit::Usage);
    EXPECT_EQ(codeOf(
                  [&] {
                      dkim::owner(std::string(60, 'a') + "." + std::string(60, 'b') + "." +
                                      std::string(60, 'c'),
                                  std::string(60, 'd') + ".test");
                  },
                  &message),
              Exit::Usage);
}

TEST(DkimRecord, FromPublicKey) {
    const auto& k = testKeys();
    const auto rsa = dkim::fromPublicKey(k.rsa2048);
    EXPECT_EQ(rsa.toText(), "v=DKIM1; k=rsa; p=" + base64(k.rsa2048));
    // RFC 8463 §4: Ed25519 p= is the raw key, 44 base64 characters.
    const auto ed = dkim::fromPublicKey(k.ed25519, dkim::parseFlags("t=s"));
    EXPECT_EQ(ed.toText(), "v=DKIM1; k=ed25519; t=s; p=" + base64(keys::ed25519Raw(k.ed25519)));
    EXPECT_EQ(ed.publicKey.size(), 44U);
    // A 3072-bit SPKI is 422 bytes: its base64 ends in '='.
    EXPECT_TRUE(dkim::fromPublicKey(k.rsa3072).publicKey.ends_with("="));

    std::string message;
    EXPECT_EQ(codeOf([&] { dkim::fromPublicKey(k.p256); }, &message), Exit::DataErr);
    EXPECT_THAT(message, HasSubstr("an ECDSA P-256 key; DKIM records take RSA or Ed25519 keys"));
}

TEST(DkimTags, ParseTagList) {
    using Pairs = std::vector<std::pair<std::string, std::string>>;
    struct Case {
        const char* desc;
        const char* text;
        Pairs expected;
    };
    const Case cases[] = {
        {"plain", "v=DKIM1; k=rsa; p=AB", {{"v", "DKIM1"}, {"k", "rsa"}, {"p", "AB"}}},
        {"no spaces, trailing ;", "v=DKIM1;p=AB;", {{"v", "DKIM1"}, {"p", "AB"}}},
        {"whitespace everywhere", " v = DKIM1 ;\tp =\r\n AB== ", {{"v", "DKIM1"}, {"p", "AB=="}}},
        {"padding is kept (the original cut at '=')", "p=YWJjZA==", {{"p", "YWJjZA=="}}},
        {"empty value", "v=DKIM1; p=", {{"v", "DKIM1"}, {"p", ""}}},
        {"empty specs skipped", ";;p=A;;", {{"p", "A"}}},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(dkim::parseTagList(c.text), c.expected) << c.desc;
    }
}

TEST(DkimTags, ParseErrorsNameTheLocation) {
    const cdm::Location at{"r.txt", 3, {}};
    struct Case {
        const char* desc;
        const char* text;
        const char* message;
    };
    const Case cases[] = {
        {"no equals", "v=DKIM1; garbage", "r.txt:3: tag 'garbage' has no '='"},
        {"repeated tag", "p=A; p=B", "r.txt:3: tag 'p' appears twice"},
        {"bad tag name", "1x=2; p=A", "r.txt:3: invalid tag name '1x'"},
        {"wrong version", "v=DKIM2; p=A", "r.txt:3: v='DKIM2', not DKIM1"},
        {"version not first", "k=rsa; v=DKIM1; p=A", "v= is not the first tag"},
        {"unknown key type", "v=DKIM1; k=dsa; p=A", "k='dsa' is not rsa or ed25519"},
        {"no key", "v=DKIM1; k=rsa", "r.txt:3: no p= tag"},
    };
    for (const auto& c : cases) {
        std::string message;
        EXPECT_EQ(codeOf([&] { dkim::parseKeyRecord(c.text, at); }, &message), Exit::DataErr)
            << c.desc;
        EXPECT_THAT(message, HasSubstr(c.message)) << c.desc;
    }
}

TEST(DkimTags, ParseKeyRecord) {
    const auto r =
        dkim::parseKeyRecord("v=DKIM1; h=sha256; k=ed25519; s=email; t=y:s; p=AB CD\n==");
    EXPECT_EQ(r.type, dkim::KeyType::Ed25519);
    EXPECT_EQ(r.publicKey, "ABCD==");
    EXPECT_EQ(r.tags.hashes, std::vector<std::string>{"sha256"});
    EXPECT_EQ(r.tags.flags, (std::vector<std::string>{"y", "s"}));
    EXPECT_EQ(dkim::parseKeyRecord("p=A").type, dkim::KeyType::Rsa);
}

TEST(DkimFind, ReadsOtherToolsRecords) {
    struct Case {
        const char* desc;
        std::string text;
        std::string selector, domain, record;
        unsigned line;
    };
    const Case cases[] = {
        {"rspamadm dkim_keygen",
         "sel._domainkey IN TXT ( \"v=DKIM1; k=rsa; \"\n\t\"p=MIIB\"\n\t\"IDAQAB\"\n) ; \n", "sel",
         "", "v=DKIM1; k=rsa; p=MIIBIDAQAB", 1},
        {"opendkim-genkey with its comment",
         "osel._domainkey\tIN\tTXT\t( \"v=DKIM1; h=sha256; k=rsa; \"\n\t  \"p=MIIB\"\n\t  "
         "\"wIDAQAB\" )  ; "
         "----- DKIM key osel for example.test\n",
         "osel", "", "v=DKIM1; h=sha256; k=rsa; p=MIIBwIDAQAB", 1},
        {"amavisd showkeys with a leading comment",
         "; key#1 2048 bits, s=ams, d=example.test, /k.pem\nams._domainkey.example.test.\t3600 TXT "
         "(\n"
         "  \"v=DKIM1; p=\"\n  \"MIIB\"\n  \"/wIDAQAB\")\n",
         "ams", "example.test", "v=DKIM1; p=MIIB/wIDAQAB", 2},
        {"cdm-dkim zone line",
         "s1._domainkey.example.test. 3600 IN TXT \"v=DKIM1; k=ed25519; p=AA==\"\n", "s1",
         "example.test", "v=DKIM1; k=ed25519; p=AA==", 1},
        {"dknewkey .dns: a bare tag list", "\n\nv=DKIM1; k=rsa; h=sha256; p=MIIB\n", "", "",
         "v=DKIM1; k=rsa; h=sha256; p=MIIB", 3},
        {"escapes in strings", "x._domainkey TXT \"v=DKIM1;\\032p=A\\\"\"", "x", "",
         "v=DKIM1; p=A\"", 1},
    };
    for (const auto& c : cases) {
        const auto found = dkim::findRecords(c.text, "f.txt");
        ASSERT_EQ(found.size(), 1U) << c.desc;
        EXPECT_EQ(found[0].selector, c.selector) << c.desc;
        EXPECT_EQ(found[0].domain, c.domain) << c.desc;
        EXPECT_EQ(found[0].text, c.record) << c.desc;
        EXPECT_EQ(found[0].where.line, c.line) << c.desc;
    }
}

TEST(DkimFind, SeveralRecordsAndErrors) {
    const auto two = dkim::findRecords("$ORIGIN example.test.\na._domainkey 60 IN TXT \"v=DKIM1; "
                                       "p=A\"\n_dmarc IN TXT \"v=DMARC1\"\n"
                                       "b._domainkey IN TXT (\"v=DKIM1; \"\n \"p=B\")\n",
                                       "z");
    ASSERT_EQ(two.size(), 2U);
    EXPECT_EQ(two[0].selector, "a");
    EXPECT_EQ(two[1].selector, "b");
    EXPECT_EQ(two[1].where.line, 4U);

    struct Case {
        const char* desc;
        std::string text;
        const char* message;
    };
    const Case cases[] = {
        {"unterminated string", "a._domainkey TXT (\n \"v=DKIM1; p=A\n)",
         "f.txt:2: unterminated quoted string"},
        {"unclosed parenthesis", "\na._domainkey TXT ( \"v=DKIM1; p=A\"\n",
         "f.txt:2: '(' not closed"},
        {"stray parenthesis", "a TXT \"p=A\" )", "f.txt:1: ')' without '('"},
        {"no record", "a._domainkey TXT \"v=DKIM1\"\n",
         "f.txt: no DKIM record (a TXT record with p=) found"},
        {"empty", "", "no DKIM record"},
    };
    for (const auto& c : cases) {
        std::string message;
        EXPECT_EQ(codeOf([&] { dkim::findRecords(c.text, "f.txt"); }, &message), Exit::DataErr)
            << c.desc;
        EXPECT_THAT(message, HasSubstr(c.message)) << c.desc;
    }
}

TEST(DkimCompare, MatchesOnlyTheSameKey) {
    const auto& k = testKeys();
    const auto record = [](const std::string& text) { return dkim::parseKeyRecord(text); };
    const std::string rsaP = base64(k.rsa2048);
    const std::string edP = base64(keys::ed25519Raw(k.ed25519));
    struct Case {
        const char* desc;
        std::string text;
        std::vector<std::uint8_t> key;
        bool match;
        const char* reason;
    };
    const Case cases[] = {
        {"RSA SPKI", "v=DKIM1; k=rsa; p=" + rsaP, k.rsa2048, true, ""},
        {"RSA without k=", "v=DKIM1; p=" + rsaP, k.rsa2048, true, ""},
        {"RSA split by whitespace", "p=" + rsaP.substr(0, 100) + " \n\t" + rsaP.substr(100),
         k.rsa2048, true, ""},
        {"RSA 3072 with '=' padding", "v=DKIM1; k=rsa; p=" + base64(k.rsa3072), k.rsa3072, true,
         ""},
        {"Ed25519 raw", "v=DKIM1; k=ed25519; p=" + edP, k.ed25519, true, ""},
        {"another RSA key", "v=DKIM1; k=rsa; p=" + base64(k.rsaOther), k.rsa2048, false,
         "p= holds another key"},
        {"revoked", "v=DKIM1; k=rsa; p=", k.rsa2048, false, "the record is revoked (empty p=)"},
        {"k=rsa for an Ed25519 key", "v=DKIM1; k=rsa; p=" + rsaP, k.ed25519, false,
         "the record has k=rsa but the key is Ed25519"},
        {"k=ed25519 for an RSA key", "v=DKIM1; k=ed25519; p=" + edP, k.rsa2048, false,
         "the record has k=ed25519 but the key is RSA"},
        {"Ed25519 as SPKI", "v=DKIM1; k=ed25519; p=" + base64(k.ed25519), k.ed25519, false,
         "RFC 8463 wants the raw 32-byte key"},
        {"bad base64", "v=DKIM1; p=" + rsaP.substr(1), k.rsa2048, false, "p= is not valid base64"},
        {"base64 of garbage", "v=DKIM1; p=YWJjZA==", k.rsa2048, false,
         "p= does not hold a public key"},
        {"ECDSA key", "v=DKIM1; p=" + rsaP, k.p256, false,
         "the key is ECDSA P-256, not RSA or Ed25519"},
    };
    for (const auto& c : cases) {
        const auto result = dkim::compare(record(c.text), c.key);
        EXPECT_EQ(result.match, c.match) << c.desc;
        EXPECT_THAT(result.reason, HasSubstr(c.reason)) << c.desc;
    }
}

TEST(DkimCompare, CompareFilesPicksTheRecord) {
    const auto& k = testKeys();
    TempDir dir;
    std::ofstream(dir.path("two.txt"))
        << "a._domainkey.example.test. 3600 TXT \"v=DKIM1; p=" << base64(k.rsa2048) << "\"\n"
        << "b._domainkey.example.test. 3600 TXT \"v=DKIM1; p=" << base64(k.rsaOther) << "\"\n";
    dkim::CompareRequest request{dir.path("two.txt"), k.dir.path("rsa2048.pem"), "", ""};
    std::string message;
    EXPECT_EQ(codeOf([&] { dkim::compareFiles(request); }, &message), Exit::DataErr);
    EXPECT_THAT(message, HasSubstr("2 DKIM records ('a', 'b'); choose one with --selector"));

    request.selector = "A";
    auto result = dkim::compareFiles(request);
    EXPECT_TRUE(result.comparison.match);
    EXPECT_EQ(result.line, "a._domainkey.example.test.: match: the record publishes the key in '" +
                               request.keyPath + "' (RSA 2048 bits)");
    request.selector = "b";
    result = dkim::compareFiles(request);
    EXPECT_FALSE(result.comparison.match);
    EXPECT_EQ(result.line, "b._domainkey.example.test.: mismatch: p= holds another key");
    request.domain = "other.test";
    EXPECT_EQ(codeOf([&] { dkim::compareFiles(request); }, &message), Exit::DataErr);
    EXPECT_THAT(message, HasSubstr("no DKIM record for the selector and domain given"));

    std::ofstream(dir.path("nul.txt")) << std::string("p=A\0", 4);
    request = {dir.path("nul.txt"), k.dir.path("rsa2048.pem"), "", ""};
    EXPECT_EQ(codeOf([&] { dkim::compareFiles(request); }, &message), Exit::DataErr);
    EXPECT_THAT(message, HasSubstr("nul.txt: binary data"));
    request.recordPath = dir.path("missing.txt");
    EXPECT_EQ(codeOf([&] { dkim::compareFiles(request); }, &message), Exit::NoInput);
}

TEST(DkimRender, EveryFormat) {
    const auto& k = testKeys();
    const auto rsa = entry("s1", k.rsa2048, "/keys/rsa.pem");
    auto ed = entry("s2", k.ed25519, "/keys/ed.pem");
    const std::string p = rsa.record.publicKey;

    // Zone: 255-octet strings, as record::txtFromText cuts them.
    const std::string zone = dkim::render({rsa}, dkim::Format::Zone, 300, "generate");
    const std::string text = "v=DKIM1; k=rsa; p=" + p;
    EXPECT_EQ(zone, "s1._domainkey.example.test. 300 IN TXT \"" + text.substr(0, 255) + "\" \"" +
                        text.substr(255) + "\"\n");

    EXPECT_EQ(dkim::render({rsa}, dkim::Format::Rspamd, 300, "generate"),
              "path = \"/keys/rsa.pem\";\nselector = \"s1\";\nuse_esld = false\n"
              "allow_username_mismatch = true;\n");
    EXPECT_EQ(dkim::render({rsa}, dkim::Format::OpenDkim, 300, "generate"),
              "# KeyTable\ns1._domainkey.example.test example.test:s1:/keys/rsa.pem\n"
              "# SigningTable\nexample.test s1._domainkey.example.test\n");
    EXPECT_EQ(dkim::render({rsa}, dkim::Format::Amavisd, 300, "generate"),
              "dkim_key('example.test', 's1', '/keys/rsa.pem');\n");

    ed.seedPath = "/keys/ed.seed";
    EXPECT_EQ(dkim::render({rsa, ed}, dkim::Format::Rspamd, 300, "generate"),
              "use_esld = false\nallow_username_mismatch = true;\ndomain {\n  \"example.test\" {\n"
              "    selectors = [\n      { path = \"/keys/rsa.pem\"; selector = \"s1\"; },\n"
              "      { path = \"/keys/ed.seed\"; selector = \"s2\"; },\n    ];\n  }\n}\n");
}

TEST(DkimRender, JsonIsADocumentWithDesiredRecords) {
    const auto& k = testKeys();
    const auto rsa = entry("s1", k.rsa2048, "/keys/rsa.pem");
    const std::string json = dkim::render({rsa}, dkim::Format::Json, 600, "generate");
    const auto doc = cdm::document::parse(json, "<out>");
    const auto records = cdm::document::records(doc, "<out>");
    ASSERT_EQ(records.size(), 1U);
    EXPECT_EQ(records[0].name, "s1._domainkey.example.test.");
    EXPECT_EQ(records[0].type, cdm::record::Type::TXT);
    EXPECT_EQ(records[0].ttl, 600U);
    EXPECT_EQ(cdm::record::txtText(*records[0].data), "v=DKIM1; k=rsa; p=" + rsa.record.publicKey);
    EXPECT_EQ(records[0].op, cdm::document::Op::Replace);
    EXPECT_EQ(records[0].scope.name, "s1._domainkey.example.test.");
    EXPECT_EQ(records[0].label, "DKIM");
    const auto& report = doc.at("report").as_array().at(0).as_object();
    EXPECT_EQ(report.at("program").as_string(), "cdm-dkim");
    EXPECT_EQ(report.at("event").as_string(), "generate");
    EXPECT_EQ(report.at("selector").as_string(), "s1");
    EXPECT_EQ(report.at("bits").as_int64(), 2048);
    EXPECT_EQ(report.at("key").as_string(), "/keys/rsa.pem");
}

TEST(DkimRender, SigningFormatsRefuseWhatTheSignerCannotUse) {
    const auto& k = testKeys();
    const auto ed = entry("s2", k.ed25519, "/keys/ed.pem");
    const auto revoked = dkim::revoke("example.test", "old", std::nullopt);
    struct Case {
        const char* desc;
        dkim::Entry e;
        dkim::Format format;
        const char* message;
    };
    const Case cases[] = {
        {"rspamd Ed25519 without a seed", ed, dkim::Format::Rspamd,
         "rspamd cannot read PEM Ed25519 keys"},
        {"amavisd Ed25519", ed, dkim::Format::Amavisd, "amavisd signs with RSA keys only"},
        {"revoked for OpenDKIM", revoked, dkim::Format::OpenDkim,
         "a revoked key has no signing configuration"},
    };
    for (const auto& c : cases) {
        std::string message;
        EXPECT_EQ(codeOf([&] { dkim::render({c.e}, c.format, 1, "x"); }, &message), Exit::Usage)
            << c.desc;
        EXPECT_THAT(message, HasSubstr(c.message)) << c.desc;
    }
}

TEST(DkimRevoke, EmptyKey) {
    EXPECT_EQ(dkim::render({dkim::revoke("Example.test", "old", std::nullopt)}, dkim::Format::Zone,
                           60, "revoke"),
              "old._domainkey.example.test. 60 IN TXT \"v=DKIM1; p=\"\n");
    EXPECT_EQ(dkim::revoke("example.test", "old", dkim::KeyType::Ed25519).record.toText(),
              "v=DKIM1; k=ed25519; p=");
    EXPECT_EQ(codeOf([] { dkim::revoke("example.test", "bad selector", std::nullopt); }),
              Exit::Usage);
}

TEST(DkimGenerate, DualKeysAndFailureLeavesNothing) {
    TempDir dir;
    dkim::GenerateRequest request;
    request.domain = "example.test";
    request.algorithms = {dkim::KeyType::Rsa, dkim::KeyType::Ed25519};
    request.bits = 1024;
    request.keyPaths = {dir.path("k/rsa.pem"), dir.path("k/ed.pem")};
    request.seedPaths = {dir.path("k/ed.seed")};
    request.selector.fixed = {"mail"};
    request.format = dkim::Format::Rspamd;
    const auto entries = dkim::generate(request);
    ASSERT_EQ(entries.size(), 2U);
    EXPECT_EQ(entries[0].selector, "mail-rsa");
    EXPECT_EQ(entries[1].selector, "mail-ed25519");
    EXPECT_EQ(entries[0].bits, 1024U);
    EXPECT_EQ(entries[1].record.type, dkim::KeyType::Ed25519);
    EXPECT_EQ(entries[1].seedPath, dir.path("k/ed.seed"));
    EXPECT_EQ(dir.names(), (std::vector<std::string>{"k", "k/ed.pem", "k/ed.seed", "k/rsa.pem"}));
    EXPECT_EQ(dkim::compare(dkim::parseKeyRecord(entries[0].record.toText()),
                            keys::publicKeyDer(dir.path("k/rsa.pem")))
                  .match,
              true);

    struct Case {
        const char* desc;
        std::function<void(dkim::GenerateRequest&)> change;
        Exit code;
        const char* message;
    };
    const Case cases[] = {
        {"an existing key file", [](auto&) {}, Exit::CantCreat, "rsa.pem: already exists"},
        {"one key file for two keys", [&](auto& r) { r.keyPaths = {dir.path("n/a.pem")}; },
         Exit::Usage, "takes two --key-out files"},
        {"the same file twice",
         [&](auto& r) {
             r.keyPaths = {dir.path("n/a.pem"), dir.path("n/../n/a.pem")};
         },
         Exit::Usage, "is named twice"},
        {"512 bits",
         [&](auto& r) {
             r.keyPaths = {dir.path("n/a.pem"), dir.path("n/b.pem")};
             r.bits = 512;
         },
         Exit::Usage, "RSA keys of 512 bits are not supported"},
        {"second file cannot be made: the first is removed",
         [&](auto& r) {
             r.keyPaths = {dir.path("n/a.pem"), dir.path("k/rsa.pem/b.pem")};
             r.seedPaths.clear();
             r.format = dkim::Format::Zone;
         },
         Exit::CantCreat, "exists and is not a directory"},
        {"a seed for RSA only",
         [&](auto& r) {
             r.algorithms = {dkim::KeyType::Rsa};
             r.keyPaths = {dir.path("n/a.pem")};
         },
         Exit::Usage, "--seed-out applies to Ed25519 keys only"},
    };
    for (const auto& c : cases) {
        dkim::GenerateRequest r = request;
        c.change(r);
        std::string message;
        EXPECT_EQ(codeOf([&] { dkim::generate(r); }, &message), c.code) << c.desc;
        EXPECT_THAT(message, HasSubstr(c.message)) << c.desc;
        EXPECT_EQ(dir.names(),
                  (std::vector<std::string>{"k", "k/ed.pem", "k/ed.seed", "k/rsa.pem"}))
            << c.desc;
    }
}

TEST(DkimRecordFromKeys, NeedsASelectorAndGivesEachKeyItsOwn) {
    TempDir dir;
    keys::generate({keys::Algorithm::Ed25519, 0}, dir.path("ed.pem"));
    keys::generate({keys::Algorithm::Rsa, 1024}, dir.path("rsa.pem"));
    dkim::RecordRequest request;
    request.domain = "example.test";
    request.keyPaths = {dir.path("ed.pem"), dir.path("rsa.pem")};
    std::string message;
    EXPECT_EQ(codeOf([&] { dkim::fromKeys(request); }, &message), Exit::Usage);
    EXPECT_THAT(message, HasSubstr("an existing key needs --selector or --selector-date"));
    request.selector.fixed = {"base"};
    const auto entries = dkim::fromKeys(request);
    ASSERT_EQ(entries.size(), 2U);
    EXPECT_EQ(entries[0].selector, "base-ed25519");
    EXPECT_EQ(entries[1].selector, "base-rsa");
    EXPECT_EQ(entries[0].keyPath, dir.path("ed.pem"));
    EXPECT_EQ(dir.names(), (std::vector<std::string>{"ed.pem", "rsa.pem"}));
}

// ---------------------------------------------------------------- test: published records

namespace {

// The public half of tests/cli/fixtures/cdm-dkim/rspamadm-4096.key: every 4096-bit SPKI
// (550 bytes) ends in "==" in base64, where the original's parser cut the key.
constexpr const char* rsa4096Pem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAqDvevV0c0uLdIdOuvQmq\n"
    "83GQBQpx5Tkb6iSWtugIyocAkEHJ5ge4KMJu6IbyIHkB5WC8LfJ4ppiG32vJa55c\n"
    "6QZsiQWvUGrfElv0yOJzCk0ERjuyO39r1jQ75mSteOoVH1QDviBNn22k00N8c+L3\n"
    "Cc0v3kKr8Fl0pT4QTWV1Jhru360Ik2D5mEnIZrCHW9DK2Ka6tOD7wuciNwqzKloH\n"
    "OgqVk85RWpP749AnYo4gfGGVcyPqhTO8Rl4hKz/baOgflu6sMFWz5MA9/YHLECGa\n"
    "72E3HRKff94XoaymFbuBQw4qCwfM4lsYuWC1i3ruBJN7Nc8U4YjMhIdASNdCuWPH\n"
    "2fT4kr6DJFCKw2rJ5H0zYUeNlMj/o8hTkNU2C1NOYv/QXmWbbDf1xwQ/mpafXNGq\n"
    "CZybXhnPkcewSwSJXyWaM742hFq9A0QwgkWNnh1cxLt1Ss7JJLRFPpP//5N9AQXj\n"
    "8Jm1dcZM7N+8+9gP8hHsR6tmCgmCMi6t+xESsOndvtRsVS/r9xGlrxDyT74jIOeV\n"
    "euyFHWUOrvnSATu2sLHCtReOzD9iKxrDR3lOTUQ6TGklYbIT451SOcXX49r44HAx\n"
    "Wugia0Eckvj0YJJpIkShqPQRX8c7v8Vm00eeRcBJB+vDk1bb8NRmQIEUinRpx2w/\n"
    "dzWqIL5PGhHH0bAxNnUb5Q8CAwEAAQ==\n"
    "-----END PUBLIC KEY-----\n";

// A 512-bit RSA SPKI in base64: too small for any verifier (RFC 8301 §3.2).
constexpr const char* rsa512P = "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKLYhqBa5QMEza+JOmS45UML7FaWs1yM+"
                                "H6dxyQejst6ebJbk3E0sSopdbOTQnmfj4rOnDI+BtcnfjIE4QrznzECAwEAAQ==";

const std::vector<std::uint8_t>& rsa4096() {
    static const std::vector<std::uint8_t> spki = [] {
        TempDir dir;
        std::ofstream(dir.path("4096.pub")) << rsa4096Pem;
        return keys::publicKeyDer(dir.path("4096.pub"));
    }();
    return spki;
}

const std::string owner = "s._domainkey.example.test.";

cdm::resolve::Answer answer(int rcode, const std::vector<std::string>& txtData,
                            cdm::resolve::Security security = cdm::resolve::Security::Secure) {
    cdm::resolve::Answer a;
    a.rcode = rcode;
    a.security = security;
    a.authenticated = security == cdm::resolve::Security::Secure;
    if (security == cdm::resolve::Security::Insecure) {
        a.why = "the resolver did not set the AD bit";
    }
    for (const auto& data : txtData) {
        a.records.push_back(cdm::record::Record::make(owner, cdm::record::Type::TXT, 60, data));
    }
    return a;
}

// TXT presentation data of a text, in strings of at most 255 octets.
std::string txt(const std::string& text) {
    return cdm::record::txtFromText(text);
}

} // namespace

TEST(DkimTest, VerdictNames) {
    EXPECT_EQ(dkim::toString(dkim::Verdict::Pass), "pass");
    EXPECT_EQ(dkim::toString(dkim::Verdict::Mismatch), "key mismatch");
    EXPECT_EQ(dkim::toString(dkim::Verdict::Revoked), "revoked");
    EXPECT_EQ(dkim::toString(dkim::Verdict::Malformed), "malformed");
    EXPECT_EQ(dkim::toString(dkim::Verdict::NotFound), "not found");
}

TEST(DkimTest, LooksLikeKeyRecord) {
    struct Case {
        const char* desc;
        const char* text;
        bool dkim;
    };
    const Case cases[] = {
        {"v=DKIM1 and p=", "v=DKIM1; k=rsa; p=AB", true},
        {"p= alone (v= is optional)", "p=AB", true},
        {"revoked", "v=DKIM1; p=", true},
        {"blanks and lower case", "  v = dkim1 ; p = A", true},
        {"no ';' between tags", "v=DKIM1 k=rsa p=AB", true},
        {"another DKIM version", "v=DKIM2; p=AB", true},
        {"v= not first, p= present", "k=rsa; v=DKIM1; p=AB", true},
        {"v=DKIM1 without p=", "v=DKIM1; k=rsa", true},
        {"empty specs before v=", ";; v=DKIM1", true},
        {"SPF", "v=spf1 -all", false},
        {"DMARC has a p= tag but is not DKIM", "v=DMARC1; p=none", false},
        {"site verification", "google-site-verification=abc", false},
        {"prose", "hello world", false},
        {"a word p without '='", "k=rsa; p", false},
        {"empty", "", false},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(dkim::looksLikeKeyRecord(c.text), c.dkim) << c.desc;
    }
}

TEST(DkimTest, JudgeRecord) {
    const auto& k = testKeys();
    const std::string rsaP = base64(k.rsa2048);
    const std::string p4096 = base64(rsa4096());
    const std::string edP = base64(keys::ed25519Raw(k.ed25519));
    ASSERT_TRUE(p4096.ends_with("=="));
    ASSERT_TRUE(base64(k.rsa3072).ends_with("=") && !base64(k.rsa3072).ends_with("=="));
    using V = dkim::Verdict;
    struct Case {
        const char* desc;
        std::string text;
        std::vector<std::uint8_t> key;
        V verdict;
        std::string reason; // a substring of the reason
    };
    const Case cases[] = {
        {"RSA 2048", "v=DKIM1; k=rsa; p=" + rsaP, k.rsa2048, V::Pass,
         "the record publishes the key in 'k.pem' (RSA 2048 bits)"},
        {"no v= and no k=", "p=" + rsaP, k.rsa2048, V::Pass, "(RSA 2048 bits)"},
        {"blanks around tags and '=', FWS inside p=",
         " v = DKIM1 ;\tk = rsa ; p = " + rsaP.substr(0, 100) + " \r\n " + rsaP.substr(100) + " ; ",
         k.rsa2048, V::Pass, "(RSA 2048 bits)"},
        {"RSA 3072, p= ends in '='", "v=DKIM1; k=rsa; p=" + base64(k.rsa3072), k.rsa3072, V::Pass,
         "(RSA 3072 bits)"},
        {"RSA 4096, p= ends in '==' (the original broke here)", "v=DKIM1; k=rsa; p=" + p4096,
         rsa4096(), V::Pass, "(RSA 4096 bits)"},
        {"RSA 4096, FWS before each '='",
         "v=DKIM1; k=rsa; p=" + p4096.substr(0, p4096.size() - 2) + " = =", rsa4096(), V::Pass,
         "(RSA 4096 bits)"},
        {"unknown tags are ignored (RFC 6376 §3.6.1)", "v=DKIM1; x=y; k=rsa; p=" + rsaP, k.rsa2048,
         V::Pass, "(RSA 2048 bits)"},
        {"h=, s= and t=s that allow the key", "v=DKIM1; h=sha1:sha256; s=email; t=s; p=" + rsaP,
         k.rsa2048, V::Pass, "(RSA 2048 bits)"},
        {"t=y is said", "v=DKIM1; t=y; p=" + rsaP, k.rsa2048, V::Pass,
         "; t=y: the domain is testing DKIM, verifiers may ignore failures"},
        {"Ed25519, the raw key", "v=DKIM1; k=ed25519; p=" + edP, k.ed25519, V::Pass, "(Ed25519)"},
        {"another RSA key", "v=DKIM1; k=rsa; p=" + base64(k.rsaOther), k.rsa2048, V::Mismatch,
         "p= holds another key"},
        {"an RSA record for an Ed25519 key", "v=DKIM1; k=rsa; p=" + rsaP, k.ed25519, V::Mismatch,
         "the record has k=rsa but the key is Ed25519"},
        {"an Ed25519 record for an RSA key", "v=DKIM1; k=ed25519; p=" + edP, k.rsa2048, V::Mismatch,
         "the record has k=ed25519 but the key is RSA"},
        {"empty p=", "v=DKIM1; p=", k.rsa2048, V::Revoked,
         "p= is empty: the key is revoked (RFC 6376 §3.6.1)"},
        {"empty p= with k= and blanks", "v=DKIM1; k=ed25519; p= ", k.ed25519, V::Revoked,
         "revoked"},
        {"another version", "v=DKIM2; p=" + rsaP, k.rsa2048, V::Malformed, "v='DKIM2', not DKIM1"},
        {"v= not first", "k=rsa; v=DKIM1; p=" + rsaP, k.rsa2048, V::Malformed,
         "v= is not the first tag"},
        {"no ';' between tags", "v=DKIM1 k=rsa p=" + rsaP, k.rsa2048, V::Malformed, "', not DKIM1"},
        {"unknown key type", "v=DKIM1; k=dsa; p=" + rsaP, k.rsa2048, V::Malformed,
         "k='dsa' is not rsa or ed25519"},
        {"no p=", "v=DKIM1; k=rsa", k.rsa2048, V::Malformed, "no p= tag"},
        {"a tag twice", "v=DKIM1; p=" + rsaP + "; p=" + rsaP, k.rsa2048, V::Malformed,
         "tag 'p' appears twice"},
        {"p= not base64", "v=DKIM1; p=" + rsaP.substr(1), k.rsa2048, V::Malformed,
         "p= is not valid base64"},
        {"p= base64 of no key", "v=DKIM1; p=YWJjZA==", k.rsa2048, V::Malformed,
         "p= does not hold an RSA public key"},
        {"an RSA key under 1024 bits", std::string("v=DKIM1; p=") + rsa512P, k.rsa2048,
         V::Malformed, "p= holds a 512-bit RSA key; verifiers refuse keys under 1024 bits"},
        {"k=rsa with an Ed25519 SPKI", "v=DKIM1; k=rsa; p=" + base64(k.ed25519), k.rsa2048,
         V::Malformed, "k=rsa, but p= holds an Ed25519 key"},
        {"no k= with an ECDSA key", "v=DKIM1; p=" + base64(k.p256), k.rsa2048, V::Malformed,
         "no k= (so RSA), but p= holds an ECDSA P-256 key"},
        {"Ed25519 key of 33 bytes",
         "v=DKIM1; k=ed25519; p=" + base64(std::vector<std::uint8_t>(33, 7)), k.ed25519,
         V::Malformed, "p= is 33 bytes, not a 32-byte Ed25519 key (RFC 8463 §4)"},
        {"Ed25519 key as an SPKI", "v=DKIM1; k=ed25519; p=" + base64(k.ed25519), k.ed25519,
         V::Malformed, "p= holds the Ed25519 key as a SubjectPublicKeyInfo"},
        {"h= without sha256", "v=DKIM1; h=sha1; p=" + rsaP, k.rsa2048, V::Malformed,
         "h='sha1' leaves out sha256, the only hash signers may use (RFC 8301 §3.1)"},
        {"s= without email", "v=DKIM1; s=other; p=" + rsaP, k.rsa2048, V::Malformed,
         "s='other' does not include email or *"},
    };
    for (const auto& c : cases) {
        const auto v = dkim::judgeRecord(c.text, c.key, "k.pem");
        EXPECT_EQ(v.verdict, c.verdict) << c.desc << ": " << v.reason;
        EXPECT_THAT(v.reason, HasSubstr(c.reason)) << c.desc;
        EXPECT_EQ(v.text, c.text) << c.desc;
    }
    EXPECT_EQ(dkim::judgeRecord("p=" + rsaP, k.rsa2048).reason,
              "the record publishes the key (RSA 2048 bits)");
}

TEST(DkimTest, JudgeAnswer) {
    const auto& k = testKeys();
    const std::string good = "v=DKIM1; k=rsa; p=" + base64(k.rsa2048);
    const std::string other = "v=DKIM1; k=rsa; p=" + base64(k.rsaOther);
    using V = dkim::Verdict;
    struct Case {
        const char* desc;
        cdm::resolve::Answer a;
        V verdict;
        std::string reason;
        bool ok;
        std::size_t txts, dkims;
    };
    const Case cases[] = {
        {"NXDOMAIN", answer(3, {}), V::NotFound, "the name does not exist (NXDOMAIN)", false, 0, 0},
        {"NOERROR without TXT", answer(0, {}), V::NotFound, "no TXT record at the name", false, 0,
         0},
        {"only SPF and DMARC", answer(0, {txt("v=spf1 -all"), txt("v=DMARC1; p=none")}),
         V::NotFound, "no DKIM record among the 2 TXT record(s)", false, 2, 0},
        {"strings joined, cut in the base64",
         answer(0, {"\"" + good.substr(0, 40) + "\" \"" + good.substr(40, 200) + "\" \"" +
                    good.substr(240) + "\""}),
         V::Pass, "(RSA 2048 bits)", true, 1, 1},
        {"an SPF record beside the key", answer(0, {txt("v=spf1 -all"), txt(good)}), V::Pass,
         "(RSA 2048 bits)", true, 2, 1},
        {"insecure: still a pass", answer(0, {txt(good)}, cdm::resolve::Security::Insecure),
         V::Pass, "(RSA 2048 bits)", true, 1, 1},
        {"bogus: a pass that is not ok", answer(0, {txt(good)}, cdm::resolve::Security::Bogus),
         V::Pass, "(RSA 2048 bits)", false, 1, 1},
        {"revoked", answer(0, {txt("v=DKIM1; p=")}), V::Revoked, "revoked", false, 1, 1},
        {"two records that agree", answer(0, {txt(other), txt("v=DKIM1; p=" + base64(k.rsa3072))}),
         V::Mismatch,
         "2 DKIM records at the name, all key mismatch; the first: p= holds another key", false, 2,
         2},
        {"two records that disagree", answer(0, {txt(good), txt(other)}), V::Malformed,
         "2 DKIM records at the name disagree (", false, 2, 2},
    };
    for (const auto& c : cases) {
        const auto r = dkim::judgeAnswer(owner, c.a, k.rsa2048, "k.pem");
        EXPECT_EQ(r.verdict, c.verdict) << c.desc << ": " << r.reason;
        EXPECT_THAT(r.reason, HasSubstr(c.reason)) << c.desc;
        EXPECT_EQ(r.ok, c.ok) << c.desc;
        EXPECT_EQ(r.txt.size(), c.txts) << c.desc;
        EXPECT_EQ(r.records.size(), c.dkims) << c.desc;
        EXPECT_EQ(r.owner, owner) << c.desc;
        EXPECT_EQ(r.keyType, "RSA 2048 bits") << c.desc;
        EXPECT_EQ(r.expected, good) << c.desc;
    }
    const auto joined = dkim::judgeAnswer(owner, cases[3].a, k.rsa2048, "k.pem");
    EXPECT_EQ(joined.txt, std::vector<std::string>{good});

    for (const auto& [rcode, name] : {std::pair{2, "SERVFAIL"}, {5, "REFUSED"}, {1, "FORMERR"}}) {
        std::string message;
        EXPECT_EQ(codeOf([&] { dkim::judgeAnswer(owner, answer(rcode, {}), k.rsa2048, "k.pem"); },
                         &message),
                  Exit::Unavailable)
            << name;
        EXPECT_EQ(message, std::string("the DNS answered ") + name +
                               " for 's._domainkey.example.test.' TXT");
    }
}

TEST(DkimTest, TextAndJsonReports) {
    const auto& k = testKeys();
    const std::string good = "v=DKIM1; k=rsa; p=" + base64(k.rsa2048);
    auto r = dkim::judgeAnswer(owner, answer(0, {txt(good)}), k.rsa2048, "k.pem");
    EXPECT_EQ(dkim::toText(r), "s._domainkey.example.test. TXT: 1 record(s), secure\n"
                               "pass: the record publishes the key in 'k.pem' (RSA 2048 bits)\n"
                               "OK\n");
    const auto json = dkim::toJson(r);
    EXPECT_EQ(json.at("ok").as_bool(), true);
    EXPECT_EQ(json.at("verdict").as_string(), "pass");
    EXPECT_EQ(json.at("owner").as_string(), owner);
    EXPECT_EQ(json.at("key").at("file").as_string(), "k.pem");
    EXPECT_EQ(json.at("key").at("type").as_string(), "RSA 2048 bits");
    EXPECT_EQ(json.at("key").at("expected").as_string(), good);
    EXPECT_EQ(json.at("dns").at("rcode").as_string(), "NOERROR");
    EXPECT_EQ(json.at("dns").at("security").as_string(), "secure");
    EXPECT_EQ(json.at("dns").at("txt").as_array().size(), 1U);
    EXPECT_EQ(json.at("records").at(0).at("text").as_string(), good);
    EXPECT_EQ(json.at("records").at(0).at("verdict").as_string(), "pass");

    r = dkim::judgeAnswer(owner, answer(3, {}, cdm::resolve::Security::Insecure), k.rsa2048,
                          "k.pem");
    EXPECT_EQ(dkim::toText(r),
              "s._domainkey.example.test. TXT: NXDOMAIN, insecure (the resolver did not set the "
              "AD bit)\nnot found: the name does not exist (NXDOMAIN)\nFAILED\n");
    EXPECT_EQ(dkim::toJson(r).at("dns").at("rcode").as_string(), "NXDOMAIN");
    EXPECT_EQ(dkim::toJson(r).at("verdict").as_string(), "not found");

    r = dkim::judgeAnswer(owner, answer(0, {txt(good)}, cdm::resolve::Security::Bogus), k.rsa2048,
                          "k.pem");
    EXPECT_THAT(dkim::toText(r), HasSubstr("\nthe answer is bogus: a validating verifier gets no "
                                           "record at all\nFAILED\n"));

    r = dkim::judgeAnswer(owner, answer(0, {txt(good), txt("v=DKIM1; p=")}), k.rsa2048, "k.pem");
    const std::string text = dkim::toText(r);
    EXPECT_THAT(text, HasSubstr("\nmalformed: 2 DKIM records at the name disagree ("));
    EXPECT_THAT(text, HasSubstr("\n  record 1: "));
    EXPECT_THAT(text, HasSubstr("\n  record 2: "));
    EXPECT_THAT(text, HasSubstr(": revoked: p= is empty"));
    EXPECT_TRUE(text.ends_with("FAILED\n"));
}

TEST(DkimTest, RequestErrorsComeBeforeAnyQuery) {
    const auto& k = testKeys();
    // A server nobody listens on: a query would fail with Unavailable, not the codes below.
    dkim::TestRequest request{"example.test", "s", k.dir.path("rsa2048.pem"), {}};
    request.dns.servers = {{"127.0.0.1", 1}};
    struct Case {
        const char* desc;
        std::function<void(dkim::TestRequest&)> change;
        Exit code;
        std::string message;
    };
    const Case cases[] = {
        {"a missing key file", [](auto& r) { r.keyPath = "/nonexistent/k.pem"; }, Exit::NoInput,
         "/nonexistent/k.pem"},
        {"an ECDSA key", [&k](auto& r) { r.keyPath = k.dir.path("p256.pem"); }, Exit::DataErr,
         k.dir.path("p256.pem") +
             ": holds an ECDSA P-256 key; DKIM records take RSA or Ed25519 keys"},
        {"a bad selector", [](auto& r) { r.selector = "a b"; }, Exit::Usage, "'a b'"},
        {"a bad domain", [](auto& r) { r.domain = ""; }, Exit::Usage, "--domain is empty"},
        {"a missing trust anchor",
         [](auto& r) { r.dns.trustAnchorFile = "/nonexistent/anchor.ds"; }, Exit::NoInput,
         "/nonexistent/anchor.ds: unable to open the trust anchor file"},
    };
    for (const auto& c : cases) {
        dkim::TestRequest r = request;
        c.change(r);
        std::string message;
        EXPECT_EQ(codeOf([&] { dkim::test(r); }, &message), c.code) << c.desc << ": " << message;
        EXPECT_THAT(message, HasSubstr(c.message)) << c.desc;
    }
}

TEST(DkimTest, VerbRefusesBadFlags) {
    const auto& k = testKeys();
    const std::string key = k.dir.path("rsa2048.pem");
    struct Case {
        const char* desc;
        std::vector<const char*> extra;
        const char* err;
    };
    const Case cases[] = {
        {"a format test does not print",
         {"--format", "zone"},
         "cdm-dkim: --format takes text or json, not 'zone'"},
        {"a resolver that is no address",
         {"--resolver", "ns1.example.test"},
         "cdm-dkim: resolver 'ns1.example.test' is not an IP address"},
        {"an empty trust anchor", {"--trust-anchor", ""}, "cdm-dkim: --trust-anchor is empty"},
        {"no timeout", {"--timeout", "0"}, "cdm-dkim: --timeout takes 1 to 300 seconds, not '0'"},
        {"a long timeout", {"--timeout", "301"}, "not '301'"},
        {"a timeout that is no number", {"--timeout", "-1"}, "not '-1'"},
    };
    for (const auto& c : cases) {
        std::vector<const char*> args{"test",  "--domain",  "example.test", "--selector", "s",
                                      "--key", key.c_str(), "--resolver",   "127.0.0.1:1"};
        args.insert(args.end(), c.extra.begin(), c.extra.end());
        testing::internal::CaptureStdout();
        testing::internal::CaptureStderr();
        const int code = runVerb(dkim::verbs(), args);
        const std::string out = testing::internal::GetCapturedStdout();
        const std::string err = testing::internal::GetCapturedStderr();
        EXPECT_EQ(code, 64) << c.desc;
        EXPECT_EQ(out, "") << c.desc;
        EXPECT_THAT(err, HasSubstr(c.err)) << c.desc;
        EXPECT_THAT(err, HasSubstr("usage: cdm-dkim test --domain D --selector S --key FILE"))
            << c.desc;
    }
}

// A key path with quotes, backslashes or line breaks (from keylocation or --key-out) stays one
// value of the signing configuration: it cannot end the string and add a setting (issue 7).
TEST(DkimRender, HostileKeyPathsCannotAddSettings) {
    const auto& k = testKeys();
    const auto rsa = entry("s1", k.rsa2048, "/k/a\";\nselector = \"evil\\\"x\tz");
    EXPECT_EQ(dkim::render({rsa}, dkim::Format::Rspamd, 300, "generate"),
              "path = \"/k/a\\\";\\u000aselector = \\\"evil\\\\\\\"x\\u0009z\";\nselector = \"s1\";\n"
              "use_esld = false\nallow_username_mismatch = true;\n");
    EXPECT_EQ(dkim::render({rsa}, dkim::Format::Amavisd, 300, "generate"),
              "dkim_key('example.test', 's1', '/k/a\";\nselector = \"evil\\\\\"x\tz');\n")
        << "a Perl single-quoted string holds a line break as it is";
    std::string message;
    for (const char* path : {"/k/a b.pem", "/k/a\nb.pem", "/k/a\tb.pem"}) {
        EXPECT_EQ(codeOf([&] { dkim::render({entry("s1", k.rsa2048, path)}, dkim::Format::OpenDkim,
                                            300, "generate"); },
                         &message),
                  Exit::Usage)
            << path;
        EXPECT_THAT(message, HasSubstr("which an OpenDKIM KeyTable cannot hold")) << path;
    }
}
