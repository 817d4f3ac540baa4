// Tests of libcommon/tlsa: association data for every usage, selector and matching type.
// The expected hashes were printed by the openssl command line for the committed chain in
// data/tlsa (make-chain.sh shows how it was made, expected.txt the openssl output).

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libcommon/error.hpp"
#include "libcommon/tlsa.hpp"

using cdm::Error;
using cdm::Exit;
using cdm::tlsa::Matching;
using cdm::tlsa::Params;
using cdm::tlsa::Selector;
using cdm::tlsa::Source;
using cdm::tlsa::Usage;
using testing::HasSubstr;

namespace {

const std::string dir = std::string(CDM_TEST_DATA) + "/tlsa/";

Source chainSource(const std::string& file) {
    return Source{cdm::x509::loadChain(dir + file), {}, file};
}

struct Vector {
    const char* desc;
    Params params;
    const char* hex;
};

// openssl x509 -outform DER | openssl dgst -sha256 (selector 0), and
// openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst (selector 1).
const Vector vectors[] = {
    {"3 0 1", {Usage::DaneEe, Selector::Cert, Matching::Sha256},
     "0796a8175ab0f0032b1c64754cbff4b8afd436d44b56c87c12a127172800fa32"},
    {"3 0 2", {Usage::DaneEe, Selector::Cert, Matching::Sha512},
     "5bccd4a2119948cc77ba625b917586d492892590b89052c49b13a1db6bd5f4f23a88289d29f043c230ddec79f29e9018b89efd353439e98555b1204d2681151a"},
    {"3 1 1", {Usage::DaneEe, Selector::Spki, Matching::Sha256},
     "879957e3934cb87203da8414476f6c95228b54627e005dee3dbbc935f1a413e1"},
    {"3 1 2", {Usage::DaneEe, Selector::Spki, Matching::Sha512},
     "889dea913181d81ff667ac346d1efc8dfd09b1723508521daa1b62be8295665e9b2eb34988a48daf4b495895d74e7b9501e5584abc7780da54fe6dee23e34676"},
    {"1 1 1 is the leaf like 3 1 1", {Usage::PkixEe, Selector::Spki, Matching::Sha256},
     "879957e3934cb87203da8414476f6c95228b54627e005dee3dbbc935f1a413e1"},
    {"2 0 1", {Usage::DaneTa, Selector::Cert, Matching::Sha256},
     "55a890627d8c288487925784e7b850f01b83697a14c898864581b2cb17d12a4b"},
    {"2 0 2", {Usage::DaneTa, Selector::Cert, Matching::Sha512},
     "a1269b144b512e2a26f6d986f6128d0969d262b2b64f2e31ef5262c0cdd398aaadef4226f5aebe4c2159ea983b767252b931c75830b9703cd0de91297ad6cde4"},
    {"2 1 1", {Usage::DaneTa, Selector::Spki, Matching::Sha256},
     "03ffa22c308c93a5fa51fc74248296a50be883e84091726e12a444bbbd33043e"},
    {"2 1 2", {Usage::DaneTa, Selector::Spki, Matching::Sha512},
     "8f9b930854733d32ce2aa45730efcf4a3087fb02cfce1790853252058bd77f6e7072e4ea0365218959ac9a3cdd4194b11b9773c18ead2333ac0401e2c8639916"},
    {"0 1 1 is the issuer like 2 1 1", {Usage::PkixTa, Selector::Spki, Matching::Sha256},
     "03ffa22c308c93a5fa51fc74248296a50be883e84091726e12a444bbbd33043e"},
};

} // namespace

TEST(TlsaData, MatchesOpensslForEveryCombination) {
    const Source full = chainSource("fullchain.pem");
    for (const auto& v : vectors) {
        EXPECT_EQ(cdm::tlsa::associationData(full, v.params), v.hex) << v.desc;
        EXPECT_EQ(cdm::tlsa::rdata(full, v.params), v.params.toString() + " " + v.hex) << v.desc;
    }
}

