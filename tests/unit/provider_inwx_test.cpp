// The inwx provider: record conversion both ways for every type, the endpoint rules, base32
// and TOTP against the RFC vectors, the result codes; then the provider itself against
// tests/cli/fixtures/inwx-standin.py, a local stand-in that follows INWX's documented
// JSON-RPC API (login, 2FA unlock, nameserver.info/createRecord/updateRecord/deleteRecord).

#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <boost/json.hpp>

#include "libcommon/provider.hpp"
#include "libcommon/provider/inwx.hpp"
#include "libcommon/provider/providers.hpp"

#include "tests/unit/test_util.hpp"

extern char** environ;

namespace cdm::provider {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using record::Record;
using record::Type;
using test::codeOf;

// ---------------------------------------------------------------- record conversion

struct Conversion {
    const char* what;
    Record rr;             // cdm's form
    inwx::InwxRecord inwx; // INWX's form
};

std::vector<Conversion> conversions() {
    const std::string longText(300, 'x');
    return {
        {"A",
         Record::make("www.example.test.", Type::A, 300, "192.0.2.1"),
         {"www.example.test", "A", "192.0.2.1", 300, 0}},
        {"AAAA at the apex",
         Record::make("example.test.", Type::AAAA, 3600, "2001:db8::1"),
         {"example.test", "AAAA", "2001:db8::1", 3600, 0}},
        {"CNAME",
         Record::make("alias.example.test.", Type::CNAME, 600, "www.example.test."),
         {"alias.example.test", "CNAME", "www.example.test", 600, 0}},
        {"NS",
         Record::make("sub.example.test.", Type::NS, 86400, "ns1.example.net."),
         {"sub.example.test", "NS", "ns1.example.net", 86400, 0}},
        {"MX: the preference is prio",
         Record::make("example.test.", Type::MX, 600, "20 mail.example.test."),
         {"example.test", "MX", "mail.example.test", 600, 20}},
        {"SRV: the priority is prio",
         Record::make("_imap._tcp.example.test.", Type::SRV, 600, "6 7 143 mail.example.test."),
         {"_imap._tcp.example.test", "SRV", "7 143 mail.example.test", 600, 6}},
        {"TXT: the bare text",
         Record::make("example.test.", Type::TXT, 600, R"("v=DMARC1; p=none")"),
         {"example.test", "TXT", "v=DMARC1; p=none", 600, 0}},
        {"TXT with UTF-8 and a semicolon",
         Record::make("u.example.test.", Type::TXT, 600, R"("gr\195\188n; x")"),
         {"u.example.test", "TXT", "gr\xc3\xbcn; x", 600, 0}},
        {"null MX (RFC 7505)",
         Record::make("nomail.example.test.", Type::MX, 600, "0 ."),
         {"nomail.example.test", "MX", ".", 600, 0}},
        {"SRV: no service",
         Record::make("_x._tcp.example.test.", Type::SRV, 600, "0 0 0 ."),
         {"_x._tcp.example.test", "SRV", "0 0 .", 600, 0}},
        {"TXT over 255 octets",
         Record::make("long.example.test.", Type::TXT, 600, "\"" + longText + "\""),
         {"long.example.test", "TXT", longText, 600, 0}},
        {"TLSA",
         Record::make("_443._tcp.www.example.test.", Type::TLSA, 600,
                      "3 1 1 DB34027AAE2AF459F0279BEBC049EF2127233B1B9FC23C2223F08CF36F0EE6A5"),
         {"_443._tcp.www.example.test", "TLSA",
          "3 1 1 db34027aae2af459f0279bebc049ef2127233b1b9fc23c2223f08cf36f0ee6a5", 600, 0}},
        {"TLSA wildcard port",
         Record::make("*._tcp.mail.example.test.", Type::TLSA, 600,
                      "3 0 2 " + std::string(128, 'a')),
         {"*._tcp.mail.example.test", "TLSA", "3 0 2 " + std::string(128, 'a'), 600, 0}},
        {"CAA",
         Record::make("example.test.", Type::CAA, 600, "0 issue \"letsencrypt.org\""),
         {"example.test", "CAA", "0 issue \"letsencrypt.org\"", 600, 0}},
        {"CAA with parameters",
         Record::make("example.test.", Type::CAA, 600, "128 issue \"ca.test; account=1\""),
         {"example.test", "CAA", "128 issue \"ca.test; account=1\"", 600, 0}},
        {"SOA",
         Record::make("example.test.", Type::SOA, 86400,
                      "ns.inwx.de. hostmaster.inwx.de. 2024010101 10800 3600 604800 3600"),
         {"example.test", "SOA",
          "ns.inwx.de. hostmaster.inwx.de. 2024010101 10800 3600 604800 3600", 86400, 0}},
    };
}

TEST(InwxConversion, EveryTypeBothWays) {
    for (const auto& c : conversions()) {
        SCOPED_TRACE(c.what);
        const auto got = inwx::toInwx(c.rr, "example.test.");
        EXPECT_EQ(got.name, c.inwx.name);
        EXPECT_EQ(got.type, c.inwx.type);
        EXPECT_EQ(got.content, c.inwx.content);
        EXPECT_EQ(got.ttl, c.inwx.ttl);
        EXPECT_EQ(got.prio, c.inwx.prio);
        const auto back = inwx::fromInwx(c.inwx, "example.test.");
        ASSERT_TRUE(back.has_value());
        EXPECT_TRUE(back->sameRecord(c.rr)) << back->toZoneLine() << " vs " << c.rr.toZoneLine();
        EXPECT_EQ(back->ttl, c.rr.ttl);
        EXPECT_EQ(back->name, c.rr.name);
    }
}

TEST(InwxConversion, OwnerNamesAsInwxListsThem) {
    const auto owner = [](const std::string& n) {
        return inwx::fromInwx({n, "A", "192.0.2.1", 300, 0}, "example.test.")->name;
    };
    EXPECT_EQ(owner("example.test"), "example.test.");
    EXPECT_EQ(owner("@"), "example.test.");
    EXPECT_EQ(owner(""), "example.test.");
    EXPECT_EQ(owner("WWW.Example.Test"), "www.example.test.");
    EXPECT_EQ(owner("www"), "www.example.test.");
    EXPECT_EQ(owner("*.example.test"), "*.example.test.");
    EXPECT_EQ(owner("a.b.example.test."), "a.b.example.test.");
}

TEST(InwxConversion, TargetsWithOrWithoutTheFinalDot) {
    const auto mx =
        inwx::fromInwx({"example.test", "MX", "mail.example.test.", 300, 10}, "example.test.");
    EXPECT_EQ(mx->data, "10 mail.example.test.");
    const auto cname =
        inwx::fromInwx({"a.example.test", "CNAME", "Target.Example.NET", 300, 0}, "example.test.");
    EXPECT_EQ(cname->data, "target.example.net.");
    const auto caa =
        inwx::fromInwx({"example.test", "CAA", "0 issue letsencrypt.org", 300, 0}, "example.test.");
    EXPECT_EQ(caa->data, "0 issue \"letsencrypt.org\"");
}

TEST(InwxConversion, TypesCdmDoesNotManageAreSkipped) {
    for (const char* type : {"URL", "SPF", "PTR", "SSHFP", "NAPTR", "TYPE52", ""}) {
        SCOPED_TRACE(type);
        EXPECT_FALSE(
            inwx::fromInwx({"example.test", type, "x", 300, 0}, "example.test.").has_value());
    }
}

TEST(InwxConversion, BadContentIsDataErrNamingTheRecord) {
    std::string message;
    EXPECT_EQ(codeOf(
                  [] {
                      (void)inwx::fromInwx({"www.example.test", "A", "999.1.1.1", 300, 0},
                                           "example.test.");
                  },
                  &message),
              Exit::DataErr);
    EXPECT_NE(message.find("'www.example.test A 999.1.1.1'"), std::string::npos) << message;
    EXPECT_EQ(
        codeOf([] {
            (void)inwx::fromInwx({"x.example.test", "TLSA", "3 1 1 zz", 300, 0}, "example.test.");
        }),
        Exit::DataErr);
}

TEST(InwxConversion, QuotedTxtFromOtherToolsReadsAsItsStrings) {
    const auto txt = [](const std::string& content) {
        return inwx::fromInwx({"t.example.test", "TXT", content, 300, 0}, "example.test.")->data;
    };
    EXPECT_EQ(txt(R"("v=DKIM1; k=rsa; " "p=abc")"), R"("v=DKIM1; k=rsa; " "p=abc")");
    EXPECT_EQ(txt(R"("one string")"), R"("one string")");
    EXPECT_EQ(txt(R"(no "quotes" around)"), R"("no \"quotes\" around")");
    EXPECT_EQ(txt(R"("unbalanced " quote")"), R"("\"unbalanced \" quote\"")");
}

TEST(InwxConversion, RecordsInwxCannotHold) {
    const auto refused = [](const Record& rr, const std::string& why) {
        std::string message;
        EXPECT_EQ(codeOf([&] { (void)inwx::toInwx(rr, "example.test."); }, &message), Exit::DataErr)
            << rr.toZoneLine();
        EXPECT_NE(message.find(why), std::string::npos) << message;
    };
    refused(Record::make("www.other.test.", Type::A, 300, "192.0.2.1"),
            "not in zone 'example.test.'");
    refused(Record::make("a.example.test.", Type::CNAME, 300, "."), "its target is the root");
    refused(Record::make("q.example.test.", Type::TXT, 300, R"("a \"b\"")"),
            "it changes '\"' and '\\' in TXT text");
    refused(Record::make("q.example.test.", Type::TXT, 300, R"("c:\\dir")"), "it changes");
    refused(Record::make("q.example.test.", Type::TXT, 300, R"("")"), "empty TXT text");
    refused(Record::make("q.example.test.", Type::TXT, 300, R"("x ")"), "trailing blanks");
}

// ---------------------------------------------------------------- endpoint

TEST(InwxEndpoint, DefaultsAndShorthands) {
    EXPECT_EQ(inwx::endpoint(std::nullopt), "https://api.domrobot.com/jsonrpc/");
    EXPECT_EQ(inwx::endpoint(std::string("")), "https://api.domrobot.com/jsonrpc/");
    EXPECT_EQ(inwx::endpoint(std::string("live")), "https://api.domrobot.com/jsonrpc/");
    EXPECT_EQ(inwx::endpoint(std::string("OTE")), "https://api.ote.domrobot.com/jsonrpc/");
    EXPECT_EQ(inwx::endpoint(std::string("https://api.domrobot.com")),
              "https://api.domrobot.com/jsonrpc/");
    EXPECT_EQ(inwx::endpoint(std::string("https://proxy.example.test:8443/inwx/jsonrpc/")),
              "https://proxy.example.test:8443/inwx/jsonrpc/");
}

TEST(InwxEndpoint, PlainHttpOnlyToLoopback) {
    EXPECT_EQ(inwx::endpoint(std::string("http://127.0.0.1:8080/jsonrpc/")),
              "http://127.0.0.1:8080/jsonrpc/");
    EXPECT_EQ(inwx::endpoint(std::string("http://127.3.4.5:8080")),
              "http://127.3.4.5:8080/jsonrpc/");
    EXPECT_EQ(inwx::endpoint(std::string("http://[::1]:8080/")), "http://[::1]:8080/jsonrpc/");
    EXPECT_EQ(inwx::endpoint(std::string("http://localhost:1/jsonrpc/")),
              "http://localhost:1/jsonrpc/");
    std::string message;
    EXPECT_EQ(codeOf([] { (void)inwx::endpoint(std::string("http://api.domrobot.com/jsonrpc/")); },
                     &message),
              Exit::Config);
    EXPECT_NE(message.find("plain http"), std::string::npos) << message;
    EXPECT_EQ(codeOf([] { (void)inwx::endpoint(std::string("http://128.0.0.1/jsonrpc/")); }),
              Exit::Config);
    EXPECT_EQ(codeOf([] { (void)inwx::endpoint(std::string("http://[::2]/jsonrpc/")); }),
              Exit::Config);
}

TEST(InwxEndpoint, Refused) {
    for (const char* url :
         {"ftp://api.domrobot.com/", "api.domrobot.com", "https:///jsonrpc/",
          "https://user:pw@api.domrobot.com/jsonrpc/", "https://api.domrobot.com/xmlrpc/"}) {
        SCOPED_TRACE(url);
        EXPECT_EQ(codeOf([&] { (void)inwx::endpoint(std::string(url)); }), Exit::Config);
    }
    std::string message;
    (void)codeOf([] { (void)inwx::endpoint(std::string("https://u:secretpw@api.domrobot.com/")); },
                 &message);
    EXPECT_NE(message.find("user information"), std::string::npos) << message;
}

// ---------------------------------------------------------------- base32 and TOTP

std::string text(const std::optional<std::vector<std::uint8_t>>& bytes) {
    return bytes ? std::string(bytes->begin(), bytes->end()) : std::string("<nullopt>");
}

TEST(InwxTotp, Base32Rfc4648Vectors) {
    EXPECT_EQ(text(inwx::base32Decode("MY======")), "f");
    EXPECT_EQ(text(inwx::base32Decode("MZXQ====")), "fo");
    EXPECT_EQ(text(inwx::base32Decode("MZXW6===")), "foo");
    EXPECT_EQ(text(inwx::base32Decode("MZXW6YQ=")), "foob");
    EXPECT_EQ(text(inwx::base32Decode("MZXW6YTB")), "fooba");
    EXPECT_EQ(text(inwx::base32Decode("MZXW6YTBOI======")), "foobar");
    EXPECT_EQ(text(inwx::base32Decode("mzxw 6ytb oi")), "foobar"); // as shown beside a QR code
    EXPECT_FALSE(inwx::base32Decode("MZXW1YTB").has_value());      // '1' is not base32
    EXPECT_FALSE(inwx::base32Decode("").has_value());
    EXPECT_FALSE(inwx::base32Decode("====").has_value());
}

// RFC 6238 Appendix B, SHA-1 rows: the key is the ASCII "12345678901234567890".
TEST(InwxTotp, Rfc6238Vectors) {
    const auto key = inwx::base32Decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    ASSERT_TRUE(key.has_value());
    EXPECT_EQ(text(key), "12345678901234567890");
    const std::vector<std::pair<std::uint64_t, const char*>> vectors = {
        {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
        {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000ULL, "65353130"},
    };
    for (const auto& [t, code] : vectors) {
        SCOPED_TRACE(t);
        EXPECT_EQ(inwx::totp(*key, t, 8), code);
    }
}

// INWX's codes have 6 digits: the last six of RFC 4226 Appendix D's HOTP values, one each
// 30 seconds.
TEST(InwxTotp, SixDigitsEveryThirtySeconds) {
    const auto key = inwx::base32Decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    const std::vector<const char*> hotp = {"755224", "287082", "359152", "969429", "338314",
                                           "254676", "287922", "162583", "399871", "520489"};
    for (std::size_t i = 0; i < hotp.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(inwx::totp(*key, i * 30), hotp[i]);
        EXPECT_EQ(inwx::totp(*key, i * 30 + 29), hotp[i]);
    }
    EXPECT_EQ(codeOf([&] { (void)inwx::totp(*key, 0, 5); }), Exit::Software);
}

// ---------------------------------------------------------------- result codes

TEST(InwxCodes, TransientAndExitCategories) {
    for (int code : {2400, 2500, 2502}) {
        EXPECT_TRUE(inwx::isTransient(code)) << code;
    }
    for (int code : {1000, 2302, 2303, 2200, 2501, 2401}) {
        EXPECT_FALSE(inwx::isTransient(code)) << code;
    }
    EXPECT_EQ(inwx::exitFor(2200, false), Exit::NoPerm);
    EXPECT_EQ(inwx::exitFor(2201, true), Exit::NoPerm);
    EXPECT_EQ(inwx::exitFor(2005, true), Exit::DataErr);
    EXPECT_EQ(inwx::exitFor(2306, true), Exit::DataErr);
    EXPECT_EQ(inwx::exitFor(2005, false), Exit::Unavailable);
    EXPECT_EQ(inwx::exitFor(2400, true), Exit::Unavailable);
    EXPECT_EQ(inwx::exitFor(2500, true), Exit::Unavailable);
}

TEST(InwxCodes, BackoffDoublesUpToAMinute) {
    using std::chrono::milliseconds;
    EXPECT_EQ(inwx::backoff(0, milliseconds(1000)), milliseconds(1000));
    EXPECT_EQ(inwx::backoff(1, milliseconds(1000)), milliseconds(2000));
    EXPECT_EQ(inwx::backoff(4, milliseconds(1000)), milliseconds(16000));
    EXPECT_EQ(inwx::backoff(6, milliseconds(1000)), milliseconds(60000));
    EXPECT_EQ(inwx::backoff(100, milliseconds(1000)), milliseconds(60000));
    EXPECT_EQ(inwx::backoff(3, milliseconds(0)), milliseconds(0));
}

// ---------------------------------------------------------------- against the stand-in

std::string standinScript() {
    return std::string(CDM_TEST_DATA) + "/../../cli/fixtures/inwx-standin.py";
}

// tests/cli/fixtures/inwx-standin.py, started for one test and stopped after it.
class StandIn {
public:
    explicit StandIn(std::vector<std::string> extra = {}) {
        std::string tmpl = (fs::temp_directory_path() / "cdm-inwx-test.XXXXXX").string();
        if (mkdtemp(tmpl.data()) == nullptr) {
            throw std::runtime_error("unable to make a temporary directory");
        }
        dir_ = tmpl;
        std::vector<std::string> args = {
            "python3",       standinScript(), "--port-file",     dir_ + "/port", "--log",
            dir_ + "/calls", "--control",     dir_ + "/control", "--domain",     "example.test"};
        args.insert(args.end(), extra.begin(), extra.end());
        std::vector<char*> argv;
        argv.reserve(args.size() + 1);
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
        const int rc = posix_spawnp(&pid_, "python3", &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) {
            throw std::runtime_error("unable to start python3");
        }
        for (int i = 0; i < 200 && !fs::exists(dir_ + "/port"); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        std::ifstream in(dir_ + "/port");
        in >> port_;
        if (port_ == 0) {
            throw std::runtime_error("the stand-in did not start");
        }
    }
    ~StandIn() {
        stop();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    StandIn(const StandIn&) = delete;
    StandIn& operator=(const StandIn&) = delete;

    void stop() {
        if (pid_ > 0) {
            kill(pid_, SIGTERM);
            int status = 0;
            waitpid(pid_, &status, 0);
            pid_ = 0;
        }
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/jsonrpc/"; }
    const std::string& dir() const { return dir_; }

    // The methods called so far, in order.
    std::vector<std::string> calls() const {
        std::vector<std::string> out;
        std::ifstream in(dir_ + "/calls");
        for (std::string line; std::getline(in, line);) {
            out.emplace_back(json::parse(line).as_object().at("method").as_string());
        }
        return out;
    }
    std::string log() const {
        std::ifstream in(dir_ + "/calls");
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }
    // The next `n` calls (of `method` only, when given) are answered with `code`.
    void failNext(int n, int code = 2400, const std::string& method = {}) const {
        std::ofstream(dir_ + "/control.tmp")
            << "{\"fail\": " << n << ", \"code\": " << code
            << (method.empty() ? std::string() : ", \"method\": \"" + method + "\"") << "}";
        fs::rename(dir_ + "/control.tmp", dir_ + "/control");
    }

private:
    std::string dir_;
    pid_t pid_ = 0;
    unsigned port_ = 0;
};

Settings settingsFor(const StandIn& s, const std::map<std::string, std::string>& more = {}) {
    Settings st;
    st.handler = "inwx";
    st.section = "[domain:example.test]";
    st.keys = {{"handler", "inwx"},
               {"user", "testuser"},
               {"passwd", "test-password"},
               {"api_url", s.url()},
               {"retry_wait_ms", "10"}};
    for (const auto& [k, v] : more) {
        st.keys[k] = v;
    }
    return st;
}

std::size_t count(const std::vector<std::string>& calls, const std::string& method) {
    return static_cast<std::size_t>(std::count(calls.begin(), calls.end(), method));
}

RRsetChange changeOf(const ZoneContents& zc, const std::string& name, Type type,
                     std::vector<Record> after) {
    RRsetChange c;
    c.key = {name, type};
    for (const auto& rr : zc.records) {
        if (rr.type == type && rr.name == name) {
            c.before.push_back(rr);
        }
    }
    c.after = std::move(after);
    return c;
}

const std::vector<Record>& everyType() {
    static const std::vector<Record> records = [] {
        std::vector<Record> out;
        for (const auto& c : conversions()) {
            if (c.rr.type != Type::SOA) {
                out.push_back(c.rr);
            }
        }
        return out;
    }();
    return records;
}

TEST(InwxProvider, AppliesEveryTypeAndReadsItBack) {
    StandIn s;
    auto p = makeInwx(settingsFor(s));
    const ZoneContents empty = p->read("example.test.", {});
    EXPECT_TRUE(empty.complete);
    EXPECT_EQ(empty.serial, 2024010100U);
    EXPECT_EQ(empty.negativeTtl, 3600U);
    ASSERT_EQ(empty.records.size(), 1U); // the SOA

    Change change{"example.test.", {}};
    for (const auto& rr : everyType()) {
        auto it =
            std::find_if(change.rrsets.begin(), change.rrsets.end(), [&](const RRsetChange& c) {
                return c.key.name == rr.name && c.key.type == rr.type;
            });
        if (it == change.rrsets.end()) {
            change.rrsets.push_back(changeOf(empty, rr.name, rr.type, {}));
            it = std::prev(change.rrsets.end());
        }
        Record same = rr;
        same.ttl = 600; // one TTL an RRset
        it->after.push_back(same);
    }
    const Applied applied = p->apply(change);
    const auto calls = s.calls();
    EXPECT_EQ(count(calls, "nameserver.createRecord"), everyType().size());
    EXPECT_EQ(count(calls, "nameserver.deleteRecord"), 0U);
    EXPECT_EQ(count(calls, "account.login"), 1U);
    // The re-read before, the creates, the serial after.
    EXPECT_EQ(applied.messages, everyType().size() + 2);
    EXPECT_EQ(applied.serial, 2024010100U + everyType().size());

    auto q = makeInwx(settingsFor(s));
    const ZoneContents now = q->read("example.test.", {});
    EXPECT_EQ(now.serial, applied.serial);
    for (const auto& rr : everyType()) {
        SCOPED_TRACE(rr.toZoneLine());
        EXPECT_TRUE(std::any_of(now.records.begin(), now.records.end(),
                                [&](const Record& r) { return r.sameRecord(rr) && r.ttl == 600; }));
    }
    EXPECT_EQ(now.records.size(), everyType().size() + 1);
}

TEST(InwxProvider, MakeBeforeBreakAndTtlChanges) {
    StandIn s;
    auto p = makeInwx(settingsFor(s));
    ZoneContents zc = p->read("example.test.", {});
    Change first{
        "example.test.",
        {changeOf(zc, "www.example.test.", Type::A,
                  {Record::make("www.example.test.", Type::A, 300, "192.0.2.1"),
                   Record::make("www.example.test.", Type::A, 300, "192.0.2.2")}),
         changeOf(zc, "example.test.", Type::MX,
                  {Record::make("example.test.", Type::MX, 300, "10 mx1.example.test.")})}};
    (void)p->apply(first);
    zc = p->read("example.test.", {});
    const std::size_t mark = s.calls().size();

    // Replace one A, change the TTL of the kept one, and swap the MX.
    Change second{
        "example.test.",
        {changeOf(zc, "www.example.test.", Type::A,
                  {Record::make("www.example.test.", Type::A, 900, "192.0.2.1"),
                   Record::make("www.example.test.", Type::A, 900, "192.0.2.3")}),
         changeOf(zc, "example.test.", Type::MX,
                  {Record::make("example.test.", Type::MX, 300, "20 mx2.example.test.")})}};
    const Applied applied = p->apply(second);
    auto calls = s.calls();
    calls.erase(calls.begin(), calls.begin() + static_cast<std::ptrdiff_t>(mark));
    const std::vector<std::string> expected = {"nameserver.info",         "nameserver.createRecord",
                                               "nameserver.createRecord", "nameserver.updateRecord",
                                               "nameserver.deleteRecord", "nameserver.deleteRecord",
                                               "nameserver.info"};
    EXPECT_EQ(calls, expected);
    EXPECT_EQ(applied.messages, expected.size());

    const ZoneContents now = p->read("example.test.", {});
    std::vector<std::string> lines;
    for (const auto& rr : now.records) {
        if (rr.type != Type::SOA) {
            lines.push_back(rr.toZoneLine());
        }
    }
    std::sort(lines.begin(), lines.end());
    const std::vector<std::string> want = {"example.test. 300 IN MX 20 mx2.example.test.",
                                           "www.example.test. 900 IN A 192.0.2.1",
                                           "www.example.test. 900 IN A 192.0.2.3"};
    EXPECT_EQ(lines, want);
}

TEST(InwxProvider, DeletingAWholeRRset) {
    StandIn s;
    auto p = makeInwx(settingsFor(s));
    ZoneContents zc = p->read("example.test.", {});
    (void)p->apply({"example.test.",
                    {changeOf(zc, "t.example.test.", Type::TXT,
                              {Record::make("t.example.test.", Type::TXT, 300, "\"one\""),
                               Record::make("t.example.test.", Type::TXT, 300, "\"two\"")})}});
    zc = p->read("example.test.", {});
    ASSERT_EQ(zc.records.size(), 3U);
    (void)p->apply({"example.test.", {changeOf(zc, "t.example.test.", Type::TXT, {})}});
    EXPECT_EQ(count(s.calls(), "nameserver.deleteRecord"), 2U);
    EXPECT_EQ(p->read("example.test.", {}).records.size(), 1U);
}

TEST(InwxProvider, RaceWithAnotherWriterIsRaceLostAndChangesNothing) {
    StandIn s;
    auto mine = makeInwx(settingsFor(s));
    auto theirs = makeInwx(settingsFor(s));
    const ZoneContents seen = mine->read("example.test.", {});
    const ZoneContents theirView = theirs->read("example.test.", {});
    (void)theirs->apply(
        {"example.test.",
         {changeOf(theirView, "www.example.test.", Type::A,
                   {Record::make("www.example.test.", Type::A, 300, "192.0.2.9")})}});
    const std::size_t creates = count(s.calls(), "nameserver.createRecord");
    std::string message;
    try {
        (void)mine->apply(
            {"example.test.",
             {changeOf(seen, "www.example.test.", Type::A,
                       {Record::make("www.example.test.", Type::A, 300, "192.0.2.1")})}});
        ADD_FAILURE() << "no RaceLost";
    } catch (const RaceLost& e) {
        message = e.what();
        EXPECT_EQ(e.code(), Exit::TempFail);
    }
    EXPECT_NE(message.find("'www.example.test. A'"), std::string::npos) << message;
    EXPECT_EQ(count(s.calls(), "nameserver.createRecord"), creates);
}

TEST(InwxProvider, WrongPasswordIsNoPermNamingUserAndEndpointNotThePassword) {
    StandIn s;
    auto p = makeInwx(settingsFor(s, {{"passwd", "wrong-secret-pw"}}));
    std::string message;
    EXPECT_EQ(codeOf([&] { (void)p->read("example.test.", {}); }, &message), Exit::NoPerm);
    EXPECT_NE(message.find("'testuser'"), std::string::npos) << message;
    EXPECT_NE(message.find(s.url()), std::string::npos) << message;
    EXPECT_NE(message.find("2200"), std::string::npos) << message;
    EXPECT_EQ(message.find("wrong-secret-pw"), std::string::npos) << message;
    EXPECT_EQ(s.log().find("wrong-secret-pw"), std::string::npos);
}

TEST(InwxProvider, PasswordFromAFileAndItsAlias) {
    StandIn s;
    const std::string file = s.dir() + "/pw";
    std::ofstream(file) << "test-password\n";
    Settings st = settingsFor(s);
    st.keys.erase("passwd");
    st.keys["passwd_file"] = file;
    EXPECT_EQ(makeInwx(st)->read("example.test.", {}).records.size(), 1U);
    st.keys.erase("passwd_file");
    st.keys["password"] = "test-password";
    EXPECT_EQ(makeInwx(st)->read("example.test.", {}).records.size(), 1U);
    st.keys.erase("password");
    std::string message;
    EXPECT_EQ(codeOf([&] { (void)makeInwx(st); }, &message), Exit::Config);
    EXPECT_NE(message.find("'passwd'"), std::string::npos) << message;
    st.keys["passwd"] = "x";
    st.keys.erase("user");
    EXPECT_EQ(codeOf([&] { (void)makeInwx(st); }), Exit::Config);
}

TEST(InwxProvider, PlainHttpToARemoteHostIsRefused) {
    StandIn s;
    std::string message;
    EXPECT_EQ(codeOf(
                  [&] {
                      (void)makeInwx(settingsFor(s, {{"api_url", "http://192.0.2.1/jsonrpc/"}}));
                  },
                  &message),
              Exit::Config);
    EXPECT_NE(message.find("plain http"), std::string::npos) << message;
}

TEST(InwxProvider, UnknownZoneIsNoPerm) {
    StandIn s;
    std::string message;
    EXPECT_EQ(codeOf([&] { (void)makeInwx(settingsFor(s))->read("other.test.", {}); }, &message),
              Exit::NoPerm);
    EXPECT_NE(message.find("no zone 'other.test'"), std::string::npos) << message;
}

TEST(InwxProvider, TransientCodesAreRetriedWithBackoff) {
    StandIn s;
    s.failNext(3);
    test::LogCapture logs;
    auto p = makeInwx(settingsFor(s, {{"retry_wait_ms", "50"}}));
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(p->read("example.test.", {}).records.size(), 1U);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_GE(took, std::chrono::milliseconds(50 + 100 + 200));
    const auto calls = s.calls();
    EXPECT_EQ(count(calls, "account.login"), 4U); // three answered 2400, the fourth went through
    EXPECT_NE(logs.all().find("2400"), std::string::npos) << logs.all();
    EXPECT_NE(logs.all().find("retry 3 of 5"), std::string::npos) << logs.all();
}

TEST(InwxProvider, RetriesAreBounded) {
    StandIn s;
    auto p = makeInwx(settingsFor(s, {{"retries", "2"}}));
    ZoneContents zc = p->read("example.test.", {});
    s.failNext(10, 2500);
    std::string message;
    EXPECT_EQ(
        codeOf(
            [&] {
                (void)p->apply(
                    {"example.test.",
                     {changeOf(zc, "www.example.test.", Type::A,
                               {Record::make("www.example.test.", Type::A, 300, "192.0.2.1")})}});
            },
            &message),
        Exit::Unavailable);
    EXPECT_NE(message.find("2500"), std::string::npos) << message;
    EXPECT_NE(message.find("after 2 retries"), std::string::npos) << message;
    EXPECT_EQ(count(s.calls(), "nameserver.info"), 1U + 3U);
}

TEST(InwxProvider, RejectedRecordIsDataErrNamingItAndWhatWasApplied) {
    StandIn s;
    auto p = makeInwx(settingsFor(s));
    ZoneContents zc = p->read("example.test.", {});
    std::string message;
    EXPECT_EQ(
        codeOf(
            [&] {
                (void)p->apply(
                    {"example.test.",
                     {changeOf(zc, "a.example.test.", Type::A,
                               {Record::make("a.example.test.", Type::A, 300, "192.0.2.1")}),
                      changeOf(zc, "b.example.test.", Type::A,
                               {Record::make("b.example.test.", Type::A, 60, "192.0.2.2")})}});
            },
            &message),
        Exit::DataErr);
    EXPECT_NE(message.find("'b.example.test. A 192.0.2.2'"), std::string::npos) << message;
    EXPECT_NE(message.find("2004"), std::string::npos) << message;
    EXPECT_NE(message.find("applied 1 of 2 RRsets"), std::string::npos) << message;
}

TEST(InwxProvider, AFailedDeleteLeavesItsRRsetUndoneAfterTheAddAndTtlChange) {
    StandIn s;
    auto p = makeInwx(settingsFor(s, {{"retries", "0"}}));
    ZoneContents zc = p->read("example.test.", {});
    (void)p->apply({"example.test.",
                    {changeOf(zc, "w.example.test.", Type::A,
                              {Record::make("w.example.test.", Type::A, 300, "192.0.2.1"),
                               Record::make("w.example.test.", Type::A, 300, "192.0.2.2")})}});
    zc = p->read("example.test.", {});
    s.failNext(1, 2400, "nameserver.deleteRecord");
    std::string message;
    EXPECT_EQ(
        codeOf(
            [&] {
                (void)p->apply(
                    {"example.test.",
                     {changeOf(zc, "w.example.test.", Type::A,
                               {Record::make("w.example.test.", Type::A, 900, "192.0.2.1"),
                                Record::make("w.example.test.", Type::A, 900, "192.0.2.3")})}});
            },
            &message),
        Exit::Unavailable);
    EXPECT_NE(message.find("nameserver.deleteRecord of 'w.example.test. A 192.0.2.2'"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("applied 0 of 1 RRsets"), std::string::npos) << message;
    // The new record is there and the TTL changed: a rerun only deletes.
    const auto now = p->read("example.test.", {});
    EXPECT_EQ(now.records.size(), 4U);
}

TEST(InwxProvider, TwoFactorLoginWithTheTotpSecret) {
    const std::string secret = "JBSWY3DPEHPK3PXP";
    StandIn s({"--tfa-secret", secret});
    const std::string file = s.dir() + "/tfa";
    std::ofstream(file) << secret << "\n";
    EXPECT_EQ(makeInwx(settingsFor(s, {{"tfa_secret_file", file}}))
                  ->read("example.test.", {})
                  .records.size(),
              1U);
    const auto calls = s.calls();
    EXPECT_EQ(count(calls, "account.unlock"), 1U);
    EXPECT_EQ(s.log().find(secret), std::string::npos);

    std::string message;
    EXPECT_EQ(codeOf([&] { (void)makeInwx(settingsFor(s))->read("example.test.", {}); }, &message),
              Exit::NoPerm);
    EXPECT_NE(message.find("tfa_secret_file"), std::string::npos) << message;

    EXPECT_EQ(codeOf(
                  [&] {
                      (void)makeInwx(settingsFor(s, {{"tfa_secret", "AAAAAAAAAAAAAAAA"}}))
                          ->read("example.test.", {});
                  },
                  &message),
              Exit::NoPerm);
    EXPECT_NE(message.find("two-factor unlock"), std::string::npos) << message;

    EXPECT_EQ(codeOf(
                  [&] {
                      (void)makeInwx(settingsFor(s, {{"tfa_secret", "not base32!"}}));
                  },
                  &message),
              Exit::Config);
    EXPECT_EQ(message.find("not base32!"), std::string::npos) << message;
}

// RFC 6238 §5.2: each code is taken once (the stand-in refuses a second use, as a verifier
// must). A second login of the same account in the same 30 s waits for the next code.
TEST(InwxProvider, TwoLoginsInOneStepWaitForTheNextCode) {
    const std::string secret = "KRSXG5CTMVRXEZLU"; // not the other test's: no wait from it
    StandIn s({"--tfa-secret", secret});
    // Both logins must fall in one step: start at least five seconds before the next one.
    const auto secondsNow = [] {
        return std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    };
    if (secondsNow() % 30 >= 25) {
        std::this_thread::sleep_for(std::chrono::seconds(30 - secondsNow() % 30));
    }
    test::LogCapture logs;
    const auto start = std::chrono::system_clock::now();
    auto first = makeInwx(settingsFor(s, {{"tfa_secret", secret}}));
    EXPECT_EQ(first->read("example.test.", {}).records.size(), 1U);
    auto second = makeInwx(settingsFor(s, {{"tfa_secret", secret}}));
    EXPECT_EQ(second->read("example.test.", {}).records.size(), 1U);
    const auto step = [](std::chrono::system_clock::time_point t) {
        return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count() / 30;
    };
    EXPECT_GT(step(std::chrono::system_clock::now()), step(start));
    EXPECT_EQ(count(s.calls(), "account.unlock"), 2U);
    EXPECT_NE(logs.all().find("for the next two-factor code"), std::string::npos) << logs.all();
}

TEST(InwxProvider, StoppedServerIsUnavailable) {
    StandIn s;
    const Settings st = settingsFor(s, {{"timeout", "5"}});
    s.stop();
    std::string message;
    EXPECT_EQ(codeOf([&] { (void)makeInwx(st)->read("example.test.", {}); }, &message),
              Exit::Unavailable);
    EXPECT_NE(message.find("unable to reach INWX at '" + s.url() + "'"), std::string::npos)
        << message;
}

TEST(InwxProvider, NotJsonRpcIsUnavailable) {
    StandIn s;
    std::string url = s.url();
    url.replace(url.find("/jsonrpc/"), 9, "/other/");
    std::string message;
    EXPECT_EQ(codeOf(
                  [&] {
                      (void)makeInwx(settingsFor(s, {{"api_url", url}}))->read("example.test.", {});
                  },
                  &message),
              Exit::Unavailable);
    EXPECT_NE(message.find("HTTP status 404"), std::string::npos) << message;
}

} // namespace
} // namespace cdm::provider
