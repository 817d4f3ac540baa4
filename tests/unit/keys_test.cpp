// Tests of libcommon/keys: generation, every key file form, refusals, the Ed25519 seed.
// The fixtures in other forms (PKCS#1, SEC1, DER, encrypted) are written here with OpenSSL,
// independently of the module under test.

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/test_util.hpp"
#include <string>
#include <sys/stat.h>
#include <type_traits>
#include <unistd.h>
#include <vector>

#include <openssl/pem.h>

#include "libcommon/error.hpp"
#include "libcommon/keys.hpp"
#include "libcommon/ossl.hpp"

using cdm::Error;
using cdm::Exit;
using testing::HasSubstr;
using testing::Not;
namespace fs = std::filesystem;
namespace keys = cdm::keys;
namespace ossl = cdm::ossl;

static_assert(!std::is_copy_constructible_v<keys::SecretBuffer>);
static_assert(!std::is_copy_assignable_v<keys::SecretBuffer>);

namespace {

class KeysTest : public testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "cdm-keys-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string path(const std::string& name) const { return dir_ + "/" + name; }

    static std::string contentOf(const std::string& p) {
        std::ifstream in(p, std::ios::binary);
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }
    void write(const std::string& name, const std::string& content) const {
        std::ofstream(path(name), std::ios::binary) << content;
    }
    static mode_t modeOf(const std::string& p) {
        struct stat st {};
        EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
        return st.st_mode & 07777;
    }

    // Write `key` with OpenSSL's encoder: `type` "PEM" or "DER", `structure` e.g.
    // "PrivateKeyInfo", "type-specific", "SubjectPublicKeyInfo"; a passphrase encrypts it.
    void encode(EVP_PKEY* key, int selection, const char* type, const char* structure,
                const std::string& name, const char* passphrase = nullptr) const {
        ossl::EncoderCtx ctx(
            OSSL_ENCODER_CTX_new_for_pkey(key, selection, type, structure, nullptr));
        ASSERT_TRUE(ctx);
        if (passphrase != nullptr) {
            ASSERT_EQ(OSSL_ENCODER_CTX_set_cipher(ctx.get(), "AES-256-CBC", nullptr), 1);
            ASSERT_EQ(OSSL_ENCODER_CTX_set_passphrase(
                          ctx.get(), reinterpret_cast<const unsigned char*>(passphrase),
                          std::strlen(passphrase)),
                      1);
        }
        ossl::Bio bio(BIO_new(BIO_s_mem()));
        ASSERT_EQ(OSSL_ENCODER_to_bio(ctx.get(), bio.get()), 1) << name;
        char* data = nullptr;
        const long length = BIO_get_mem_data(bio.get(), &data);
        write(name, std::string(data, static_cast<std::size_t>(length)));
    }

    std::string dir_;
};

ossl::PKey makeKey(const char* type, const char* curve = nullptr) {
    if (curve != nullptr) {
        return ossl::PKey(EVP_PKEY_Q_keygen(nullptr, nullptr, type, curve));
    }
    if (std::string(type) == "RSA") {
        return ossl::PKey(
            EVP_PKEY_Q_keygen(nullptr, nullptr, type, static_cast<std::size_t>(2048)));
    }
    return ossl::PKey(EVP_PKEY_Q_keygen(nullptr, nullptr, type));
}

std::vector<std::uint8_t> spkiOf(EVP_PKEY* key) {
    return ossl::encode(i2d_PUBKEY, key);
}

using cdm::test::codeOf;

} // namespace

