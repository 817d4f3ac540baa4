#include "libcommon/provider/zonefile.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include "libcommon/fsutil.hpp"
#include "libcommon/provider/providers.hpp"
#include "tests/unit/test_util.hpp"

namespace cdm::provider::zonefile {
namespace {

using record::Record;
using record::Type;
using test::codeOf;

const std::string fixtures = std::string(CDM_TEST_DATA) + "/../../cli/fixtures/zonefile";

std::string fixture(const std::string& name) {
    return fsutil::readFile(fixtures + "/" + name, 1 << 20);
}

Options optionsFor(const std::string& name) {
    Options o;
    o.file = fixtures + "/" + name;
    o.origin = "example.test.";
    o.zone = "example.test.";
    return o;
}

// Midday UTC of a date, with the local time zone set to UTC so that the date rule sees it.
std::time_t dayUtc(int year, int month, int day) {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
    std::tm t{};
    t.tm_year = year - 1900;
    t.tm_mon = month - 1;
    t.tm_mday = day;
    t.tm_hour = 12;
    return ::timegm(&t);
}

Record rr(const std::string& name, Type type, std::uint32_t ttl, const std::string& data) {
    return Record::make(name, type, ttl, data);
}

// The change that makes RRset (name, type) hold `after`, planned from what `text` holds.
RRsetChange changeOf(std::string_view text, const Options& o, const std::string& name, Type type,
                     std::vector<Record> after) {
    RRsetChange c;
    c.key = RRsetKey{name, type};
    for (const auto& r : parse(text, o).contents("example.test.").records) {
        if (r.name == name && r.type == type) {
            c.before.push_back(r);
        }
    }
    c.after = std::move(after);
    return c;
}

Change zoneChange(std::vector<RRsetChange> rrsets) {
    return Change{"example.test.", std::move(rrsets)};
}

// `text` with the one occurrence of `from` replaced by `to` (fails the test when not once).
std::string replaced(std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    EXPECT_EQ(text.find(from, at + 1), std::string::npos) << from;
    if (at != std::string::npos) {
        text.replace(at, from.size(), to);
    }
    return text;
}

const Record* findRecord(const ZoneContents& z, const std::string& name, Type type, const std::string& data) {
    for (const auto& r : z.records) {
        if (r.name == name && r.type == type && record::equalData(type, r.data, data)) {
            return &r;
        }
    }
    return nullptr;
}

// ---------------------------------------------------------------- TTLs and serials

TEST(ZonefileTtl, SecondsAndBindUnits) {
    EXPECT_EQ(parseTtl("3600"), 3600U);
    EXPECT_EQ(parseTtl("0"), 0U);
    EXPECT_EQ(parseTtl("1h"), 3600U);
    EXPECT_EQ(parseTtl("1H"), 3600U);
    EXPECT_EQ(parseTtl("1d2h"), 93600U);
    EXPECT_EQ(parseTtl("1h30m"), 5400U);
    EXPECT_EQ(parseTtl("1W"), 604800U);
    EXPECT_EQ(parseTtl("1w1d1h1m1s"), 694861U);
    EXPECT_EQ(parseTtl("4294967295"), 4294967295U);
}

TEST(ZonefileTtl, RejectsWhatBindRejects) {
    EXPECT_FALSE(parseTtl(""));
    EXPECT_FALSE(parseTtl("1h30")); // a number after a unit needs its own unit
    EXPECT_FALSE(parseTtl("h"));
    EXPECT_FALSE(parseTtl("1x"));
    EXPECT_FALSE(parseTtl("-1"));
    EXPECT_FALSE(parseTtl("4294967296"));
    EXPECT_FALSE(parseTtl("50000d"));
}

TEST(ZonefileSerial, Rfc1982Comparison) {
    EXPECT_TRUE(serialGreater(2, 1));
    EXPECT_FALSE(serialGreater(1, 1));
    EXPECT_FALSE(serialGreater(1, 2));
    EXPECT_TRUE(serialGreater(0, 4294967295U)); // wraps
    EXPECT_TRUE(serialGreater(1, 4294967295U));
    EXPECT_FALSE(serialGreater(0x80000000U, 0)); // exactly half way: undefined, not greater
    EXPECT_TRUE(serialGreater(0x7fffffffU, 0));
}

TEST(ZonefileSerial, DateStartsTheDayAtZeroZero) {
    EXPECT_EQ(nextSerial(SerialRule::Date, 2023123105, dayUtc(2024, 1, 1)), 2024010100U);
    EXPECT_EQ(nextSerial(SerialRule::Date, 7, dayUtc(2024, 2, 29)), 2024022900U);
}

TEST(ZonefileSerial, DateCountsUpWithinTheDay) {
    EXPECT_EQ(nextSerial(SerialRule::Date, 2024010100, dayUtc(2024, 1, 1)), 2024010101U);
    EXPECT_EQ(nextSerial(SerialRule::Date, 2024010117, dayUtc(2024, 1, 1)), 2024010118U);
}

TEST(ZonefileSerial, DateRollsPastNinetyNineIntoTomorrowsNumbers) {
    EXPECT_EQ(nextSerial(SerialRule::Date, 2024010199, dayUtc(2024, 1, 1)), 2024010200U);
    // The next day then continues from there rather than going back to 00.
    EXPECT_EQ(nextSerial(SerialRule::Date, 2024010200, dayUtc(2024, 1, 2)), 2024010201U);
}

TEST(ZonefileSerial, DateFallsBackToPlusOneWhenTheSerialIsAhead) {
    EXPECT_EQ(nextSerial(SerialRule::Date, 2099123100, dayUtc(2024, 1, 1)), 2099123101U);
    // RFC 1982: 2024010100 is greater than 4294967295 (the distance is below 2^31).
    EXPECT_EQ(nextSerial(SerialRule::Date, 4294967295U, dayUtc(2024, 1, 1)), 2024010100U);
    EXPECT_EQ(nextSerial(SerialRule::Date, 3000000000U, dayUtc(2024, 1, 1)), 3000000001U);
}

TEST(ZonefileSerial, IncrementAndUnixTime) {
    EXPECT_EQ(nextSerial(SerialRule::Increment, 41, 0), 42U);
    EXPECT_EQ(nextSerial(SerialRule::Increment, 4294967295U, 0), 1U); // never 0
    const std::time_t now = dayUtc(2024, 1, 1);
    EXPECT_EQ(nextSerial(SerialRule::UnixTime, 5, now), static_cast<std::uint32_t>(now));
    EXPECT_EQ(nextSerial(SerialRule::UnixTime, static_cast<std::uint32_t>(now) + 10, now),
              static_cast<std::uint32_t>(now) + 11);
}

TEST(ZonefileSerial, RuleNames) {
    EXPECT_EQ(serialRuleFromString("date"), SerialRule::Date);
    EXPECT_EQ(serialRuleFromString("increment"), SerialRule::Increment);
    EXPECT_EQ(serialRuleFromString("UnixTime"), SerialRule::UnixTime);
    std::string message;
    EXPECT_EQ(codeOf([] { serialRuleFromString("weekly"); }, &message), Exit::Config);
    EXPECT_NE(message.find("'weekly'"), std::string::npos) << message;
}

// ---------------------------------------------------------------- reading

TEST(ZonefileParse, ReadsAZoneAsPeopleWriteIt) {
    const Zone z = parse(fixture("example.test.db"), optionsFor("example.test.db"));
    const ZoneContents c = z.contents("example.test.");
    EXPECT_TRUE(c.complete);
    EXPECT_EQ(c.serial, 2024010101U);
    EXPECT_EQ(c.negativeTtl, 300U);

    // The multi-line SOA, its timers in BIND units.
    const Record* soa = findRecord(c, "example.test.", Type::SOA,
                                   "ns1.example.test. hostmaster.example.test. 2024010101 3600 900 604800 300");
    ASSERT_NE(soa, nullptr);
    EXPECT_EQ(soa->ttl, 3600U); // $TTL 1h
    // Blank owners repeat the previous one; relative names take the origin.
    EXPECT_NE(findRecord(c, "example.test.", Type::NS, "ns1.example.test."), nullptr);
    EXPECT_NE(findRecord(c, "example.test.", Type::MX, "10 mail.example.test."), nullptr);
    // TTL and class in either order, units in the TTL field.
    const Record* ns2 = findRecord(c, "ns2.example.test.", Type::A, "127.0.0.1");
    ASSERT_NE(ns2, nullptr);
    EXPECT_EQ(ns2->ttl, 600U);
    const Record* mail = findRecord(c, "mail.example.test.", Type::A, "192.0.2.25");
    ASSERT_NE(mail, nullptr);
    EXPECT_EQ(mail->ttl, 86400U);
    const Record* spf = findRecord(c, "example.test.", Type::TXT, "\"v=spf1 mx -all\"");
    ASSERT_NE(spf, nullptr);
    EXPECT_EQ(spf->ttl, 300U);
    // `;` inside quotes is text, not a comment; parentheses join lines.
    EXPECT_NE(findRecord(c, "_dmarc.example.test.", Type::TXT, "\"v=DMARC1; p=reject; rua=mailto:dmarc@example.test\""),
              nullptr);
    EXPECT_NE(findRecord(c, "key1._domainkey.example.test.", Type::TXT, "\"v=DKIM1; k=rsa; p=MIIBIjANBgkqh\""),
              nullptr);
    // $ORIGIN switched mid-file, and back.
    EXPECT_NE(findRecord(c, "_443._tcp.example.test.", Type::TLSA,
                         "3 1 1 fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"),
              nullptr);
    EXPECT_NE(findRecord(c, "*._tcp.example.test.", Type::TLSA,
                         "3 1 1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"),
              nullptr);
    EXPECT_NE(findRecord(c, "_imap._tcp.example.test.", Type::SRV, "0 5 143 mail.example.test."), nullptr);
    EXPECT_NE(findRecord(c, "sub.example.test.", Type::NS, "ns.sub.example.test."), nullptr);
    EXPECT_NE(findRecord(c, "www.example.test.", Type::A, "192.0.2.11"), nullptr);
    EXPECT_NE(findRecord(c, "www.example.test.", Type::AAAA, "2001:db8::10"), nullptr);
    // HTTPS, SSHFP and DS are in the file but not reported.
    EXPECT_EQ(c.records.size(), 20U);
    std::size_t unknown = 0;
    for (const auto& e : z.entries) {
        unknown += e.type ? 0 : 1;
    }
    EXPECT_EQ(unknown, 3U);
    EXPECT_EQ(z.entries.size(), 23U);
}

TEST(ZonefileParse, UnknownTypesAreKeptAsWritten) {
    const Zone z = parse(fixture("example.test.db"), optionsFor("example.test.db"));
    bool https = false;
    for (const auto& e : z.entries) {
        if (e.typeText == "HTTPS") {
            https = true;
            EXPECT_FALSE(e.type);
            EXPECT_EQ(e.owner, "www.example.test.");
            EXPECT_EQ(e.data, "1 . alpn=\"h2,h3\"");
            EXPECT_EQ(e.line, 27U);
        }
    }
    EXPECT_TRUE(https);
}

TEST(ZonefileParse, Rfc1035TtlSemanticsWithoutDollarTtl) {
    const Zone z = parse(fixture("rfc1035-ttl.db"), optionsFor("rfc1035-ttl.db"));
    const ZoneContents c = z.contents("example.test.");
    EXPECT_EQ(findRecord(c, "example.test.", Type::NS, "ns1.example.test.")->ttl, 3600U);
    EXPECT_EQ(findRecord(c, "www.example.test.", Type::A, "192.0.2.1")->ttl, 300U);
    EXPECT_EQ(findRecord(c, "mail.example.test.", Type::A, "192.0.2.2")->ttl, 300U);
}

TEST(ZonefileParse, SoaWithoutAnyTtlGivesItsMinimum) {
    const std::string text = "@ IN SOA ns1 hm ( 1 2 3 4 55 )\n  IN NS ns1\nns1 300 A 127.0.0.1\n   A 127.0.0.2\n";
    const ZoneContents c = parse(text, optionsFor("x.db")).contents("example.test.");
    EXPECT_EQ(findRecord(c, "example.test.", Type::NS, "ns1.example.test.")->ttl, 55U);
    // The second A line takes the SOA minimum (the default TTL now); the RRset has its first TTL.
    const Zone z = parse(text, optionsFor("x.db"));
    EXPECT_EQ(z.entries.back().ttl, 55U);
    EXPECT_EQ(findRecord(c, "ns1.example.test.", Type::A, "127.0.0.2")->ttl, 300U);
}

TEST(ZonefileParse, IncludedFilesAreReadWithTheirOrigin) {
    const Zone z = parse(fixture("include.db"), optionsFor("include.db"));
    const ZoneContents c = z.contents("example.test.");
    EXPECT_NE(findRecord(c, "static.example.test.", Type::A, "192.0.2.80"), nullptr);
    EXPECT_NE(findRecord(c, "static.example.test.", Type::TXT, "\"kept by hand\""), nullptr);
    EXPECT_NE(findRecord(c, "mail.example.test.", Type::A, "192.0.2.25"), nullptr);
    for (const auto& e : z.entries) {
        EXPECT_EQ(e.included, e.owner == "static.example.test.") << e.owner;
        if (e.included) {
            EXPECT_NE(e.file.find("include-part.db"), std::string::npos);
        }
    }
}

TEST(ZonefileParse, IncludeWithAnOriginAndAfterwards) {
    Options o = optionsFor("main.db");
    o.load = [](const std::string& path) -> std::string {
        EXPECT_EQ(path, "/zones/part.db");
        return "$TTL 999\nincl A 192.0.2.5\n  A 192.0.2.6\n$ORIGIN other.example.test.\no A 192.0.2.7\n";
    };
    o.file = "/zones/main.db";
    const std::string text = "$TTL 100\n@ SOA ns1 hm 1 2 3 4 5\n NS ns1\nns1 A 192.0.2.1\n"
                             "$INCLUDE part.db sub\n A 192.0.2.2\nw A 192.0.2.3\n";
    const ZoneContents c = parse(text, o).contents("example.test.");
    EXPECT_NE(findRecord(c, "incl.sub.example.test.", Type::A, "192.0.2.6"), nullptr);
    EXPECT_NE(findRecord(c, "o.other.example.test.", Type::A, "192.0.2.7"), nullptr);
    // After the include: the origin and previous owner are the including file's; $TTL carries on.
    EXPECT_EQ(findRecord(c, "ns1.example.test.", Type::A, "192.0.2.2")->ttl, 100U); // RRset's first
    const Record* w = findRecord(c, "w.example.test.", Type::A, "192.0.2.3");
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->ttl, 999U);
}

TEST(ZonefileParse, OutOfZoneDataIsNotReported) {
    const std::string text = "$TTL 60\n@ SOA ns1 hm 1 2 3 4 5\n NS ns1\nns1 A 192.0.2.1\nelse.test. A 192.0.2.9\n";
    const ZoneContents c = parse(text, optionsFor("x.db")).contents("example.test.");
    EXPECT_EQ(c.records.size(), 3U);
}

struct BadCase {
    const char* text;
    unsigned line;
    const char* words;
};

TEST(ZonefileParse, ErrorsNameFileLineAndField) {
    const std::vector<BadCase> cases = {
        {"$TTL 60\n@ SOA ns1 hm 1 2 3 4 5\nwww 1h30 A 192.0.2.1\n", 3, "TTL '1h30'"},
        {"$TTL 60\n@ SOA ns1 hm 1 2 3 4 5\nwww IN AA 192.0.2.1\n", 3, "unknown record type 'AA'"},
        {"$TTL 60\n@ SOA ns1 hm 1 2 3 4 5\nwww CH A 192.0.2.1\n", 3, "class 'CH'"},
        {"$TTL 60\n@ SOA ns1 hm 1 2 3 4 5\n\nmail MX 70000 ns1\n", 4, "MX preference '70000'"},
        {"$TTL 60\n@ SOA ns1 hm 1 2 3 4 5\nwww A 192.0.2.300\n", 3, "'192.0.2.300'"},
        {"$TTL 60\n@ SOA ns1 hm 1 2 3 4 5\nk TXT ( \"a\"\n\n  \"b\"\n", 3, "'(' without ')'"},
        {"$TTL 60\n@ SOA ns1 hm 1 2 3 4 5\nk TXT \"a\" )\n", 3, "')' without '('"},
        {"$TTL 60\n@ SOA ns1 hm 1 2 3 4 5\nk TXT \"abc\n", 3, "unterminated quoted string"},
        {"$TTL 60\n  A 192.0.2.1\n", 2, "no owner name"},
        {"@ SOA ns1 hm 1 2 3 4 5\n$TTL one\n", 2, "$TTL 'one'"},
        {"www 60 A 192.0.2.1\nmail A 192.0.2.2\n@ 60 SOA ns1 hm 1 2 3 4 5\n$GENERATE 1-9 h$ A 192.0.2.$\n", 4, "$GENERATE"},
        {"$TTL 60\n@ SOA ns1 hm 1 2 3 4 5\n$INCLUDED x\n", 3, "unknown directive '$INCLUDED'"},
        {"$TTL 60\n@ SOA ns1 hm 1 2 3 4 5\n@ SOA ns1 hm 2 2 3 4 5\n", 3, "a second SOA record"},
        {"$TTL 60\nwww SOA ns1 hm 1 2 3 4 5\n", 2, "the SOA record is for 'www.example.test.'"},
        {"www A 192.0.2.1\n", 1, "no TTL"},
        {"$TTL 60\n@ SOA ns1 hm 1 2 3 4 5\nwww A\n", 3, "has no data"},
        {"$TTL 60\n@ SOA ns1 hm 1 2 3 4 5\nw..x A 192.0.2.1\n", 3, "owner name 'w..x'"},
    };
    for (const auto& c : cases) {
        std::string message;
        EXPECT_EQ(codeOf([&] { parse(c.text, optionsFor("z.db")); }, &message), Exit::DataErr) << c.text;
        const std::string where = fixtures + "/z.db:" + std::to_string(c.line) + ": ";
        EXPECT_EQ(message.rfind(where, 0), 0U) << message << "\nexpected to start with " << where;
        EXPECT_NE(message.find(c.words), std::string::npos) << message << "\nexpected " << c.words;
    }
}

TEST(ZonefileParse, NoSoaIsAnError) {
    std::string message;
    EXPECT_EQ(codeOf([&] { parse("$TTL 60\nwww A 192.0.2.1\n", optionsFor("z.db")); }, &message), Exit::DataErr);
    EXPECT_NE(message.find("no SOA record for 'example.test.'"), std::string::npos) << message;
}

TEST(ZonefileParse, FixturesWithErrorsNameTheirLine) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"bad-ttl.db", ":5: TTL '1h30'"},
        {"bad-data.db", ":6: MX preference"},
        {"bad-paren.db", ":5: '(' without ')'"},
        {"bad-type.db", ":5: unknown record type 'AA'"},
    };
    for (const auto& [file, words] : cases) {
        std::string message;
        EXPECT_EQ(codeOf([&] { parse(fixture(file), optionsFor(file)); }, &message), Exit::DataErr) << file;
        EXPECT_NE(message.find(file + words), std::string::npos) << message;
    }
}

