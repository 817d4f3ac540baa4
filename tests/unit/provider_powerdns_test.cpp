// The pure parts of the PowerDNS provider (libcommon/provider/powerdns.cpp): URLs, zone ids,
// record contents both ways, the zone reply, the PATCH body, the race check, error texts, and
// the settings the provider refuses before it sends anything. The provider against a real
// PowerDNS is tested by tests/cli/cdm-dns-apply-powerdns.bats.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "libcommon/provider/powerdns.hpp"
#include "libcommon/provider/providers.hpp"
#include "test_util.hpp"

namespace cdm::provider {
namespace {

namespace json = boost::json;
using record::Record;
using record::Type;
using test::codeOf;

// ---------------------------------------------------------------- URLs and ids

TEST(PowerdnsApiBase, AppendsApiV1OnceAndDropsTrailingSlashes) {
    EXPECT_EQ(powerdns::apiBase("http://127.0.0.1:8081"), "http://127.0.0.1:8081/api/v1");
    EXPECT_EQ(powerdns::apiBase("http://127.0.0.1:8081/"), "http://127.0.0.1:8081/api/v1");
    EXPECT_EQ(powerdns::apiBase("http://127.0.0.1:8081/api/v1"), "http://127.0.0.1:8081/api/v1");
    EXPECT_EQ(powerdns::apiBase("https://dns.example.test/api/v1/"), "https://dns.example.test/api/v1");
    EXPECT_EQ(powerdns::apiBase("https://dns.example.test/pdns"), "https://dns.example.test/pdns/api/v1");
    EXPECT_EQ(powerdns::apiBase("  HTTP://[::1]:8081 "), "http://[::1]:8081/api/v1");
}

TEST(PowerdnsApiBase, RefusesOtherSchemesNoHostQueriesAndCredentials) {
    std::string message;
    EXPECT_EQ(codeOf([] { powerdns::apiBase("ftp://127.0.0.1"); }, &message), Exit::Config);
    EXPECT_NE(message.find("'ftp://127.0.0.1'"), std::string::npos) << message;
    EXPECT_EQ(codeOf([] { powerdns::apiBase("127.0.0.1:8081"); }), Exit::Config);
    EXPECT_EQ(codeOf([] { powerdns::apiBase("http://"); }), Exit::Config);
    EXPECT_EQ(codeOf([] { powerdns::apiBase("http:///api/v1"); }), Exit::Config);
    EXPECT_EQ(codeOf([] { powerdns::apiBase("http://127.0.0.1:8081/?x=1"); }), Exit::Config);
    // A password in the URL would be printed in every message that names the URL.
    EXPECT_EQ(codeOf([] { powerdns::apiBase("http://admin:hunter2@127.0.0.1:8081"); }, &message), Exit::Config);
    EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
}

TEST(PowerdnsZoneId, EncodesAsPowerdnsDoes) {
    EXPECT_EQ(powerdns::zoneId("pdns.test"), "pdns.test.");
    EXPECT_EQ(powerdns::zoneId("PDNS.Test."), "pdns.test.");
    EXPECT_EQ(powerdns::zoneId("my-zone.example.test."), "my-zone.example.test.");
    EXPECT_EQ(powerdns::zoneId("_tcp.example.test."), "=5Ftcp.example.test.");
    EXPECT_EQ(powerdns::zoneId("0/25.2.0.192.in-addr.arpa."), "0=2F25.2.0.192.in-addr.arpa.");
    EXPECT_EQ(powerdns::zoneId("a\\032b.test."), "a=5C032b.test.");
    EXPECT_EQ(powerdns::zoneId("."), "=2E");
    EXPECT_EQ(codeOf([] { powerdns::zoneId("a..test"); }), Exit::DataErr);
}

// ---------------------------------------------------------------- contents

struct ContentCase {
    const char* name;
    Type type;
    const char* input;   // as a user writes it
    const char* content; // as PowerDNS takes it (and prints it back)
};

const std::string kLong300(300, 'x');

// What PowerDNS 4.7 printed back for each of these in tests/testbed (GET /zones/pdns.test.).
const ContentCase kCases[] = {
    {"www.pdns.test.", Type::A, "192.0.2.1", "192.0.2.1"},
    {"www.pdns.test.", Type::AAAA, "2001:DB8:0:0::1", "2001:db8::1"},
    {"pdns.test.", Type::NS, "NS1.pdns.test.", "ns1.pdns.test."},
    {"alias.pdns.test.", Type::CNAME, "www.pdns.test.", "www.pdns.test."},
    {"pdns.test.", Type::MX, "010 Mail.pdns.test.", "10 mail.pdns.test."},
    {"_sip._tcp.pdns.test.", Type::SRV, "0 5 5060 sip.pdns.test.", "0 5 5060 sip.pdns.test."},
    {"pdns.test.", Type::CAA, "0 issue \"letsencrypt.org; validationmethods=dns-01\"",
     "0 issue \"letsencrypt.org; validationmethods=dns-01\""},
    {"pdns.test.", Type::CAA, "128 iodef mailto:a@b.test", "128 iodef \"mailto:a@b.test\""},
    {"_443._tcp.pdns.test.", Type::TLSA, "3 1 1 ABCDEF0123456789abcdef0123456789 abcdef0123456789abcdef0123456789",
     "3 1 1 abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"},
    {"t.pdns.test.", Type::TXT, "\"x\\\"y\\\\z\" \"\\195\\169\"", "\"x\\\"y\\\\z\" \"\\195\\169\""},
    {"pdns.test.", Type::SOA, "ns1.pdns.test. hostmaster.pdns.test. 3 60 60 3600 60",
     "ns1.pdns.test. hostmaster.pdns.test. 3 60 60 3600 60"},
};

TEST(PowerdnsContent, EachTypeGoesOutInPowerdnsFormAndComesBackTheSame) {
    for (const auto& c : kCases) {
        SCOPED_TRACE(std::string(record::toString(c.type)) + " " + c.input);
        const Record rr = Record::make(c.name, c.type, 60, c.input);
        EXPECT_EQ(powerdns::toContent(rr), c.content);
        const auto back = powerdns::fromContent(c.name, record::toString(c.type), 60, c.content);
        ASSERT_TRUE(back.has_value());
        EXPECT_TRUE(back->sameRecord(rr));
        EXPECT_EQ(back->data, rr.data);
        EXPECT_EQ(back->ttl, 60U);
    }
}

TEST(PowerdnsContent, TxtOver255OctetsIsSplitIntoStringsAndReadBackWhole) {
    const Record rr = Record::make("long.pdns.test.", Type::TXT, 60, "\"" + kLong300 + "\"");
    const std::string content = powerdns::toContent(rr);
    EXPECT_EQ(content, "\"" + kLong300.substr(0, 255) + "\" \"" + kLong300.substr(255) + "\"");
    // PowerDNS keeps one long string as given, and splits it only on the wire; either way the
    // text is the same, so there is no endless diff.
    for (const auto& printed : {content, "\"" + kLong300 + "\""}) {
        const auto back = powerdns::fromContent("long.pdns.test.", "TXT", 60, printed);
        ASSERT_TRUE(back.has_value());
        EXPECT_EQ(record::txtText(back->data), kLong300);
        EXPECT_TRUE(back->sameRecord(rr));
    }
}

TEST(PowerdnsContent, TypesCdmDoesNotManageAreLeftOut) {
    for (const auto* type : {"DNSKEY", "PTR", "NSEC", "TYPE65534", "TYPE1", "ALIAS", "LUA"}) {
        EXPECT_FALSE(powerdns::fromContent("pdns.test.", type, 60, "anything").has_value()) << type;
    }
}

TEST(PowerdnsContent, ContentThatDoesNotParseIsADataErrorNamingTheRecord) {
    std::string message;
    EXPECT_EQ(codeOf([] { powerdns::fromContent("x.pdns.test.", "MX", 60, "mail"); }, &message), Exit::DataErr);
    EXPECT_NE(message.find("x.pdns.test. MX 'mail'"), std::string::npos) << message;
}

// ---------------------------------------------------------------- the zone reply

// The shape of GET /api/v1/servers/localhost/zones/pdns.test. from PowerDNS 4.7.
const char* kZone = R"({
  "account": "", "api_rectify": true, "dnssec": true, "edited_serial": 7, "id": "pdns.test.",
  "kind": "Native", "name": "pdns.test.", "notified_serial": 0, "serial": 6, "soa_edit": "",
  "soa_edit_api": "INCREASE", "url": "/api/v1/servers/localhost/zones/pdns.test.",
  "rrsets": [
    {"comments": [], "name": "pdns.test.", "records": [
        {"content": "ns1.pdns.test. hostmaster.pdns.test. 6 60 60 3600 300", "disabled": false}],
     "ttl": 60, "type": "SOA"},
    {"comments": [], "name": "pdns.test.", "records": [{"content": "ns1.pdns.test.", "disabled": false}],
     "ttl": 60, "type": "NS"},
    {"comments": [], "name": "WWW.pdns.test.", "records": [
        {"content": "192.0.2.1", "disabled": false}, {"content": "192.0.2.2", "disabled": true}],
     "ttl": 300, "type": "A"},
    {"comments": [], "name": "pdns.test.", "records": [{"content": "0 issue \"ca.test\"", "disabled": false}],
     "ttl": 3600, "type": "CAA"},
    {"comments": [], "name": "1.2.0.192.in-addr.pdns.test.", "records": [{"content": "www.pdns.test.", "disabled": false}],
     "ttl": 60, "type": "PTR"}
  ]})";

