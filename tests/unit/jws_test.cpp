#include <filesystem>
#include <gtest/gtest.h>
#include <stdexcept>

#include <boost/json.hpp>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "libcommon/jws.hpp"
#include "libcommon/keys.hpp"

#include "test_util.hpp"

namespace {

using cdm::Exit;
using cdm::test::codeOf;
namespace jws = cdm::jws;
namespace keys = cdm::keys;
namespace json = boost::json;
namespace fs = std::filesystem;

// Base64url decoding done here, independently of jws::base64urlDecode, through OpenSSL's
// standard base64.
std::string decode(std::string text) {
    for (char& c : text) {
        c = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    while (text.size() % 4 != 0) {
        text += '=';
    }
    std::string out(text.size(), '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(text.data()),
                                  static_cast<int>(text.size()));
    if (n < 0) {
        throw std::runtime_error("bad base64");
    }
    const std::size_t pad = text.size() - text.find_last_not_of('=') - 1;
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

TEST(JwsBase64url, Rfc4648VectorsInTheUrlAlphabetWithoutPadding) {
    const std::vector<std::pair<std::string, std::string>> rows{
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff\xbf", "-_-_"},
        {"\xfb\xff", "-_8"}};
    for (const auto& [plain, encoded] : rows) {
        EXPECT_EQ(jws::base64url(plain), encoded) << encoded;
        const auto back = jws::base64urlDecode(encoded);
        EXPECT_EQ(std::string(back.begin(), back.end()), plain) << encoded;
    }
    const auto padded = jws::base64urlDecode("Zm8=");
    EXPECT_EQ(std::string(padded.begin(), padded.end()), "fo");
}

TEST(JwsBase64url, OtherTextIsRefused) {
    for (const char* bad : {"Zm9v+", "Zm9v/", "a", "Zm 9v", "Zm9v\n"}) {
        std::string message;
        EXPECT_EQ(codeOf([&] { jws::base64urlDecode(bad); }, &message), Exit::DataErr) << bad;
        if (std::string_view(bad).size() > 3) {
            EXPECT_EQ(message.find(bad), std::string::npos) << message; // never echoed
        }
    }
}

// The RSA key of RFC 7638 §3.1 as an SPKI, built with OpenSSL from its n and e.
std::vector<std::uint8_t> rfc7638Spki() {
    const std::string n =
        decode("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6t"
               "Soc_BJECPebWKRXjBZCiFV4n3oknjhMs"
               "tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
               "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5"
               "hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_"
               "xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw");
    BIGNUM* bn = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                           static_cast<int>(n.size()), nullptr);
    BIGNUM* be = BN_new();
    BN_set_word(be, 65537);
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be);
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
    EVP_PKEY* key = nullptr;
    EVP_PKEY_fromdata_init(ctx);
    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params);
    unsigned char* der = nullptr;
    const int len = i2d_PUBKEY(key, &der);
    std::vector<std::uint8_t> out(der, der + len);
    OPENSSL_free(der);
    EVP_PKEY_free(key);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return out;
}

TEST(JwsThumbprint, Rfc7638Section31Example) {
    const json::object key = jws::jwk(rfc7638Spki());
    EXPECT_EQ(key.at("kty"), "RSA");
    EXPECT_EQ(key.at("e"), "AQAB");
    EXPECT_EQ(std::string(key.at("n").as_string()).substr(0, 12), "0vx7agoebGcQ");
    EXPECT_EQ(jws::canonicalJwk(key).substr(0, 31), R"({"e":"AQAB","kty":"RSA","n":"0v)");
    EXPECT_EQ(jws::thumbprint(key), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

TEST(JwsThumbprint, CanonicalFormIgnoresOrderAndOptionalMembers) {
    const json::object ec{{"y", "Y"}, {"x", "X"}, {"use", "sig"}, {"kty", "EC"}, {"crv", "P-256"}};
    EXPECT_EQ(jws::canonicalJwk(ec), R"({"crv":"P-256","kty":"EC","x":"X","y":"Y"})");
    EXPECT_EQ(codeOf([] { jws::canonicalJwk(json::object{{"kty", "EC"}}); }), Exit::DataErr);
    EXPECT_EQ(codeOf([] { jws::canonicalJwk(json::object{{"kty", "XYZ"}}); }), Exit::DataErr);
}

class JwsKeys : public ::testing::Test {
protected:
    void SetUp() override {
        std::string tmpl = (fs::temp_directory_path() / "cdm-jws-test.XXXXXX").string();
        ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string make(keys::Algorithm a, unsigned bits = 2048) {
        const std::string path = dir_ + "/k" + std::to_string(count_++) + ".pem";
        keys::generate(keys::KeySpec{a, bits}, path);
        return path;
    }
    std::string dir_;
    int count_ = 0;
};

// Verify a JWS signature with OpenSSL, not with cdm's code.
bool verify(const std::vector<std::uint8_t>& spki, const std::string& alg, const std::string& input,
            const std::string& signature) {
    const unsigned char* p = spki.data();
    EVP_PKEY* key = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size()));
    std::string der = signature;
    if (alg != "RS256") {
        // R||S -> DER ECDSA-Sig-Value
        const std::size_t half = signature.size() / 2;
        ECDSA_SIG* sig = ECDSA_SIG_new();
        ECDSA_SIG_set0(sig,
                       BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()),
                                 static_cast<int>(half), nullptr),
                       BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data() + half),
                                 static_cast<int>(half), nullptr));
        unsigned char* out = nullptr;
        const int len = i2d_ECDSA_SIG(sig, &out);
        der.assign(reinterpret_cast<char*>(out), static_cast<std::size_t>(len));
        OPENSSL_free(out);
        ECDSA_SIG_free(sig);
    }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    const EVP_MD* md = alg == "ES384" ? EVP_sha384() : EVP_sha256();
    const bool ok =
        EVP_DigestVerifyInit(ctx, nullptr, md, nullptr, key) == 1 &&
        EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                         reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok;
}