// ---------------------------------------------------------------- editing

class ZonefileEdit : public ::testing::Test {
protected:
    void SetUp() override {
        text = fixture("example.test.db");
        options = optionsFor("example.test.db");
        now = dayUtc(2024, 1, 1);
    }

    Edited run(std::vector<RRsetChange> rrsets, SerialRule rule = SerialRule::Date) {
        return edit(text, options, zoneChange(std::move(rrsets)), rule, now);
    }

    // The fixture with its serial line as a date-rule edit on 2024-01-01 writes it.
    std::string bumped() const {
        return replaced(text, "\t\t2024010101\t; serial", "\t\t2024010102\t; serial");
    }

    std::string text;
    Options options;
    std::time_t now = 0;
};

TEST_F(ZonefileEdit, NothingToChangeLeavesTheFileAlone) {
    const auto www = changeOf(text, options, "www.example.test.", Type::A,
                              {rr("www.example.test.", Type::A, 3600, "192.0.2.10"),
                               rr("www.example.test.", Type::A, 3600, "192.0.2.11")});
    const Edited e = run({www});
    EXPECT_FALSE(e.changed);
    EXPECT_EQ(e.text, text);
    EXPECT_EQ(e.serial, 2024010101U);
    EXPECT_FALSE(run({}).changed);
}

