// Tests of libcommon/dnsverify's pure parts; verify() itself runs against the test bed's
// servers in tests/cli/cdm-dns-apply-verify.bats.

#include <gtest/gtest.h>

#include "libcommon/dnsverify.hpp"

using cdm::dnsverify::serialAtLeast;

TEST(DnsverifySerial, ComparesInRfc1982Arithmetic) {
    EXPECT_TRUE(serialAtLeast(5, 5));
    EXPECT_TRUE(serialAtLeast(6, 5));
    EXPECT_FALSE(serialAtLeast(5, 6));
    // Past the wrap: 1 follows 4294967295.
    EXPECT_TRUE(serialAtLeast(1, 4294967295U));
    EXPECT_FALSE(serialAtLeast(4294967295U, 1));
    EXPECT_TRUE(serialAtLeast(2026112301U, 2026112300U));
    // Just under half the space ahead is ahead; exactly half is undefined, taken as not.
    EXPECT_TRUE(serialAtLeast(2147483647U, 0));
    EXPECT_FALSE(serialAtLeast(2147483648U, 0));
    EXPECT_FALSE(serialAtLeast(0, 2147483648U));
}

TEST(DnsverifyJson, ReportsTheWaitAndTheTtls) {
    cdm::dnsverify::Result r;
    r.ok = true;
    r.maxTtl = 600;
    r.negativeTtl = 300;
    r.notes = {"the parent zone test. could not be asked"};
    const auto o = cdm::dnsverify::toJson(r);
    EXPECT_EQ(o.at("max_ttl").to_number<std::int64_t>(), 600);
    EXPECT_EQ(o.at("negative_ttl").to_number<std::int64_t>(), 300);
    EXPECT_TRUE(o.at("ok").as_bool());
    EXPECT_EQ(o.at("notes").as_array().size(), 1U);
}
