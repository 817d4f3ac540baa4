// Tests of libcommon/tlsacheck: judging TLSA records against a presented chain by the rules
// of RFC 7671, with the committed test chain (data/tlsa, see make-chain.sh).

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libcommon/tlsa.hpp"
#include "libcommon/tlsacheck.hpp"

using testing::HasSubstr;

namespace {

const std::string dir = std::string(CDM_TEST_DATA) + "/tlsa/";
const std::string leaf311 = "3 1 1 879957e3934cb87203da8414476f6c95228b54627e005dee3dbbc935f1a413e1";
const std::string inter201 = "2 0 1 55a890627d8c288487925784e7b850f01b83697a14c898864581b2cb17d12a4b";
const std::string root201 = "2 0 1 3b1ac9568f43130651a502094bc915929b3b5e32f0715a37eab5433bff18df31";

} // namespace

TEST(TlsaJudge, Rfc7671Rules) {
    const auto chain = cdm::x509::loadChain(dir + "fullchain.pem");
    const auto leafAndInter = std::vector<cdm::x509::Certificate>{chain[0], chain[1]};
    struct Case {
        const char* desc;
        std::string rdata;
        std::vector<cdm::x509::Certificate> chain;
        std::string host;
        bool matches;
        const char* reason;
    };
    const Case cases[] = {
        {"DANE-EE matches the leaf", leaf311, chain, "www.example.test", true, "the leaf matches"},
        {"DANE-EE ignores the name", leaf311, chain, "other.test", true, "the leaf matches"},
        {"hex case and spaces do not matter", "3 1 1 879957E3934CB87203DA8414476F6C95 228B54627E005DEE3DBBC935F1A413E1",
         chain, "www.example.test", true, "the leaf matches"},
        {"DANE-EE wrong data", "3 1 1 " + std::string(64, '0'), chain, "www.example.test", false, "does not match"},
        {"DANE-TA on the intermediate", inter201, chain, "www.example.test", true, "certificate 1 of the chain"},
        {"DANE-TA on the root the server sent", root201, chain, "www.example.test", true, "certificate 2 of the chain"},
        {"DANE-TA checks the name", inter201, chain, "other.test", false, "hostname mismatch"},
        {"DANE-TA needs the TA among the certificates sent", root201, leafAndInter, "www.example.test", false,
         "no CA certificate the server sent matches"},
        {"DANE-TA never matches the leaf itself", "2 1 1 879957e3934cb87203da8414476f6c95228b54627e005dee3dbbc935f1a413e1",
         chain, "www.example.test", false, "no CA certificate"},
        {"PKIX-EE needs PKIX validation", "1 1 1 879957e3934cb87203da8414476f6c95228b54627e005dee3dbbc935f1a413e1",
         chain, "www.example.test", false, "PKIX validation failed"},
    };
    for (const auto& c : cases) {
        const auto v = cdm::tlsacheck::judge(c.rdata, c.chain, c.host, "");
        EXPECT_EQ(v.matches, c.matches) << c.desc << ": " << v.reason;
        EXPECT_THAT(v.reason, HasSubstr(c.reason)) << c.desc;
    }
}

TEST(TlsaJudge, PkixUsagesWithACaFile) {
    const auto chain = cdm::x509::loadChain(dir + "fullchain.pem");
    const auto ee = cdm::tlsacheck::judge("1 1 1 879957e3934cb87203da8414476f6c95228b54627e005dee3dbbc935f1a413e1",
                                          chain, "www.example.test", dir + "root.pem");
    EXPECT_TRUE(ee.matches) << ee.reason;
    const auto ta = cdm::tlsacheck::judge("0 0 1 55a890627d8c288487925784e7b850f01b83697a14c898864581b2cb17d12a4b",
                                          chain, "www.example.test", dir + "root.pem");
    EXPECT_TRUE(ta.matches) << ta.reason;
    const auto wrongName = cdm::tlsacheck::judge(
        "1 1 1 879957e3934cb87203da8414476f6c95228b54627e005dee3dbbc935f1a413e1", chain, "x.test", dir + "root.pem");
    EXPECT_FALSE(wrongName.matches);
}