TEST_F(ZonefileEdit, AddedRecordFollowsItsRRsetInTheFilesStyle) {
    const auto www = changeOf(text, options, "www.example.test.", Type::A,
                              {rr("www.example.test.", Type::A, 3600, "192.0.2.10"),
                               rr("www.example.test.", Type::A, 3600, "192.0.2.11"),
                               rr("www.example.test.", Type::A, 3600, "192.0.2.12")});
    const Edited e = run({www});
    ASSERT_TRUE(e.changed);
    EXPECT_EQ(e.serial, 2024010102U);
    EXPECT_EQ(e.rrsets, 1U);
    // Blank owner and tabs like the line before it; the multi-line SOA keeps its comments.
    EXPECT_EQ(e.text, replaced(bumped(), "\t\tIN\tA\t192.0.2.11\t; the second web server\n",
                               "\t\tIN\tA\t192.0.2.11\t; the second web server\n\t\tIN\tA\t192.0.2.12\n"));
}

TEST_F(ZonefileEdit, DeletedRecordsLineGoesAndTheNextLineKeepsItsOwner) {
    const auto www = changeOf(text, options, "www.example.test.", Type::A,
                              {rr("www.example.test.", Type::A, 3600, "192.0.2.11")});
    const Edited e = run({www});
    ASSERT_TRUE(e.changed);
    // The line after the deleted one had a blank owner, which came from the deleted line.
    EXPECT_EQ(e.text, replaced(bumped(), "www\t\tIN\tA\t192.0.2.10\n\t\tIN\tA\t192.0.2.11",
                               "www\t\tIN\tA\t192.0.2.11"));
}

