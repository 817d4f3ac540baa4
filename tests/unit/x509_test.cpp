// Tests of libcommon/x509: reading certificates and requests.

#include <fstream>
#include <iterator>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libcommon/error.hpp"
#include "libcommon/x509.hpp"

using cdm::Error;
using cdm::Exit;
using testing::HasSubstr;

namespace {
const std::string dir = std::string(CDM_TEST_DATA) + "/tlsa/";
}

TEST(X509Chain, ReadsPemChainsAndDer) {
    const auto chain = cdm::x509::loadChain(dir + "fullchain.pem");
    ASSERT_EQ(chain.size(), 3U);
    EXPECT_EQ(chain[0].subject, "CN=www.example.test");
    EXPECT_EQ(chain[0].issuer, "CN=cdm test intermediate");
    EXPECT_EQ(chain[2].subject, "CN=cdm test root");
    EXPECT_TRUE(cdm::x509::issued(chain[1], chain[0]));
    EXPECT_TRUE(cdm::x509::issued(chain[2], chain[1]));
    EXPECT_FALSE(cdm::x509::issued(chain[2], chain[0]));
    EXPECT_EQ(cdm::x509::dnsNames(chain[0]), (std::vector<std::string>{"www.example.test", "example.test"}));
    const auto der = cdm::x509::loadChain(dir + "leaf.der");
    ASSERT_EQ(der.size(), 1U);
    EXPECT_EQ(der[0].der, chain[0].der);
}

TEST(X509Chain, TextAroundPemBlocksIsIgnored) {
    const auto leaf = cdm::x509::loadChain(dir + "leaf.pem");
    std::string pem;
    {
        std::ifstream in(dir + "leaf.pem");
        pem.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    // openssl x509 -text and several CAs put the decoded subject before each block.
    const auto parsed = cdm::x509::parseChain("subject=CN = www.example.test\n" + pem + "\ntrailer\n", "x.pem");
    ASSERT_EQ(parsed.size(), 1U);
    EXPECT_EQ(parsed[0].der, leaf[0].der);
}

TEST(X509Chain, BadInputNamesTheFileAndLine) {
    struct Case {
        const char* desc;
        std::string data;
        const char* message;
    };
    const Case cases[] = {
        {"empty", "", "not a certificate"},
        {"garbage", "hello world\n", "not a certificate"},
        {"truncated PEM", "\n\n-----BEGIN CERTIFICATE-----\nMIIB\n", "in.pem:3: truncated PEM certificate"},
        {"garbled PEM", "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
         "in.pem:1: garbled PEM certificate"},
        {"a key, not a certificate", "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n",
         "no CERTIFICATE block"},
    };
    for (const auto& c : cases) {
        try {
            cdm::x509::parseChain(c.data, "in.pem");
            ADD_FAILURE() << c.desc;
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Exit::DataErr) << c.desc;
            EXPECT_THAT(e.what(), HasSubstr(c.message)) << c.desc;
        }
    }
}

TEST(X509Csr, PublicKeyOfARequest) {
    const auto spki = cdm::x509::csrPublicKey(dir + "leaf.csr");
    EXPECT_EQ(spki, cdm::x509::loadChain(dir + "leaf.pem")[0].spki);
    EXPECT_THROW(cdm::x509::csrPublicKey(dir + "leaf.pem"), Error);
}
