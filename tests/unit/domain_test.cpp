// Tests of libcommon/domain: the record grammar of [domain] sections (reference §2.4).
// DomainGrammarOriginal ports every case of the original's
// test/modules/domain/test_confighandlerdomain.py (reference §8), named after its methods.

#include <map>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/test_util.hpp"

#include "libcommon/domain.hpp"
#include "libcommon/log.hpp"

using cdm::Error;
using cdm::Exit;
using cdm::config::Config;
using cdm::config::SectionType;
using cdm::domain::Fields;
using testing::HasSubstr;

namespace {

Config load(const std::string& text) {
    cdm::ini::Ini ini;
    ini.readString(text, "d.conf");
    return cdm::config::load(ini);
}

const cdm::config::Section& defaults(const Config& c) {
    const auto* s = c.find(SectionType::Domain, "DEFAULT");
    if (s == nullptr) {
        throw std::runtime_error("no [domain]");
    }
    return *s;
}

struct Aggr {
    std::vector<Fields> add;
    std::vector<Fields> del;
};

Aggr aggr(const std::string& text, const std::string& type, const std::string& section = "DEFAULT") {
    const Config c = load(text);
    const auto* s = c.find(SectionType::Domain, section);
    const auto items = cdm::domain::interpret(*s, type);
    return {cdm::domain::adds(items), cdm::domain::dels(items)};
}

std::set<std::string> asSet(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

std::map<std::string, std::string> dict(const std::string& text, const std::string& type) {
    const Config c = load(text);
    std::map<std::string, std::string> out;
    for (const auto& [k, v] : cdm::domain::interpretDict(defaults(c), type)) {
        out[k] = v;
    }
    return out;
}

// The zone text of the records one domain section asks for.
std::string zone(const std::string& text, const std::string& domain = "a.test") {
    const Config c = load(text);
    const auto* s = c.find(SectionType::Domain, domain);
    return cdm::document::toZoneText(cdm::domain::plan(*s, c).records);
}

cdm::domain::DomainPlan plan(const std::string& text, const std::string& domain = "a.test") {
    const Config c = load(text);
    return cdm::domain::plan(*c.find(SectionType::Domain, domain), c);
}

using cdm::test::LogCapture;

} // namespace

TEST(DomainGrammarOriginal, testNoSection) {
    EXPECT_TRUE(load("").named(SectionType::Domain).empty());
    EXPECT_EQ(load("").sections.count(SectionType::Domain), 0U);
}

TEST(DomainGrammarOriginal, testDomainDefaultSection) {
    for (const char* type : {"ip4", "ip6", "dkim", "tlsa", "mx", "srv", "caa"}) {
        const Aggr a = aggr("[domain]", type);
        EXPECT_TRUE(a.add.empty()) << type;
        EXPECT_TRUE(a.del.empty()) << type;
    }
    const auto spf = cdm::domain::interpretSpf(defaults(load("[domain]")));
    EXPECT_TRUE(spf.add.empty());
    EXPECT_TRUE(spf.del.empty());
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionIP4set) {
    const Aggr a = aggr("[domain]\nip4=0.0.0.0 , auto ", "ip4");
    EXPECT_EQ(a.add, (std::vector<Fields>{{{"content", "0.0.0.0"}}, {{"content", "auto"}}}));
    EXPECT_EQ(a.del, (std::vector<Fields>{{}, {}}));
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionIP4add) {
    const Aggr a = aggr("[domain]\nip4 + = 0.0.0.0", "ip4");
    EXPECT_EQ(a.add, (std::vector<Fields>{{{"content", "0.0.0.0"}}}));
    EXPECT_TRUE(a.del.empty());
}

TEST(DomainGrammarOriginal, testDomainNamedSectionIP6set) {
    const Aggr a = aggr("[domain:mydomain.de]\nip6  =   123::0000:46ef  ", "ip6", "mydomain.de");
    EXPECT_EQ(a.add, (std::vector<Fields>{{{"content", "123::0000:46ef"}}}));
    EXPECT_EQ(a.del, (std::vector<Fields>{{}}));
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionIP6add) {
    const Aggr a = aggr("[domain]\nip6 + = [123::0000:46ef]", "ip6");
    EXPECT_EQ(a.add, (std::vector<Fields>{{{"content", "[123::0000:46ef]"}}}));
    EXPECT_TRUE(a.del.empty());
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionMXset) {
    const Aggr a = aggr("[domain]\nmx = mx0.domain, mx1.domain:20\nmx.30 = mx2.domain:15\n"
                        "mx.40 = mx3.domain ",
                        "mx");
    EXPECT_EQ(a.add, (std::vector<Fields>{{{"content", "mx0.domain"}, {"prio", "10"}},
                                          {{"content", "mx1.domain"}, {"prio", "20"}},
                                          {{"content", "mx2.domain"}, {"prio", "15"}},
                                          {{"content", "mx3.domain"}, {"prio", "40"}}}));
    EXPECT_EQ(a.del, (std::vector<Fields>{{}, {}, {{"prio", "30"}}, {{"prio", "40"}}}));
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionMXadd) {
    const Aggr a = aggr("[domain]\nmx + = mx0.domain, mx1.domain:20\nmx.30 + = mx2.domain:15\n"
                        "mx.40 + = mx3.domain  ",
                        "mx");
    EXPECT_EQ(a.add.size(), 4U);
    EXPECT_EQ(a.add[2], (Fields{{"content", "mx2.domain"}, {"prio", "15"}}));
    EXPECT_EQ(a.add[3], (Fields{{"content", "mx3.domain"}, {"prio", "40"}}));
    EXPECT_TRUE(a.del.empty());
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionSRVset) {
    const Aggr a = aggr("[domain]\nsrv.service.proto.port.weight.prio  = "
                        "testsrv.entroserv.de:PRIO:WEIGHT:PORT:PROTO:SERVICE  ",
                        "srv");
    EXPECT_EQ(a.add, (std::vector<Fields>{{{"server", "testsrv.entroserv.de"},
                                           {"service", "SERVICE"},
                                           {"proto", "PROTO"},
                                           {"port", "PORT"},
                                           {"weight", "WEIGHT"},
                                           {"prio", "PRIO"}}}));
    EXPECT_EQ(a.del, (std::vector<Fields>{{{"service", "service"},
                                           {"proto", "proto"},
                                           {"port", "port"},
                                           {"weight", "weight"},
                                           {"prio", "prio"}}}));
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionSRVadd) {
    const Aggr a = aggr("[domain]\nsrv.service.proto.port.weight.prio + = "
                        "testsrv.entroserv.de:PRIO:WEIGHT:PORT:PROTO:SERVICE   ",
                        "srv");
    ASSERT_EQ(a.add.size(), 1U);
    EXPECT_EQ(a.add[0].at("service"), "SERVICE");
    EXPECT_EQ(a.add[0].at("prio"), "PRIO");
    EXPECT_TRUE(a.del.empty());
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionCAAset) {
    const Aggr a = aggr("[domain]\ncaa  = auto,   myflag    mytag    myca.caa  \ncaa.a.b.c  =  d  e  f ",
                        "caa");
    EXPECT_EQ(a.add, (std::vector<Fields>{{{"flag", "auto"}},
                                          {{"flag", "myflag"}, {"tag", "mytag"}, {"url", "myca.caa"}},
                                          {{"flag", "d"}, {"tag", "f"}, {"url", "a"}}}));
    EXPECT_EQ(a.del, (std::vector<Fields>{{}, {}, {{"tag", "b"}, {"url", "a"}}}));
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionCAAadd) {
    const Aggr a = aggr("[domain]\ncaa + = auto, myflag  mytag myca.caa  ", "caa");
    EXPECT_EQ(a.add, (std::vector<Fields>{{{"flag", "auto"}},
                                          {{"flag", "myflag"}, {"tag", "mytag"}, {"url", "myca.caa"}}}));
    EXPECT_TRUE(a.del.empty());
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionSPFset) {
    const auto spf = cdm::domain::interpretSpf(defaults(load("[domain]\nspf  = +mx ,  -ip4 ,  ip6 ,  ?all ")));
    EXPECT_EQ(asSet(spf.add), (std::set<std::string>{"+mx", "-ip4", "ip6", "?all"}));
    EXPECT_EQ(asSet(spf.del), (std::set<std::string>{"*"}));
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionSPFadd) {
    const auto spf = cdm::domain::interpretSpf(defaults(load("[domain]\nspf  + = +mx ,  -ip4 ,  ip6 ,  ?all ")));
    EXPECT_EQ(asSet(spf.add), (std::set<std::string>{"+mx", "-ip4", "ip6", "?all"}));
    EXPECT_TRUE(spf.del.empty());
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionSPFdel) {
    const auto spf = cdm::domain::interpretSpf(defaults(load("[domain]\nspf  - = +mx ,  -ip4 ,  ip6 ,  ?all ")));
    EXPECT_TRUE(spf.add.empty());
    EXPECT_EQ(asSet(spf.del), (std::set<std::string>{"+mx", "-ip4", "ip6", "?all"}));
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionDMARCset) {
    EXPECT_EQ(dict("[domain]\ndmarc  = \ndmarc.p = quarantine \ndmarc.dummy = blub", "dmarc"),
              (std::map<std::string, std::string>{{"", ""}, {"p", "quarantine"}, {"dummy", "blub"}}));
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionSOAset) {
    EXPECT_EQ(dict("[domain]\nsoa  = \nsoa.a = x \nsoa.b = blub", "soa"),
              (std::map<std::string, std::string>{{"", ""}, {"a", "x"}, {"b", "blub"}}));
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionDMARCsetPart) {
    EXPECT_EQ(dict("[domain]\ndmarc.p = quarantine \ndmarc.dummy = blub", "dmarc"),
              (std::map<std::string, std::string>{{"p", "quarantine"}, {"dummy", "blub"}}));
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionADSPset) {
    EXPECT_EQ(defaults(load("[domain]\nadsp  = all ")).get("adsp"), "all");
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionACMEset) {
    EXPECT_EQ(defaults(load("[domain]\nacme  = qwertz ")).get("acme"), "qwertz");
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionDKIMset) {
    const Aggr a = aggr("[domain]\ndkim  = auto:maindkim , auto2:extradkim \ndkim.extdkim = auto3", "dkim");
    EXPECT_EQ(a.add, (std::vector<Fields>{{{"op", "auto"}, {"content", "maindkim"}},
                                          {{"op", "auto2"}, {"content", "extradkim"}},
                                          {{"content", "extdkim"}, {"op", "auto3"}}}));
    EXPECT_EQ(a.del, (std::vector<Fields>{{}, {}, {{"content", "extdkim"}}}));
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionDKIMset2) {
    const Aggr a = aggr("[domain]\n dkim.extradkim = auto2 , auto3 \ndkim = auto4:maindkim2 ", "dkim");
    EXPECT_EQ(a.add, (std::vector<Fields>{{{"op", "auto2"}, {"content", "extradkim"}},
                                          {{"op", "auto3"}, {"content", "extradkim"}},
                                          {{"op", "auto4"}, {"content", "maindkim2"}}}));
    EXPECT_EQ(a.del, (std::vector<Fields>{{{"content", "extradkim"}}, {{"content", "extradkim"}}, {}}));
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionDKIMadd) {
    const Aggr a = aggr("[domain]\ndkim +  = auto:maindkim ", "dkim");
    EXPECT_EQ(a.add, (std::vector<Fields>{{{"op", "auto"}, {"content", "maindkim"}}}));
    EXPECT_TRUE(a.del.empty());
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionDKIMadd2) {
    const Aggr a = aggr("[domain]\ndkim.maindkim +  = auto ", "dkim");
    EXPECT_EQ(a.add, (std::vector<Fields>{{{"op", "auto"}, {"content", "maindkim"}}}));
    EXPECT_TRUE(a.del.empty());
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionTLSAset) {
    const Aggr a = aggr("[domain]\ntlsa  = auto:3:1:1:443:tcp , auto2:2:0:1:143:udp \n"
                        "tlsa.icmp.80.*.1.3 = auto3",
                        "tlsa");
    EXPECT_EQ(a.add, (std::vector<Fields>{
                         {{"op", "auto"}, {"proto", "tcp"}, {"port", "443"}, {"matchingtype", "1"},
                          {"selector", "1"}, {"usage", "3"}},
                         {{"op", "auto2"}, {"proto", "udp"}, {"port", "143"}, {"matchingtype", "1"},
                          {"selector", "0"}, {"usage", "2"}},
                         {{"op", "auto3"}, {"proto", "icmp"}, {"port", "80"}, {"selector", "1"},
                          {"usage", "3"}}}));
    EXPECT_EQ(a.del, (std::vector<Fields>{
                         {}, {}, {{"proto", "icmp"}, {"port", "80"}, {"selector", "1"}, {"usage", "3"}}}));
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionTLSAadd) {
    const Aggr a = aggr("[domain]\ntlsa  + = auto:3:1:1:443:tcp , auto2:2:0:1:143:udp \n"
                        "tlsa.icmp.80.0.1.3  + = auto3",
                        "tlsa");
    ASSERT_EQ(a.add.size(), 3U);
    EXPECT_EQ(a.add[2], (Fields{{"op", "auto3"}, {"proto", "icmp"}, {"port", "80"},
                                {"matchingtype", "0"}, {"selector", "1"}, {"usage", "3"}}));
    EXPECT_TRUE(a.del.empty());
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionCertset) {
    // The Python literal continues `noocsp , \` onto the next source line: one value.
    const Config c = load("[domain]\ncert  = noocsp ,                            withocsp\n"
                          "[cert:noocsp]\ndummy=true\n[cert:withocsp]\ndummy=true");
    const auto p = cdm::domain::plan(defaults(c), c);
    EXPECT_EQ(asSet(p.certs), (std::set<std::string>{"noocsp", "withocsp"}));
}

TEST(DomainGrammarOriginal, testDomainMissingCertset) {
    LogCapture log;
    const Config c = load("[domain]\ncert  = noocsp , withocsp");
    EXPECT_TRUE(cdm::domain::plan(defaults(c), c).certs.empty());
    EXPECT_THAT(log.all(), HasSubstr("section cert:noocsp referenced in domain:DEFAULT does not exist"));
}

TEST(DomainGrammarOriginal, testDomainDefaultSectionHandlerset) {
    const Config c = load("[domain]\nhandler  = dnsuptools/inwx \nuser = myuser \npasswd = mypasswd ");
    const auto& s = defaults(c);
    EXPECT_EQ(s.get("handler"), "dnsuptools/inwx");
    EXPECT_EQ(s.get("user"), "myuser");
    EXPECT_EQ(s.get("passwd"), "mypasswd");
    EXPECT_TRUE(s.find("passwd")->secret());
}

TEST(DomainNestedEntry, KeyFillsFromFrontValueFromBack) {
    using cdm::domain::Split;
    const auto e = cdm::domain::parseNestedEntry("caa.a.b.c", "d e f", {"*", "*", "*"}, true,
                                                 Split::Whitespace);
    EXPECT_EQ(e.fields, (std::vector<std::string>{"d", "a", "f", "e"})) << "list grows with the key";
    EXPECT_EQ(e.scopeFields, (std::vector<std::string>{"caa", "a", "b", "c"}));
    // Python's addList[-2] is addList[0]: the original let a third piece overwrite the host.
    EXPECT_THROW(cdm::domain::parseNestedEntry("mx", "a:b:c", {"*", "10"}, true, Split::Colon), Error);
    const auto add = cdm::domain::parseNestedEntry("srv+", "t", {"*", "http"}, true, Split::Colon);
    EXPECT_EQ(add.mode, cdm::domain::Mode::Add);
    EXPECT_EQ(add.fields, (std::vector<std::string>{"t", "http"}));
    EXPECT_TRUE(add.scopeFields.empty());
}

struct ZoneCase {
    const char* desc;
    const char* keys;
    const char* expected;
};

TEST(DomainRecords, StaticRecordsOfTheUpdatePhase) {
    const ZoneCase cases[] = {
        {"A list", "ip4 = 192.0.2.1, 192.0.2.2",
         "a.test. 600 IN A 192.0.2.1\na.test. 600 IN A 192.0.2.2\n"},
        {"A auto is a placeholder", "ip4 = auto",
         "; a.test. A replace: 'ip4', filled in by cdm-ip (d.conf:2)\n"},
        {"A none deletes", "ip4 = none", "; delete every A at a.test. (d.conf:2)\n"},
        {"A empty deletes", "ip4 =", "; delete every A at a.test. (d.conf:2)\n"},
        {"A remove", "ip4 -= 192.0.2.9", "; remove: a.test. 600 IN A 192.0.2.9 (d.conf:2)\n"},
        {"AAAA canonical", "ip6 = 2001:DB8:0:0::1", "a.test. 600 IN AAAA 2001:db8::1\n"},
        {"MX default prio", "mx = mail.a.test", "a.test. 600 IN MX 10 mail.a.test.\n"},
        {"MX value prio wins", "mx.30 = mx2.a.test:15", "a.test. 600 IN MX 15 mx2.a.test.\n"},
        {"SRV full value", "srv = t.a.test:14:23:146:udp:imap",
         "_imap._udp.a.test. 600 IN SRV 14 23 146 t.a.test.\n"},
        {"SRV key form", "srv.imap.tcp.143 = t.a.test:11:19",
         "_imap._tcp.a.test. 600 IN SRV 11 19 143 t.a.test.\n"},
        {"SRV defaults", "srv = t.a.test", "_http._tcp.a.test. 600 IN SRV 0 0 443 t.a.test.\n"},
        {"CAA", "caa = 0 issue letsencrypt.org, 128 issuewild other.test",
         "a.test. 600 IN CAA 0 issue \"letsencrypt.org\"\na.test. 600 IN CAA 128 issuewild \"other.test\"\n"},
        {"SPF replace", "spf = ?all, -mx, a",
         "a.test. 600 IN TXT \"v=spf1 -mx +a ?all\"\n"},
        {"SPF modifier keeps no qualifier", "spf = mx, redirect=_spf.a.test",
         "a.test. 600 IN TXT \"v=spf1 +mx redirect=_spf.a.test\"\n"},
        {"SPF delete", "spf =", "; delete every TXT at a.test. starting 'v=spf1' (d.conf:2)\n"},
        {"DMARC replace", "dmarc =\ndmarc.rua = mailto:x@a.test\ndmarc.p = reject",
         "_dmarc.a.test. 600 IN TXT \"v=DMARC1;p=reject;rua=mailto:x@a.test\"\n"},
        {"DMARC delete", "dmarc =",
         "; delete every TXT at _dmarc.a.test. starting 'v=DMARC1' (d.conf:2)\n"},
        {"ADSP", "adsp = all", "_adsp._domainkey.a.test. 600 IN TXT \"dkim=all\"\n"},
        {"ACME token", "acme = tok1", "_acme-challenge.a.test. 600 IN TXT \"tok1\"\n"},
        {"ACME delete", "acme =", "; delete every TXT at _acme-challenge.a.test. (d.conf:2)\n"},
        {"TXT quoted and plain", "txt = \"a, b\", plain",
         "a.test. 600 IN TXT \"a, b\"\na.test. 600 IN TXT \"plain\"\n"},
        {"TXT below the name", "txt._github = tok",
         "_github.a.test. 600 IN TXT \"tok\"\n"},
        {"CNAME", "cname.www = a.test", "www.a.test. 600 IN CNAME a.test.\n"},
        {"TTL", "ttl = 3600\nip4 = 192.0.2.1", "a.test. 3600 IN A 192.0.2.1\n"},
        {"TLSRPT", "tlsrpt.rua = mailto:t@a.test, https://r.a.test/x",
         "_smtp._tls.a.test. 600 IN TXT \"v=TLSRPTv1; rua=mailto:t@a.test,https://r.a.test/x\"\n"},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(zone(std::string("[domain:a.test]\n") + c.keys), c.expected) << c.desc;
    }
}

TEST(DomainRecords, OpsAndScopes) {
    const auto p = plan("[domain:a.test]\nmx.30 = m.a.test\nmx += n.a.test:5\n"
                        "srv.imap.tcp = t.a.test\ntlsa.tcp = auto\ncert = c\n[cert:c]\n");
    ASSERT_EQ(p.records.size(), 3U);
    using cdm::document::Op;
    // Order of the original's update: SRV before MX.
    EXPECT_EQ(p.records[0].scope.name, "_imap._tcp.a.test.");
    EXPECT_EQ(p.records[1].op, Op::Replace);
    EXPECT_EQ(p.records[1].scope.fields, (std::map<std::string, std::string>{{"preference", "30"}}));
    EXPECT_EQ(*p.records[1].data, "30 m.a.test.");
    EXPECT_EQ(p.records[2].op, Op::Add);
    ASSERT_EQ(p.tlsa.size(), 1U);
    EXPECT_EQ(p.tlsa[0].owner, "*._tcp.a.test.");
    EXPECT_EQ(p.tlsa[0].scope.name, "*._tcp.a.test.");
    EXPECT_EQ(p.tlsa[0].usage, 3) << "tlsa = auto means 3 1 1 (the original crashed)";
    EXPECT_EQ(p.tlsa[0].selector, 1);
    EXPECT_EQ(p.tlsa[0].matching, 1);
}

TEST(DomainRecords, TlsaFormsOfTheReference) {
    const auto p = plan("[domain:a.test]\ncert = c\ntlsa.tcp.143.1.0.2 = auto\ntlsa.tcp = auto:3:0:1\n"
                        "tlsa = auto:3:1:1:443:tcp\n[cert:c]\n");
    ASSERT_EQ(p.tlsa.size(), 3U);
    EXPECT_EQ(p.tlsa[0].owner, "_143._tcp.a.test.");
    EXPECT_EQ(std::vector<int>({p.tlsa[0].usage, p.tlsa[0].selector, p.tlsa[0].matching}),
              std::vector<int>({2, 0, 1}))
        << "the key reads matching.selector.usage";
    EXPECT_EQ(p.tlsa[0].scope.fields,
              (std::map<std::string, std::string>{{"usage", "2"}, {"selector", "0"}, {"matching", "1"}}));
    EXPECT_EQ(p.tlsa[1].owner, "*._tcp.a.test.");
    EXPECT_EQ(p.tlsa[2].owner, "_443._tcp.a.test.");
    EXPECT_EQ(p.tlsa[2].scope.name, "*.*.a.test.") << "tlsa = ... scopes every TLSA of the name";
}

TEST(DomainRecords, SpfMerges) {
    const auto p = plan("[domain:a.test]\nspf += ip4:192.0.2.1, ~all\nspf -= mx\n");
    ASSERT_EQ(p.records.size(), 1U);
    EXPECT_EQ(p.records[0].op, cdm::document::Op::Merge);
    EXPECT_EQ(boost::json::serialize(p.records[0].merge),
              R"({"spf":{"add":["+ip4:192.0.2.1","~all"],"remove":["mx"]}})");
    const auto q = plan("[domain:a.test]\nspf = a, mx, ?all\nspf += -mx\nspf -= +a\n");
    EXPECT_EQ(*q.records[0].data, "\"v=spf1 -mx ?all\"") << "a later qualifier replaces; -= +a removes";
}

TEST(DomainRecords, DmarcMergesTags) {
    const auto p = plan("[domain:a.test]\ndmarc.p = quarantine\ndmarc.ruf =\n");
    ASSERT_EQ(p.records.size(), 1U);
    EXPECT_EQ(p.records[0].op, cdm::document::Op::Merge);
    EXPECT_EQ(boost::json::serialize(p.records[0].merge),
              R"({"dmarc":{"set":{"p":"quarantine"},"remove":["ruf"]}})");
}

TEST(DomainRecords, SoaFields) {
    const auto p = plan("[domain:a.test]\nsoa.primns = ns.a.test\nsoa.hostmaster = host.master@a.test\n"
                        "soa.refresh = 7200\nsoa.serial = 2024010101\n");
    ASSERT_EQ(p.records.size(), 1U);
    EXPECT_EQ(boost::json::serialize(p.records[0].merge),
              R"({"soa":{"mname":"ns.a.test.","rname":"host\\.master.a.test.","refresh":7200,"serial":2024010101}})");
}

TEST(DomainRecords, CaaAutoFollowsTheCert) {
    EXPECT_EQ(zone("[domain:a.test]\ncert = c\ncaa = auto\n[cert:c]\n"),
              "a.test. 600 IN CAA 0 issue \"letsencrypt.org\"\n");
    EXPECT_EQ(zone("[domain:a.test]\ncert = c\ncaa = auto\n[cert:c]\nhandler = acme\n"
                   "ca = https://127.0.0.1:14000/dir\n"),
              "; a.test. CAA replace: 'caa:c', filled in by cdm-cert (d.conf:3)\n");
    LogCapture log;
    EXPECT_EQ(zone("[domain:a.test]\ncaa = auto\n"), "");
    EXPECT_THAT(log.all(), HasSubstr("has no 'cert =' to take the CA from"));
}

TEST(DomainRecords, CaaPinLeavesAPlaceholderEvenForLetsEncrypt) {
    // The RFC 8657 accounturi is the ACME account's URL: only cdm-cert knows it.
    EXPECT_EQ(zone("[domain:a.test]\ncert = c\ncaa = auto\n[cert:c]\ncaapin = accounturi\n"),
              "; a.test. CAA replace: 'caa:c', filled in by cdm-cert (d.conf:3)\n");
    EXPECT_EQ(zone("[domain:a.test]\ncert = c\ncaa = auto\n[cert:c]\ncaapin = validationmethods\n"
                   "handler = dehydrated/letsencrypt\n"),
              "; a.test. CAA replace: 'caa:c', filled in by cdm-cert (d.conf:3)\n");
    EXPECT_EQ(zone("[domain:a.test]\ncert = c\ncaa = auto\n[cert]\ncaapin = accounturi\n[cert:c]\n"),
              "; a.test. CAA replace: 'caa:c', filled in by cdm-cert (d.conf:3)\n")
        << "inherited from [cert]";
    EXPECT_EQ(zone("[domain:a.test]\ncert = c\ncaa = auto\n[cert:c]\ncaapin = none\n"),
              "a.test. 600 IN CAA 0 issue \"letsencrypt.org\"\n");
}

TEST(DomainRecords, CertAutoMeansEveryCertSection) {
    const auto p = plan("[domain:a.test]\ncert = auto\n[cert:x]\n[cert:y]\n");
    EXPECT_EQ(p.certs, (std::vector<std::string>{"x", "y"}));
}

TEST(DomainRecords, MtaStsIdFollowsThePolicyText) {
    const auto p = plan("[domain:a.test]\nmx = mail.a.test\nmtasts.mode = enforce\n"
                        "mtasts.policyfile = /srv/mta-sts.txt\n");
    ASSERT_EQ(p.files.size(), 1U);
    const auto& file = p.files[0].as_object();
    const std::string policy(file.at("content").as_string());
    EXPECT_EQ(policy, "version: STSv1\r\nmode: enforce\r\nmx: mail.a.test\r\nmax_age: 604800\r\n");
    EXPECT_EQ(file.at("path").as_string(), "/srv/mta-sts.txt");
    EXPECT_EQ(file.at("url").as_string(), "https://mta-sts.a.test/.well-known/mta-sts.txt");
    const std::string id = cdm::domain::mtaStsId(policy);
    EXPECT_EQ(id.size(), 32U);
    EXPECT_EQ(*p.records.back().data, "\"v=STSv1; id=" + id + "\"");
    // Same text, same id; another text, another id.
    EXPECT_EQ(cdm::domain::mtaStsId(policy), id);
    const auto q = plan("[domain:a.test]\nmx = mail.a.test\nmtasts.mode = testing\n");
    EXPECT_NE(*q.records.back().data, *p.records.back().data);
    const auto r = plan("[domain:a.test]\nmx = mail.a.test\nmtasts.mode = enforce\n"
                        "mtasts.policyfile = /elsewhere\n");
    EXPECT_EQ(*r.records.back().data, *p.records.back().data) << "the file's path is not policy";
}

struct BadCase {
    const char* desc;
    const char* keys;
    const char* message;
};

TEST(DomainErrors, InvalidValuesNameKeyAndLine) {
    const BadCase cases[] = {
        {"bad IPv4", "ip4 = 192.0.2.300", "ip4"},
        {"IPv4 too short", "ip4 = 1.2.3", "ip4"},
        {"bad IPv6", "ip6 = ::g", "ip6"},
        {"port 70000", "srv = t.a.test:0:0:70000:tcp:imap", "70000"},
        {"SRV placeholder fields", "srv.service.proto.port.weight.prio = t.a.test", "port"},
        {"MX prio", "mx = m.a.test:99999", "99999"},
        {"TLSA usage 7", "cert = c\ntlsa = auto:7:1:1:443:tcp", "TLSA usage '7'"},
        {"TLSA matching 3", "cert = c\ntlsa.tcp.443.3.1.3 = auto", "TLSA matching type '3'"},
        {"TLSA port", "cert = c\ntlsa = auto:3:1:1:99999:tcp", "TLSA port '99999'"},
        {"CAA without value", "caa = 0 issue", "CAA needs"},
        {"SPF junk", "spf = bogus", "not a mechanism"},
        {"SPF aaaa of the original's example", "spf = ?all, -mx, aaaa", "'a' already matches AAAA"},
        {"SPF bad ip4", "spf = ip4:300.1.1.1", "ip4:300.1.1.1"},
        {"DMARC policy", "dmarc.p = maybe", "none, quarantine or reject"},
        {"DMARC pct", "dmarc.pct = 101", "0 to 100"},
        {"ADSP policy", "adsp = some", "ADSP policy"},
        {"none with others", "ip4 = none, 192.0.2.1", "cannot be combined"},
        {"none in add", "ip4 += none", "only goes with '='"},
        {"SOA field", "soa.bogus = 1", "unknown SOA field"},
        {"SOA number", "soa.refresh = soon", "not a number"},
        {"MTA-STS mode", "mx = m.a.test\nmtasts.mode = strict", "MTA-STS mode"},
        {"MTA-STS max_age", "mx = m.a.test\nmtasts.max_age = 99999999", "max_age"},
        {"MTA-STS without MX", "mtasts.mode = enforce", "mtasts.mx"},
        {"TLSRPT uri", "tlsrpt.rua = tls@a.test", "mailto: or https:"},
        {"two CNAMEs", "cname = x.test, y.test", "at most one CNAME"},
        {"bad ttl", "ttl = forever", "ttl"},
        {"bad MX host", "mx = a..b", "a..b"},
        {"too many MX fields (the original published MX 10 x)", "mx = m.a.test:10:x",
         "'m.a.test:10:x' has 3 fields, but 'mx' takes at most 2"},
        {"too many TLSA fields", "cert = c\ntlsa = auto:3:1:1:443:tcp:extra", "takes at most 6"},
    };
    for (const auto& c : cases) {
        try {
            plan(std::string("[domain:a.test]\n") + c.keys + "\n[cert:c]\n");
            ADD_FAILURE() << c.desc << ": no error";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Exit::Config) << c.desc;
            EXPECT_THAT(e.what(), HasSubstr("d.conf:")) << c.desc;
            EXPECT_THAT(e.what(), HasSubstr("[domain:a.test]")) << c.desc;
            EXPECT_THAT(e.what(), HasSubstr(c.message)) << c.desc << ": " << e.what();
        }
    }
}