TEST_F(ZonefileEdit, ReplacedRecordTakesTheOldOnesPlace) {
    const auto tlsa = changeOf(text, options, "_443._tcp.example.test.", Type::TLSA,
                               {rr("_443._tcp.example.test.", Type::TLSA, 3600,
                                   "3 1 1 aaaabbbbccccddddaaaabbbbccccddddaaaabbbbccccddddaaaabbbbccccdddd")});
    const Edited e = run({tlsa});
    ASSERT_TRUE(e.changed);
    // Relative to the $ORIGIN in effect there (_tcp.example.test.), in the column layout.
    EXPECT_EQ(e.text, replaced(bumped(), "_443\t\tIN\tTLSA\t3 1 1 fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\n",
                               "_443\t\tIN\tTLSA\t3 1 1 aaaabbbbccccddddaaaabbbbccccddddaaaabbbbccccddddaaaabbbbccccdddd\n"));
}

TEST_F(ZonefileEdit, NewOwnerGoesAtTheEndRelativeToTheOriginThere) {
    const auto c = changeOf(text, options, "_465._tcp.example.test.", Type::TLSA,
                            {rr("_465._tcp.example.test.", Type::TLSA, 3600,
                                "3 1 1 aaaabbbbccccddddaaaabbbbccccddddaaaabbbbccccddddaaaabbbbccccdddd")});
    const Edited e = run({c});
    ASSERT_TRUE(e.changed);
    EXPECT_EQ(e.text, bumped() + "_465._tcp\tIN\tTLSA\t3 1 1 aaaabbbbccccddddaaaabbbbccccddddaaaabbbbccccddddaaaabbbbccccdddd\n");
}

TEST_F(ZonefileEdit, NewTypeFollowsTheOwnersLastRecord) {
    const auto c = changeOf(text, options, "mail.example.test.", Type::AAAA,
                            {rr("mail.example.test.", Type::AAAA, 86400, "2001:db8::25")});
    const Edited e = run({c});
    ASSERT_TRUE(e.changed);
    // $TTL is 1h, so the TTL is written out, in the column the line before has it.
    EXPECT_EQ(e.text, replaced(bumped(), "mail\t1d\tIN\tA\t192.0.2.25\n",
                               "mail\t1d\tIN\tA\t192.0.2.25\nmail\t86400\tIN\tAAAA\t2001:db8::25\n"));
}

