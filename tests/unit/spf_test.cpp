#include <chrono>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "libcommon/error.hpp"
#include "libcommon/record.hpp"
#include "libcommon/spf.hpp"

#include "test_util.hpp"

namespace {

using cdm::Error;
using cdm::Exit;
using cdm::record::Record;
using cdm::record::Type;
using testing::AllOf;
using testing::ElementsAre;
using testing::HasSubstr;
namespace spf = cdm::spf;

// The DNS data a count reads, as a table: the input of the pure count(), not a server.
// Names are absolute and lower-case, as count() asks for them.
class Dns {
public:
    Dns& txt(const std::string& name, const std::string& text) {
        return add(name, Type::TXT, text);
    }
    Dns& a(const std::string& name, const std::string& address = "192.0.2.1") {
        return add(name, Type::A, address);
    }
    Dns& aaaa(const std::string& name) { return add(name, Type::AAAA, "2001:db8::1"); }
    Dns& mx(const std::string& name, const std::string& data) { return add(name, Type::MX, data); }
    Dns& add(const std::string& name, Type type, const std::string& data) {
        data_[{name, type}].push_back(data);
        return *this;
    }
    // Lookups of `name` `type` fail as a resolver that times out would.
    Dns& failing(const std::string& name, Type type) {
        failing_.emplace_back(name, type);
        return *this;
    }

    spf::Lookup lookup() {
        return [this](const std::string& name, Type type) {
            asked.emplace_back(name, type);
            for (const auto& f : failing_) {
                if (f.first == name && f.second == type) {
                    throw Error(Exit::Unavailable, "no answer from the DNS: timeout");
                }
            }
            const auto it = data_.find({name, type});
            return it == data_.end() ? std::vector<std::string>{} : it->second;
        };
    }
    spf::Count count(const std::string& text, const std::string& domain = "example.test") {
        return spf::count(text, domain, lookup());
    }
    // How often `name` `type` was asked.
    int timesAsked(const std::string& name, Type type) const {
        int n = 0;
        for (const auto& q : asked) {
            n += q.first == name && q.second == type ? 1 : 0;
        }
        return n;
    }

    std::vector<std::pair<std::string, Type>> asked;

private:
    std::map<std::pair<std::string, Type>, std::vector<std::string>> data_;
    std::vector<std::pair<std::string, Type>> failing_;
};

// "v=spf1 a:h1.example.test ... a:hN.example.test -all", with an A record for each host.
std::string aTerms(Dns& dns, const std::string& prefix, int n) {
    std::string text = "v=spf1";
    for (int i = 1; i <= n; ++i) {
        const std::string host = prefix + std::to_string(i) + ".example.test.";
        dns.a(host);
        text += " a:" + host;
    }
    return text + " -all";
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) {
        out += l + "\n";
    }
    return out;
}

// ---------------------------------------------------------------- selecting and parsing

TEST(SpfIsSpf, VersionAloneOrFollowedBySpace) {
    EXPECT_TRUE(spf::isSpf("v=spf1"));
    EXPECT_TRUE(spf::isSpf("v=spf1 -all"));
    EXPECT_TRUE(spf::isSpf("V=SPF1 a -all"));
    EXPECT_FALSE(spf::isSpf("v=spf10 -all")); // RFC 7208 §4.5's own example
    EXPECT_FALSE(spf::isSpf("spf2.0/pra include:a.test -all"));
    EXPECT_FALSE(spf::isSpf(" v=spf1 -all"));
    EXPECT_FALSE(spf::isSpf("v=DKIM1; p=abc"));
    EXPECT_FALSE(spf::isSpf(""));
}

TEST(SpfParse, EveryMechanismAndModifier) {
    const auto p =
        spf::parse("v=spf1 +a -mx:example.org/30 ~ptr ?ip4:192.0.2.0/24 ip6:2001:db8::/32 "
                   "include:_spf.example.test exists:%{i}._spf.%{d} a:mail.example.test//64 "
                   "mx/24//48 redirect=example.net exp=explain._spf.%{d} x-foo=%{l}bar -all");
    EXPECT_THAT(p.problems, ElementsAre());
    ASSERT_EQ(p.terms.size(), 13U);
    const auto& t = p.terms;
    EXPECT_EQ(t[0].kind, spf::Kind::A);
    EXPECT_EQ(t[0].qualifier, '+');
    EXPECT_EQ(t[0].target, "");
    EXPECT_EQ(t[1].kind, spf::Kind::Mx);
    EXPECT_EQ(t[1].qualifier, '-');
    EXPECT_EQ(t[1].target, "example.org");
    EXPECT_EQ(t[2].kind, spf::Kind::Ptr);
    EXPECT_EQ(t[2].qualifier, '~');
    EXPECT_EQ(t[3].kind, spf::Kind::Ip4);
    EXPECT_EQ(t[3].qualifier, '?');
    EXPECT_EQ(t[3].target, "192.0.2.0");
    EXPECT_EQ(t[4].kind, spf::Kind::Ip6);
    EXPECT_EQ(t[4].target, "2001:db8::");
    EXPECT_EQ(t[5].kind, spf::Kind::Include);
    EXPECT_EQ(t[5].target, "_spf.example.test");
    EXPECT_FALSE(t[5].macro);
    EXPECT_EQ(t[6].kind, spf::Kind::Exists);
    EXPECT_EQ(t[6].target, "%{i}._spf.%{d}");
    EXPECT_TRUE(t[6].macro);
    EXPECT_EQ(t[7].kind, spf::Kind::A);
    EXPECT_EQ(t[7].target, "mail.example.test");
    EXPECT_EQ(t[8].kind, spf::Kind::Mx);
    EXPECT_EQ(t[8].target, "");
    EXPECT_EQ(t[9].kind, spf::Kind::Redirect);
    EXPECT_EQ(t[9].target, "example.net");
    EXPECT_EQ(t[10].kind, spf::Kind::Exp);
    EXPECT_TRUE(t[10].macro);
    EXPECT_EQ(t[11].kind, spf::Kind::Unknown);
    EXPECT_EQ(t[11].target, "%{l}bar");
    EXPECT_EQ(t[12].kind, spf::Kind::All);
    EXPECT_EQ(t[12].qualifier, '-');
    EXPECT_EQ(t[12].text, "-all");
}