TEST(PowerdnsParseZone, EnabledRecordsOfKnownTypesSerialAndNegativeTtl) {
    const auto zone = powerdns::parseZone(json::parse(kZone), "http://127.0.0.1:8081/api/v1/servers/localhost/zones/pdns.test.");
    EXPECT_TRUE(zone.complete);
    EXPECT_EQ(zone.serial, 7U); // edited_serial: what the server serves
    EXPECT_EQ(zone.negativeTtl, 300U);
    ASSERT_EQ(zone.records.size(), 4U); // the disabled A and the PTR are left out
    EXPECT_EQ(zone.records[2].toZoneLine(), "www.pdns.test. 300 IN A 192.0.2.1");
    EXPECT_EQ(zone.records[3].toZoneLine(), "pdns.test. 3600 IN CAA 0 issue \"ca.test\"");
}

TEST(PowerdnsParseZone, MalformedRepliesAreDataErrorsNamingTheUrl) {
    std::string message;
    const std::string url = "http://127.0.0.1:8081/api/v1/servers/localhost/zones/pdns.test.";
    EXPECT_EQ(codeOf([&] { powerdns::parseZone(json::parse("[]"), url); }, &message), Exit::DataErr);
    EXPECT_NE(message.find(url), std::string::npos) << message;
    EXPECT_EQ(codeOf([&] { powerdns::parseZone(json::parse(R"({"name":"pdns.test."})"), url); }), Exit::DataErr);
    EXPECT_EQ(codeOf([&] {
                  powerdns::parseZone(json::parse(R"({"rrsets":[{"name":"a.pdns.test.","type":"A","records":[]}]})"), url);
              }),
              Exit::DataErr); // no ttl
    EXPECT_EQ(codeOf([&] {
                  powerdns::parseZone(
                      json::parse(R"({"rrsets":[{"name":"a.pdns.test.","type":"A","ttl":60,"records":[{"disabled":false}]}]})"),
                      url);
              }),
              Exit::DataErr); // no content
}

