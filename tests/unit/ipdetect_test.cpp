#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sstream>
#include <thread>
#include <unistd.h>

#include <boost/json.hpp>

#include "libcommon/ipdetect.hpp"
#include "libcommon/record.hpp"

#include "test_util.hpp"

namespace {

using cdm::Exit;
using cdm::test::codeOf;
using ::testing::HasSubstr;
namespace ip = cdm::ipdetect;
namespace json = boost::json;
namespace fs = std::filesystem;
using ip::Family;

// ---------------------------------------------------------------- addresses

struct AddressRow {
    const char* desc;
    Family family;
    const char* input;
    const char* canonical; // nullptr: refused
};

TEST(IpDetectParseAddress, OnlyOneAddressOfTheFamily) {
    const AddressRow rows[] = {
        {"dotted quad", Family::V4, "192.0.2.1", "192.0.2.1"},
        {"five parts", Family::V4, "1.2.3.4.5", nullptr},
        {"three parts", Family::V4, "1.2.3", nullptr},
        {"leading zero (octal to inet_aton)", Family::V4, "01.2.3.4", nullptr},
        {"IPv6 for ip4", Family::V4, "2001:db8::1", nullptr},
        {"two lines", Family::V4, "192.0.2.1\n192.0.2.2", nullptr},
        {"blank inside", Family::V4, "192.0.2.1 x", nullptr},
        {"HTML", Family::V4, "<html><body>192.0.2.1</body></html>", nullptr},
        {"empty", Family::V4, "", nullptr},
        {"RFC 5952: lower case, longest zero run", Family::V6, "2001:DB8:0:0:0:0:0:1",
         "2001:db8::1"},
        {"RFC 5952: one zero field stays", Family::V6, "2001:db8:0:1:1:1:1:1",
         "2001:db8:0:1:1:1:1:1"},
        {"RFC 5952: leading zeros dropped", Family::V6, "2001:0db8::0001", "2001:db8::1"},
        {"loopback", Family::V6, "::1", "::1"},
        {"IPv4 for ip6", Family::V6, "192.0.2.1", nullptr},
        {"brackets", Family::V6, "[2001:db8::1]", nullptr},
        {"prefix length", Family::V6, "2001:db8::1/64", nullptr},
        {"scope id", Family::V6, "fe80::1%eth0", nullptr},
    };
    for (const auto& row : rows) {
        const auto got = ip::parseAddress(row.family, row.input);
        if (row.canonical == nullptr) {
            EXPECT_FALSE(got) << row.desc << ": got " << got.value_or("");
        } else {
            ASSERT_TRUE(got) << row.desc;
            EXPECT_EQ(*got, row.canonical) << row.desc;
        }
    }
}

TEST(IpDetectParseAddress, SameSpellingAsAaaaRecords) {
    for (const char* a :
         {"2001:DB8:0:0:1:0:0:1", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:0001", "::ffff:192.0.2.1"}) {
        EXPECT_EQ(*ip::parseAddress(Family::V6, a),
                  cdm::record::canonical(cdm::record::Type::AAAA, a))
            << a;
    }
}

TEST(IpDetectNotPublic, SpecialPurposeRanges) {
    const struct {
        Family family;
        const char* address;
        const char* why;
    } rows[] = {
        {Family::V4, "8.8.8.8", ""},
        {Family::V4, "127.0.0.7", "loopback"},
        {Family::V4, "10.1.2.3", "private (RFC 1918)"},
        {Family::V4, "172.31.255.255", "private (RFC 1918)"},
        {Family::V4, "172.32.0.1", ""},
        {Family::V4, "192.168.0.1", "private (RFC 1918)"},
        {Family::V4, "100.64.0.1", "shared (RFC 6598)"},
        {Family::V4, "169.254.1.1", "link-local"},
        {Family::V4, "192.0.2.1", "documentation"},
        {Family::V4, "0.0.0.0", "unspecified"},
        {Family::V4, "224.0.0.1", "multicast"},
        {Family::V4, "255.255.255.255", "reserved"},
        {Family::V6, "2a01:4f8::1", ""},
        {Family::V6, "::1", "loopback"},
        {Family::V6, "::", "unspecified"},
        {Family::V6, "fe80::1", "link-local"},
        {Family::V6, "fd00::2", "unique local (RFC 4193)"},
        {Family::V6, "2001:db8::1", "documentation"},
        {Family::V6, "ff02::1", "multicast"},
        {Family::V6, "::ffff:192.0.2.1", "reserved"},
    };
    for (const auto& row : rows) {
        EXPECT_EQ(ip::notPublic(row.family, row.address), row.why) << row.address;
    }
}

// ---------------------------------------------------------------- sources

TEST(IpDetectSource, TheThreeKinds) {
    auto s = ip::parseSource(" https://ipv4.icanhazip.com ");
    EXPECT_EQ(s.kind, ip::Source::Kind::Url);
    EXPECT_EQ(s.text, "https://ipv4.icanhazip.com");
    EXPECT_EQ(ip::parseSource("HTTP://127.0.0.1:8/x").kind, ip::Source::Kind::Url);
    s = ip::parseSource("interface:eth0");
    EXPECT_EQ(s.kind, ip::Source::Kind::Interface);
    EXPECT_EQ(s.target, "eth0");
    s = ip::parseSource(R"(command:dig +short 'my ip' "a\"b" c\ d x;y)");
    EXPECT_EQ(s.kind, ip::Source::Kind::Command);
    EXPECT_EQ(s.argv, (std::vector<std::string>{"dig", "+short", "my ip", "a\"b", "c d", "x;y"}));
}

TEST(IpDetectSource, MistakesAreConfigErrorsAtTheKey) {
    const cdm::Location where{"/etc/cdm.conf", 7, {}};
    for (const char* bad : {"ipv4.icanhazip.com", "ftp://a.test/", "https://", "interface:",
                            "command:", "command:'unterminated", "dns:resolver1.opendns.com"}) {
        std::string message;
        EXPECT_EQ(codeOf([&] { ip::parseSource(bad, where); }, &message), Exit::Config) << bad;
        EXPECT_THAT(message, HasSubstr("/etc/cdm.conf:7")) << bad;
    }
}

TEST(IpDetectSource, CommaListSkipsEmptyItems) {
    const auto list = ip::parseSources("interface:lo, ,https://a.test/ip,");
    ASSERT_EQ(list.size(), 2U);
    EXPECT_EQ(list[0].text, "interface:lo");
    EXPECT_EQ(list[1].text, "https://a.test/ip");
    EXPECT_EQ(codeOf([] { ip::parseSources(" , "); }), Exit::Config);
}

TEST(IpDetectSource, DefaultsAreTheOriginalsHostsOverHttpsOnly) {
    // A plain-http answer can be rewritten on the path and becomes a DNS record: no http
    // fallback unless the configuration names one.
    for (const auto& [family, url] : {std::pair{Family::V4, "https://ipv4.icanhazip.com"},
                                      std::pair{Family::V6, "https://ipv6.icanhazip.com"}}) {
        const auto sources = ip::defaultSources(family);
        ASSERT_EQ(sources.size(), 1U) << url;
        EXPECT_EQ(sources[0].text, url);
        EXPECT_EQ(sources[0].kind, ip::Source::Kind::Url);
    }
}

TEST(IpDetectSource, Timeout) {
    EXPECT_EQ(ip::parseTimeout("4").count(), 4);
    EXPECT_EQ(ip::parseTimeout(" 300 ").count(), 300);
    for (const char* bad : {"0", "301", "-1", "2.5", "4s", "", "99999999999"}) {
        EXPECT_EQ(codeOf([&] { ip::parseTimeout(bad); }), Exit::Config) << bad;
    }
}

// ---------------------------------------------------------------- interfaces

TEST(IpDetectInterface, PickSkipsLinkLocalAndPrefersGlobal) {
    EXPECT_EQ(
        ip::pickInterfaceAddress(Family::V6, {"fe80::1", "fd00::2", "2a01:4f8::5", "2a01:4f8::6"}),
        "2a01:4f8::5");
    EXPECT_EQ(ip::pickInterfaceAddress(Family::V6, {"fe80::1", "fd00::2", "::1"}), "fd00::2");
    EXPECT_EQ(ip::pickInterfaceAddress(Family::V6, {"fe80::1", "::1"}), "::1");
    EXPECT_FALSE(ip::pickInterfaceAddress(Family::V6, {"fe80::1"}));
    EXPECT_FALSE(ip::pickInterfaceAddress(Family::V6, {}));
    EXPECT_EQ(ip::pickInterfaceAddress(Family::V4, {"169.254.3.3", "10.0.0.1", "192.0.2.1"}),
              "10.0.0.1");
    EXPECT_FALSE(ip::pickInterfaceAddress(Family::V4, {"169.254.3.3"}));
}

TEST(IpDetectInterface, LoopbackGivesTheLoopbackAddresses) {
    const ip::Options o;
    EXPECT_EQ(ip::ask(Family::V4, ip::parseSource("interface:lo"), o), "127.0.0.1");
    EXPECT_EQ(ip::ask(Family::V6, ip::parseSource("interface:lo"), o), "::1");
}

TEST(IpDetectInterface, UnknownInterfaceFailsTheSource) {
    std::string message;
    EXPECT_EQ(
        codeOf([&] { ip::ask(Family::V4, ip::parseSource("interface:cdmnone0"), {}); }, &message),
        Exit::Unavailable);
    EXPECT_THAT(message, HasSubstr("'interface:cdmnone0': no such interface 'cdmnone0'"));
}

// ---------------------------------------------------------------- commands

std::string askCommand(Family family, const std::string& source, std::string* message,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    ip::Options o;
    o.commandTimeout = timeout;
    std::string got;
    const Exit code = codeOf([&] { got = ip::ask(family, ip::parseSource(source), o); }, message);
    return code == Exit::Ok ? got : "exit " + std::to_string(cdm::toInt(code));
}

TEST(IpDetectCommand, FirstLineOfStdout) {
    std::string message;
    EXPECT_EQ(askCommand(Family::V4, "command:echo 192.0.2.9", &message), "192.0.2.9");
    EXPECT_EQ(askCommand(Family::V6, "command:printf '2001:DB8::9\\r\\nmore\\n'", &message),
              "2001:db8::9");
}

TEST(IpDetectCommand, FailuresNameTheSource) {
    std::string message;
    EXPECT_EQ(askCommand(Family::V4, "command:sh -c 'echo broken >&2; exit 3'", &message),
              "exit 69");
    EXPECT_THAT(message,
                HasSubstr("'command:sh -c 'echo broken >&2; exit 3'': exit status 3: broken"));
    EXPECT_EQ(askCommand(Family::V4, "command:cdm-no-such-program", &message), "exit 69");
    EXPECT_THAT(message, HasSubstr("unable to run 'cdm-no-such-program'"));
    EXPECT_EQ(askCommand(Family::V4, "command:echo", &message), "exit 69");
    EXPECT_THAT(message, HasSubstr("first line is empty"));
    EXPECT_EQ(askCommand(Family::V4, "command:echo ::1", &message), "exit 69");
    EXPECT_THAT(message, HasSubstr("first line '::1' is not an IPv4 address"));
}

TEST(IpDetectCommand, NoShellReadsTheWords) {
    const fs::path dir = fs::temp_directory_path() / ("cdm-ip-test-" + std::to_string(getpid()));
    fs::create_directories(dir);
    const std::string marker = (dir / "pwned").string();
    std::string message;
    EXPECT_EQ(askCommand(Family::V4, "command:echo 192.0.2.1; touch " + marker, &message),
              "exit 69");
    EXPECT_THAT(message, HasSubstr("'192.0.2.1; touch " + marker + "' is not an IPv4 address"));
    EXPECT_FALSE(fs::exists(marker));
    fs::remove_all(dir);
}

// Gone or a zombie (waiting for whoever inherited it to reap it).
bool ended(const std::string& pid) {
    std::ifstream stat("/proc/" + pid + "/stat");
    std::string line;
    if (!std::getline(stat, line)) {
        return true;
    }
    const auto paren = line.rfind(')');
    return paren != std::string::npos && line.compare(paren + 1, 3, " Z ") == 0;
}

TEST(IpDetectCommand, TimeoutEndsItsProcessGroup) {
    const fs::path dir = fs::temp_directory_path() / ("cdm-ip-test-" + std::to_string(getpid()));
    fs::create_directories(dir);
    const std::string pidFile = (dir / "child.pid").string();
    std::string message;
    EXPECT_EQ(askCommand(Family::V4, "command:sh -c 'sleep 60 & echo $! > " + pidFile + "; wait'",
                         &message, std::chrono::milliseconds(500)),
              "exit 69");
    EXPECT_THAT(message, HasSubstr("timed out, killed by signal 15 (TERM)"));
    // The shell's child got the TERM too: it ends long before its 60 s.
    std::ifstream in(pidFile);
    std::string pid;
    ASSERT_TRUE(std::getline(in, pid)) << "the command did not start its child";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!ended(pid) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(ended(pid)) << "sleep " << pid << " outlived the timeout";
    fs::remove_all(dir);
}

// ---------------------------------------------------------------- detect

TEST(IpDetectDetect, FallsBackInOrderAndWarns) {
    cdm::test::LogCapture log;
    const auto sources =
        ip::parseSources("interface:cdmnone0, command:echo garbage, command:echo 127.0.0.5, "
                         "command:echo 192.0.2.77");
    const auto d = ip::detect(Family::V4, sources, {});
    ASSERT_TRUE(d.address);
    EXPECT_EQ(*d.address, "127.0.0.5");
    EXPECT_EQ(d.source, "command:echo 127.0.0.5");
    ASSERT_EQ(d.errors.size(), 2U);
    EXPECT_THAT(d.errors[0], HasSubstr("'interface:cdmnone0': no such interface"));
    EXPECT_THAT(d.errors[1], HasSubstr("'garbage' is not an IPv4 address"));
    EXPECT_THAT(log.all(), HasSubstr("trying the next"));
    EXPECT_THAT(
        log.all(),
        HasSubstr("127.0.0.5 from 'command:echo 127.0.0.5' is not a public address (loopback)"));
}

TEST(IpDetectDetect, AllFailedIsNoAddress) {
    cdm::test::LogCapture log;
    const auto d =
        ip::detect(Family::V6, ip::parseSources("command:echo 192.0.2.1, command:false"), {});
    EXPECT_FALSE(d.address);
    ASSERT_EQ(d.errors.size(), 2U);
    EXPECT_THAT(d.errors[0], HasSubstr("'192.0.2.1' is not an IPv6 address"));
    EXPECT_THAT(d.errors[1], HasSubstr("exit status 1"));
    EXPECT_THAT(log.all(), HasSubstr("no source left"));
    std::string message;
    EXPECT_EQ(
        codeOf([] { ip::print(Family::V6, ip::parseSources("command:false"), std::nullopt, ""); },
               &message),
        Exit::Unavailable);
    EXPECT_THAT(message, HasSubstr("no IPv6 address; 'command:false': exit status 1"));
}

// ---------------------------------------------------------------- fill

// A document as cdm-config writes it, with placeholders in two sections.
json::object document(const std::string& ip4detect, const std::string& iptimeout = "4") {
    const std::string text = R"({"cdm": 1, "phase": "update", "extra": {"kept": true},
      "config": {"domain": {
        "DEFAULT": {"keys": {"ttl": "600"}, "where": {"ttl": "built-in"}},
        "a.test": {"keys": {"ip4detect": )" +
                             json::serialize(json::value(ip4detect)) +
                             R"(, "ip6detect": "interface:lo", "iptimeout": ")" + iptimeout + R"("},
                   "where": {"ip4detect": "/etc/cdm.conf:7", "ip6detect": "/etc/cdm.conf:8",
                             "iptimeout": "/etc/cdm.conf:9"}},
        "b.test": {"keys": {"ip4detect": )" +
                             json::serialize(json::value(ip4detect)) + R"(},
                   "where": {"ip4detect": "/etc/cdm.conf:17"}}}},
      "records": [
        {"name": "a.test.", "type": "A", "ttl": 600, "data": null, "op": "replace",
         "scope": {"name": "a.test.", "type": "A"}, "auto": "ip4", "source": "/etc/cdm.conf:5", "section": "a.test"},
        {"name": "a.test.", "type": "AAAA", "ttl": 600, "data": null, "op": "replace",
         "scope": {"name": "a.test.", "type": "AAAA"}, "auto": "ip6", "section": "a.test"},
        {"name": "a.test.", "type": "MX", "ttl": 600, "data": "10 mx.a.test.", "op": "replace",
         "scope": {"name": "a.test.", "type": "MX"}},
        {"name": "a.test.", "type": "CAA", "ttl": 600, "data": null, "op": "replace",
         "scope": {"name": "a.test.", "type": "CAA"}, "auto": "caa:main"},
        {"name": "b.test.", "type": "A", "ttl": 600, "data": null, "op": "add",
         "scope": {"name": "b.test.", "type": "A"}, "auto": "ip4", "section": "b.test"}],
      "report": []})";
    return json::parse(text).as_object();
}