TEST_F(ZonefileEdit, ApexRecordsAreWrittenWithAt) {
    const auto c = changeOf(text, options, "example.test.", Type::CAA,
                            {rr("example.test.", Type::CAA, 3600, "0 issue \"letsencrypt.org\""),
                             rr("example.test.", Type::CAA, 3600, "0 iodef \"mailto:ca@example.test\"")});
    const Edited e = run({c});
    ASSERT_TRUE(e.changed);
    EXPECT_EQ(e.text, replaced(bumped(), "@\t\tCAA\t0 issue \"letsencrypt.org\"\n",
                               "@\t\tCAA\t0 issue \"letsencrypt.org\"\n@\t\tCAA\t0 iodef \"mailto:ca@example.test\"\n"));
}

TEST_F(ZonefileEdit, TtlChangeRewritesTheRRsetsLinesInPlace) {
    const auto c = changeOf(text, options, "www.example.test.", Type::A,
                            {rr("www.example.test.", Type::A, 600, "192.0.2.10"),
                             rr("www.example.test.", Type::A, 600, "192.0.2.11")});
    const Edited e = run({c});
    ASSERT_TRUE(e.changed);
    EXPECT_EQ(e.text, replaced(bumped(), "www\t\tIN\tA\t192.0.2.10\n\t\tIN\tA\t192.0.2.11\t;",
                               "www\t\t600\tIN\tA\t192.0.2.10\n\t\t600\tIN\tA\t192.0.2.11\t;"));
    const auto spf = changeOf(text, options, "example.test.", Type::TXT,
                              {rr("example.test.", Type::TXT, 900, "\"v=spf1 mx -all\"")});
    EXPECT_EQ(run({spf}).text, replaced(bumped(), "@\t300\tIN\tTXT", "@\t900\tIN\tTXT"));
}

TEST_F(ZonefileEdit, DeletingAWholeRRsetAndTheLastOfAnOwner) {
    const auto dmarc = changeOf(text, options, "_dmarc.example.test.", Type::TXT, {});
    const auto dkim = changeOf(text, options, "key1._domainkey.example.test.", Type::TXT, {});
    const Edited e = run({dmarc, dkim});
    ASSERT_TRUE(e.changed);
    EXPECT_EQ(e.rrsets, 2U);
    EXPECT_EQ(e.text, replaced(bumped(),
                               "_dmarc\t\tIN\tTXT\t\"v=DMARC1; p=reject; rua=mailto:dmarc@example.test\"\n"
                               "key1._domainkey\tIN\tTXT\t( \"v=DKIM1; k=rsa; \"\n"
                               "\t\t\t  \"p=MIIBIjANBgkqh\" )\t; one record, split over two lines\n",
                               ""));
}

TEST_F(ZonefileEdit, SameChangeTwiceGivesTheSameBytes) {
    const std::vector<Record> after = {rr("www.example.test.", Type::A, 3600, "192.0.2.12")};
    const auto first = run({changeOf(text, options, "www.example.test.", Type::A, after)});
    ASSERT_TRUE(first.changed);
    const Edited second = edit(first.text, options,
                               zoneChange({changeOf(first.text, options, "www.example.test.", Type::A, after)}),
                               SerialRule::Date, now);
    EXPECT_FALSE(second.changed);
    EXPECT_EQ(second.text, first.text);
    EXPECT_EQ(second.serial, first.serial);
}

TEST_F(ZonefileEdit, IncrementAndUnixtimeRules) {
    const std::vector<Record> after = {rr("www.example.test.", Type::A, 3600, "192.0.2.12")};
    const auto c = changeOf(text, options, "www.example.test.", Type::A, after);
    EXPECT_EQ(run({c}, SerialRule::Increment).serial, 2024010102U);
    // 2024-01-01 in seconds (1704110400) is below the serial: + 1 it is.
    EXPECT_EQ(run({c}, SerialRule::UnixTime).serial, 2024010102U);
    text = replaced(text, "2024010101\t; serial", "17\t; serial");
    const Edited u = run({changeOf(text, options, "www.example.test.", Type::A, after)}, SerialRule::UnixTime);
    EXPECT_EQ(u.serial, static_cast<std::uint32_t>(now));
    EXPECT_NE(u.text.find("\t\t" + std::to_string(now) + "\t; serial"), std::string::npos);
}

TEST_F(ZonefileEdit, DateRolloverPastNinetyNine) {
    text = replaced(text, "2024010101\t; serial", "2024010199\t; serial");
    const auto c = changeOf(text, options, "www.example.test.", Type::A,
                            {rr("www.example.test.", Type::A, 3600, "192.0.2.12")});
    const Edited e = run({c});
    EXPECT_EQ(e.serial, 2024010200U);
    EXPECT_NE(e.text.find("\t\t2024010200\t; serial"), std::string::npos);
}

TEST_F(ZonefileEdit, SoaFieldsChangeInPlace) {
    RRsetChange soa = changeOf(text, options, "example.test.", Type::SOA,
                               {rr("example.test.", Type::SOA, 3600,
                                   "ns1.example.test. hostmaster.example.test. 2024010102 7200 900 604800 600")});
    const Edited e = run({soa});
    ASSERT_TRUE(e.changed);
    std::string want = replaced(bumped(), "\t\t1h\t\t; refresh", "\t\t7200\t\t; refresh");
    want = replaced(want, "\t\t300 )\t\t; negative", "\t\t600 )\t\t; negative");
    EXPECT_EQ(e.text, want);
}

TEST_F(ZonefileEdit, SoaSerialAloneIsNoChange) {
    RRsetChange soa = changeOf(text, options, "example.test.", Type::SOA,
                               {rr("example.test.", Type::SOA, 3600,
                                   "ns1.example.test. hostmaster.example.test. 2024010102 3600 900 604800 300")});
    EXPECT_FALSE(run({soa}).changed);
}

TEST_F(ZonefileEdit, RefusesASerialThatWouldNotIncrease) {
    RRsetChange soa = changeOf(text, options, "example.test.", Type::SOA,
                               {rr("example.test.", Type::SOA, 3600,
                                   "ns1.example.test. hostmaster.example.test. 2023010100 7200 900 604800 300")});
    std::string message;
    EXPECT_EQ(codeOf([&] { run({soa}); }, &message), Exit::DataErr);
    EXPECT_NE(message.find("example.test.db:7: "), std::string::npos) << message;
    EXPECT_NE(message.find("not greater than the zone file's 2024010101"), std::string::npos) << message;
}