TEST(DomainErrors, InvalidDomainName) {
    EXPECT_THROW(plan("[domain:a..test]\nip4 = 192.0.2.1\n", "a..test"), Error);
}

TEST(DomainErrors, SecretsInterpolatedIntoRecordsAreNotShown) {
    try {
        plan("[domain:a.test]\npasswd = hunter2\nip4 = %(passwd)s\n");
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Exit::Config);
        EXPECT_THAT(e.what(), HasSubstr("d.conf:3: [domain:a.test] ip4: invalid value (not shown"));
        EXPECT_THAT(e.what(), testing::Not(HasSubstr("hunter2")));
    }
}

TEST(DomainWarnings, UnknownKeysWrittenInTheSection) {
    LogCapture log;
    plan("[domain]\nkeyfile = /k\n[domain:a.test]\nipv4 = 192.0.2.1\ndmark.p = reject\n"
         "ip4 = 192.0.2.1\nmx.10 = m.a.test\nserver = 127.0.0.1\n");
    EXPECT_THAT(log.all(), HasSubstr("d.conf:4: key 'ipv4' of [domain:a.test] is not one cdm knows"));
    EXPECT_THAT(log.all(), HasSubstr("d.conf:5: key 'dmark.p' of [domain:a.test]"));
    EXPECT_EQ(log.lines.size(), 2U) << log.all();
}