TEST(TlsaData, TheIssuerIsFoundByItsSignatureNotItsPlace) {
    const Source reversed = chainSource("reversed.pem"); // intermediate first, then the leaf
    // The leaf is the first certificate of the file, as in every full chain; reversed.pem's
    // first one is the intermediate, so usage 3 hashes it, and its issuer (the root) is absent.
    EXPECT_THROW(cdm::tlsa::associationData(reversed, {Usage::DaneTa, Selector::Spki, Matching::Sha256}), Error);
    const Source full = chainSource("fullchain.pem");
    EXPECT_EQ(cdm::tlsa::trustAnchor(full).subject, "CN=cdm test intermediate");
    EXPECT_EQ(cdm::tlsa::trustAnchor(full, 2).subject, "CN=cdm test root") << "--ca-depth 2";
    EXPECT_THROW(cdm::tlsa::trustAnchor(full, 3), Error);
}

TEST(TlsaData, FullDataIsTheDerInHex) {
    const Source full = chainSource("fullchain.pem");
    const std::string data = cdm::tlsa::associationData(full, {Usage::DaneEe, Selector::Spki, Matching::Full});
    EXPECT_EQ(data.size(), full.chain[0].spki.size() * 2);
    EXPECT_EQ(data.substr(0, 4), "3059") << "an ECDSA P-256 SPKI is a 0x59-byte SEQUENCE";
}

TEST(TlsaData, DerAndPemGiveTheSameRecord) {
    const Params p{Usage::DaneEe, Selector::Cert, Matching::Sha256};
    EXPECT_EQ(cdm::tlsa::associationData(chainSource("leaf.der"), p), vectors[0].hex);
}

TEST(TlsaData, ABareKeyOrCsrAnswersSelectorOne) {
    cdm::tlsa::Request request;
    request.csr = dir + "leaf.csr";
    request.host = "www.example.test";
    request.port = 443;
    request.params = {Params{}};
    const auto records = cdm::tlsa::fromRequest(request);
    ASSERT_EQ(records.size(), 1U);
    EXPECT_EQ(*records[0].data, std::string("3 1 1 ") + vectors[2].hex);
    EXPECT_EQ(records[0].name, "_443._tcp.www.example.test.");

    const Source bare{{}, chainSource("leaf.pem").chain[0].spki, "leaf.pub"};
    EXPECT_EQ(cdm::tlsa::associationData(bare, Params{}), vectors[2].hex);
    for (const Params p : {Params{Usage::DaneTa, Selector::Spki, Matching::Sha256},
                           Params{Usage::DaneEe, Selector::Cert, Matching::Sha256}}) {
        try {
            cdm::tlsa::associationData(bare, p);
            ADD_FAILURE() << p.toString();
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Exit::DataErr);
            EXPECT_THAT(e.what(), HasSubstr("leaf.pub: a bare key answers only selector 1"));
        }
    }
}

TEST(TlsaParams, NumbersAndMnemonics) {
    EXPECT_EQ(cdm::tlsa::parseParams("3:1:1,2:0:1"),
              (std::vector<Params>{{Usage::DaneEe, Selector::Spki, Matching::Sha256},
                                   {Usage::DaneTa, Selector::Cert, Matching::Sha256}}));
    EXPECT_EQ(cdm::tlsa::parseParams("dane-ee:spki:sha2-512"),
              (std::vector<Params>{{Usage::DaneEe, Selector::Spki, Matching::Sha512}}));
    EXPECT_EQ(cdm::tlsa::pairParams({"3", "2"}, {"1"}, {}),
              (std::vector<Params>{{Usage::DaneEe, Selector::Spki, Matching::Sha256},
                                   {Usage::DaneTa, Selector::Spki, Matching::Sha256}}));
    EXPECT_EQ(cdm::tlsa::pairParams({}, {}, {}), (std::vector<Params>{Params{}})) << "3 1 1";
    struct Bad {
        const char* text;
        const char* message;
    };
    for (const Bad& b : {Bad{"7:1:1", "TLSA usage '7' is not one of 0 to 3"},
                         Bad{"3:2:1", "TLSA selector '2' is not one of 0 to 1"},
                         Bad{"3:1:3", "TLSA matching type '3' is not one of 0 to 2"},
                         Bad{"3:1", "are not USAGE:SELECTOR:MATCHING"}}) {
        try {
            cdm::tlsa::parseParams(b.text);
            ADD_FAILURE() << b.text;
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Exit::Usage) << b.text;
            EXPECT_THAT(e.what(), HasSubstr(b.message)) << b.text;
        }
    }
    EXPECT_THROW(cdm::tlsa::pairParams({"3", "2"}, {"1", "0", "1"}, {}), Error);
}