TEST_F(KeysTest, GenerateWritesPkcs8PemPrivateToTheOwner) {
    struct Case {
        const char* desc;
        keys::KeySpec spec;
        unsigned bits;
    };
    const Case cases[] = {
        {"RSA 1024", {keys::Algorithm::Rsa, 1024}, 1024},
        {"RSA 2048", {keys::Algorithm::Rsa, 2048}, 2048},
        {"Ed25519 (bits ignored)", {keys::Algorithm::Ed25519, 7}, 256},
        {"ECDSA P-256", {keys::Algorithm::EcdsaP256, 0}, 256},
        {"ECDSA P-384", {keys::Algorithm::EcdsaP384, 0}, 384},
    };
    int n = 0;
    for (const auto& c : cases) {
        const std::string p = path("keys/sub/k" + std::to_string(n++) + ".pem");
        const auto spki = keys::generate(c.spec, p);
        EXPECT_EQ(modeOf(p), 0600U) << c.desc;
        EXPECT_EQ(modeOf(path("keys")), 0700U) << c.desc;
        EXPECT_EQ(modeOf(path("keys/sub")), 0700U) << c.desc;
        const std::string pem = contentOf(p);
        EXPECT_TRUE(pem.starts_with("-----BEGIN PRIVATE KEY-----\n")) << c.desc;
        EXPECT_TRUE(pem.ends_with("-----END PRIVATE KEY-----\n")) << c.desc;
        EXPECT_EQ(keys::publicKeyDer(p), spki) << c.desc;
        EXPECT_EQ(keys::algorithmOf(spki), c.spec.algorithm) << c.desc;
        EXPECT_EQ(keys::bitsOf(spki), c.bits) << c.desc;
    }
}

TEST_F(KeysTest, GenerateRefusesUnsupportedSizesBeforeWriting) {
    for (unsigned bits : {0U, 512U, 1000U, 2047U, 8192U}) {
        std::string message;
        EXPECT_EQ(codeOf(
                      [&] {
                          keys::generate({keys::Algorithm::Rsa, bits}, path("d/k.pem"));
                      },
                      &message),
                  Exit::Usage)
            << bits;
        EXPECT_THAT(message, HasSubstr("RSA keys of " + std::to_string(bits) +
                                       " bits are not supported; use 1024, 2048, 3072 or 4096"));
        EXPECT_FALSE(fs::exists(path("d"))) << bits;
    }
}

TEST_F(KeysTest, GenerateNeverOverwrites) {
    write("k.pem", "keep me");
    std::string message;
    EXPECT_EQ(codeOf(
                  [&] {
                      keys::generate({keys::Algorithm::Ed25519, 0}, path("k.pem"));
                  },
                  &message),
              Exit::CantCreat);
    EXPECT_THAT(message, HasSubstr("k.pem: already exists, not overwriting it"));
    EXPECT_EQ(contentOf(path("k.pem")), "keep me");
}

TEST_F(KeysTest, PublicKeyDerReadsEveryForm) {
    const auto rsa = makeKey("RSA");
    const auto ec = makeKey("EC", "P-256");
    const auto ed = makeKey("ED25519");
    struct Case {
        const char* desc;
        EVP_PKEY* key;
        int selection;
        const char* type;
        const char* structure;
    };
    const Case cases[] = {
        {"PKCS#8 PEM RSA", rsa.get(), EVP_PKEY_KEYPAIR, "PEM", "PrivateKeyInfo"},
        {"PKCS#1 PEM RSA (BEGIN RSA PRIVATE KEY)", rsa.get(), EVP_PKEY_KEYPAIR, "PEM",
         "type-specific"},
        {"PKCS#8 DER RSA", rsa.get(), EVP_PKEY_KEYPAIR, "DER", "PrivateKeyInfo"},
        {"PKCS#1 DER RSA", rsa.get(), EVP_PKEY_KEYPAIR, "DER", "type-specific"},
        {"SPKI PEM RSA", rsa.get(), EVP_PKEY_PUBLIC_KEY, "PEM", "SubjectPublicKeyInfo"},
        {"PKCS#1 PEM RSA public (BEGIN RSA PUBLIC KEY)", rsa.get(), EVP_PKEY_PUBLIC_KEY, "PEM",
         "type-specific"},
        {"SPKI DER RSA", rsa.get(), EVP_PKEY_PUBLIC_KEY, "DER", "SubjectPublicKeyInfo"},
        {"SEC1 PEM EC (BEGIN EC PRIVATE KEY)", ec.get(), EVP_PKEY_KEYPAIR, "PEM", "type-specific"},
        {"PKCS#8 PEM Ed25519", ed.get(), EVP_PKEY_KEYPAIR, "PEM", "PrivateKeyInfo"},
        {"SPKI PEM Ed25519", ed.get(), EVP_PKEY_PUBLIC_KEY, "PEM", "SubjectPublicKeyInfo"},
    };
    int n = 0;
    for (const auto& c : cases) {
        const std::string name = "form" + std::to_string(n++);
        encode(c.key, c.selection, c.type, c.structure, name);
        EXPECT_EQ(keys::publicKeyDer(path(name)), spkiOf(c.key)) << c.desc;
    }
}

