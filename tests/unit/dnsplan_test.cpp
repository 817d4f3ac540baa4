// Tests of libcommon/dnsplan: what a zone must change to hold the desired records.

#include <algorithm>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libcommon/configdoc.hpp"
#include "libcommon/dnsplan.hpp"
#include "tests/unit/test_util.hpp"

using cdm::Exit;
using cdm::test::codeOf;
using cdm::document::DesiredRecord;
using cdm::document::Op;
using cdm::document::Scope;
using cdm::dnsplan::Entry;
using cdm::record::Record;
using cdm::record::Type;
using testing::HasSubstr;

namespace {

const std::string zone = "a.test.";

DesiredRecord want(const std::string& name, Type type, const std::string& data, Op op = Op::Replace,
                   Scope scope = {}, std::uint32_t ttl = 600) {
    DesiredRecord d;
    d.name = name;
    d.type = type;
    d.ttl = ttl;
    if (!data.empty()) {
        d.data = data;
    }
    d.op = op;
    d.scope = scope.name.empty() ? Scope{name, type, {}, {}, {}} : scope;
    return d;
}

cdm::provider::ZoneContents holding(const std::vector<std::string>& lines) {
    cdm::provider::ZoneContents z;
    z.complete = true;
    for (const auto& l : lines) {
        z.records.push_back(Record::parseLine(l));
    }
    return z;
}

// "add www.a.test. A 192.0.2.1" for each entry, in order.
std::vector<std::string> summary(const cdm::dnsplan::Plan& plan) {
    std::vector<std::string> out;
    for (const auto& e : plan.entries) {
        out.push_back(std::string(cdm::dnsplan::toString(e.action)) + " " + e.rr.name + " " +
                      std::string(cdm::record::toString(e.rr.type)) + " " + e.rr.data);
    }
    return out;
}

std::vector<std::string> afterOf(const cdm::dnsplan::Plan& plan, const std::string& name, Type type) {
    for (const auto& c : plan.change.rrsets) {
        if (c.key.name == name && c.key.type == type) {
            std::vector<std::string> out;
            for (const auto& r : c.after) {
                out.push_back(r.toZoneLine());
            }
            return out;
        }
    }
    return {"(unchanged)"};
}

} // namespace

TEST(DnsplanCompute, ReplaceAddsThenDeletesTheRestOfItsScope) {
    const auto plan = cdm::dnsplan::compute(zone, {want("a.test.", Type::A, "192.0.2.2")},
                                            holding({"a.test. 600 A 192.0.2.1", "a.test. 600 AAAA 2001:db8::1"}));
    EXPECT_THAT(summary(plan), testing::ElementsAre("add a.test. A 192.0.2.2", "delete a.test. A 192.0.2.1"));
    ASSERT_EQ(plan.change.rrsets.size(), 1U);
    EXPECT_THAT(afterOf(plan, "a.test.", Type::A), testing::ElementsAre("a.test. 600 IN A 192.0.2.2"));
}

TEST(DnsplanCompute, ASecondRunChangesNothingAndSaysExists) {
    const auto plan = cdm::dnsplan::compute(
        zone, {want("a.test.", Type::MX, "10 mx.a.test."), want("a.test.", Type::TXT, "\"v=spf1 mx -all\"")},
        holding({"a.test. 600 MX 10 MX.A.test.", "a.test. 600 TXT \"v=spf1 \" \"mx -all\""}));
    EXPECT_TRUE(plan.empty());
    EXPECT_THAT(summary(plan), testing::ElementsAre("exists a.test. MX 10 mx.a.test.",
                                                    "exists a.test. TXT \"v=spf1 mx -all\""));
}