TEST(PowerdnsZoneSerial, EditedSerialThenSerialThenTheSoaRecord) {
    EXPECT_EQ(powerdns::zoneSerial(json::parse(R"({"edited_serial": 9, "serial": 8})")), 9U);
    EXPECT_EQ(powerdns::zoneSerial(json::parse(R"({"serial": 8})")), 8U);
    EXPECT_EQ(powerdns::zoneSerial(json::parse(
                  R"({"rrsets":[{"name":"z.","type":"SOA","ttl":60,"records":[{"content":"a. b. 4294967295 1 1 1 1"}]}]})")),
              4294967295U);
    EXPECT_EQ(powerdns::zoneSerial(json::parse(R"({"serial": -1})")), 0U);
    EXPECT_EQ(powerdns::zoneSerial(json::parse(R"({})")), 0U);
    EXPECT_EQ(powerdns::zoneSerial(json::parse("null")), 0U);
}

// ---------------------------------------------------------------- the PATCH body

Change sampleChange() {
    Change change;
    change.zone = "pdns.test.";
    RRsetChange tlsa;
    tlsa.key = {"_443._tcp.www.pdns.test.", Type::TLSA};
    tlsa.before = {Record::make("_443._tcp.www.pdns.test.", Type::TLSA, 60, "3 1 1 " + std::string(64, 'a'))};
    tlsa.after = {Record::make("_443._tcp.www.pdns.test.", Type::TLSA, 300, "3 1 1 " + std::string(64, 'B')),
                  Record::make("_443._tcp.www.pdns.test.", Type::TLSA, 300, "3 1 1 " + std::string(64, 'c'))};
    RRsetChange gone;
    gone.key = {"old.pdns.test.", Type::TXT};
    gone.before = {Record::make("old.pdns.test.", Type::TXT, 60, "\"bye\"")};
    change.rrsets = {tlsa, gone};
    return change;
}