TEST(SpfParse, NamesAreCaseInsensitiveAndSpacesRepeat) {
    const auto p = spf::parse("V=Spf1  INCLUDE:_spf.Example.Test   Redirect=b.test  ");
    EXPECT_THAT(p.problems, ElementsAre());
    ASSERT_EQ(p.terms.size(), 2U);
    EXPECT_EQ(p.terms[0].kind, spf::Kind::Include);
    EXPECT_EQ(p.terms[1].kind, spf::Kind::Redirect);
}

TEST(SpfParse, EdgesThatAreWellFormed) {
    // Domain-specs ending in a macro, a trailing dot, a hyphenated numeric top label, the
    // literal macros %% %_ %-, CIDR lengths 0 and the maxima, an IPv4-mapped IPv6 address.
    const auto p =
        spf::parse("v=spf1 include:%{d} a:mail.example.test. a:x.1-2 exists:%{ir}.%{l1r+-}.x.test "
                   "exists:a%%b.x.test a/0 a/32//128 ip4:0.0.0.0/0 ip4:255.255.255.255/32 "
                   "ip6:::ffff:192.0.2.1/128 ip6:::/0 foo= bar.baz-1_x=%_%-");
    EXPECT_THAT(p.problems, ElementsAre());
    EXPECT_EQ(p.terms.size(), 13U);
}

// Each malformed term: one problem that quotes it, the rest of the record still read.
TEST(SpfParse, SyntaxProblemsQuoteTheTerm) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"aaaa",
         "'aaaa' is not a mechanism of RFC 7208 (the a mechanism matches AAAA records too)"},
        {"+aaaa:mail.example.test", "is not a mechanism"},
        {"ip", "'ip' is not a mechanism"},
        {"a/33", "IPv4 CIDR length '33' is not from 0 to 32"},
        {"a/024", "IPv4 CIDR length '024' is not a number from 0 to 32 without leading zeros"},
        {"mx//129", "IPv6 CIDR length '129' is not from 0 to 128"},
        {"a/24/64", "an IPv6 CIDR length follows '//'"},
        {"a/", "IPv4 CIDR length '' is not a number"},
        {"a:mail.example.test/24//", "IPv6 CIDR length '' is not a number"},
        {"ip4:192.0.2.300", "'192.0.2.300' is not an IPv4 address"},
        {"ip4:01.2.3.4", "'01.2.3.4' is not an IPv4 address"},
        {"ip4:192.0.2", "'192.0.2' is not an IPv4 address"},
        {"ip4:192.0.2.0/33", "IPv4 CIDR length '33'"},
        {"ip4", "'ip4' needs ':' and an address"},
        {"ip6:2001:db8::/129", "IPv6 CIDR length '129'"},
        {"ip6:2001:zz8::1", "'2001:zz8::1' is not an IPv6 address"},
        {"ip6:192.0.2.1", "is not an IPv6 address"},
        {"include", "'include' needs ':' and a domain"},
        {"include:", "no domain after ':' or '='"},
        {"include:localhost", "'localhost' is not a domain with at least two labels"},
        {"include:192.0.2.1", "does not end in a top label"},
        {"include:_spf.example.test/24", "'include' takes no CIDR length"},
        {"exists", "'exists' needs ':' and a domain"},
        {"ptr/24", "'ptr' takes no CIDR length"},
        {"all:example.test", "'all' takes no argument"},
        {"-all/24", "'all' takes no argument"},
        {"+redirect=example.test", "a modifier takes no qualifier"},
        {"-", "a qualifier without a mechanism"},
        {"redirect=", "no domain after ':' or '='"},
        {"redirect=localhost", "not a domain with at least two labels"},
        {"exists:%{x}.example.test", "the macro '%{x}' has no macro letter"},
        {"exists:%{c}.example.test",
         "the macro '%{c}' is allowed in explanation text only (RFC 7208 §7.2)"},
        {"exists:%{d0}.example.test", "keeps zero parts"},
        {"exists:%{d2q}.example.test", "is not letter, digits, 'r', delimiters"},
        {"exists:%{d.example.test", "has no '}'"},
        {"exists:100%.example.test", "'%.' is not a macro"},
        {"exists:a.example.test%", "a '%' at the end"},
        {"a:a..example.test", "is not a valid domain name"},
        {"include:" + std::string(64, 'x') + ".example.test", "is not a valid domain name"},
        {"a:mail\texample.test", "a character outside printable ASCII"},
        {"v=spf1", "a second 'v=spf1': two records joined into one?"},
    };
    for (const auto& [term, expected] : cases) {
        SCOPED_TRACE(term);
        const auto p = spf::parse("v=spf1 ip4:192.0.2.1 " + term + " -all");
        ASSERT_EQ(p.problems.size(), 1U) << joined(p.problems);
        EXPECT_THAT(p.problems[0], HasSubstr("'" + term + "': "));
        EXPECT_THAT(p.problems[0], HasSubstr(expected));
        ASSERT_EQ(p.terms.size(), 2U);
        EXPECT_EQ(p.terms[0].kind, spf::Kind::Ip4);
        EXPECT_EQ(p.terms[1].kind, spf::Kind::All);
    }
}