TEST_F(KeysTest, PublicKeyDerFromDataReadsWhatTheFileWouldHold) {
    const auto ed = makeKey("ED25519");
    encode(ed.get(), EVP_PKEY_KEYPAIR, "PEM", "PrivateKeyInfo", "memory");
    EXPECT_EQ(keys::publicKeyDerFromData(contentOf(path("memory")), "memory.pem"), spkiOf(ed.get()));
    try {
        keys::publicKeyDerFromData("-----BEGIN CERTIFICATE-----\n", "cert.pem");
        ADD_FAILURE() << "no exception";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Exit::DataErr);
        EXPECT_EQ(e.where().file, "cert.pem");
    }
}

TEST_F(KeysTest, PublicKeyDerSkipsBlocksThatAreNotKeys) {
    const auto ec = makeKey("EC", "P-384");
    encode(ec.get(), EVP_PKEY_KEYPAIR, "PEM", "type-specific", "sec1");
    write("with-params",
          "-----BEGIN EC PARAMETERS-----\nBgUrgQQAIg==\n-----END EC PARAMETERS-----\n" +
              contentOf(path("sec1")));
    EXPECT_EQ(keys::publicKeyDer(path("with-params")), spkiOf(ec.get()));
    write("comment-first", "# a key\n\n" + contentOf(path("sec1")));
    EXPECT_EQ(keys::publicKeyDer(path("comment-first")), spkiOf(ec.get()));
}