TEST(PowerdnsPatchBody, ReplaceWithTheWholeRRsetAndItsTtlOrDelete) {
    const json::value expected = json::parse(R"({"rrsets":[
        {"name":"_443._tcp.www.pdns.test.","type":"TLSA","changetype":"REPLACE","ttl":300,
         "records":[{"content":"3 1 1 )" + std::string(64, 'b') + R"(","disabled":false},
                    {"content":"3 1 1 )" + std::string(64, 'c') + R"(","disabled":false}]},
        {"name":"old.pdns.test.","type":"TXT","changetype":"DELETE"}]})");
    EXPECT_EQ(json::value(powerdns::patchBody(sampleChange())), expected);
}

TEST(PowerdnsPatchBody, TheSameRecordTwiceIsSentOnce) {
    Change change;
    change.zone = "pdns.test.";
    RRsetChange txt;
    txt.key = {"t.pdns.test.", Type::TXT};
    txt.after = {Record::make("t.pdns.test.", Type::TXT, 60, "\"ab\""),
                 Record::make("t.pdns.test.", Type::TXT, 60, "\"a\" \"b\""),
                 Record::make("t.pdns.test.", Type::TXT, 60, "\"c\"")};
    change.rrsets = {txt};
    const auto body = powerdns::patchBody(change);
    const auto& records = body.at("rrsets").as_array().at(0).as_object().at("records").as_array();
    ASSERT_EQ(records.size(), 2U);
    EXPECT_EQ(records[0].as_object().at("content"), "\"ab\"");
    EXPECT_EQ(records[1].as_object().at("content"), "\"c\"");
}

// ---------------------------------------------------------------- the race check

ZoneContents holding(std::vector<Record> records) {
    ZoneContents z;
    z.complete = true;
    z.records = std::move(records);
    return z;
}

TEST(PowerdnsChangedSince, NothingWhenTheZoneStillHoldsWhatWasRead) {
    const Change change = sampleChange();
    // The TLSA as read (its hex in the other case, its name in capitals), the TXT as read.
    const auto now = holding({Record::make("_443._TCP.www.pdns.test.", Type::TLSA, 60, "3 1 1 " + std::string(64, 'A')),
                              Record::make("old.pdns.test.", Type::TXT, 60, "\"bye\""),
                              Record::make("other.pdns.test.", Type::A, 60, "192.0.2.9")});
    EXPECT_TRUE(powerdns::changedSince(change, now).empty());
}

TEST(PowerdnsChangedSince, ARecordMoreOrLessOrAnotherTtlIsARace) {
    const Change change = sampleChange();
    const Record tlsa = Record::make("_443._tcp.www.pdns.test.", Type::TLSA, 60, "3 1 1 " + std::string(64, 'a'));
    const Record txt = Record::make("old.pdns.test.", Type::TXT, 60, "\"bye\"");
    Record txt2 = txt;
    txt2.ttl = 120;
    const Record other = Record::make("_443._tcp.www.pdns.test.", Type::TLSA, 60, "3 1 1 " + std::string(64, 'd'));

    auto keys = powerdns::changedSince(change, holding({tlsa, other, txt}));
    ASSERT_EQ(keys.size(), 1U);
    EXPECT_EQ(keys[0].type, Type::TLSA);
    keys = powerdns::changedSince(change, holding({tlsa}));
    ASSERT_EQ(keys.size(), 1U);
    EXPECT_EQ(keys[0].name, "old.pdns.test.");
    keys = powerdns::changedSince(change, holding({tlsa, txt2}));
    ASSERT_EQ(keys.size(), 1U);
    EXPECT_EQ(keys[0].type, Type::TXT);

    // An RRset read as absent that another writer created meanwhile.
    Change add;
    add.zone = "pdns.test.";
    RRsetChange a;
    a.key = {"new.pdns.test.", Type::A};
    a.after = {Record::make("new.pdns.test.", Type::A, 60, "192.0.2.1")};
    add.rrsets = {a};
    EXPECT_TRUE(powerdns::changedSince(add, holding({tlsa})).empty());
    EXPECT_EQ(powerdns::changedSince(add, holding({Record::make("new.pdns.test.", Type::A, 60, "192.0.2.7")})).size(), 1U);
}

// ---------------------------------------------------------------- error texts

TEST(PowerdnsErrorText, TheJsonErrorMemberOrTheBodyOnOneShortLine) {
    EXPECT_EQ(powerdns::errorText(R"({"error": "RRset x.other. IN A: Name is out of zone"})"),
              "RRset x.other. IN A: Name is out of zone");
    EXPECT_EQ(powerdns::errorText("Not Found"), "Not Found");
    EXPECT_EQ(powerdns::errorText("  two\nlines\r\n"), "two lines");
    EXPECT_EQ(powerdns::errorText(""), "");
    const std::string text = powerdns::errorText(std::string(1000, 'e'));
    EXPECT_EQ(text, std::string(300, 'e') + "...");
}