TEST(SpfParse, ModifiersAtMostOnce) {
    auto p = spf::parse("v=spf1 redirect=a.example.test redirect=b.example.test");
    ASSERT_EQ(p.problems.size(), 1U);
    EXPECT_EQ(
        p.problems[0],
        "'redirect=b.example.test': redirect= given a second time (a permerror, RFC 7208 §6)");
    ASSERT_EQ(p.terms.size(), 1U);
    EXPECT_EQ(p.terms[0].target, "a.example.test");

    p = spf::parse("v=spf1 exp=a.example.test -all EXP=b.example.test");
    ASSERT_EQ(p.problems.size(), 1U);
    EXPECT_THAT(p.problems[0], HasSubstr("'EXP=b.example.test': exp= given a second time"));

    // Unknown modifiers may repeat; receivers ignore them (§6).
    EXPECT_THAT(spf::parse("v=spf1 foo=1 foo=2 -all").problems, ElementsAre());
}

TEST(SpfParse, RecordThatIsNotSpf) {
    auto p = spf::parse("spf2.0/pra a -all");
    ASSERT_GE(p.problems.size(), 1U);
    EXPECT_EQ(p.problems[0], "'spf2.0/pra': the record does not start with 'v=spf1'");
    p = spf::parse("");
    ASSERT_EQ(p.problems.size(), 1U);
    EXPECT_EQ(p.problems[0], "'': the record does not start with 'v=spf1'");
    EXPECT_THAT(spf::parse("v=spf1").problems, ElementsAre());
}

// The original's example configuration wrote `spf = ?all, -mx, aaaa` and modifiers with "+".
TEST(SpfParse, TheOriginalsRecords) {
    auto p = spf::parse("v=spf1 +aaaa -mx ?all");
    ASSERT_EQ(p.problems.size(), 1U);
    EXPECT_THAT(p.problems[0], HasSubstr("'+aaaa': 'aaaa' is not a mechanism of RFC 7208"));
    p = spf::parse("v=spf1 +mx +redirect=_spf.example.test");
    ASSERT_EQ(p.problems.size(), 1U);
    EXPECT_EQ(p.problems[0], "'+redirect=_spf.example.test': a modifier takes no qualifier");
}

// ---------------------------------------------------------------- counting

TEST(SpfCount, AllIp4Ip6CostNothing) {
    Dns dns;
    const auto c = dns.count("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ip4:198.51.100.7 -all");
    EXPECT_EQ(c.lookups, 0U);
    EXPECT_EQ(c.voidLookups, 0U);
    EXPECT_THAT(c.problems, ElementsAre());
    EXPECT_THAT(c.notes, ElementsAre());
    EXPECT_TRUE(c.complete);
    EXPECT_FALSE(c.permerror());
    EXPECT_THAT(dns.asked, ElementsAre());
    EXPECT_THAT(spf::warnings(c, "example.test"), ElementsAre());
}

// RFC 7208 Appendix A: example.com with MX mail-a and mail-b and addresses; example.org with
// an MX (mail-c) but no address of its own.
Dns appendixA() {
    Dns dns;
    dns.mx("example.com.", "10 mail-a.example.com.").mx("example.com.", "20 mail-b.example.com.");
    dns.a("example.com.", "192.0.2.10").a("example.com.", "192.0.2.11");
    dns.a("amy.example.com.", "192.0.2.65").a("bob.example.com.", "192.0.2.66");
    dns.a("mail-a.example.com.", "192.0.2.129").a("mail-b.example.com.", "192.0.2.130");
    dns.mx("example.org.", "10 mail-c.example.org.").a("mail-c.example.org.", "192.0.2.140");
    return dns;
}