TEST_F(JwsKeys, SignedRequestsVerifyWithOpenSsl) {
    struct Row {
        keys::Algorithm algorithm;
        unsigned bits;
        std::string alg;
        std::size_t signatureBytes;
    };
    for (const Row& row : {Row{keys::Algorithm::Rsa, 2048, "RS256", 256},
                           Row{keys::Algorithm::EcdsaP256, 256, "ES256", 64},
                           Row{keys::Algorithm::EcdsaP384, 384, "ES384", 96}}) {
        const auto key = keys::PrivateKey::load(make(row.algorithm, row.bits));
        EXPECT_EQ(jws::algorithmFor(key.algorithm()), row.alg);
        for (const std::string& kid : {std::string(), std::string("https://ca.test/acct/1")}) {
            const std::string payload = kid.empty() ? R"({"termsOfServiceAgreed":true})" : "";
            const auto signed_ =
                json::parse(jws::sign(key, "https://ca.test/new", "n0nce", kid, payload))
                    .as_object();
            ASSERT_EQ(signed_.size(), 3U);
            const std::string prot(signed_.at("protected").as_string());
            const std::string pay(signed_.at("payload").as_string());
            const std::string sig = decode(std::string(signed_.at("signature").as_string()));
            EXPECT_EQ(sig.size(), row.signatureBytes) << row.alg;
            EXPECT_EQ(decode(pay), payload);
            const auto header = json::parse(decode(prot)).as_object();
            EXPECT_EQ(std::string(header.at("alg").as_string()), row.alg);
            EXPECT_EQ(header.at("nonce"), "n0nce");
            EXPECT_EQ(header.at("url"), "https://ca.test/new");
            if (kid.empty()) {
                EXPECT_FALSE(header.contains("kid"));
                EXPECT_EQ(header.at("jwk").as_object(), jws::jwk(key.publicKeyDer()));
            } else {
                EXPECT_FALSE(header.contains("jwk"));
                EXPECT_EQ(std::string(header.at("kid").as_string()), kid);
            }
            EXPECT_TRUE(verify(key.publicKeyDer(), row.alg, prot + "." + pay, sig)) << row.alg;
            // A changed payload does not verify: the check can fail.
            EXPECT_FALSE(verify(key.publicKeyDer(), row.alg, prot + "." + pay + "x", sig))
                << row.alg;
        }
    }
}

TEST_F(JwsKeys, EcJwkCoordinatesArePaddedToTheCurveSize) {
    for (int i = 0; i < 4; ++i) {
        const auto k256 = jws::jwk(keys::publicKeyDer(make(keys::Algorithm::EcdsaP256)));
        EXPECT_EQ(k256.at("crv"), "P-256");
        EXPECT_EQ(decode(std::string(k256.at("x").as_string())).size(), 32U);
        EXPECT_EQ(decode(std::string(k256.at("y").as_string())).size(), 32U);
    }
    const auto k384 = jws::jwk(keys::publicKeyDer(make(keys::Algorithm::EcdsaP384)));
    EXPECT_EQ(k384.at("crv"), "P-384");
    EXPECT_EQ(decode(std::string(k384.at("x").as_string())).size(), 48U);
    EXPECT_EQ(codeOf([&] { jws::jwk(keys::publicKeyDer(make(keys::Algorithm::Ed25519))); }),
              Exit::DataErr);
}

TEST_F(JwsKeys, ExternalAccountBindingIsAnHs256JwsOverTheAccountKey) {
    const auto account = jws::jwk(keys::publicKeyDer(make(keys::Algorithm::EcdsaP256)));
    // A 32-byte MAC key as CAs hand them out: base64url without padding.
    const std::string rawKey = "0123456789abcdef0123456789abcdef";
    const std::string hmacKey = jws::base64url(rawKey);
    const auto eab =
        jws::externalAccountBinding(account, "kid-1", hmacKey, "https://ca.test/new-acct");
    const std::string prot(eab.at("protected").as_string());
    const std::string pay(eab.at("payload").as_string());
    const auto header = json::parse(decode(prot)).as_object();
    EXPECT_EQ(
        header,
        (json::object{{"alg", "HS256"}, {"kid", "kid-1"}, {"url", "https://ca.test/new-acct"}}));
    EXPECT_EQ(json::parse(decode(pay)).as_object(), account);
    // HMAC-SHA256 computed here with OpenSSL.
    const std::string input = prot + "." + pay;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int macLength = 0;
    HMAC(EVP_sha256(), rawKey.data(), static_cast<int>(rawKey.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &macLength);
    EXPECT_EQ(decode(std::string(eab.at("signature").as_string())),
              std::string(reinterpret_cast<char*>(mac), macLength));
}

TEST_F(JwsKeys, ExternalAccountBindingRefusesBadKeysWithoutShowingThem) {
    const auto account = jws::jwk(keys::publicKeyDer(make(keys::Algorithm::EcdsaP256)));
    std::string message;
    EXPECT_EQ(
        codeOf([&] { jws::externalAccountBinding(account, "kid", "s3cret+key/", "u"); }, &message),
        Exit::Config);
    EXPECT_EQ(message.find("s3cret"), std::string::npos) << message;
    EXPECT_EQ(codeOf([&] { jws::externalAccountBinding(account, "kid", "", "u"); }), Exit::Config);
    EXPECT_EQ(codeOf([&] { jws::externalAccountBinding(account, "", "abcd", "u"); }), Exit::Config);
}

} // namespace