TEST_F(ZonefileEdit, AHigherSerialAskedForIsTaken) {
    RRsetChange soa = changeOf(text, options, "example.test.", Type::SOA,
                               {rr("example.test.", Type::SOA, 3600,
                                   "ns1.example.test. hostmaster.example.test. 2030010100 7200 900 604800 300")});
    EXPECT_EQ(run({soa}).serial, 2030010100U);
}

TEST_F(ZonefileEdit, RefusesToDeleteTheSoa) {
    RRsetChange soa = changeOf(text, options, "example.test.", Type::SOA, {});
    EXPECT_EQ(codeOf([&] { run({soa}); }), Exit::DataErr);
}

TEST_F(ZonefileEdit, ChangedSinceReadIsARaceLost) {
    RRsetChange c = changeOf(text, options, "www.example.test.", Type::A,
                             {rr("www.example.test.", Type::A, 3600, "192.0.2.12")});
    c.before.pop_back(); // planned from a file that held one record less
    std::string message;
    EXPECT_EQ(codeOf([&] { run({c}); }, &message), Exit::TempFail);
    EXPECT_THROW(run({c}), RaceLost);
}

TEST_F(ZonefileEdit, RecordOutsideTheZoneIsRefused) {
    RRsetChange c;
    c.key = RRsetKey{"www.example.net.", Type::A};
    c.after = {rr("www.example.net.", Type::A, 60, "192.0.2.1")};
    EXPECT_EQ(codeOf([&] { run({c}); }), Exit::DataErr);
}

TEST(ZonefileEditOrigin, OriginSwitchingMidFileIsFollowed) {
    const std::string text = "$TTL 60\n"
                             "@ SOA ns1 hm 1 2 3 4 5\n"
                             "  NS ns1\n"
                             "ns1 A 192.0.2.1\n"
                             "$ORIGIN b.example.test.\n"
                             "x A 192.0.2.2\n"
                             "$ORIGIN example.test.\n"
                             "y A 192.0.2.3\n";
    const Options o = optionsFor("z.db");
    const auto x = changeOf(text, o, "x.b.example.test.", Type::A,
                            {rr("x.b.example.test.", Type::A, 60, "192.0.2.2"), rr("x.b.example.test.", Type::A, 60, "192.0.2.4")});
    const auto z = changeOf(text, o, "z.b.example.test.", Type::A, {rr("z.b.example.test.", Type::A, 60, "192.0.2.5")});
    const Edited e = edit(text, o, zoneChange({x, z}), SerialRule::Increment, 0);
    EXPECT_EQ(e.text, "$TTL 60\n"
                      "@ SOA ns1 hm 2 2 3 4 5\n"
                      "  NS ns1\n"
                      "ns1 A 192.0.2.1\n"
                      "$ORIGIN b.example.test.\n"
                      "x A 192.0.2.2\n"
                      "x A 192.0.2.4\n"
                      "$ORIGIN example.test.\n"
                      "y A 192.0.2.3\n"
                      "z.b A 192.0.2.5\n");
}

TEST(ZonefileEditTtl, Rfc1035InheritedTtlIsWrittenOutWhenItsSourceGoes) {
    const std::string text = fixture("rfc1035-ttl.db");
    const Options o = optionsFor("rfc1035-ttl.db");
    const auto www = changeOf(text, o, "www.example.test.", Type::A, {});
    const Edited e = edit(text, o, zoneChange({www}), SerialRule::Increment, 0);
    EXPECT_EQ(e.text, replaced(replaced(text, "www 300 A 192.0.2.1\nmail A", "mail 300 A"), " 7 3600", " 8 3600"));
    // A new TTL on a line whose TTL the next line takes: that line gets its old one written.
    const auto ttl = changeOf(text, o, "www.example.test.", Type::A, {rr("www.example.test.", Type::A, 600, "192.0.2.1")});
    const Edited f = edit(text, o, zoneChange({ttl}), SerialRule::Increment, 0);
    EXPECT_EQ(f.text, replaced(replaced(text, "www 300 A 192.0.2.1\nmail A", "www 600 A 192.0.2.1\nmail 300 A"), " 7 3600", " 8 3600"));
    // A record added before a line that inherits: the same.
    const auto txt = changeOf(text, o, "www.example.test.", Type::TXT, {rr("www.example.test.", Type::TXT, 60, "\"hello\"")});
    const Edited g = edit(text, o, zoneChange({txt}), SerialRule::Increment, 0);
    EXPECT_EQ(g.text, replaced(replaced(text, "www 300 A 192.0.2.1\nmail A", "www 300 A 192.0.2.1\nwww 60  TXT \"hello\"\nmail 300 A"),
                               " 7 3600", " 8 3600"));
    // A line whose TTL is the one it would inherit anyway stays short, as the line before it.
    const auto ns1 = changeOf(text, o, "ns1.example.test.", Type::A,
                              {rr("ns1.example.test.", Type::A, 60, "127.0.0.1"), rr("ns1.example.test.", Type::A, 60, "127.0.0.2")});
    const Edited h = edit(text, o, zoneChange({ns1}), SerialRule::Increment, 0);
    EXPECT_EQ(h.text, replaced(replaced(text, "ns1  A 127.0.0.1\n", "ns1  60 A 127.0.0.1\nns1  A 127.0.0.2\n"), " 7 3600", " 8 3600"));
}

TEST(ZonefileEditInclude, RefusesToEditRecordsInAnIncludedFile) {
    const std::string text = fixture("include.db");
    const Options o = optionsFor("include.db");
    const auto c = changeOf(text, o, "static.example.test.", Type::A, {rr("static.example.test.", Type::A, 300, "192.0.2.81")});
    std::string message;
    EXPECT_EQ(codeOf([&] { edit(text, o, zoneChange({c}), SerialRule::Increment, 0); }, &message), Exit::DataErr);
    EXPECT_NE(message.find("include-part.db:2: "), std::string::npos) << message;
    EXPECT_NE(message.find("cannot change 'static.example.test. A': its records are in the included file"), std::string::npos)
        << message;
    // Records of the main file are edited as usual, the $INCLUDE line kept.
    const auto www = changeOf(text, o, "www.example.test.", Type::A, {rr("www.example.test.", Type::A, 300, "192.0.2.2")});
    const Edited e = edit(text, o, zoneChange({www}), SerialRule::Increment, 0);
    EXPECT_EQ(e.text, replaced(replaced(text, "www IN A 192.0.2.1", "www IN A 192.0.2.2"), "( 2024010101", "( 2024010102"));
    // A new record for an owner whose records are all in the included file goes into the main file.
    const auto aaaa = changeOf(text, o, "static.example.test.", Type::AAAA, {rr("static.example.test.", Type::AAAA, 300, "2001:db8::80")});
    const Edited f = edit(text, o, zoneChange({aaaa}), SerialRule::Increment, 0);
    EXPECT_EQ(f.text, replaced(text, "( 2024010101", "( 2024010102") + "static IN AAAA 2001:db8::80\n");
}