TEST(SpfCount, AppendixASimpleExamples) {
    struct Case {
        const char* text;
        unsigned lookups;
        unsigned voids;
    };
    const Case cases[] = {
        {"v=spf1 +all", 0, 0},
        {"v=spf1 a -all", 1, 0},
        {"v=spf1 a:example.org -all", 1, 1}, // example.org has no A or AAAA: a void lookup
        {"v=spf1 mx -all", 1, 0},
        {"v=spf1 mx:example.org -all", 1, 0},
        {"v=spf1 mx mx:example.org -all", 2, 0},
        {"v=spf1 mx/30 mx:example.org/30 -all", 2, 0},
        {"v=spf1 ptr -all", 1, 0},
        {"v=spf1 ip4:192.0.2.128/28 -all", 0, 0},
    };
    for (const auto& k : cases) {
        SCOPED_TRACE(k.text);
        Dns dns = appendixA();
        const auto c = dns.count(k.text, "example.com");
        EXPECT_EQ(c.lookups, k.lookups);
        EXPECT_EQ(c.voidLookups, k.voids);
        EXPECT_THAT(c.problems, ElementsAre());
        EXPECT_FALSE(c.overLimit());
    }
    Dns dns = appendixA();
    EXPECT_THAT(dns.count("v=spf1 +all", "example.com").notes,
                ElementsAre("'+all' lets every host on the Internet send mail as 'example.com.'"));
    EXPECT_THAT(dns.count("v=spf1 ptr -all", "example.com").notes,
                ElementsAre(HasSubstr("'ptr': ptr is slow and unreliable, RFC 7208 §5.5")));
}

TEST(SpfCount, AppendixAMultipleDomains) {
    Dns dns = appendixA();
    dns.txt("example.com.", "v=spf1 mx -all");
    dns.txt("example.net.", "v=spf1 ip4:192.0.2.128/28 a:amy.example.com -all");
    dns.txt("example.org.", "v=spf1 include:example.com include:example.net -all");
    // la.example.org: redirect to example.org: 1 + example.org's 2 + example.com's mx + amy's a.
    const auto c = dns.count("v=spf1 redirect=example.org", "la.example.org");
    EXPECT_EQ(c.lookups, 5U);
    EXPECT_EQ(c.voidLookups, 0U);
    EXPECT_THAT(c.problems, ElementsAre());
    EXPECT_TRUE(c.complete);
    EXPECT_EQ(dns.timesAsked("example.org.", Type::TXT), 1);
    EXPECT_EQ(dns.timesAsked("example.com.", Type::MX), 1);
}

TEST(SpfCount, AppendixADnsblStyleMacrosAreCountedNotFollowed) {
    Dns dns = appendixA();
    const auto c =
        dns.count("v=spf1 mx include:mobile-users._spf.%{d} include:remote-users._spf.%{d} -all",
                  "example.com");
    EXPECT_EQ(c.lookups, 3U);
    EXPECT_FALSE(c.complete);
    EXPECT_THAT(c.problems, ElementsAre());
    EXPECT_THAT(c.notes,
                ElementsAre("'include:mobile-users._spf.%{d}' has a macro: counted as one lookup, "
                            "not expanded or followed",
                            HasSubstr("'include:remote-users._spf.%{d}' has a macro")));
    EXPECT_THAT(dns.asked, ElementsAre(std::make_pair(std::string("example.com."), Type::MX)));

    // The included records of the example: exists with macros, one lookup each, not asked.
    Dns dns2;
    const auto e = dns2.count("v=spf1 exists:%{ir}.%{l1r+}.%{d}", "remote-users._spf.example.com");
    EXPECT_EQ(e.lookups, 1U);
    EXPECT_TRUE(e.complete); // an exists that is not asked can only hide a void lookup
    EXPECT_THAT(dns2.asked, ElementsAre());
}

TEST(SpfCount, AppendixAMultipleRequirements) {
    Dns dns;
    const auto c =
        dns.count("v=spf1 -include:ip4._spf.%{d} -include:ptr._spf.%{d} +all", "example.com");
    EXPECT_EQ(c.lookups, 2U);
    EXPECT_THAT(c.notes, testing::Contains(HasSubstr("'+all' lets every host")));
}

TEST(SpfCount, TenLookupsAreWithinTheLimitElevenAreOver) {
    Dns dns;
    // Two includes (2) + 4 a terms in the first + 2 a and an mx in the second + the top's own
    // a and mx: 2 + 4 + 3 + 2 = 11; without the top's mx, 10.
    dns.txt("s1.example.test.", aTerms(dns, "h", 4));
    dns.txt("s2.example.test.", "v=spf1 a:g1.example.test a:g2.example.test mx:example.test ~all");
    dns.a("g1.example.test.").a("g2.example.test.").a("example.test.");
    dns.mx("example.test.", "10 mail.example.test.");

    const auto ten = dns.count("v=spf1 include:s1.example.test include:s2.example.test a -all");
    EXPECT_EQ(ten.lookups, 10U);
    EXPECT_EQ(ten.voidLookups, 0U);
    EXPECT_FALSE(ten.overLimit());
    EXPECT_FALSE(ten.permerror());
    EXPECT_THAT(spf::warnings(ten, "example.test"), ElementsAre());

    const auto eleven =
        dns.count("v=spf1 include:s1.example.test include:s2.example.test a mx -all");
    EXPECT_EQ(eleven.lookups, 11U);
    EXPECT_TRUE(eleven.overLimit());
    EXPECT_TRUE(eleven.permerror());
    EXPECT_THAT(eleven.problems, ElementsAre());
    EXPECT_THAT(
        spf::warnings(eleven, "example.test"),
        ElementsAre("SPF record at 'example.test.' needs 11 DNS lookups, over the limit of 10 "
                    "(RFC 7208 §4.6.4)"));
}