TEST(IpDetectFill, FillsEachPlaceholderFromOneDetection) {
    const fs::path counter =
        fs::temp_directory_path() / ("cdm-ip-count-" + std::to_string(getpid()));
    fs::remove(counter);
    // b.test has no iptimeout: a different detection key from a.test unless the flag sets one.
    ip::Request request;
    request.timeout = std::chrono::seconds(5);
    const auto result = ip::fill(
        document("command:sh -c 'echo x >> " + counter.string() + "; echo 198.51.100.4'"), request);
    EXPECT_FALSE(result.failure);
    EXPECT_EQ(result.filled, 3U);
    EXPECT_EQ(result.unfilled, 0U);
    std::ifstream in(counter);
    std::stringstream asked;
    asked << in.rdbuf();
    EXPECT_EQ(asked.str(), "x\n") << "the command ran more than once";
    fs::remove(counter);

    const auto& records = result.document.at("records").as_array();
    const auto& a = records[0].as_object();
    EXPECT_EQ(a.at("data"), "198.51.100.4");
    EXPECT_FALSE(a.contains("auto"));
    EXPECT_THAT(std::string(a.at("detected").as_string()), HasSubstr("command:sh -c"));
    EXPECT_EQ(a.at("source"), "/etc/cdm.conf:5");
    EXPECT_EQ(records[1].at("data"), "::1");
    EXPECT_EQ(records[1].at("detected"), "interface:lo");
    EXPECT_EQ(records[2].at("data"), "10 mx.a.test.");
    EXPECT_EQ(records[3].at("auto"), "caa:main") << "cdm-cert's placeholder is not cdm-ip's";
    EXPECT_TRUE(records[3].at("data").is_null());
    EXPECT_EQ(records[4].at("data"), "198.51.100.4");
    EXPECT_EQ(records[4].at("op"), "add");
    EXPECT_EQ(result.document.at("extra"), json::parse(R"({"kept": true})"));

    const auto& report = result.document.at("report").as_array();
    ASSERT_EQ(report.size(), 2U);
    EXPECT_EQ(report[0].at("event"), "detected");
    EXPECT_EQ(report[0].at("family"), "ip4");
    EXPECT_EQ(report[0].at("address"), "198.51.100.4");
    EXPECT_EQ(report[0].at("records"), 2);
    EXPECT_EQ(report[1].at("family"), "ip6");
    EXPECT_EQ(report[1].at("source"), "interface:lo");
}