TEST(ZonefileEditInclude, RefusesWhenTheSoaIsInAnIncludedFile) {
    const std::string text = fixture("include-soa.db");
    const Options o = optionsFor("include-soa.db");
    EXPECT_EQ(parse(text, o).serial, 5U);
    const auto c = changeOf(text, o, "www.example.test.", Type::A, {rr("www.example.test.", Type::A, 300, "192.0.2.1")});
    std::string message;
    EXPECT_EQ(codeOf([&] { edit(text, o, zoneChange({c}), SerialRule::Increment, 0); }, &message), Exit::DataErr);
    EXPECT_NE(message.find("include-soa-part.db:1: the SOA record is in the included file"), std::string::npos) << message;
}

TEST(ZonefileEditStyle, SpacesAlignedLikeTheLineBefore) {
    const std::string text = "$TTL 60\n"
                             "@       IN SOA  ns1 hm ( 1 60 60 3600 60 )\n"
                             "        IN NS   ns1\n"
                             "ns1     IN A    127.0.0.1\n"
                             "www     IN A    127.0.0.1\n"
                             "; trailing comment, no newline at the end";
    const Options o = optionsFor("z.db");
    const auto a = changeOf(text, o, "www.example.test.", Type::A,
                            {rr("www.example.test.", Type::A, 60, "127.0.0.1"), rr("www.example.test.", Type::A, 60, "127.0.0.2")});
    const auto mx = changeOf(text, o, "mx.example.test.", Type::MX, {rr("mx.example.test.", Type::MX, 300, "10 www.example.test.")});
    const Edited e = edit(text, o, zoneChange({a, mx}), SerialRule::Increment, 0);
    EXPECT_EQ(e.text, "$TTL 60\n"
                      "@       IN SOA  ns1 hm ( 2 60 60 3600 60 )\n"
                      "        IN NS   ns1\n"
                      "ns1     IN A    127.0.0.1\n"
                      "www     IN A    127.0.0.1\n"
                      "www     IN A    127.0.0.2\n"
                      "; trailing comment, no newline at the end\n"
                      "mx      300 IN MX 10 www.example.test.\n");
}

TEST(ZonefileEditSigned, RrsigLinesAreKeptAndWarnedAbout) {
    const std::string rrsig = "www 60 RRSIG A 13 3 60 20300101000000 20240101000000 1 example.test. AAAA\n";
    const std::string text = "$TTL 60\n@ SOA ns1 hm 1 2 3 4 5\n NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\n" + rrsig;
    const Options o = optionsFor("z.db");
    const auto www = changeOf(text, o, "www.example.test.", Type::A, {rr("www.example.test.", Type::A, 60, "192.0.2.3")});
    test::LogCapture logs;
    const Edited e = edit(text, o, zoneChange({www}), SerialRule::Increment, 0);
    EXPECT_EQ(e.text, replaced(replaced(text, "www A 192.0.2.2", "www A 192.0.2.3"), "hm 1 2", "hm 2 2"));
    EXPECT_NE(logs.all().find("holds RRSIG records: the changed RRsets are unsigned"), std::string::npos) << logs.all();
}

TEST(ZonefileEditStyle, CrlfFilesStayCrlf) {
    const std::string text = "$TTL 60\r\n@ SOA ns1 hm 1 2 3 4 5 ; comment\r\n  NS ns1\r\nns1 A 192.0.2.1\r\n";
    const Options o = optionsFor("z.db");
    const auto a = changeOf(text, o, "ns1.example.test.", Type::A,
                            {rr("ns1.example.test.", Type::A, 60, "192.0.2.1"), rr("ns1.example.test.", Type::A, 60, "192.0.2.2")});
    const auto b = changeOf(text, o, "new.example.test.", Type::A, {rr("new.example.test.", Type::A, 60, "192.0.2.3")});
    const Edited e = edit(text, o, zoneChange({a, b}), SerialRule::Increment, 0);
    EXPECT_EQ(e.text, "$TTL 60\r\n@ SOA ns1 hm 2 2 3 4 5 ; comment\r\n  NS ns1\r\nns1 A 192.0.2.1\r\nns1 A 192.0.2.2\r\n"
                      "new A 192.0.2.3\r\n");
}

TEST(ZonefileParse, MissingIncludeNamesTheIncludingLine) {
    const std::string text = "$TTL 60\n@ SOA ns1 hm 1 2 3 4 5\n\n$INCLUDE absent.db\n";
    Options o = optionsFor("main.db");
    o.directory = "/nonexistent-cdm-dir";
    std::string message;
    EXPECT_EQ(codeOf([&] { parse(text, o); }, &message), Exit::NoInput);
    EXPECT_NE(message.find("main.db:4: $INCLUDE '/nonexistent-cdm-dir/absent.db': unable to open"), std::string::npos)
        << message;
}

// ---------------------------------------------------------------- the provider, on real files

class ZonefileProviderTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/cdm-zonefile-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
        zone = dir + "/example.test.db";
        std::ofstream(zone) << fixture("example.test.db");
        ::chmod(zone.c_str(), 0640);
        settings.handler = "zonefile";
        settings.section = "[domain:example.test]";
        settings.keys["zonefile"] = zone;
        settings.keys["serial"] = "increment";
    }
    void TearDown() override { std::filesystem::remove_all(dir); }

    Change wwwChange(Provider& p, std::vector<Record> after) {
        const ZoneContents z = p.read("example.test.", {});
        RRsetChange c;
        c.key = RRsetKey{"www.example.test.", Type::A};
        for (const auto& r : z.records) {
            if (r.name == "www.example.test." && r.type == Type::A) {
                c.before.push_back(r);
            }
        }
        c.after = std::move(after);
        return zoneChange({c});
    }

    std::string dir;
    std::string zone;
    Settings settings;
};

