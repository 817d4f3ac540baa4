// Tests of libcommon/dnsapply's configuration defaults: the [cdm] keys that let
// cryptdomainmgr(8) run cdm-dns-apply and cdm-cert without DNS flags.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libcommon/configdoc.hpp"
#include "libcommon/dnsapply.hpp"
#include "libcommon/error.hpp"

using cdm::dnsapply::Request;
namespace json = boost::json;

namespace {

json::object documentOf(const std::string& content) {
    return cdm::configdoc::run({{}, content}).document;
}

} // namespace

TEST(DnsApplyConfig, CdmKeysFillWhatTheCommandLineLeftOpen) {
    const auto doc = documentOf("[cdm]  resolver = 127.0.0.1:24301, [::1]:24301  nsport = 24300"
                                "  trustanchor = /tmp/ta.ds  verifyserver = 127.0.0.2:53  dnstimeout = 42");
    Request r;
    cdm::dnsapply::applyConfig(r, doc);
    ASSERT_EQ(r.resolver.servers.size(), 2U);
    EXPECT_EQ(r.resolver.servers[0].address, "127.0.0.1");
    EXPECT_EQ(r.resolver.servers[0].port, 24301);
    EXPECT_EQ(r.resolver.servers[1].address, "::1");
    EXPECT_EQ(r.nsPort, 24300);
    EXPECT_EQ(r.trustAnchorFile, "/tmp/ta.ds");
    EXPECT_EQ(r.resolver.trustAnchorFile, "/tmp/ta.ds") << "zone finding validates too";
    ASSERT_EQ(r.verifyServers.size(), 1U);
    EXPECT_EQ(r.verifyServers[0].address, "127.0.0.2");
    EXPECT_EQ(r.verifyTimeout, std::chrono::seconds(42));
}

TEST(DnsApplyConfig, TheCommandLineWins) {
    const auto doc = documentOf("[cdm]  resolver = 127.0.0.1:24301  nsport = 24300  dnstimeout = 42");
    Request r;
    r.resolver.servers.push_back(cdm::resolve::parseServer("127.0.0.9:53"));
    r.nsPort = 53;
    r.nsPortGiven = true;
    r.verifyTimeout = std::chrono::seconds(7);
    r.verifyTimeoutGiven = true;
    cdm::dnsapply::applyConfig(r, doc);
    ASSERT_EQ(r.resolver.servers.size(), 1U);
    EXPECT_EQ(r.resolver.servers[0].address, "127.0.0.9");
    EXPECT_EQ(r.nsPort, 53) << "--ns-port 53 given explicitly is kept";
    EXPECT_EQ(r.verifyTimeout, std::chrono::seconds(7));
}

TEST(DnsApplyConfig, NothingConfiguredChangesNothing) {
    Request r;
    cdm::dnsapply::applyConfig(r, documentOf("[domain:a.test]  ip4 = 192.0.2.1"));
    EXPECT_TRUE(r.resolver.servers.empty());
    EXPECT_EQ(r.nsPort, 53);
    EXPECT_EQ(r.verifyTimeout, std::chrono::minutes(5));
}

TEST(DnsApplyConfig, ABadValueNamesItsLine) {
    for (const std::string content : {"[cdm]\nnsport = 70000\n", "[cdm]\ndnstimeout = soon\n",
                                      "[cdm]\nresolver = not an address\n"}) {
        Request r;
        try {
            cdm::dnsapply::applyConfig(r, cdm::configdoc::run({{}, content}).document);
            ADD_FAILURE() << "accepted: " << content;
        } catch (const cdm::Error& e) {
            EXPECT_EQ(e.code(), cdm::Exit::Config) << content;
            EXPECT_EQ(e.where().toString(), "<config-content>:2") << content;
        }
    }
}
