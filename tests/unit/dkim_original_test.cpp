// The three DKIM keys and records of the original's tests (dnsuptools tests/testdkimkey{1024,
// 2048,4096}.{txt,private}, reference §8): each record, as rspamadm wrote it, publishes its key,
// and the 4096-bit record's p= ends in "==" (the original lost that record in cleanup).
// The files are another project's data: meson registers this test only when the steering
// repository's shared/reference/vectors/ holds them.

#include <string>

#include <gtest/gtest.h>

#include "libcommon/dkim.hpp"
#include "libcommon/fsutil.hpp"
#include "libcommon/keys.hpp"

TEST(DkimOriginalVectors, RecordsPublishTheirKeys) {
    for (const char* bits : {"1024", "2048", "4096"}) {
        const std::string base = std::string(CDM_ORIGINAL_VECTORS) + "/testdkimkey" + bits;
        const auto found = cdm::dkim::findRecords(cdm::fsutil::readFile(base + ".txt", 1 << 20), base + ".txt");
        ASSERT_EQ(found.size(), 1U) << bits;
        EXPECT_EQ(found[0].selector, "testdkimkey") << bits;
        const auto record = cdm::dkim::parseKeyRecord(found[0].text);
        const auto result = cdm::dkim::compare(record, cdm::keys::publicKeyDer(base + ".private"));
        EXPECT_TRUE(result.match) << bits << ": " << result.reason;
        if (std::string(bits) == "4096") {
            EXPECT_EQ(record.publicKey.substr(record.publicKey.size() - 2), "==");
        }
        EXPECT_EQ(cdm::dkim::fromPublicKey(cdm::keys::publicKeyDer(base + ".private")).publicKey, record.publicKey)
            << bits << ": cdm makes the same p= as rspamadm did";
    }
}