// ---------------------------------------------------------------- settings

Settings settingsWith(std::map<std::string, std::string> keys) {
    Settings s;
    s.handler = "powerdns";
    s.section = "[domain:pdns.test]";
    s.keys = std::move(keys);
    return s;
}

TEST(PowerdnsSettings, MissingOrBadAccessKeysAreConfigErrorsBeforeAnyRequest) {
    std::string message;
    EXPECT_EQ(codeOf([] { makePowerdns(settingsWith({{"apikey", "k"}})); }, &message), Exit::Config);
    EXPECT_NE(message.find("'api_url'"), std::string::npos) << message;
    EXPECT_EQ(codeOf([] { makePowerdns(settingsWith({{"api_url", "http://127.0.0.1:1"}})); }, &message), Exit::Config);
    EXPECT_NE(message.find("'apikey' or 'apikey_file'"), std::string::npos) << message;
    EXPECT_EQ(codeOf([] { makePowerdns(settingsWith({{"api_url", "gopher://x"}, {"apikey", "k"}})); }), Exit::Config);
    EXPECT_EQ(codeOf([] {
                  makePowerdns(settingsWith({{"api_url", "http://127.0.0.1:1"}, {"apikey", "k"}, {"server_id", "a/b"}}));
              }),
              Exit::Config);
    EXPECT_EQ(codeOf([] {
                  makePowerdns(settingsWith({{"api_url", "http://127.0.0.1:1"}, {"apikey", "k"}, {"timeout", "0"}}));
              }),
              Exit::Config);
    EXPECT_EQ(codeOf([] {
                  makePowerdns(settingsWith(
                      {{"api_url", "http://127.0.0.1:1"}, {"apikey", "k"}, {"cabundle", "/nonexistent/ca.pem"}}));
              }),
              Exit::Config);
    // A key that would inject a header line is refused, and not printed.
    EXPECT_EQ(codeOf([] {
                  makePowerdns(settingsWith({{"api_url", "http://127.0.0.1:1"}, {"apikey", "sec\r\nX-Evil: 1"}}));
              },
                     &message),
              Exit::Config);
    EXPECT_EQ(message.find("sec"), std::string::npos) << message;
}

TEST(PowerdnsSettings, PlainHttpToAnotherHostIsWarnedAbout) {
    {
        test::LogCapture log;
        makePowerdns(settingsWith({{"api_url", "http://192.0.2.1:8081"}, {"apikey", "k"}}));
        EXPECT_NE(log.all().find("plain http"), std::string::npos) << log.all();
    }
    for (const auto* url : {"http://127.0.0.1:8081", "http://[::1]:8081", "http://localhost:8081", "https://192.0.2.1"}) {
        test::LogCapture log;
        makePowerdns(settingsWith({{"api_url", url}, {"apikey", "k"}}));
        EXPECT_EQ(log.all().find("plain http"), std::string::npos) << url << ": " << log.all();
    }
}

// A loopback port nothing listens on: bind one, note it, close it.
unsigned short closedPort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len), 0);
    ::close(fd);
    return ntohs(sa.sin_port);
}

TEST(PowerdnsProvider, NoServerIsUnavailableAndTheKeyFromApikeyFileIsNeverInTheMessage) {
    const std::string dir = ::testing::TempDir();
    const std::string keyFile = dir + "/pdns-apikey";
    std::ofstream(keyFile) << "s3cr3t-key-from-a-file\n";
    const std::string url = "http://127.0.0.1:" + std::to_string(closedPort());
    auto p = makePowerdns(settingsWith({{"api_url", url}, {"apikey_file", keyFile}, {"timeout", "5"}}));
    std::string message;
    EXPECT_EQ(codeOf([&] { p->read("pdns.test.", {}); }, &message), Exit::Unavailable);
    EXPECT_NE(message.find("'" + url + "/api/v1/servers/localhost/zones/pdns.test.'"), std::string::npos) << message;
    EXPECT_EQ(message.find("s3cr3t"), std::string::npos) << message;
    EXPECT_EQ(codeOf([&] { p->apply(sampleChange()); }, &message), Exit::Unavailable);
    EXPECT_EQ(message.find("s3cr3t"), std::string::npos) << message;
    // An empty change sends nothing, so it cannot fail.
    Change none;
    none.zone = "pdns.test.";
    const Applied applied = p->apply(none);
    EXPECT_EQ(applied.messages, 0U);
}

} // namespace
} // namespace cdm::provider
