// The pure parts of the RFC 2136 provider (libcommon/provider/rfc2136.cpp): the UPDATE
// messages it builds (read back with ldns, an independent parser), how it splits a change
// that does not fit in one message, queries and answers, and what it refuses before it
// sends anything. Against a real BIND it is tested by tests/cli/cdm-dns-apply-rfc2136.bats.
#include <arpa/inet.h>
#include <fstream>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <set>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

#include "libcommon/ldns_ptr.hpp"
#include "libcommon/provider/providers.hpp"
#include "libcommon/provider/rfc2136.hpp"

#include "test_util.hpp"

namespace cdm::provider {
namespace {

using record::Record;
using record::Type;
using test::codeOf;

Record rr(const std::string& line) {
    return Record::parseLine(line, "example.test.");
}

RRsetChange change(const std::vector<Record>& before, const std::vector<Record>& after) {
    RRsetChange c;
    const Record& any = before.empty() ? after.front() : before.front();
    c.key = {any.name, any.type};
    c.before = before;
    c.after = after;
    return c;
}

// An UPDATE message as ldns reads it: ldns names the four sections of an UPDATE by their
// QUERY names (zone = question, prerequisite = answer, update = authority).
struct Parsed {
    ldnsp::Pkt pkt;
    std::vector<std::string> zone, prereq, update;
};

std::vector<std::string> lines(const ldns_rr_list* list) {
    std::vector<std::string> out;
    for (std::size_t i = 0; list != nullptr && i < ldns_rr_list_rr_count(list); ++i) {
        char* text = ldns_rr2str(ldns_rr_list_rr(list, i));
        std::string line = text;
        LDNS_FREE(text);
        while (!line.empty() && line.back() == '\n') {
            line.pop_back();
        }
        for (auto& c : line) {
            if (c == '\t') {
                c = ' ';
            }
        }
        out.push_back(line);
    }
    return out;
}

Parsed parse(const std::vector<std::uint8_t>& wire) {
    ldns_pkt* raw = nullptr;
    EXPECT_EQ(ldns_wire2pkt(&raw, wire.data(), wire.size()), LDNS_STATUS_OK);
    Parsed p{ldnsp::Pkt(raw), {}, {}, {}};
    if (raw == nullptr) {
        return p;
    }
    EXPECT_EQ(ldns_pkt_get_opcode(raw), LDNS_PACKET_UPDATE);
    EXPECT_FALSE(ldns_pkt_qr(raw));
    EXPECT_EQ(ldns_pkt_arcount(raw), 0);
    p.zone = lines(ldns_pkt_question(raw));
    p.prereq = lines(ldns_pkt_answer(raw));
    p.update = lines(ldns_pkt_authority(raw));
    return p;
}

// ---------------------------------------------------------------- one message

TEST(Rfc2136Updates, OneMessageWithPrerequisitesThenAdditionsThenDeletions) {
    Change c;
    c.zone = "Example.Test";
    // A new RRset, a replaced record, a deleted RRset.
    c.rrsets.push_back(change({}, {rr("www 300 IN A 192.0.2.1"), rr("www 300 IN A 192.0.2.2")}));
    c.rrsets.push_back(change(
        {rr("@ 3600 IN MX 10 mail.example.test."), rr("@ 3600 IN MX 20 old.example.test.")},
        {rr("@ 3600 IN MX 10 mail.example.test."), rr("@ 3600 IN MX 30 new.example.test.")}));
    c.rrsets.push_back(
        change({rr("_443._tcp.www 3600 IN TLSA 3 1 1 " + std::string(64, 'a'))}, {}));

    const auto updates = rfc2136::buildUpdates(c);
    ASSERT_EQ(updates.size(), 1U);
    EXPECT_EQ(updates[0].rrsets, (std::vector<std::size_t>{0, 1, 2}));
    EXPECT_FALSE(updates[0].addsOnly);
    EXPECT_EQ(updates[0].wire[0], 0); // ID 0: the sender sets it
    EXPECT_EQ(updates[0].wire[1], 0);
    const auto p = parse(updates[0].wire);
    EXPECT_EQ(p.zone, (std::vector<std::string>{"example.test. IN SOA"}));
    EXPECT_EQ(p.prereq, (std::vector<std::string>{
                            // RRset does not exist (RFC 2136 §2.4.3)
                            "www.example.test. 0 NONE A \\# 0",
                            // RRset exists, value dependent (§2.4.2): exactly what was read
                            "example.test. 0 IN MX 10 mail.example.test.",
                            "example.test. 0 IN MX 20 old.example.test.",
                            "_443._tcp.www.example.test. 0 IN TLSA 3 1 1 " + std::string(64, 'a'),
                        }));
    EXPECT_EQ(p.update, (std::vector<std::string>{
                            "www.example.test. 300 IN A 192.0.2.1",
                            "www.example.test. 300 IN A 192.0.2.2",
                            "example.test. 3600 IN MX 30 new.example.test.",
                            // deletions: class NONE, TTL 0 (§2.5.4)
                            "example.test. 0 NONE MX 20 old.example.test.",
                            "_443._tcp.www.example.test. 0 NONE TLSA 3 1 1 " + std::string(64, 'a'),
                        }));
}

TEST(Rfc2136Updates, ATtlChangeDeletesTheRRsetAndAddsItAgainInTheSameMessage) {
    Change c;
    c.zone = "example.test.";
    c.rrsets.push_back(change({rr("a 300 IN A 192.0.2.1"), rr("a 300 IN A 192.0.2.2")},
                              {rr("a 600 IN A 192.0.2.2"), rr("a 600 IN A 192.0.2.3")}));
    const auto updates = rfc2136::buildUpdates(c);
    ASSERT_EQ(updates.size(), 1U);
    EXPECT_FALSE(updates[0].addsOnly);
    const auto p = parse(updates[0].wire);
    EXPECT_EQ(p.prereq, (std::vector<std::string>{"a.example.test. 0 IN A 192.0.2.1",
                                                  "a.example.test. 0 IN A 192.0.2.2"}));
    EXPECT_EQ(p.update, (std::vector<std::string>{
                            "a.example.test. 0 ANY A \\# 0", // delete the RRset (§2.5.2)
                            "a.example.test. 600 IN A 192.0.2.2",
                            "a.example.test. 600 IN A 192.0.2.3",
                        }));
}

TEST(Rfc2136Updates, EveryTypeOfTheGrammarInWireFormLdnsReadsBack) {
    const std::string longText(300, 'x');
    const std::vector<Record> records = {
        rr("a 60 IN A 192.0.2.1"),
        rr("a 60 IN AAAA 2001:db8::1"),
        rr("@ 60 IN MX 10 mail.example.test."),
        rr("_imap._tcp 60 IN SRV 0 5 143 mail.example.test."),
        rr("@ 60 IN CAA 0 issue \"letsencrypt.org; validationmethods=dns-01\""),
        rr("t 60 IN TXT \"" + longText + "\""),
        rr("_25._tcp.mail 60 IN TLSA 3 1 1 " + std::string(64, 'b')),
        rr("c 60 IN CNAME www.example.test."),
        rr("sub 60 IN NS ns.sub.example.test."),
    };
    Change c;
    c.zone = "example.test.";
    for (const auto& r : records) {
        c.rrsets.push_back(change({}, {r}));
    }
    const auto updates = rfc2136::buildUpdates(c);
    ASSERT_EQ(updates.size(), 1U);
    EXPECT_TRUE(updates[0].addsOnly);
    const auto p = parse(updates[0].wire);
    ASSERT_EQ(p.update.size(), records.size());
    for (std::size_t i = 0; i < records.size(); ++i) {
        // ldns prints TXT strings and hex its own way: compare what each denotes.
        const Record back = Record::parseLine(p.update[i]);
        EXPECT_TRUE(back.sameRecord(records[i])) << p.update[i];
        EXPECT_EQ(back.ttl, 60U);
    }
    EXPECT_NE(p.update[5].find("\" \""), std::string::npos)
        << "TXT over 255 octets is two strings: " << p.update[5];
}

TEST(Rfc2136Updates, OwnerNamesPointAtTheZoneName) {
    Change c;
    c.zone = "example.test.";
    c.rrsets.push_back(change({}, {rr("@ 60 IN TXT \"x\"")}));
    const auto u = rfc2136::buildUpdates(c).at(0).wire;
    // header 12, zone 14 + 4, then the prerequisite's owner: a pointer to offset 12.
    ASSERT_GT(u.size(), 32U);
    EXPECT_EQ(u[30], 0xc0);
    EXPECT_EQ(u[31], 12);
}

TEST(Rfc2136Updates, NothingToChangeIsNoMessage) {
    Change c;
    c.zone = "example.test.";
    EXPECT_TRUE(rfc2136::buildUpdates(c).empty());
    c.rrsets.push_back(change({rr("a 60 IN A 192.0.2.1")}, {rr("a 60 IN A 192.0.2.1")}));
    // TXT compares on the concatenated text: another split is no change.
    c.rrsets.push_back(change({rr("t 60 IN TXT \"ab\" \"c\"")}, {rr("t 60 IN TXT \"abc\"")}));
    EXPECT_TRUE(rfc2136::buildUpdates(c).empty());
}

TEST(Rfc2136Updates, RecordsOutsideTheZoneAreRefused) {
    Change c;
    c.zone = "example.test.";
    c.rrsets.push_back(change({}, {Record::parseLine("www.example.net. 60 IN A 192.0.2.1")}));
    std::string message;
    EXPECT_EQ(codeOf([&] { rfc2136::buildUpdates(c); }, &message), Exit::DataErr);
    EXPECT_EQ(message, "record 'www.example.net.' is not in zone 'example.test.'");
    c.rrsets[0] = change({}, {Record::parseLine("badexample.test. 60 IN A 192.0.2.1")});
    EXPECT_EQ(codeOf([&] { rfc2136::buildUpdates(c); }), Exit::DataErr);
}

// ---------------------------------------------------------------- several messages

TEST(Rfc2136Updates, ASplitChangeSendsAdditionsFirstAndKeepsEachRRsetWhole) {
    Change c;
    c.zone = "example.test.";
    std::vector<std::string> kinds; // what each RRset does, by index
    for (int i = 0; i < 60; ++i) {
        const std::string n = "h" + std::to_string(i);
        switch (i % 3) {
        case 0: // deleted
            c.rrsets.push_back(change({rr(n + " 60 IN A 192.0.2.1")}, {}));
            kinds.push_back("delete");
            break;
        case 1: // replaced
            c.rrsets.push_back(
                change({rr(n + " 60 IN A 192.0.2.1")}, {rr(n + " 60 IN A 192.0.2.2")}));
            kinds.push_back("replace");
            break;
        default: // added
            c.rrsets.push_back(change({}, {rr(n + " 60 IN A 192.0.2.3")}));
            kinds.push_back("add");
        }
    }
    const std::size_t limit = 600;
    const auto updates = rfc2136::buildUpdates(c, limit);
    ASSERT_GT(updates.size(), 3U);
    std::set<std::size_t> seen;
    int phase = 0; // 0 adds, 1 replaces, 2 deletes: never going back
    bool sawMixed = false;
    std::size_t total = 0;
    for (const auto& u : updates) {
        EXPECT_LE(u.wire.size(), limit);
        total += u.wire.size();
        const auto p = parse(u.wire);
        EXPECT_EQ(p.zone, (std::vector<std::string>{"example.test. IN SOA"}));
        std::size_t expectedUpdates = 0;
        bool onlyAdds = true;
        for (const auto i : u.rrsets) {
            EXPECT_TRUE(seen.insert(i).second) << "RRset " << i << " in two messages";
            const int k = kinds[i] == "add" ? 0 : kinds[i] == "replace" ? 1 : 2;
            EXPECT_GE(k, phase) << "RRset " << i << " (" << kinds[i] << ") after a later kind";
            phase = k;
            expectedUpdates += kinds[i] == "replace" ? 2 : 1;
            onlyAdds = onlyAdds && kinds[i] == "add";
        }
        EXPECT_EQ(u.addsOnly, onlyAdds);
        sawMixed = sawMixed || !onlyAdds;
        EXPECT_TRUE(!u.addsOnly || !sawMixed || onlyAdds);
        EXPECT_EQ(p.prereq.size(), u.rrsets.size()); // one prerequisite record per RRset here
        EXPECT_EQ(p.update.size(), expectedUpdates);
    }
    EXPECT_EQ(seen.size(), c.rrsets.size());
    // As few messages as fit: the first message that does not take the next RRset is full.
    const std::size_t fixed = 12 + 14 + 4;
    EXPECT_LE(updates.size(), (total - fixed * updates.size()) / (limit - fixed) + 2);
    EXPECT_TRUE(updates.front().addsOnly);
    EXPECT_FALSE(updates.back().addsOnly);
}

TEST(Rfc2136Updates, TenThousandRecordsFitInAFewFullMessages) {
    Change c;
    c.zone = "example.test.";
    for (int i = 0; i < 10000; ++i) {
        c.rrsets.push_back(
            change({}, {rr("host" + std::to_string(i) + " 300 IN A 10.0." +
                           std::to_string(i / 256) + "." + std::to_string(i % 256))}));
    }
    const auto updates = rfc2136::buildUpdates(c, rfc2136::maxMessage - 100);
    // Each RRset: a 'does not exist' prerequisite and one A record, about 46 octets.
    EXPECT_LE(updates.size(), 8U);
    std::size_t n = 0;
    for (const auto& u : updates) {
        EXPECT_LE(u.wire.size(), rfc2136::maxMessage - 100);
        EXPECT_TRUE(u.addsOnly);
        n += u.rrsets.size();
        if (&u != &updates.back()) {
            EXPECT_GT(u.wire.size(), rfc2136::maxMessage - 100 - 60)
                << "a message that is not full";
        }
    }
    EXPECT_EQ(n, 10000U);
}

TEST(Rfc2136Updates, AnRRsetTooLargeForOneMessageIsNamed) {
    Change c;
    c.zone = "example.test.";
    std::vector<Record> many;
    for (int i = 0; i < 40; ++i) {
        many.push_back(rr("big 60 IN TXT \"" + std::string(200, static_cast<char>('a' + i % 26)) +
                          std::to_string(i) + "\""));
    }
    c.rrsets.push_back(change({}, many));
    std::string message;
    EXPECT_EQ(codeOf([&] { rfc2136::buildUpdates(c, 4096); }, &message), Exit::DataErr);
    EXPECT_NE(message.find("the change of RRset 'big.example.test.' TXT ("), std::string::npos)
        << message;
    EXPECT_NE(message.find("does not fit in one UPDATE message of 4096 octets"), std::string::npos)
        << message;
    EXPECT_EQ(rfc2136::buildUpdates(c).size(), 1U);
}

// ---------------------------------------------------------------- queries and answers

TEST(Rfc2136Query, AskTheServerItselfWithoutRecursion) {
    const auto q = rfc2136::buildQuery(0x1234, "WWW.Example.Test", 28);
    ldns_pkt* raw = nullptr;
    ASSERT_EQ(ldns_wire2pkt(&raw, q.data(), q.size()), LDNS_STATUS_OK);
    const ldnsp::Pkt pkt(raw);
    EXPECT_EQ(ldns_pkt_id(raw), 0x1234);
    EXPECT_FALSE(ldns_pkt_rd(raw));
    EXPECT_EQ(ldns_pkt_get_opcode(raw), LDNS_PACKET_QUERY);
    EXPECT_EQ(lines(ldns_pkt_question(raw)),
              (std::vector<std::string>{"www.example.test. IN AAAA"}));
    const auto axfr = rfc2136::buildQuery(1, "example.test.", rfc2136::typeAxfr);
    EXPECT_EQ(axfr[axfr.size() - 4], 0);
    EXPECT_EQ(axfr[axfr.size() - 3], 252);
}

TEST(Rfc2136Answer, KnownTypesAreRecordsOthersAreCountedUnreadableAreKept) {
    // An answer built with ldns: an A, an RRSIG (not a type cdm knows), and a CAA whose tag
    // cdm refuses (a blank is not allowed in it), which ldns prints as it is.
    ldnsp::Pkt pkt(ldns_pkt_new());
    ldns_pkt_set_id(pkt.get(), 7);
    ldns_pkt_set_qr(pkt.get(), true);
    ldns_pkt_set_aa(pkt.get(), true);
    for (const char* text : {"www.example.test. 60 IN A 192.0.2.1",
                             "www.example.test. 60 IN RRSIG A 13 3 60 20301231000000 "
                             "20200101000000 12345 example.test. "
                             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                             "AAAAAAAAAAAAAAAAA==",
                             "www.example.test. 60 IN TXT \"v=spf1 -all\""}) {
        ldns_rr* r = nullptr;
        ASSERT_EQ(ldns_rr_new_frm_str(&r, text, 0, nullptr, nullptr), LDNS_STATUS_OK) << text;
        ldns_pkt_push_rr(pkt.get(), LDNS_SECTION_ANSWER, r);
    }
    std::uint8_t* wire = nullptr;
    std::size_t size = 0;
    ASSERT_EQ(ldns_pkt2wire(&wire, pkt.get(), &size), LDNS_STATUS_OK);
    const std::vector<std::uint8_t> message(wire, wire + size);
    LDNS_FREE(wire);

    const auto a = rfc2136::parseAnswer(message);
    EXPECT_EQ(a.id, 7);
    EXPECT_TRUE(a.authoritative);
    EXPECT_EQ(a.rcode, 0U);
    ASSERT_EQ(a.records.size(), 2U);
    EXPECT_EQ(a.records[0].toZoneLine(), "www.example.test. 60 IN A 192.0.2.1");
    EXPECT_EQ(a.records[1].toZoneLine(), "www.example.test. 60 IN TXT \"v=spf1 -all\"");
    EXPECT_EQ(a.skipped, 1U);
    EXPECT_TRUE(a.unreadable.empty());

    EXPECT_EQ(codeOf([] { rfc2136::parseAnswer({1, 2, 3}); }), Exit::Unavailable);
}

TEST(Rfc2136Answer, RcodeNames) {
    EXPECT_EQ(rfc2136::rcodeName(0), "NOERROR");
    EXPECT_EQ(rfc2136::rcodeName(5), "REFUSED");
    EXPECT_EQ(rfc2136::rcodeName(7), "YXRRSET");
    EXPECT_EQ(rfc2136::rcodeName(8), "NXRRSET");
    EXPECT_EQ(rfc2136::rcodeName(9), "NOTAUTH");
    EXPECT_EQ(rfc2136::rcodeName(10), "NOTZONE");
    EXPECT_EQ(rfc2136::rcodeName(11), "RCODE 11");
}

// ---------------------------------------------------------------- settings and sockets

Settings settings(std::map<std::string, std::string> keys) {
    Settings s;
    s.handler = "rfc2136";
    s.section = "[domain:example.test]";
    s.keys = std::move(keys);
    return s;
}

std::string writeFile(const std::string& name, const std::string& text) {
    const std::string path = ::testing::TempDir() + "/" + name;
    std::ofstream(path) << text;
    return path;
}

TEST(Rfc2136Settings, RefusedBeforeAnythingIsSent) {
    const std::string key =
        writeFile("rfc2136.key", "key \"upd\" {\n algorithm hmac-sha384;\n secret \"YWJj\";\n};\n");
    const std::string two =
        writeFile("rfc2136-two.key", "key a { algorithm hmac-sha1; secret \"YWJj\"; };\n"
                                     "key b { algorithm hmac-sha224; secret \"ZGVm\"; };\n");
    const std::string bad =
        writeFile("rfc2136-bad.key", "key \"upd\" {\n algorithm hmac-sha384\n};\n");
    const std::string secret = writeFile("rfc2136.secret", "c2VjcmV0\n");
    struct Case {
        std::map<std::string, std::string> keys;
        Exit code;
        std::string message;
    };
    const std::vector<Case> cases = {
        {{{"port", "0"}},
         Exit::Config,
         "[domain:example.test]: port '0' is not a number from 1 to 65535"},
        {{{"timeout", "soon"}},
         Exit::Config,
         "[domain:example.test]: timeout 'soon' is not a number from 1 to 3600"},
        {{{"axfr", "maybe"}},
         Exit::Config,
         "[domain:example.test]: axfr 'maybe' is neither yes nor no"},
        {{{"keyfile", key + ".missing"}}, Exit::NoInput, ""},
        {{{"keyfile", bad}}, Exit::Config, bad + ":3: expected ';' after the algorithm, found '}'"},
        {{{"keyfile", two}},
         Exit::Config,
         two + ": the file holds 2 keys ('a.', 'b.'); choose one with 'key'"},
        {{{"keyfile", two}, {"key", "c"}},
         Exit::Config,
         two + ": no key 'c' in the file (it holds 'a.', 'b.')"},
        {{{"keyfile", key}, {"tsig_secret_file", secret}},
         Exit::Config,
         "[domain:example.test]: set either 'keyfile' or 'tsig_secret', not both"},
        {{{"key", "upd"}},
         Exit::Config,
         "[domain:example.test]: the rfc2136 provider needs 'tsig_secret' (or 'tsig_secret_file') "
         "with 'key' in "
         "[domain:example.test], or a 'keyfile'"},
        {{{"key", "upd"}, {"algorithm", "hmac-sha3"}, {"tsig_secret_file", secret}},
         Exit::Config,
         "[domain:example.test]: unknown TSIG algorithm 'hmac-sha3' (one of hmac-md5, hmac-sha1, "
         "hmac-sha224, "
         "hmac-sha256, hmac-sha384, hmac-sha512)"},
        {{{"algorithm", "hmac-sha1"}},
         Exit::Config,
         "[domain:example.test]: 'algorithm' and 'tsig_secret' need 'key' (the key's name) in "
         "[domain:example.test]"},
    };
    for (const auto& c : cases) {
        std::string message;
        EXPECT_EQ(codeOf([&] { makeRfc2136(settings(c.keys)); }, &message), c.code) << message;
        if (!c.message.empty()) {
            EXPECT_EQ(message, c.message);
        }
        EXPECT_EQ(message.find("YWJj"), std::string::npos);
        EXPECT_EQ(message.find("c2VjcmV0"), std::string::npos);
    }
    // And these are fine.
    EXPECT_EQ(codeOf([&] { makeRfc2136(settings({{"keyfile", key}})); }), Exit::Ok);
    EXPECT_EQ(codeOf([&] { makeRfc2136(settings({{"keyfile", two}, {"key", "B."}})); }), Exit::Ok);
    EXPECT_EQ(codeOf([&] {
                  makeRfc2136(settings({{"key", "upd"}, {"tsig_secret_file", secret}}));
              }),
              Exit::Ok);
    EXPECT_EQ(
        codeOf([&] {
            makeRfc2136(settings({{"server", "127.0.0.1"}, {"axfr", "no"}, {"timeout", "3"}}));
        }),
        Exit::Ok);
}

TEST(Rfc2136Settings, UnsignedUpdatesAreSaidAtDebugLevel) {
    test::LogCapture capture;
    const auto saved = log::level();
    log::setLevel(log::Level::Debug);
    makeRfc2136(settings({{"server", "127.0.0.1"}}));
    log::setLevel(saved);
    EXPECT_NE(capture.all().find("[domain:example.test] names no TSIG key: updates go unsigned"),
              std::string::npos)
        << capture.all();
}

// A loopback port nothing listens on: bound, then closed.
std::uint16_t closedPort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

TEST(Rfc2136Network, AClosedPortIsUnavailableAndNamesTheServer) {
    const auto port = std::to_string(closedPort());
    auto p = makeRfc2136(settings({{"server", "127.0.0.1"}, {"port", port}}));
    std::string message;
    EXPECT_EQ(codeOf([&] { p->read("example.test", {}); }, &message), Exit::Unavailable);
    EXPECT_EQ(message, "unable to reach the primary of zone 'example.test.' at 127.0.0.1#" + port +
                           ": Connection refused");
    Change c;
    c.zone = "example.test.";
    c.rrsets.push_back(change({}, {rr("a 60 IN A 192.0.2.1")}));
    EXPECT_EQ(codeOf([&] { p->apply(c); }, &message), Exit::Unavailable);
    EXPECT_NE(message.find("127.0.0.1#" + port), std::string::npos) << message;
}

TEST(Rfc2136Network, AServerThatNeverAnswersTimesOut) {
    // The kernel completes the TCP handshake for a listening socket nobody accepts on.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(::listen(fd, 4), 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    const auto port = std::to_string(ntohs(a.sin_port));
    auto p = makeRfc2136(settings({{"server", "127.0.0.1"}, {"port", port}, {"timeout", "1"}}));
    Change c;
    c.zone = "example.test.";
    c.rrsets.push_back(change({}, {rr("a 60 IN A 192.0.2.1")}));
    std::string message;
    EXPECT_EQ(codeOf([&] { p->apply(c); }, &message), Exit::Unavailable);
    EXPECT_EQ(message, "no answer from 127.0.0.1#" + port +
                           " within 1 s (waiting for the answer); whether UPDATE 1 of 1 was "
                           "applied is unknown: a rerun "
                           "reads the zone and converges");
    ::close(fd);
}

} // namespace
} // namespace cdm::provider