TEST(DnsplanCompute, TlsaReplaceStaysInsideItsPortScope) {
    // tcp/443 is replaced; tcp/25 and the port-less *._tcp record of the same name stay.
    const Scope scope443{"_443._tcp.a.test.", Type::TLSA, {}, {}, {}};
    const std::string next = "3 1 1 " + std::string(64, 'b');
    const auto plan = cdm::dnsplan::compute(
        zone, {want("_443._tcp.a.test.", Type::TLSA, next, Op::Replace, scope443)},
        holding({"_443._tcp.a.test. 600 TLSA 3 1 1 " + std::string(64, 'a'),
                 "_25._tcp.a.test. 600 TLSA 3 1 1 " + std::string(64, 'c'),
                 "*._tcp.a.test. 600 TLSA 3 1 1 " + std::string(64, 'd')}));
    EXPECT_THAT(summary(plan), testing::ElementsAre("add _443._tcp.a.test. TLSA " + next,
                                                    "delete _443._tcp.a.test. TLSA 3 1 1 " + std::string(64, 'a')));
}

TEST(DnsplanCompute, TwoReplaceRecordsOfOneRrsetBothStay) {
    // mx = a and mx.30 = b: cryptdomainmgr kept both, and so does cdm.
    const auto plan = cdm::dnsplan::compute(
        zone, {want("a.test.", Type::MX, "10 a.a.test."), want("a.test.", Type::MX, "30 b.a.test.")},
        holding({"a.test. 600 MX 10 a.a.test.", "a.test. 600 MX 20 old.a.test."}));
    EXPECT_THAT(summary(plan), testing::ElementsAre("exists a.test. MX 10 a.a.test.", "add a.test. MX 30 b.a.test.",
                                                    "delete a.test. MX 20 old.a.test."));
}

TEST(DnsplanCompute, AddKeepsTheRestAndRemoveTakesExactlyOne) {
    const auto plan = cdm::dnsplan::compute(
        zone, {want("a.test.", Type::A, "192.0.2.3", Op::Add), want("a.test.", Type::A, "192.0.2.1", Op::Remove)},
        holding({"a.test. 600 A 192.0.2.1", "a.test. 600 A 192.0.2.2"}));
    EXPECT_THAT(summary(plan), testing::ElementsAre("add a.test. A 192.0.2.3", "delete a.test. A 192.0.2.1"));
    auto after = afterOf(plan, "a.test.", Type::A);
    std::sort(after.begin(), after.end());
    EXPECT_THAT(after, testing::ElementsAre("a.test. 600 IN A 192.0.2.2", "a.test. 600 IN A 192.0.2.3"));
}

TEST(DnsplanCompute, NoneEmptiesTheScopeOnly) {
    const Scope dkim{"*._domainkey.a.test.", Type::TXT, {}, "v=DKIM1", {}};
    const auto plan = cdm::dnsplan::compute(
        zone, {want("*._domainkey.a.test.", Type::TXT, "", Op::None, dkim)},
        holding({"k1._domainkey.a.test. 600 TXT \"v=DKIM1; k=rsa; p=AAAA\"",
                 "_adsp._domainkey.a.test. 600 TXT \"dkim=all\"", "_dmarc.sub.a.test. 600 TXT \"v=DMARC1;p=none\""}));
    // cryptdomainmgr deleted every TXT two labels below the name (reference §9 item 18).
    EXPECT_THAT(summary(plan), testing::ElementsAre("delete k1._domainkey.a.test. TXT \"v=DKIM1; k=rsa; p=AAAA\""));
    EXPECT_EQ(plan.entries.front().label, "DKIM");
}

TEST(DnsplanCompute, ATtlChangeIsAChangeOfTheWholeRrset) {
    const auto plan = cdm::dnsplan::compute(zone, {want("a.test.", Type::A, "192.0.2.1", Op::Replace, {}, 300)},
                                            holding({"a.test. 600 A 192.0.2.1"}));
    ASSERT_EQ(plan.change.rrsets.size(), 1U);
    EXPECT_TRUE(plan.change.rrsets.front().ttlChanged());
    EXPECT_TRUE(plan.change.rrsets.front().adds().empty());
    EXPECT_THAT(summary(plan), testing::ElementsAre("ttl a.test. A 192.0.2.1"));
    EXPECT_EQ(plan.entries.front().note, "TTL 600 -> 300");
}