TEST_F(KeysTest, PublicKeyDerRefusesWhatIsNotAKeyWithoutEchoingIt) {
    const auto rsa = makeKey("RSA");
    encode(rsa.get(), EVP_PKEY_KEYPAIR, "PEM", "PrivateKeyInfo", "good");
    const std::string good = contentOf(path("good"));
    encode(rsa.get(), EVP_PKEY_KEYPAIR, "PEM", "PrivateKeyInfo", "enc-pkcs8", "pass");
    encode(rsa.get(), EVP_PKEY_KEYPAIR, "PEM", "type-specific", "enc-legacy", "pass");
    encode(rsa.get(), EVP_PKEY_KEYPAIR, "DER", "PrivateKeyInfo", "enc-der", "pass");
    // A body line of the good key, to show that no message quotes key material.
    const std::string bodyLine = good.substr(good.find('\n') + 1, 64);

    std::string truncated = good.substr(0, good.size() / 2);
    std::string corrupt = good;
    corrupt[40] = corrupt[40] == 'A' ? 'B' : 'A';
    corrupt.replace(80, 8, "!!!!!!!!");
    write("truncated", "\n" + truncated);
    write("corrupt", corrupt);
    write("garbage", "hello, this is not a key\n");
    write("binary", std::string("\x30\x03\x02\x01\x05", 5));
    write("empty", "");
    write("cert", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    write("huge", std::string(1 << 20, 'A'));

    struct Case {
        const char* desc;
        const char* file;
        Exit code;
        std::string message;
    };
    const Case cases[] = {
        {"encrypted PKCS#8", "enc-pkcs8", Exit::DataErr,
         "enc-pkcs8:1: encrypted private keys are not supported"},
        {"encrypted traditional PEM", "enc-legacy", Exit::DataErr,
         "enc-legacy:1: encrypted private keys are not supported"},
        {"encrypted DER", "enc-der", Exit::DataErr,
         "enc-der: encrypted private keys are not supported"},
        {"truncated PEM names the BEGIN line", "truncated", Exit::DataErr,
         "truncated:2: truncated key: no '-----END PRIVATE KEY-----' after this BEGIN line"},
        {"corrupt base64", "corrupt", Exit::DataErr,
         "corrupt:1: malformed key: a 'PRIVATE KEY' block that does not decode"},
        {"text", "garbage", Exit::DataErr,
         "garbage: not a key: neither PEM ('-----BEGIN') nor DER"},
        {"DER that is not a key", "binary", Exit::DataErr, "binary: not a key: malformed DER"},
        {"empty", "empty", Exit::DataErr, "empty: empty file, not a key"},
        {"a certificate", "cert", Exit::DataErr, "cert:1: a 'CERTIFICATE' block, not a key"},
        {"a 1 MB line", "huge", Exit::DataErr, "huge: larger than 64 KiB"},
        {"missing", "missing", Exit::NoInput, "missing: unable to open: No such file or directory"},
    };
    for (const auto& c : cases) {
        std::string message;
        EXPECT_EQ(codeOf([&] { keys::publicKeyDer(path(c.file)); }, &message), c.code) << c.desc;
        EXPECT_THAT(message, HasSubstr(c.message)) << c.desc;
        EXPECT_THAT(message, Not(HasSubstr(bodyLine.substr(0, 16)))) << c.desc;
        EXPECT_EQ(message.find('\n'), std::string::npos) << c.desc;
    }
}

TEST_F(KeysTest, SpkiFromPublicDerTakesSpkiAndRsaPublicKey) {
    const auto rsa = makeKey("RSA");
    const auto spki = spkiOf(rsa.get());
    EXPECT_EQ(keys::spkiFromPublicDer(spki), spki);
    encode(rsa.get(), EVP_PKEY_PUBLIC_KEY, "DER", "type-specific", "pkcs1");
    const std::string pkcs1 = contentOf(path("pkcs1"));
    EXPECT_EQ(keys::spkiFromPublicDer(std::vector<std::uint8_t>(pkcs1.begin(), pkcs1.end())), spki);
    EXPECT_EQ(codeOf([] { keys::spkiFromPublicDer({0x30, 0x00}); }), Exit::DataErr);
    EXPECT_EQ(codeOf([] { keys::spkiFromPublicDer({}); }), Exit::DataErr);
}

TEST_F(KeysTest, FactsAboutPublicKeys) {
    const auto ed = makeKey("ED25519");
    const auto spki = spkiOf(ed.get());
    std::vector<std::uint8_t> raw(32);
    std::size_t length = raw.size();
    ASSERT_EQ(EVP_PKEY_get_raw_public_key(ed.get(), raw.data(), &length), 1);
    EXPECT_EQ(keys::ed25519Raw(spki), raw);
    // RFC 8410: the Ed25519 SPKI is a fixed 12-byte header and the raw key.
    EXPECT_EQ(std::vector<std::uint8_t>(spki.end() - 32, spki.end()), raw);

    const auto rsa = makeKey("RSA");
    std::string message;
    EXPECT_EQ(codeOf([&] { keys::ed25519Raw(spkiOf(rsa.get())); }, &message), Exit::DataErr);
    EXPECT_THAT(message, HasSubstr("not an Ed25519 public key"));

    const auto x = makeKey("X25519");
    EXPECT_EQ(codeOf([&] { keys::algorithmOf(spkiOf(x.get())); }, &message), Exit::DataErr);
    EXPECT_THAT(message, HasSubstr("a key of type 'X25519', not RSA, Ed25519 or ECDSA"));
    const auto k1 = makeKey("EC", "secp256k1");
    EXPECT_EQ(codeOf([&] { keys::algorithmOf(spkiOf(k1.get())); }, &message), Exit::DataErr);
    EXPECT_THAT(message, HasSubstr("curve 'secp256k1'"));

    std::vector<std::uint8_t> trailing = spkiOf(rsa.get());
    trailing.push_back(0);
    EXPECT_EQ(codeOf([&] { keys::algorithmOf(trailing); }), Exit::DataErr);
    EXPECT_EQ(codeOf([&] { keys::bitsOf({1, 2, 3}); }), Exit::DataErr);
    EXPECT_EQ(keys::toString(keys::Algorithm::EcdsaP384), "ECDSA P-384");
}

TEST_F(KeysTest, ExportEd25519SeedWritesTheSeedThatMakesTheSameKey) {
    const auto spki = keys::generate({keys::Algorithm::Ed25519, 0}, path("ed.pem"));
    keys::exportEd25519Seed(path("ed.pem"), path("seed/ed.seed"));
    EXPECT_EQ(modeOf(path("seed/ed.seed")), 0600U);
    EXPECT_EQ(modeOf(path("seed")), 0700U);
    const std::string text = contentOf(path("seed/ed.seed"));
    ASSERT_EQ(text.size(), 45U);
    EXPECT_EQ(text.back(), '\n');

    std::vector<unsigned char> seed(33);
    ASSERT_EQ(EVP_DecodeBlock(seed.data(), reinterpret_cast<const unsigned char*>(text.data()), 44),
              33);
    // 44 base64 characters decode to 33 bytes with the padding's zero byte at the end.
    const ossl::PKey rebuilt(
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), 32));
    ASSERT_TRUE(rebuilt);
    EXPECT_EQ(spkiOf(rebuilt.get()), spki);

    std::string message;
    EXPECT_EQ(
        codeOf([&] { keys::exportEd25519Seed(path("ed.pem"), path("seed/ed.seed")); }, &message),
        Exit::CantCreat);
    keys::generate({keys::Algorithm::Rsa, 1024}, path("rsa.pem"));
    EXPECT_EQ(codeOf([&] { keys::exportEd25519Seed(path("rsa.pem"), path("rsa.seed")); }, &message),
              Exit::DataErr);
    EXPECT_THAT(message, HasSubstr("rsa.pem: not an Ed25519 private key"));
    encode(ossl::PKey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                                  keys::ed25519Raw(spki).data(), 32))
               .get(),
           EVP_PKEY_PUBLIC_KEY, "PEM", "SubjectPublicKeyInfo", "ed.pub");
    EXPECT_EQ(codeOf([&] { keys::exportEd25519Seed(path("ed.pub"), path("pub.seed")); }, &message),
              Exit::DataErr);
    EXPECT_FALSE(fs::exists(path("rsa.seed")));
    EXPECT_FALSE(fs::exists(path("pub.seed")));
}