TEST(SpfCount, TwoVoidLookupsAreWithinTheLimitThreeAreOver) {
    Dns dns;
    dns.a("host.example.test.");      // an address but no MX
    dns.aaaa("v6only.example.test."); // an AAAA but no A: a matches it, not void
    dns.a("listed.dnsbl.example.test.");
    const auto two =
        dns.count("v=spf1 a:v6only.example.test a:gone.example.test mx:host.example.test "
                  "exists:listed.dnsbl.example.test -all");
    EXPECT_EQ(two.lookups, 4U);
    EXPECT_EQ(two.voidLookups, 2U);
    EXPECT_FALSE(two.overLimit());
    EXPECT_THAT(spf::warnings(two, "example.test"), ElementsAre());

    const auto three = dns.count("v=spf1 a:gone.example.test mx:host.example.test "
                                 "exists:unlisted.dnsbl.example.test -all");
    EXPECT_EQ(three.lookups, 3U);
    EXPECT_EQ(three.voidLookups, 3U);
    EXPECT_TRUE(three.overLimit());
    EXPECT_THAT(
        spf::warnings(three, "example.test"),
        ElementsAre("SPF record at 'example.test.' makes 3 void lookups, over the limit of 2 "
                    "(RFC 7208 §4.6.4)"));
    // exists asks for A only (RFC 7208 §5.7), a for A then AAAA (once in each count).
    EXPECT_EQ(dns.timesAsked("unlisted.dnsbl.example.test.", Type::AAAA), 0);
    EXPECT_EQ(dns.timesAsked("gone.example.test.", Type::AAAA), 2);
    EXPECT_EQ(dns.timesAsked("v6only.example.test.", Type::AAAA), 1);
}

TEST(SpfCount, IncludeOfANameWithoutTxtIsVoidAndAPermerror) {
    Dns dns;
    const auto c = dns.count("v=spf1 include:_spf.gone.example.test -all");
    EXPECT_EQ(c.lookups, 1U);
    EXPECT_EQ(c.voidLookups, 1U);
    EXPECT_TRUE(c.permerror());
    EXPECT_THAT(c.problems,
                ElementsAre("'include:_spf.gone.example.test': no TXT record at "
                            "'_spf.gone.example.test.' (a void lookup; the include is a "
                            "permerror, RFC 7208 §5.2)"));
    EXPECT_THAT(
        spf::warnings(c, "example.test."),
        ElementsAre(
            "SPF record at 'example.test.': 'include:_spf.gone.example.test': no TXT record "
            "at '_spf.gone.example.test.' (a void lookup; the include is a permerror, "
            "RFC 7208 §5.2)"));
}

TEST(SpfCount, IncludeTargetWithNoneOrSeveralSpfRecords) {
    Dns dns;
    dns.txt("verify.example.test.", "google-site-verification=abc");
    dns.txt("two.example.test.", "v=spf1 a -all").txt("two.example.test.", "v=spf1 mx -all");
    dns.txt("one.example.test.", "v=spf1 -all").txt("one.example.test.", "something else");
    auto c = dns.count("v=spf1 include:verify.example.test -all");
    EXPECT_EQ(c.lookups, 1U);
    EXPECT_EQ(c.voidLookups, 0U); // there was an answer, just no SPF record in it
    EXPECT_THAT(c.problems,
                ElementsAre(HasSubstr("'include:verify.example.test': no SPF records at "
                                      "'verify.example.test.' (the include is a permerror, "
                                      "RFC 7208 §4.5)")));
    c = dns.count("v=spf1 include:two.example.test -all");
    EXPECT_EQ(c.lookups, 1U); // not evaluated further: a receiver stops with permerror
    EXPECT_THAT(c.problems, ElementsAre(HasSubstr("2 SPF records at 'two.example.test.'")));
    c = dns.count("v=spf1 redirect=one.example.test");
    EXPECT_EQ(c.lookups, 1U);
    EXPECT_THAT(c.problems, ElementsAre());
}