TEST(DnsplanCompute, AnUnfilledPlaceholderLeavesTheZoneAlone) {
    // cryptdomainmgr deleted the A record when address detection failed (reference §9 item 5).
    DesiredRecord d = want("a.test.", Type::A, "");
    d.placeholder = "ip4";
    const auto plan = cdm::dnsplan::compute(zone, {d}, holding({"a.test. 600 A 192.0.2.1"}));
    EXPECT_TRUE(plan.empty());
    ASSERT_EQ(plan.entries.size(), 1U);
    EXPECT_EQ(plan.entries.front().action, Entry::Action::Skip);
    EXPECT_THAT(plan.warnings.at(0), HasSubstr("ip4"));
}

TEST(DnsplanCompute, AddingAndRemovingOneRecordIsRefused) {
    const auto run = [] {
        cdm::dnsplan::compute(zone, {want("a.test.", Type::A, "192.0.2.1"), want("a.test.", Type::A, "192.0.2.1", Op::Remove)},
                              holding({}));
    };
    EXPECT_EQ(codeOf(run), Exit::DataErr);
}

TEST(DnsplanCompute, SpfMergeChangesTermsAndKeepsTheRest) {
    DesiredRecord d = want("a.test.", Type::TXT, "\"v=spf1 +a -all\"", Op::Merge, Scope{"a.test.", Type::TXT, {}, "v=spf1", {}});
    d.merge = {{"spf", boost::json::object{{"add", boost::json::array{"+a", "-all"}}, {"remove", boost::json::array{"ip4:192.0.2.9"}}}}};
    d.label = "SPF";
    const auto plan = cdm::dnsplan::compute(
        zone, {d}, holding({"a.test. 600 TXT \"v=spf1 mx ip4:192.0.2.9 ~all\"", "a.test. 600 TXT \"other\""}));
    EXPECT_THAT(summary(plan), testing::ElementsAre("update a.test. TXT \"v=spf1 mx +a -all\"",
                                                    "delete a.test. TXT \"v=spf1 mx ip4:192.0.2.9 ~all\""));
    // With nothing to merge into, the record's own data is created.
    const auto fresh = cdm::dnsplan::compute(zone, {d}, holding({"a.test. 600 TXT \"other\""}));
    EXPECT_THAT(summary(fresh), testing::ElementsAre("add a.test. TXT \"v=spf1 +a -all\""));
}

TEST(DnsplanCompute, DmarcMergeSetsAndRemovesTags) {
    DesiredRecord d = want("_dmarc.a.test.", Type::TXT, "\"v=DMARC1;p=reject\"", Op::Merge,
                           Scope{"_dmarc.a.test.", Type::TXT, {}, "v=DMARC1", {}});
    d.merge = {{"dmarc", boost::json::object{{"set", boost::json::object{{"p", "reject"}}}, {"remove", boost::json::array{"ruf"}}}}};
    const auto plan = cdm::dnsplan::compute(
        zone, {d}, holding({"_dmarc.a.test. 600 TXT \"v=DMARC1; p=none; rua=mailto:r@a.test; ruf=mailto:f@a.test\""}));
    EXPECT_THAT(summary(plan).at(0), testing::Eq("update _dmarc.a.test. TXT \"v=DMARC1;p=reject;rua=mailto:r@a.test\""));
}

TEST(DnsplanCompute, SoaMergeBumpsTheSerialOnlyWhenSomethingChanges) {
    DesiredRecord d = want("a.test.", Type::SOA, "", Op::Merge, Scope{"a.test.", Type::SOA, {}, {}, {}});
    d.merge = {{"soa", boost::json::object{{"refresh", 7200}}}};
    const auto zoneSoa = holding({"a.test. 3600 SOA ns1.a.test. hostmaster.a.test. 41 3600 600 86400 300"});
    const auto plan = cdm::dnsplan::compute(zone, {d}, zoneSoa);
    EXPECT_THAT(afterOf(plan, "a.test.", Type::SOA),
                testing::ElementsAre("a.test. 3600 IN SOA ns1.a.test. hostmaster.a.test. 42 7200 600 86400 300"));
    d.merge = {{"soa", boost::json::object{{"refresh", 3600}}}};
    EXPECT_TRUE(cdm::dnsplan::compute(zone, {d}, zoneSoa).empty());
}