TEST(SecretBuffer, HoldsAFixedNumberOfBytes) {
    keys::SecretBuffer buffer(16);
    EXPECT_EQ(buffer.size(), 16U);
    EXPECT_EQ(buffer.span().size(), 16U);
    buffer.data()[15] = 'x';
    keys::SecretBuffer moved(std::move(buffer));
    EXPECT_EQ(moved.data()[15], 'x');
}

// ---------------------------------------------------------------- PrivateKey

namespace {

// OpenSSL's own verdict on a signature of `data` by the key `spki` (the JWS forms: PKCS#1 v1.5
// for RSA, R||S for ECDSA, turned into DER here).
bool opensslVerifies(const std::vector<std::uint8_t>& spki, const EVP_MD* md,
                     const std::string& data, std::vector<std::uint8_t> signature, bool rawEcdsa) {
    const unsigned char* p = spki.data();
    const ossl::PKey key(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size())));
    if (rawEcdsa) {
        const std::size_t half = signature.size() / 2;
        ossl::EcdsaSig sig(ECDSA_SIG_new());
        ECDSA_SIG_set0(sig.get(), BN_bin2bn(signature.data(), static_cast<int>(half), nullptr),
                       BN_bin2bn(signature.data() + half, static_cast<int>(half), nullptr));
        signature = ossl::encode(i2d_ECDSA_SIG, sig.get());
    }
    ossl::MdCtx ctx(EVP_MD_CTX_new());
    return EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key.get()) == 1 &&
           EVP_DigestVerify(ctx.get(), signature.data(), signature.size(),
                            reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
}

} // namespace