TEST(IpDetectFill, FailedDetectionLeavesThePlaceholderAndReports) {
    cdm::test::LogCapture log;
    ip::Request request;
    request.ip6Sources = ip::parseSources("command:echo 2001:db8::6");
    const auto result = ip::fill(document("command:echo 1.2.3.4.5, command:false", "3"), request);
    ASSERT_TRUE(result.failure);
    EXPECT_EQ(result.failure->code(), Exit::Unavailable);
    EXPECT_THAT(result.failure->message(), HasSubstr("ip4 a.test."));
    EXPECT_THAT(result.failure->message(), HasSubstr("ip4 b.test."));
    EXPECT_EQ(result.filled, 1U);
    EXPECT_EQ(result.unfilled, 2U);
    const auto& records = result.document.at("records").as_array();
    EXPECT_TRUE(records[0].at("data").is_null());
    EXPECT_EQ(records[0].at("auto"), "ip4");
    EXPECT_FALSE(records[0].as_object().contains("detected"));
    EXPECT_EQ(records[1].at("data"), "2001:db8::6") << "the flag replaces the configured ip6detect";
    std::vector<std::string> failed;
    for (const auto& e : result.document.at("report").as_array()) {
        if (e.at("event") == "failed") {
            failed.emplace_back(e.at("name").as_string());
            EXPECT_EQ(e.at("family"), "ip4");
            ASSERT_EQ(e.at("errors").as_array().size(), 2U);
            EXPECT_THAT(std::string(e.at("errors").as_array()[0].as_string()),
                        HasSubstr("'1.2.3.4.5' is not an IPv4 address"));
        }
    }
    EXPECT_EQ(failed, (std::vector<std::string>{"a.test.", "b.test."}));
    EXPECT_THAT(log.all(), HasSubstr("no ip4 address for a.test.: every source failed"));
}