TEST(TlsaOwner, PortProtoHost) {
    EXPECT_EQ(cdm::tlsa::ownerName(25, "tcp", "Mail.Example.Test"), "_25._tcp.mail.example.test.");
    EXPECT_EQ(cdm::tlsa::ownerName(std::nullopt, "tcp", "a.test."), "*._tcp.a.test.") << "the original's form";
    EXPECT_THROW(cdm::tlsa::ownerName(70000, "tcp", "a.test"), Error);
    EXPECT_THROW(cdm::tlsa::ownerName(0, "tcp", "a.test"), Error);
    EXPECT_THROW(cdm::tlsa::ownerName(443, "t c p", "a.test"), Error);
    EXPECT_THROW(cdm::tlsa::ownerName(443, "tcp", "a..test"), Error);
}

TEST(TlsaPipe, RecordsForCurrentAndNextWithTheKeysScope) {
    boost::json::object doc = cdm::document::parse(R"({"cdm": 1, "records": [],
      "config": {"domain": {"www.example.test": {"keys": {"ttl": "300"}, "certs": ["web"],
        "tlsa": [{"mode": "replace", "op": "auto", "owner": "_443._tcp.www.example.test.",
                  "proto": "tcp", "port": "443", "usage": 3, "selector": 1, "matching": 1,
                  "scope": {"name": "_443._tcp.www.example.test.", "type": "TLSA"}, "source": "a.conf:9"},
                 {"mode": "replace", "op": "auto", "owner": "_443._tcp.www.example.test.",
                  "proto": "tcp", "port": "443", "usage": 2, "selector": 0, "matching": 1,
                  "scope": {"name": "_443._tcp.www.example.test.", "type": "TLSA"}, "source": "a.conf:9"}]}}},
      "material": {"cert": {"web": {"current": {"fullchain": "DIR/fullchain.pem"},
                                    "next": {"csr": "DIR/leaf.csr"}}}}})",
                                                   "<test>");
    auto& m = doc["material"].as_object()["cert"].as_object()["web"].as_object();
    m["current"].as_object()["fullchain"] = dir + "fullchain.pem";
    m["next"].as_object()["csr"] = dir + "leaf.csr";
    EXPECT_EQ(cdm::tlsa::addRecords(doc), 2U) << "3 1 1 (same key, once) and 2 0 1; the CSR has no 2 0 1";
    const auto records = cdm::document::records(doc, "<test>");
    ASSERT_EQ(records.size(), 2U);
    EXPECT_EQ(*records[0].data, std::string("3 1 1 ") + vectors[2].hex);
    EXPECT_EQ(records[0].ttl, 300U);
    EXPECT_EQ(records[0].op, cdm::document::Op::Replace);
    EXPECT_EQ(records[0].source, "a.conf:9");
    EXPECT_EQ(*records[1].data, std::string("2 0 1 ") + vectors[5].hex);
}

namespace {

// Output of a shell command (the openssl command line is the independent judge here).
std::string shellOut(const std::string& command) {
    std::string out;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) {
        return out;
    }
    std::array<char, 4096> buffer{};
    std::size_t n = 0;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
        out.append(buffer.data(), n);
    }
    pclose(pipe);
    return out;
}

} // namespace