TEST_F(KeysTest, PrivateKeyLoadsEveryFormAndKnowsItsAlgorithm) {
    const auto rsa = makeKey("RSA");
    const auto p256 = makeKey("EC", "P-256");
    const auto p384 = makeKey("EC", "P-384");
    const auto ed = makeKey("ED25519");
    struct Case {
        const char* desc;
        EVP_PKEY* key;
        const char* type;
        const char* structure;
        keys::Algorithm algorithm;
    };
    const Case cases[] = {
        {"PKCS#8 PEM RSA", rsa.get(), "PEM", "PrivateKeyInfo", keys::Algorithm::Rsa},
        {"PKCS#1 PEM RSA", rsa.get(), "PEM", "type-specific", keys::Algorithm::Rsa},
        {"PKCS#8 DER RSA", rsa.get(), "DER", "PrivateKeyInfo", keys::Algorithm::Rsa},
        {"SEC1 PEM P-256", p256.get(), "PEM", "type-specific", keys::Algorithm::EcdsaP256},
        {"PKCS#8 PEM P-384", p384.get(), "PEM", "PrivateKeyInfo", keys::Algorithm::EcdsaP384},
        {"PKCS#8 PEM Ed25519", ed.get(), "PEM", "PrivateKeyInfo", keys::Algorithm::Ed25519},
    };
    int n = 0;
    for (const auto& c : cases) {
        const std::string name = "priv" + std::to_string(n++);
        encode(c.key, EVP_PKEY_KEYPAIR, c.type, c.structure, name);
        const auto key = keys::PrivateKey::load(path(name));
        EXPECT_EQ(key.algorithm(), c.algorithm) << c.desc;
        EXPECT_EQ(key.publicKeyDer(), spkiOf(c.key)) << c.desc;
    }
    // Moving keeps the key.
    keys::PrivateKey moved = keys::PrivateKey::load(path("priv0"));
    keys::PrivateKey other = std::move(moved);
    EXPECT_EQ(other.publicKeyDer(), spkiOf(rsa.get()));
}

TEST_F(KeysTest, PrivateKeyRefusesPublicKeysAndMissingFiles) {
    const auto ec = makeKey("EC", "P-256");
    encode(ec.get(), EVP_PKEY_PUBLIC_KEY, "PEM", "SubjectPublicKeyInfo", "pub.pem");
    encode(ec.get(), EVP_PKEY_PUBLIC_KEY, "DER", "SubjectPublicKeyInfo", "pub.der");
    std::string message;
    EXPECT_EQ(codeOf([&] { keys::PrivateKey::load(path("pub.pem")); }, &message), Exit::DataErr);
    EXPECT_THAT(message, HasSubstr("not a private key"));
    EXPECT_THAT(message, HasSubstr(path("pub.pem")));
    EXPECT_EQ(codeOf([&] { keys::PrivateKey::load(path("pub.der")); }), Exit::DataErr);
    EXPECT_EQ(codeOf([&] { keys::PrivateKey::load(path("missing.pem")); }), Exit::NoInput);
    encode(ec.get(), EVP_PKEY_KEYPAIR, "PEM", "PrivateKeyInfo", "enc.pem", "pass");
    EXPECT_EQ(codeOf([&] { keys::PrivateKey::load(path("enc.pem")); }, &message), Exit::DataErr);
    EXPECT_THAT(message, HasSubstr("encrypted"));
}