TEST(DomainWarnings, NeverQuoteASecret) {
    LogCapture log;
    plan("[domain:a.test]\npasswd = hunter2\ncert = %(passwd)s\n");
    EXPECT_THAT(log.all(), HasSubstr("section cert:(a secret, not shown) referenced"));
    EXPECT_THAT(log.all(), testing::Not(HasSubstr("hunter2")));
}

TEST(DomainWarnings, KeysThatTakeNoSuffixAndUnknownDmarcTags) {
    LogCapture log;
    const auto p = plan("[domain:a.test]\nacme += tok\nadsp -= all\ndmarc.foo = bar\n");
    EXPECT_THAT(log.all(), HasSubstr("key 'acme +' of [domain:a.test] is not one cdm knows"));
    EXPECT_THAT(log.all(), HasSubstr("key 'adsp -' of [domain:a.test] is not one cdm knows"));
    EXPECT_THAT(log.all(), HasSubstr("DMARC tag 'foo' is not one of RFC 7489 or DMARCbis"));
}

TEST(DomainRecords, NoneDeletesForEveryKey) {
    const auto p = plan("[domain:a.test]\nspf = none\n");
    ASSERT_EQ(p.records.size(), 1U);
    EXPECT_EQ(p.records[0].op, cdm::document::Op::None);
    EXPECT_EQ(p.records[0].scope.txtPrefix, "v=spf1");
}