TEST(SpfCount, NestedIncludesAreCountedWithTheirContext) {
    Dns dns;
    dns.txt("l1.example.test.", "v=spf1 include:l2.example.test a ~all");
    dns.txt("l2.example.test.", "v=spf1 include:l3.example.test mx -all");
    dns.txt("l3.example.test.",
            "v=spf1 exists:e.example.test aaaa ptr:example.test ip4:192.0.2.0/24 -all");
    dns.a("l1.example.test.").mx("l2.example.test.", "0 .").a("e.example.test.", "127.0.0.2");
    const auto c = dns.count("v=spf1 include:l1.example.test -all");
    // include l1, include l2, a, include l3, mx, exists, ptr
    EXPECT_EQ(c.lookups, 7U);
    EXPECT_EQ(c.voidLookups, 0U);
    EXPECT_THAT(c.problems,
                ElementsAre("in the SPF record at 'l3.example.test.': 'aaaa': 'aaaa' is not a "
                            "mechanism of RFC 7208 (the a mechanism matches AAAA records too)"));
    EXPECT_THAT(
        c.notes,
        ElementsAre("in the SPF record at 'l3.example.test.': 'ptr:example.test': ptr is slow "
                    "and unreliable, RFC 7208 §5.5 says not to use it"));
    // a and mx without a domain mean the included record's own domain (RFC 7208 §5.3, §5.4).
    EXPECT_EQ(dns.timesAsked("l1.example.test.", Type::A), 1);
    EXPECT_EQ(dns.timesAsked("l2.example.test.", Type::MX), 1);
}

TEST(SpfCount, ATargetReachedTwiceCostsTwiceButIsReadOnce) {
    Dns dns;
    dns.txt("shared.example.test.", "v=spf1 a:gone.example.test mx:gone.example.test -all");
    dns.txt("b.example.test.", "v=spf1 include:shared.example.test -all");
    const auto c = dns.count("v=spf1 include:shared.example.test include:b.example.test -all");
    EXPECT_EQ(c.lookups, 1 + 2 + 1 + 1 + 2U);
    EXPECT_EQ(c.voidLookups, 4U);
    EXPECT_EQ(dns.timesAsked("shared.example.test.", Type::TXT), 1);
    EXPECT_EQ(dns.timesAsked("gone.example.test.", Type::A), 1);
}

TEST(SpfCount, RedirectWithoutAllIsFollowed) {
    Dns dns;
    dns.txt("_spf.example.net.", "v=spf1 a:mail.example.net mx:example.net -all");
    dns.a("mail.example.net.").mx("example.net.", "10 mail.example.net.");
    const auto c = dns.count("v=spf1 ip4:192.0.2.1 a redirect=_spf.example.net");
    EXPECT_EQ(c.lookups, 4U);     // a, redirect, and the target's a and mx
    EXPECT_EQ(c.voidLookups, 1U); // example.test. has no address in this table
    EXPECT_THAT(c.notes, ElementsAre());

    Dns none;
    const auto v = none.count("v=spf1 redirect=_spf.gone.example.net");
    EXPECT_EQ(v.lookups, 1U);
    EXPECT_EQ(v.voidLookups, 1U);
    EXPECT_THAT(v.problems, ElementsAre(HasSubstr("the redirect is a permerror, RFC 7208 §6.1")));
}

TEST(SpfCount, RedirectBesideAllIsIgnored) {
    Dns dns;
    dns.txt("_spf.example.net.", "v=spf1 a mx ptr -all");
    const auto c = dns.count("v=spf1 mx redirect=_spf.example.net ~all");
    EXPECT_EQ(c.lookups, 1U);
    EXPECT_THAT(
        c.notes,
        testing::Contains("'redirect=_spf.example.net' is ignored beside 'all' (RFC 7208 §6.1)"));
    EXPECT_EQ(dns.timesAsked("_spf.example.net.", Type::TXT), 0);
}

TEST(SpfCount, TermsAfterAllAreNeverEvaluated) {
    Dns dns;
    const auto c = dns.count("v=spf1 -all include:_spf.example.net a exp=explain.example.test mx");
    EXPECT_EQ(c.lookups, 0U);
    EXPECT_THAT(c.notes,
                ElementsAre("'include:_spf.example.net a mx' after 'all' is never evaluated"));
    EXPECT_THAT(dns.asked, ElementsAre());
}

TEST(SpfCount, IncludeLoopIsAProblemAndEnds) {
    Dns dns;
    dns.txt("a.example.test.", "v=spf1 include:b.example.test -all");
    dns.txt("b.example.test.", "v=spf1 mx include:a.example.test -all");
    dns.mx("b.example.test.", "10 mail.example.test.");
    const auto c = dns.count("v=spf1 include:b.example.test -all", "a.example.test");
    EXPECT_EQ(c.lookups, 3U);
    EXPECT_TRUE(c.permerror());
    EXPECT_THAT(c.problems,
                ElementsAre("in the SPF record at 'b.example.test.': 'include:a.example.test': "
                            "include loop a.example.test. -> b.example.test. -> a.example.test. "
                            "(receivers stop at the lookup limit with permerror)"));
    EXPECT_EQ(dns.timesAsked("a.example.test.", Type::TXT), 0); // the counted record itself

    Dns self;
    const auto r = self.count("v=spf1 redirect=Example.Test.");
    EXPECT_EQ(r.lookups, 1U);
    EXPECT_THAT(r.problems, ElementsAre(HasSubstr("redirect loop example.test. -> example.test.")));
}