TEST(TlsaPipe, StandbyKeyPublishesItsSpkiRecordsOnly) {
    std::string pattern = (std::filesystem::temp_directory_path() / "cdm-tlsa-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    const std::string standby = pattern + "/standby.pem";
    shellOut("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '" + standby + "' 2>/dev/null");
    const std::string expected =
        shellOut("openssl pkey -in '" + standby + "' -pubout -outform DER | openssl dgst -sha256 -r").substr(0, 64);
    ASSERT_EQ(expected.size(), 64U);

    boost::json::object doc = cdm::document::parse(R"({"cdm": 1, "records": [],
      "config": {"domain": {"www.example.test": {"keys": {"ttl": "300"}, "certs": ["web"],
        "tlsa": [{"mode": "replace", "op": "auto", "owner": "_443._tcp.www.example.test.",
                  "proto": "tcp", "port": "443", "usage": 3, "selector": 1, "matching": 1,
                  "scope": {"name": "_443._tcp.www.example.test.", "type": "TLSA"}, "source": "a.conf:9"},
                 {"mode": "replace", "op": "auto", "owner": "_443._tcp.www.example.test.",
                  "proto": "tcp", "port": "443", "usage": 3, "selector": 0, "matching": 1,
                  "scope": {"name": "_443._tcp.www.example.test.", "type": "TLSA"}, "source": "a.conf:9"},
                 {"mode": "replace", "op": "auto", "owner": "_443._tcp.www.example.test.",
                  "proto": "tcp", "port": "443", "usage": 2, "selector": 0, "matching": 1,
                  "scope": {"name": "_443._tcp.www.example.test.", "type": "TLSA"}, "source": "a.conf:9"}]}}},
      "material": {"cert": {"web": {"current": {"fullchain": "F"},
                                    "standby": {"key": "K", "spki_sha256": "", "keytype": "ecdsa",
                                                "keysize": 256, "created": 1700000000}}}}})",
                                                   "<test>");
    auto& m = doc["material"].as_object()["cert"].as_object()["web"].as_object();
    m["current"].as_object()["fullchain"] = dir + "fullchain.pem";
    m["standby"].as_object()["key"] = standby;
    EXPECT_EQ(cdm::tlsa::addRecords(doc), 4U) << "current: 3 1 1, 3 0 1, 2 0 1; standby: 3 1 1 only";
    const auto records = cdm::document::records(doc, "<test>");
    ASSERT_EQ(records.size(), 4U);
    EXPECT_EQ(*records[0].data, std::string("3 1 1 ") + vectors[2].hex);
    EXPECT_EQ(*records[1].data, "3 1 1 " + expected) << "the standby key, beside the current one";
    EXPECT_EQ(records[1].op, cdm::document::Op::Replace);
    EXPECT_EQ(records[1].source, "a.conf:9");
    EXPECT_EQ(*records[2].data, std::string("3 0 1 ") + vectors[0].hex);
    EXPECT_EQ(*records[3].data, std::string("2 0 1 ") + vectors[5].hex);

    m["standby"].as_object().erase("key");
    try {
        cdm::tlsa::addRecords(doc);
        ADD_FAILURE() << "standby without a key";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Exit::DataErr);
        EXPECT_THAT(e.what(), HasSubstr("material.cert.web.standby: standby material without 'key'"));
    }
    std::filesystem::remove_all(pattern);
}

// A previous certificate's record stays while it is in the material (until cdm-cert's cleanup
// retires it, or while a rollover has not completed); one whose file is gone is skipped.
TEST(TlsaPipe, PreviousKeepsItsRecordUntilCleanupRetiresIt) {
    std::string pattern = (std::filesystem::temp_directory_path() / "cdm-tlsa-prev-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    const std::string oldKey = pattern + "/old.pem";
    shellOut("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '" + oldKey + "' 2>/dev/null");
    const std::string expected =
        shellOut("openssl pkey -in '" + oldKey + "' -pubout -outform DER | openssl dgst -sha256 -r").substr(0, 64);
    ASSERT_EQ(expected.size(), 64U);
    boost::json::object doc = cdm::document::parse(R"({"cdm": 1, "records": [],
      "config": {"domain": {"www.example.test": {"keys": {}, "certs": ["web"],
        "tlsa": [{"mode": "replace", "op": "auto", "owner": "_443._tcp.www.example.test.",
                  "proto": "tcp", "port": "443", "usage": 3, "selector": 1, "matching": 1,
                  "scope": {"name": "_443._tcp.www.example.test.", "type": "TLSA"}, "source": "a.conf:9"}]}}},
      "material": {"cert": {"web": {"current": {"fullchain": "F"}, "previous": {"key": "K"}}}}})",
                                                   "<test>");
    auto& m = doc["material"].as_object()["cert"].as_object()["web"].as_object();
    m["current"].as_object()["fullchain"] = dir + "fullchain.pem";
    m["previous"].as_object()["key"] = oldKey;
    EXPECT_EQ(cdm::tlsa::addRecords(doc), 2U);
    auto records = cdm::document::records(doc, "<test>");
    ASSERT_EQ(records.size(), 2U);
    EXPECT_EQ(*records[0].data, std::string("3 1 1 ") + vectors[2].hex);
    EXPECT_EQ(*records[1].data, "3 1 1 " + expected) << "the previous certificate's key";

    std::filesystem::remove(oldKey);
    doc["records"] = boost::json::array{};
    EXPECT_EQ(cdm::tlsa::addRecords(doc), 1U) << "a previous whose file is gone publishes nothing";
    std::filesystem::remove_all(pattern);
}