TEST(DomainErrors, OperatorsAndOpenFields) {
    const BadCase cases[] = {
        {"DMARC tag with an operator", "dmarc.p += reject", "is not a tag name"},
        {"none in a TLSA add", "cert = c\ntlsa += none", "only goes with '='"},
        {"none in a DKIM add", "dkim += none:d\n[dkim:d]", "only goes with '='"},
        {"DKIM without a key", "dkim = auto\n[dkim:d]", "write 'auto:NAME'"},
        {"open MX preference", "mx = h.a.test:*", "MX preference is missing in 'h.a.test:*'"},
        {"open SRV port", "srv.imap.tcp.* = t.a.test", "SRV port is missing"},
        {"open address", "ip4 = *", "A address is missing"},
    };
    for (const auto& c : cases) {
        try {
            plan(std::string("[domain:a.test]\n") + c.keys + "\n[cert:c]\n");
            ADD_FAILURE() << c.desc << ": no error";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Exit::Config) << c.desc;
            EXPECT_THAT(e.what(), HasSubstr(c.message)) << c.desc << ": " << e.what();
        }
    }
}

// cdm-ip's keys share the ip4/ip6 prefix but are not records, and are known keys.
TEST(DomainRecords, DetectionKeysAreNotAddresses) {
    LogCapture log;
    const auto p = plan("[domain:a.test]\nip4 = auto\nip4detect = interface:lo, https://ip.example\n"
                        "ip6detect = command:/usr/local/bin/myip -6\niptimeout = 2\n");
    ASSERT_EQ(p.records.size(), 1U);
    EXPECT_EQ(p.records[0].placeholder, "ip4");
    EXPECT_TRUE(log.lines.empty()) << log.all();
}