TEST_F(KeysTest, PrivateKeySignsAsJwsWantsAndOpenSslVerifies) {
    struct Case {
        keys::KeySpec spec;
        const EVP_MD* md;
        std::size_t size; // bytes of the signature
        bool raw;
    };
    const Case cases[] = {{{keys::Algorithm::Rsa, 2048}, EVP_sha256(), 256, false},
                          {{keys::Algorithm::EcdsaP256, 0}, EVP_sha256(), 64, true},
                          {{keys::Algorithm::EcdsaP384, 0}, EVP_sha384(), 96, true}};
    int n = 0;
    for (const auto& c : cases) {
        const std::string name = "sign" + std::to_string(n++) + ".pem";
        keys::generate(c.spec, path(name));
        const auto key = keys::PrivateKey::load(path(name));
        // ECDSA signatures whose R or S has leading zero bytes must still be the full size:
        // sign often enough that such a one comes up (1 in 128 per signature).
        for (int i = 0; i < (c.raw ? 300 : 3); ++i) {
            const std::string data = "eyJhbGciOiJFUzI1NiJ9." + std::to_string(i);
            const auto signature = key.sign(std::span<const std::uint8_t>(
                reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
            ASSERT_EQ(signature.size(), c.size) << name;
            ASSERT_TRUE(opensslVerifies(key.publicKeyDer(), c.md, data, signature, c.raw))
                << name << " " << i;
            ASSERT_FALSE(opensslVerifies(key.publicKeyDer(), c.md, data + "!", signature, c.raw))
                << name;
        }
    }
    keys::generate({keys::Algorithm::Ed25519, 0}, path("ed.pem"));
    const auto ed = keys::PrivateKey::load(path("ed.pem"));
    const std::uint8_t byte = 1;
    EXPECT_EQ(codeOf([&] { ed.sign(std::span<const std::uint8_t>(&byte, 1)); }), Exit::DataErr);
}

TEST_F(KeysTest, CsrHasTheNamesAsSanNoCnAndMustStapleOnRequest) {
    keys::generate({keys::Algorithm::EcdsaP384, 0}, path("cert.pem"));
    const auto key = keys::PrivateKey::load(path("cert.pem"));
    for (const bool staple : {false, true}) {
        const auto der =
            key.csr({"www.example.test", "example.test", "*.shop.example.test"}, staple);
        const unsigned char* p = der.data();
        const ossl::X509Req req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
        ASSERT_TRUE(req);
        ASSERT_EQ(p, der.data() + der.size());
        // Its own signature, checked by OpenSSL with the request's key, which is ours.
        EXPECT_EQ(X509_REQ_verify(req.get(), X509_REQ_get0_pubkey(req.get())), 1);
        EXPECT_EQ(spkiOf(X509_REQ_get0_pubkey(req.get())), key.publicKeyDer());
        EXPECT_EQ(X509_NAME_entry_count(X509_REQ_get_subject_name(req.get())), 0);
        EXPECT_EQ(X509_REQ_get_signature_nid(req.get()), NID_ecdsa_with_SHA384);
        // The extensions as `openssl req -text` shows them.
        ossl::Bio bio(BIO_new(BIO_s_mem()));
        X509_REQ_print(bio.get(), req.get());
        char* text = nullptr;
        const std::string printed(text,
                                  static_cast<std::size_t>(BIO_get_mem_data(bio.get(), &text)));
        EXPECT_THAT(printed,
                    HasSubstr("DNS:www.example.test, DNS:example.test, DNS:*.shop.example.test"));
        if (staple) {
            EXPECT_THAT(printed, HasSubstr("TLS Feature"));
            EXPECT_THAT(printed, HasSubstr("status_request"));
        } else {
            EXPECT_THAT(printed, Not(HasSubstr("TLS Feature")));
        }
    }
    EXPECT_EQ(codeOf([&] { key.csr({}, false); }), Exit::Usage);
    keys::generate({keys::Algorithm::Rsa, 2048}, path("rsa.pem"));
    const auto rsaDer = keys::PrivateKey::load(path("rsa.pem")).csr({"a.example.test"}, false);
    const unsigned char* p = rsaDer.data();
    const ossl::X509Req rsaReq(d2i_X509_REQ(nullptr, &p, static_cast<long>(rsaDer.size())));
    EXPECT_EQ(X509_REQ_get_signature_nid(rsaReq.get()), NID_sha256WithRSAEncryption);
}

// Certificate keys, the ACME account key and DKIM keys are all made by generate() and placed
// by deploy(): 0600 files in 0700 directories even when cron's umask is 000 (issue 7).
TEST_F(KeysTest, ModesHoldUnderUmaskZero) {
    const mode_t old = ::umask(0);
    keys::generate({keys::Algorithm::EcdsaP256, 256}, path("a/b/account.key"));
    keys::generate({keys::Algorithm::Ed25519, 0}, path("dkim/s1.key"));
    keys::deploy(path("dkim/s1.key"), path("deployed.key"));
    keys::deploy(path("a/b/account.key"), path("deployed.key"));
    ::umask(old);
    EXPECT_EQ(modeOf(path("a/b/account.key")), 0600U);
    EXPECT_EQ(modeOf(path("dkim/s1.key")), 0600U);
    EXPECT_EQ(modeOf(path("deployed.key")), 0600U) << "replaced, still 0600";
    EXPECT_EQ(modeOf(path("a")), 0700U);
    EXPECT_EQ(modeOf(path("a/b")), 0700U);
    EXPECT_EQ(modeOf(path("dkim")), 0700U);
}