TEST(IpDetectFill, ConfigMistakesNameTheKey) {
    std::string message;
    EXPECT_EQ(codeOf([] { ip::fill(document("ftp://a.test/"), {}); }, &message), Exit::Config);
    EXPECT_THAT(message, HasSubstr("/etc/cdm.conf:7"));
    EXPECT_EQ(codeOf([] { ip::fill(document("interface:lo", "0"), {}); }, &message), Exit::Config);
    EXPECT_THAT(message, HasSubstr("/etc/cdm.conf:9"));
    ip::Request request;
    request.caBundle = "/nonexistent/ca.pem";
    EXPECT_EQ(codeOf([&] { ip::fill(document("interface:lo"), request); }), Exit::NoInput);
}

TEST(IpDetectFill, PlaceholderOnTheWrongTypeIsBadData) {
    auto doc = document("interface:lo");
    doc["records"].as_array()[0].as_object()["type"] = "AAAA";
    std::string message;
    EXPECT_EQ(codeOf([&] { ip::fill(doc, {}); }, &message), Exit::DataErr);
    EXPECT_THAT(message, HasSubstr("records[0].auto"));
}

TEST(IpDetectFill, NoRecordsNothingAsked) {
    const auto result = ip::fill(json::parse(R"({"cdm": 1})").as_object(), {});
    EXPECT_FALSE(result.failure);
    EXPECT_EQ(result.document, json::parse(R"({"cdm": 1})"));
}

} // namespace