TEST(SpfCount, DepthIsCapped) {
    Dns dns;
    for (int i = 1; i <= 15; ++i) {
        dns.txt("l" + std::to_string(i) + ".example.test.",
                "v=spf1 include:l" + std::to_string(i + 1) + ".example.test -all");
    }
    const auto c = dns.count("v=spf1 include:l1.example.test -all");
    // The counted record and 10 nested ones each count their include; l11 is not read.
    EXPECT_EQ(c.lookups, 11U);
    EXPECT_TRUE(c.overLimit());
    EXPECT_THAT(
        c.problems,
        ElementsAre("in the SPF record at 'l10.example.test.': 'include:l11.example.test': "
                    "includes and redirects nested more than 10 deep, not followed further"));
    EXPECT_EQ(dns.timesAsked("l10.example.test.", Type::TXT), 1);
    EXPECT_EQ(dns.timesAsked("l11.example.test.", Type::TXT), 0);
}

TEST(SpfCount, ManyBranchesEndAndSaturate) {
    // Each level includes the next ten times: 10^10 lookups if evaluated out, which the
    // memo turns into 10 TXT lookups and the count saturates at UINT_MAX instead of wrapping.
    Dns dns;
    for (int i = 1; i <= 10; ++i) {
        std::string text = "v=spf1";
        for (int j = 0; j < 10; ++j) {
            text += " include:l" + std::to_string(i + 1) + ".example.test";
        }
        dns.txt("l" + std::to_string(i) + ".example.test.", text + " -all");
    }
    dns.txt("l11.example.test.", "v=spf1 -all");
    std::string top = "v=spf1";
    for (int j = 0; j < 10; ++j) {
        top += " include:l1.example.test";
    }
    const auto c = dns.count(top + " -all");
    EXPECT_EQ(c.lookups, std::numeric_limits<unsigned>::max());
    EXPECT_TRUE(c.overLimit());
    EXPECT_LE(dns.asked.size(), 11U);
}

TEST(SpfCount, MxWithMoreThanTenNames) {
    Dns dns;
    for (int i = 1; i <= 11; ++i) {
        dns.mx("eleven.example.test.",
               std::to_string(i) + " mx" + std::to_string(i) + ".example.test.");
        if (i <= 10) {
            dns.mx("ten.example.test.",
                   std::to_string(i) + " mx" + std::to_string(i) + ".example.test.");
        }
    }
    auto c = dns.count("v=spf1 mx:ten.example.test -all");
    EXPECT_EQ(c.lookups, 1U);
    EXPECT_THAT(c.problems, ElementsAre());
    c = dns.count("v=spf1 mx:eleven.example.test -all");
    EXPECT_EQ(c.lookups, 1U);
    EXPECT_TRUE(c.permerror());
    EXPECT_FALSE(c.overLimit());
    EXPECT_THAT(c.problems,
                ElementsAre("'mx:eleven.example.test': 'eleven.example.test.' has 11 MX records, "
                            "over the limit of 10 (a permerror, RFC 7208 §4.6.4)"));
}

TEST(SpfCount, MacrosInATargetsAreNotAsked) {
    Dns dns;
    const auto c = dns.count(
        "v=spf1 a:%{d}.example.test mx:%{h}.example.test exists:%{i}.bl.example.test -all");
    EXPECT_EQ(c.lookups, 3U);
    EXPECT_EQ(c.voidLookups, 0U);
    EXPECT_TRUE(c.complete);
    EXPECT_EQ(c.notes.size(), 3U);
    EXPECT_THAT(dns.asked, ElementsAre());
}

TEST(SpfCount, SyntaxProblemsOfTheRecordItself) {
    Dns dns;
    dns.a("example.test.");
    const auto c =
        dns.count("v=spf1 +aaaa a/33 a redirect=x.example.test redirect=y.example.test v=spf1");
    EXPECT_EQ(c.lookups, 1 + 1U); // a, and the first redirect (x has no TXT: a void lookup)
    EXPECT_EQ(c.voidLookups, 1U);
    EXPECT_THAT(c.problems,
                ElementsAre(HasSubstr("'+aaaa': 'aaaa' is not a mechanism"),
                            HasSubstr("'a/33': IPv4 CIDR length '33'"),
                            HasSubstr("'redirect=y.example.test': redirect= given a second time"),
                            HasSubstr("'v=spf1': a second 'v=spf1'"),
                            HasSubstr("'redirect=x.example.test': no TXT record")));
    EXPECT_TRUE(c.permerror());
    EXPECT_FALSE(c.overLimit());
    const auto w = spf::warnings(c, "example.test");
    ASSERT_EQ(w.size(), 5U);
    EXPECT_EQ(w[0], "SPF record at 'example.test.': '+aaaa': 'aaaa' is not a mechanism of RFC 7208 "
                    "(the a mechanism matches AAAA records too)");
}