TEST(DnsplanCompute, RecordsFromTheConfigurationPlanAsTheyRead) {
    cdm::configdoc::Request request;
    request.content = "[domain:a.test]  mx = mx1.a.test:10  mx.20 = mx2.a.test  spf = mx, -all  caa = 0 issue letsencrypt.org";
    const auto result = cdm::configdoc::run(request);
    const auto plan = cdm::dnsplan::compute(zone, result.records,
                                            holding({"a.test. 600 MX 5 old.a.test.", "a.test. 600 CAA 0 issue \"letsencrypt.org\""}));
    std::vector<std::string> lines;
    for (const auto& e : plan.entries) {
        lines.push_back(cdm::dnsplan::logLine(e));
    }
    for (const char* expected : {"add (new) MX for a.test : mx1.a.test", "add (new) MX for a.test : mx2.a.test",
                                 "add (exists) CAA for a.test : 0 issue \"letsencrypt.org\"",
                                 "delete MX for a.test : old.a.test"}) {
        EXPECT_THAT(lines, testing::Contains(std::string(expected)));
    }
    EXPECT_THAT(lines, testing::Contains(HasSubstr("SPF for a.test : v=spf1 ")));
}

TEST(DnsplanLog, LinesAndLabelsInTheOriginalsForm) {
    const auto line = [](const std::string& rr, Entry::Action action = Entry::Action::AddNew) {
        const Record r = Record::parseLine(rr);
        return cdm::dnsplan::logLine(Entry{action, r, cdm::dnsplan::logLabel(r), {}, {}});
    };
    EXPECT_EQ(line("a.test. 600 A 192.0.2.1"), "add (new) A for a.test : 192.0.2.1");
    EXPECT_EQ(line("_imap._tcp.a.test. 600 SRV 6 0 143 s.a.test."), "add (new) SRV for _imap._tcp.a.test : 0 143 s.a.test");
    EXPECT_EQ(line("a.test. 600 TXT \"v=spf1 \" \"-all\"", Entry::Action::Delete), "delete SPF for a.test : v=spf1 -all");
    EXPECT_EQ(line("k._domainkey.a.test. 600 TXT \"v=DKIM1; p=AB\""), "add (new) DKIM for k._domainkey.a.test : v=DKIM1; p=AB");
    EXPECT_EQ(line("_dmarc.a.test. 600 TXT \"v=DMARC1;p=none\"", Entry::Action::AddExists),
              "add (exists) DMARC for _dmarc.a.test : v=DMARC1;p=none");
    EXPECT_EQ(line("_adsp._domainkey.a.test. 600 TXT \"dkim=all\""), "add (new) ADSP for _adsp._domainkey.a.test : dkim=all");
    EXPECT_EQ(line("_acme-challenge.a.test. 60 TXT tok1"), "add (new) ACME for _acme-challenge.a.test : tok1");
    EXPECT_EQ(line("_mta-sts.a.test. 600 TXT \"v=STSv1; id=1\""), "add (new) MTA-STS for _mta-sts.a.test : v=STSv1; id=1");
    EXPECT_EQ(line("a.test. 600 CAA 0 issue letsencrypt.org"), "add (new) CAA for a.test : 0 issue \"letsencrypt.org\"");
}

TEST(DnsplanWanted, ReadsEachRrsetAndSaysWhenAScopeNeedsTheWholeZone) {
    const Scope dkim{"*._domainkey.a.test.", Type::TXT, {}, "v=DKIM1", {}};
    const std::vector<DesiredRecord> desired = {want("a.test.", Type::A, "192.0.2.1"),
                                                want("k._domainkey.a.test.", Type::TXT, "\"v=DKIM1; p=AB\"", Op::Replace, dkim)};
    const auto keys = cdm::dnsplan::wanted(desired);
    EXPECT_EQ(keys.size(), 2U);
    EXPECT_TRUE(cdm::dnsplan::needsWholeZone(desired));
    EXPECT_FALSE(cdm::dnsplan::needsWholeZone({desired.front()}));
}