TEST_F(ZonefileProviderTest, WritesAtomicallyKeepingTheModeThenReloads) {
    settings.keys["reload"] = "printf '%s %s\\n' \"$ZONE\" \"$ZONEFILE\" > " + dir + "/reloaded; echo to stdout";
    auto p = makeZonefile(settings);
    const Change c = wwwChange(*p, {rr("www.example.test.", Type::A, 3600, "192.0.2.10"),
                                    rr("www.example.test.", Type::A, 3600, "192.0.2.11"),
                                    rr("www.example.test.", Type::A, 3600, "192.0.2.12")});
    test::LogCapture logs;
    const Applied a = p->apply(c);
    EXPECT_EQ(a.messages, 1U);
    EXPECT_EQ(a.serial, 2024010102U);
    const std::string now = fsutil::readFile(zone, 1 << 20);
    EXPECT_NE(now.find("\t\tIN\tA\t192.0.2.12\n"), std::string::npos);
    struct stat st{};
    ASSERT_EQ(::stat(zone.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0640U);
    EXPECT_EQ(fsutil::readFile(dir + "/reloaded", 1024), "example.test " + zone + "\n");
    EXPECT_NE(logs.all().find("to stdout"), std::string::npos) << logs.all();
    EXPECT_TRUE(std::filesystem::exists(zone + ".lock"));
    // Nothing but the zone file, its lock and the reload's output in the directory.
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& f : std::filesystem::directory_iterator(dir)) {
        ++files;
    }
    EXPECT_EQ(files, 3U);

    // Applied again: nothing to write, no reload.
    std::filesystem::remove(dir + "/reloaded");
    const Change again = wwwChange(*p, c.rrsets.front().after);
    const Applied b = p->apply(again);
    EXPECT_EQ(b.messages, 0U);
    EXPECT_EQ(b.serial, 2024010102U);
    EXPECT_EQ(fsutil::readFile(zone, 1 << 20), now);
    EXPECT_FALSE(std::filesystem::exists(dir + "/reloaded"));
}

TEST_F(ZonefileProviderTest, FileChangedSinceReadIsARaceLost) {
    auto p = makeZonefile(settings);
    const Change c = wwwChange(*p, {rr("www.example.test.", Type::A, 3600, "192.0.2.12")});
    std::ofstream(zone, std::ios::app) << "; edited by someone else\n";
    const std::string theirs = fsutil::readFile(zone, 1 << 20);
    EXPECT_THROW(p->apply(c), RaceLost);
    EXPECT_EQ(fsutil::readFile(zone, 1 << 20), theirs);
}

TEST_F(ZonefileProviderTest, FailedReloadSaysTheFileWasWritten) {
    settings.keys["reload"] = "echo 'rndc: connect failed: 127.0.0.1#953: connection refused' >&2; exit 1";
    auto p = makeZonefile(settings);
    const Change c = wwwChange(*p, {rr("www.example.test.", Type::A, 3600, "192.0.2.12")});
    std::string message;
    EXPECT_EQ(codeOf([&] { p->apply(c); }, &message), Exit::Unavailable);
    EXPECT_NE(message.find("was written (serial 2024010102) but the reload command"), std::string::npos) << message;
    EXPECT_NE(message.find("exited with status 1"), std::string::npos) << message;
    EXPECT_NE(message.find("connection refused"), std::string::npos) << message;
    EXPECT_NE(message.find("run the reload again by hand"), std::string::npos) << message;
    EXPECT_NE(fsutil::readFile(zone, 1 << 20).find("192.0.2.12"), std::string::npos);
}

TEST_F(ZonefileProviderTest, ReloadThatHangsIsKilled) {
    settings.keys["reload"] = "sleep 30";
    settings.keys["reload_timeout"] = "1";
    auto p = makeZonefile(settings);
    const Change c = wwwChange(*p, {rr("www.example.test.", Type::A, 3600, "192.0.2.12")});
    std::string message;
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(codeOf([&] { p->apply(c); }, &message), Exit::Unavailable);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
    EXPECT_NE(message.find("did not finish within 1 s"), std::string::npos) << message;
}

TEST_F(ZonefileProviderTest, BadZoneFileIsDataErrAndNothingIsWritten) {
    std::ofstream(zone, std::ios::app) << "broken IN A 192.0.2.300\n";
    const std::string before = fsutil::readFile(zone, 1 << 20);
    auto p = makeZonefile(settings);
    std::string message;
    EXPECT_EQ(codeOf([&] { p->read("example.test.", {}); }, &message), Exit::DataErr);
    EXPECT_NE(message.find(zone + ":46: "), std::string::npos) << message;
    EXPECT_EQ(fsutil::readFile(zone, 1 << 20), before);
}

TEST_F(ZonefileProviderTest, WrongZoneAndSettings) {
    auto p = makeZonefile(settings);
    std::string message;
    EXPECT_EQ(codeOf([&] { p->read("example.net.", {}); }, &message), Exit::DataErr);
    EXPECT_NE(message.find("the SOA record is for 'example.test.', not for the zone 'example.net.'"), std::string::npos)
        << message;

    Settings missing = settings;
    missing.keys.erase("zonefile");
    EXPECT_EQ(codeOf([&] { makeZonefile(missing); }, &message), Exit::Config);
    EXPECT_NE(message.find("'zonefile'"), std::string::npos) << message;
    Settings badSerial = settings;
    badSerial.keys["serial"] = "sometimes";
    EXPECT_EQ(codeOf([&] { makeZonefile(badSerial); }), Exit::Config);
    Settings noFile = settings;
    noFile.keys["zonefile"] = dir + "/absent.db";
    EXPECT_EQ(codeOf([&] { makeZonefile(noFile)->read("example.test.", {}); }), Exit::NoInput);
}

TEST_F(ZonefileProviderTest, RegisteredAsZonefile) {
    EXPECT_NE(make(settings), nullptr);
}

} // namespace
} // namespace cdm::provider::zonefile