TEST(SpfCount, ProblemsInAnIncludedRecordAreReportedOnce) {
    Dns dns;
    dns.txt("bad.example.test.", "v=spf1 a/99 -all");
    const auto c = dns.count("v=spf1 include:bad.example.test include:bad.example.test -all");
    EXPECT_EQ(c.lookups, 2U);
    EXPECT_THAT(c.problems,
                ElementsAre("in the SPF record at 'bad.example.test.': 'a/99': IPv4 CIDR length "
                            "'99' is not from 0 to 32"));
}

TEST(SpfCount, FailedLookupsAreNotedAndMakeTheCountALowerBound) {
    Dns dns;
    dns.failing("_spf.slow.example.test.", Type::TXT).failing("slow.example.test.", Type::A);
    auto c = dns.count("v=spf1 a:slow.example.test -all");
    EXPECT_EQ(c.lookups, 1U);
    EXPECT_EQ(c.voidLookups, 0U);
    EXPECT_TRUE(c.complete); // only a void lookup could be missing
    EXPECT_THAT(c.notes,
                ElementsAre("the A lookup of 'slow.example.test.' failed, not counted as void: "
                            "no answer from the DNS: timeout"));

    c = dns.count("v=spf1 include:_spf.slow.example.test a:h1.example.test a:h2.example.test "
                  "a:h3.example.test a:h4.example.test a:h5.example.test a:h6.example.test "
                  "a:h7.example.test a:h8.example.test a:h9.example.test a:h10.example.test -all");
    EXPECT_EQ(c.lookups, 11U);
    EXPECT_FALSE(c.complete);
    EXPECT_THAT(c.problems, ElementsAre());
    EXPECT_THAT(
        spf::warnings(c, "example.test"),
        ElementsAre(
            "SPF record at 'example.test.' needs at least 11 DNS lookups, over the limit of 10 "
            "(RFC 7208 §4.6.4)",
            "SPF record at 'example.test.' makes at least 10 void lookups, over the limit of 2 "
            "(RFC 7208 §4.6.4)"));
}

TEST(SpfCount, TooManyTargetsStopFollowing) {
    Dns dns;
    std::string top = "v=spf1";
    for (unsigned i = 0; i <= spf::maxRecords; ++i) {
        const std::string name = "t" + std::to_string(i) + ".example.test.";
        dns.txt(name, "v=spf1 -all");
        top += " include:" + name;
    }
    const auto c = dns.count(top + " -all");
    EXPECT_EQ(c.lookups, spf::maxRecords + 1);
    EXPECT_FALSE(c.complete);
    EXPECT_THAT(c.notes,
                ElementsAre("more than 100 include and redirect targets, the rest not followed"));
    EXPECT_EQ(dns.asked.size(), spf::maxRecords);
}

TEST(SpfCount, NamesAreCompared) {
    Dns dns;
    dns.txt("b.example.test.", "v=spf1 a -all").a("b.example.test.");
    const auto c = dns.count("V=SPF1 INCLUDE:B.Example.Test. -ALL", "Example.Test");
    EXPECT_EQ(c.lookups, 2U);
    EXPECT_EQ(c.voidLookups, 0U);
    EXPECT_THAT(c.problems, ElementsAre());
}

TEST(SpfCount, BadDomainIsADataError) {
    Dns dns;
    std::string message;
    EXPECT_EQ(cdm::test::codeOf([&] { dns.count("v=spf1 -all", "a..example.test"); }, &message),
              Exit::DataErr);
    EXPECT_THAT(message, HasSubstr("SPF record at 'a..example.test'"));
}

// The DNS entry point: records about to be published answer before the DNS, and a DNS that
// cannot be reached is noted, not thrown. Nothing listens on 127.0.0.1 port 9 here (discard
// is not run), so every query is refused at once.
TEST(SpfCountDns, PendingRecordsAnswerFirst) {
    cdm::resolve::Options options;
    options.servers.push_back(cdm::resolve::parseServer("127.0.0.1:9"));
    options.timeout = std::chrono::milliseconds(300);
    const std::vector<Record> pending = {
        Record::make("_spf.example.test.", Type::TXT, 300,
                     "\"v=spf1 a:mail.example.test \" \"mx -all\""),
        Record::make("mail.example.test.", Type::A, 300, "192.0.2.25"),
        Record::make("_spf.example.test.", Type::MX, 300, "10 mail.example.test."),
    };
    auto c = spf::count("v=spf1 include:_spf.example.test -all", "example.test", options, pending);
    EXPECT_EQ(c.lookups, 3U);
    EXPECT_EQ(c.voidLookups, 0U);
    EXPECT_TRUE(c.complete);
    EXPECT_THAT(c.notes, ElementsAre());
    EXPECT_THAT(c.problems, ElementsAre());

    c = spf::count("v=spf1 include:_spf.other.test -all", "example.test", options, pending);
    EXPECT_EQ(c.lookups, 1U);
    EXPECT_FALSE(c.complete);
    EXPECT_THAT(c.notes, ElementsAre(AllOf(HasSubstr("the TXT lookup of '_spf.other.test.' failed"),
                                           HasSubstr("no answer from the DNS"))));
}

} // namespace
