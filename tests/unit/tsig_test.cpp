#include <cstdio>
#include <fstream>
#include <gtest/gtest.h>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "libcommon/tsig.hpp"

#include "tests/unit/test_util.hpp"

using namespace cdm;
using cdm::test::codeOf;

namespace {

std::vector<std::uint8_t> fromHex(std::string_view hex) {
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out.push_back(
            static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    }
    return out;
}

std::string toHex(std::span<const std::uint8_t> bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (const auto b : bytes) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 15]);
    }
    return out;
}

std::string keyText(const std::string& name, const std::string& alg, const std::string& secret) {
    return "key \"" + name + "\" {\n\talgorithm " + alg + ";\n\tsecret \"" + secret + "\";\n};\n";
}

std::string secretHex(const tsig::Key& key) {
    return toHex({reinterpret_cast<const std::uint8_t*>(key.secret.data()), key.secret.size()});
}

// The message of `e`, and the exit code.
Exit parseError(const std::string& text, std::string* message, std::string_view wanted = {}) {
    return codeOf([&] { tsig::parseKeyFile(text, "keys.conf", wanted); }, message);
}

} // namespace

// ---------------------------------------------------------------- key files

TEST(TsigKeyFile, ReadsWhatTsigKeygenWrites) {
    // Written by `tsig-keygen -a hmac-sha384 k-sha384` (BIND 9.18.49).
    const auto key = tsig::parseKeyFile(
        "key \"k-sha384\" {\n\talgorithm hmac-sha384;\n"
        "\tsecret \"6ARMEZtXlKXdbCGXlv5WQqxZCpYEj8A3p5zPWNG99eqFYZKDY/mj4znEOUN2JqCF\";\n};\n",
        "k.key");
    EXPECT_EQ(key.name, "k-sha384.");
    EXPECT_EQ(key.algorithm, tsig::Algorithm::HmacSha384);
    ASSERT_EQ(key.secret.size(), 48U);
    EXPECT_EQ(secretHex(key).substr(0, 8), "e8044c11");
}

TEST(TsigKeyFile, ReadsAFileFromDisk) {
    const std::string path = ::testing::TempDir() + "/tsig_test.key";
    {
        std::ofstream f(path);
        f << keyText("Upd.Example.", "HMAC-SHA512", "c2VjcmV0");
    }
    const auto key = tsig::readKeyFile(path);
    EXPECT_EQ(key.name, "upd.example.");
    EXPECT_EQ(key.algorithm, tsig::Algorithm::HmacSha512);
    EXPECT_EQ(std::string(key.secret.data(), key.secret.size()), "secret");
    std::remove(path.c_str());
    EXPECT_EQ(codeOf([&] { tsig::readKeyFile(path); }), Exit::NoInput);
}

TEST(TsigKeyFile, CommentsUnquotedNamesAndClauseOrder) {
    const auto key = tsig::parseKeyFile(
        "# a comment\n// another\n/* and a\n block */\n"
        "key upd { secret \"YWJj\"; // abc\n algorithm \"hmac-md5.sig-alg.reg.int\"; };",
        "k.key");
    EXPECT_EQ(key.name, "upd.");
    EXPECT_EQ(key.algorithm, tsig::Algorithm::HmacMd5);
    EXPECT_EQ(std::string(key.secret.data(), key.secret.size()), "abc");
}

TEST(TsigKeyFile, SeveralKeysArePickedByName) {
    const std::string text = keyText("one", "hmac-sha1", "b25l") +
                             keyText("two.example", "hmac-sha224", "dHdv") +
                             keyText("three", "hmac-sha256", "dGhyZWU=");
    const auto two = tsig::parseKeyFile(text, "keys.conf", "TWO.example.");
    EXPECT_EQ(two.name, "two.example.");
    EXPECT_EQ(two.algorithm, tsig::Algorithm::HmacSha224);
    EXPECT_EQ(std::string(two.secret.data(), two.secret.size()), "two");
    const auto three = tsig::parseKeyFile(text, "keys.conf", "three");
    EXPECT_EQ(std::string(three.secret.data(), three.secret.size()), "three");

    std::string message;
    EXPECT_EQ(parseError(text, &message), Exit::Config);
    EXPECT_EQ(message, "keys.conf: the file holds 3 keys ('one.', 'two.example.', 'three.'); "
                       "choose one with 'key'");
    EXPECT_EQ(parseError(text, &message, "four"), Exit::Config);
    EXPECT_EQ(message,
              "keys.conf: no key 'four' in the file (it holds 'one.', 'two.example.', 'three.')");
}

TEST(TsigKeyFile, ErrorsNameTheLine) {
    struct Case {
        std::string text;
        std::string message;
    };
    const std::vector<Case> cases = {
        {"", "keys.conf: no key in the file (expected: key \"NAME\" { algorithm ALG; secret "
             "\"BASE64\"; };)"},
        {"\n\noptions { };", "keys.conf:3: expected 'key', found 'options'"},
        {"key \"k\" {\n algorithm hmac-sha999;\n secret \"YWJj\";\n};",
         "keys.conf:2: unknown TSIG algorithm 'hmac-sha999' (one of hmac-md5, hmac-sha1, "
         "hmac-sha224, "
         "hmac-sha256, hmac-sha384, hmac-sha512)"},
        {"key \"k\" {\n algorithm hmac-sha256-128;\n secret \"YWJj\";\n};",
         "keys.conf:2: unknown TSIG algorithm 'hmac-sha256-128' (one of hmac-md5, hmac-sha1, "
         "hmac-sha224, "
         "hmac-sha256, hmac-sha384, hmac-sha512)"},
        {"key \"k\" {\n algorithm hmac-sha256\n secret \"YWJj\";\n};",
         "keys.conf:3: expected ';' after the algorithm, found 'secret'"},
        {"key \"k\" {\n algorithm hmac-sha256;\n\n secret \"not base64!\";\n};",
         "keys.conf:4: the secret of key 'k.' is not base64"},
        {"key \"k\" {\n algorithm hmac-sha256;\n secret \"YWJ\";\n};",
         "keys.conf:3: the secret of key 'k.' is not base64"},
        {"key \"k\" {\n algorithm hmac-sha256;\n};", "keys.conf:1: key 'k.' has no 'secret'"},
        {"\nkey \"k\" {\n secret \"YWJj\";\n};", "keys.conf:2: key 'k.' has no 'algorithm'"},
        {"key \"k\" {\n algorithm hmac-sha256;\n secret \"YWJj\";\n secret \"YWJj\";\n};",
         "keys.conf:4: key 'k.' has a second 'secret'"},
        {"key \"k\" {\n algorithm hmac-sha256;\n algorithm hmac-sha1;\n};",
         "keys.conf:3: key 'k.' has a second 'algorithm'"},
        {"key \"k\" {\n algorithm hmac-sha256;\n secret \"YWJj\";\n owner me;\n};",
         "keys.conf:4: unknown clause 'owner' in key 'k.' (expected 'algorithm' or 'secret')"},
        {"key \"k\" {\n algorithm hmac-sha256;\n secret \"YWJj\";\n}\n",
         "keys.conf:5: expected ';' after the '}' of key 'k.', found the end of the file"},
        {"key \"k\" {\n algorithm hmac-sha256;\n secret \"YWJj;\n};\n",
         "keys.conf:3: unterminated quoted string"},
        {"key \"k\" {\n /* algorithm hmac-sha256;\n secret \"YWJj\";\n};\n",
         "keys.conf:2: unterminated comment"},
        {"key {\n algorithm hmac-sha256;\n};",
         "keys.conf:1: expected a key name after 'key', found '{'"},
        {"key k\n algorithm hmac-sha256;\n};",
         "keys.conf:2: expected '{' after the key name, found 'algorithm'"},
        {"key \"a..b\" { };", "keys.conf:1: invalid name 'a..b': empty label"},
        {keyText("k", "hmac-sha1", "YWJj") + "\n" + keyText("K.", "hmac-sha1", "YWJj"),
         "keys.conf:6: key 'k.' is defined twice (first on line 1)"},
    };
    for (const auto& c : cases) {
        std::string message;
        EXPECT_EQ(parseError(c.text, &message), Exit::Config) << c.text;
        EXPECT_EQ(message, c.message) << c.text;
    }
}

TEST(TsigKeyFile, MessagesNeverShowTheSecret) {
    const std::string secret = "c2VjcmV0IHNlY3JldA==";
    for (const auto& text : std::vector<std::string>{
             "key \"k\" { algorithm hmac-sha999; secret \"" + secret + "\"; };",
             "key \"k\" { secret \"" + secret + "\"; algorithm hmac-sha999; };",
             "key \"k\" { secret \"" + secret + "!\"; algorithm hmac-sha256; };",
             "key \"k\" { secret \"" + secret + "\" algorithm hmac-sha256; };"}) {
        std::string message;
        EXPECT_EQ(parseError(text, &message), Exit::Config);
        EXPECT_EQ(message.find(secret.substr(0, 8)), std::string::npos) << message;
    }
    std::string message;
    EXPECT_EQ(codeOf(
                  [&] {
                      tsig::makeKey("k", "hmac-sha256", secret + "!", Location{"cdm.conf", 7, {}});
                  },
                  &message),
              Exit::Config);
    EXPECT_EQ(message, "cdm.conf:7: the secret of key 'k.' is not base64");
}

TEST(TsigKeyFile, MakeKeyFromParts) {
    const auto key = tsig::makeKey("Upd", "hmac-sha224", "YWJj ZGVm", {});
    EXPECT_EQ(key.name, "upd.");
    EXPECT_EQ(key.algorithm, tsig::Algorithm::HmacSha224);
    EXPECT_EQ(std::string(key.secret.data(), key.secret.size()), "abcdef");
    std::string message;
    EXPECT_EQ(codeOf([] { tsig::makeKey("k", "hmac-sha3", "YWJj", {}); }, &message), Exit::Config);
    EXPECT_EQ(
        message,
        "unknown TSIG algorithm 'hmac-sha3' (one of hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, "
        "hmac-sha384, hmac-sha512)");
}

TEST(TsigAlgorithm, NamesAndSizes) {
    EXPECT_EQ(tsig::algorithmFromString("HMAC-SHA384."), tsig::Algorithm::HmacSha384);
    EXPECT_EQ(tsig::algorithmFromString("hmac-md5"), tsig::Algorithm::HmacMd5);
    EXPECT_EQ(tsig::algorithmFromString("hmac-md5.sig-alg.reg.int."), tsig::Algorithm::HmacMd5);
    EXPECT_FALSE(
        tsig::algorithmFromString("hmac-sha384.sig-alg.reg.int")); // ldns 1.8.3's misspelling
    EXPECT_FALSE(tsig::algorithmFromString("gss-tsig"));
    EXPECT_EQ(tsig::wireName(tsig::Algorithm::HmacMd5), "hmac-md5.sig-alg.reg.int.");
    EXPECT_EQ(tsig::wireName(tsig::Algorithm::HmacSha224), "hmac-sha224.");
    EXPECT_EQ(tsig::macSize(tsig::Algorithm::HmacSha224), 28U);
    EXPECT_EQ(tsig::macSize(tsig::Algorithm::HmacSha512), 64U);
    EXPECT_EQ(tsig::errorName(16), "BADSIG");
    EXPECT_EQ(tsig::errorName(18), "BADTIME");
    EXPECT_EQ(tsig::errorName(99), "TSIG error 99");
}

// ---------------------------------------------------------------- MACs against BIND

namespace {

// Captured on the wire (a UDP relay between dig and named printed both datagrams):
//   tsig-keygen -a hmac-ALG k-ALG > k-ALG.key    (one key each, named.conf includes them)
//   dig -p RELAY @127.0.0.1 -k k-ALG.key www.lab.test A
// dig 9.18.49 signed the query; named 9.18.49 signed the response, and dig verified it.
// The oracle for signing is dig (ISC's code), for verifying named: neither is cdm's.
struct Vector {
    const char* algorithm;
    const char* keyName;
    const char* secret;
    const char* query;
    const char* response;
};

const Vector vectors[] = {
    {"hmac-md5", "k-md5", "cL2w4C+Y4YyNzoL2Yl3WVg==",
     "69990120000100000000000203777777036c61620474657374000001000100002904d000000000000c000a00"
     "08139cd50b0cae0c9b056b2d6d64350000fa00ff00000000003a08686d61632d6d6435077369672d616c6703"
     "72656703696e740000006b04941a012c0010df6a019f563887ad040f058e39fdd84e699900000000",
     "69998500000100010000000203777777036c616204746573740000010001c00c000100010000003c00047f00"
     "000100002904d000000000001c000a0018139cd50b0cae0c9b010000006b04941aa68c4f035bbc82af056b2d"
     "6d64350000fa00ff00000000003a08686d61632d6d6435077369672d616c670372656703696e740000006b04"
     "941a012c0010a2c1e6f2b3d65688c6a47fb375f31b50699900000000"},
    {"hmac-sha1", "k-sha1", "6yU9VotluFykYSxQKKq1ib0KM+0=",
     "40970120000100000000000203777777036c61620474657374000001000100002904d000000000000c000a00"
     "08a1bb8ec512a0138d066b2d736861310000fa00ff00000000002f09686d61632d736861310000006b04941a"
     "012c0014cbc37d2d4820cc4dd9d7efa9ddeaea523e27808a409700000000",
     "40978500000100010000000203777777036c616204746573740000010001c00c000100010000003c00047f00"
     "000100002904d000000000001c000a0018a1bb8ec512a0138d010000006b04941aa6852d83bdcc36fa066b2d"
     "736861310000fa00ff00000000002f09686d61632d736861310000006b04941a012c00147cda6f0252f81363"
     "9e4eb590b7f59f7a339082d5409700000000"},
    {"hmac-sha224", "k-sha224", "nmXlQbtdAvwX3zV3hSNcGSwaVrh6dTD8Qu2a8A==",
     "f48c0120000100000000000203777777036c61620474657374000001000100002904d000000000000c000a00"
     "08bb98a4f0c85c2675086b2d7368613232340000fa00ff0000000000390b686d61632d736861323234000000"
     "6b04941b012c001c5e89e4edc4055770a5cb2ad43d634f8007e5ebafd95412dfc3cbf629f48c00000000",
     "f48c8500000100010000000203777777036c616204746573740000010001c00c000100010000003c00047f00"
     "000100002904d000000000001c000a0018bb98a4f0c85c2675010000006b04941b53fabc1b91e73f34086b2d"
     "7368613232340000fa00ff0000000000390b686d61632d7368613232340000006b04941b012c001c49ffe9f2"
     "1f688d8607be1f2a32b7d5dfe48e7469a33ae5c122e20181f48c00000000"},
    {"hmac-sha256", "k-sha256", "RwhYjlySDpTEXHqJw2WzXS/u6xg7RTyV3c072qQZLc8=",
     "404e0120000100000000000203777777036c61620474657374000001000100002904d000000000000c000a00"
     "082a72959713eea54c086b2d7368613235360000fa00ff00000000003d0b686d61632d736861323536000000"
     "6b04941b012c0020587591ccbb6bd63ded233364df526b246e99566a54b2885f84b85ceda8ccf68b404e0000"
     "0000",
     "404e8500000100010000000203777777036c616204746573740000010001c00c000100010000003c00047f00"
     "000100002904d000000000001c000a00182a72959713eea54c010000006b04941bafcef3549376672d086b2d"
     "7368613235360000fa00ff00000000003d0b686d61632d7368613235360000006b04941b012c002019228024"
     "5f92b1545a9e778167245440b8e8728832144b18c3714c17ab98cc50404e00000000"},
    {"hmac-sha384", "k-sha384", "6ARMEZtXlKXdbCGXlv5WQqxZCpYEj8A3p5zPWNG99eqFYZKDY/mj4znEOUN2JqCF",
     "64e10120000100000000000203777777036c61620474657374000001000100002904d000000000000c000a00"
     "085e2163d7bf10a438086b2d7368613338340000fa00ff00000000004d0b686d61632d736861333834000000"
     "6b04941b012c003011a17b926a2e1a60ce23a69dcfd7f0b7a075de9d136dbbbc4879e368cf4fec100232a69d"
     "c7642823af1bb48826747d3f64e100000000",
     "64e18500000100010000000203777777036c616204746573740000010001c00c000100010000003c00047f00"
     "000100002904d000000000001c000a00185e2163d7bf10a438010000006b04941b155a5757f45d19ff086b2d"
     "7368613338340000fa00ff00000000004d0b686d61632d7368613338340000006b04941b012c0030aba10532"
     "2a018d048fb948a1862c7341c4c51e2793a5255f3718d076f5fc2659a02de358b428be30e7696166c8a25bc4"
     "64e100000000"},
    {"hmac-sha512", "k-sha512",
     "K7xU3DOs1AylCMtOGJ0L/PHKqocVksn57ovPS4UTI6l8Cs/EtSqIQVYtEnWgxDoiGwxg4hwh/Vf9MHnuRR5RLw==",
     "04830120000100000000000203777777036c61620474657374000001000100002904d000000000000c000a00"
     "085c74b8b0bc18397a086b2d7368613531320000fa00ff00000000005d0b686d61632d736861353132000000"
     "6b04968a012c0040bdab13ad23a4578f12f05fd566f66f99bf8e11578faed53ee91d3685dca39bc86738b9ad"
     "f013187be056161868c7eb4072a7bc843d30d3d5d6022fb485ff9766048300000000",
     "04838500000100010000000203777777036c616204746573740000010001c00c000100010000003c00047f00"
     "000100002904d000000000001c000a00185c74b8b0bc18397a010000006b04968a69b6ca47324ab4af086b2d"
     "7368613531320000fa00ff00000000005d0b686d61632d7368613531320000006b04968a012c00403aecd1be"
     "df2882ae6432a22ef4f6c3bb9bf62e2a4306ae8929e5a716a90f5b2047a4efd951496c698133312011417be7"
     "4eed8194992044746263a36aca51bfe6048300000000"},
};

// Also captured from the relay: an UPDATE that nsupdate 9.18.49 signed with k-sha224
//   prereq nxrrset cap.lab.test. TXT / update add cap.lab.test. 300 IN TXT "captured"
// and named's signed NOERROR response.
const char* updateSha224 =
    "d6be28000001000100010001036c61620474657374000006000103636170c00c001000fe000000000000c01a"
    "001000010000012c0009086361707475726564086b2d7368613232340000fa00ff0000000000390b686d6163"
    "2d7368613232340000006b04968f012c001c642c4b04317de4afebc910c8597a3f54f690ceb60d77b9cfb9cf"
    "cbf6d6be00000000";
const char* updateSha224Response =
    "d6bea8000001000000000001036c616204746573740000060001086b2d7368613232340000fa00ff00000000"
    "00390b686d61632d7368613232340000006b04968f012c001c119000a8c55a31cbdea4fddba345b9549212d2"
    "9bd24b1e215fc372e1d6be00000000";

tsig::Key keyOf(const Vector& v) {
    return tsig::makeKey(v.keyName, v.algorithm, v.secret, {});
}

// The time a captured message was signed at (the 48-bit field after the algorithm name).
std::uint64_t timeOf(const std::vector<std::uint8_t>& message, const tsig::Key& key) {
    tsig::Verifier probe(key, {});
    return probe.verify(message, 0).timeSigned;
}

// The MAC of dig's query, computed by cdm (checked against dig's in EveryAlgorithmSignsAsDigDoes).
std::vector<std::uint8_t> requestMacOf(const Vector& v, const tsig::Key& key) {
    const auto request = fromHex(v.query);
    const auto found = tsig::Verifier(key, {}).verify(request, 0);
    auto plain = tsig::stripped(request, found.tsigOffset);
    return tsig::sign(key, plain, found.timeSigned);
}

} // namespace

TEST(TsigSign, EveryAlgorithmSignsAsDigDoes) {
    for (const auto& v : vectors) {
        const auto key = keyOf(v);
        const auto signedByDig = fromHex(v.query);
        tsig::Verifier probe(key, {});
        const auto found = probe.verify(signedByDig, 0);
        ASSERT_LT(found.tsigOffset, signedByDig.size()) << v.algorithm;
        // Strip dig's TSIG record, sign again at dig's time: the same octets, MAC included.
        auto message = tsig::stripped(signedByDig, found.tsigOffset);
        const auto mac = tsig::sign(key, message, found.timeSigned);
        EXPECT_EQ(mac.size(), tsig::macSize(key.algorithm)) << v.algorithm;
        EXPECT_EQ(toHex(message), toHex(signedByDig)) << v.algorithm;
        EXPECT_EQ(message.size() - found.tsigOffset, tsig::recordSize(key)) << v.algorithm;
    }
}

TEST(TsigVerify, EveryAlgorithmVerifiesWhatNamedSigned) {
    for (const auto& v : vectors) {
        const auto key = keyOf(v);
        const std::uint64_t t = timeOf(fromHex(v.query), key);
        const auto requestMac = requestMacOf(v, key);
        const auto response = fromHex(v.response);

        tsig::Verifier verifier(key, requestMac);
        const auto c = verifier.verify(response, t + 1);
        EXPECT_EQ(c.status, tsig::Check::Status::Ok)
            << v.algorithm << ": " << tsig::toString(c.status);
        EXPECT_EQ(c.error, 0) << v.algorithm;
        // The message without TSIG is what ldns parses: same header, one record fewer.
        const auto plainResponse = tsig::stripped(response, c.tsigOffset);
        EXPECT_EQ(plainResponse.size(), c.tsigOffset);
        EXPECT_EQ(plainResponse[11] + 1, response[11]);
    }
}

TEST(TsigVerify, RejectsTamperingWrongKeysAndStaleTimes) {
    const auto& v = vectors[4]; // hmac-sha384
    const auto key = keyOf(v);
    const std::uint64_t t = timeOf(fromHex(v.query), key);
    const auto requestMac = requestMacOf(v, key);
    const auto response = fromHex(v.response);

    auto flipped = response;
    flipped[43] ^= 1; // the answer's address: 127.0.0.1 -> 127.1.0.1
    EXPECT_EQ(tsig::Verifier(key, requestMac).verify(flipped, t).status,
              tsig::Check::Status::BadMac);

    auto otherRequest = requestMac;
    otherRequest[0] ^= 1;
    EXPECT_EQ(tsig::Verifier(key, otherRequest).verify(response, t).status,
              tsig::Check::Status::BadMac);

    const auto otherSecret = tsig::makeKey(v.keyName, v.algorithm, "YWJj", {});
    EXPECT_EQ(tsig::Verifier(otherSecret, requestMac).verify(response, t).status,
              tsig::Check::Status::BadMac);
    const auto otherName = tsig::makeKey("k-other", v.algorithm, v.secret, {});
    EXPECT_EQ(tsig::Verifier(otherName, requestMac).verify(response, t).status,
              tsig::Check::Status::WrongKey);
    const auto otherAlgorithm = tsig::makeKey(v.keyName, "hmac-sha512", v.secret, {});
    EXPECT_EQ(tsig::Verifier(otherAlgorithm, requestMac).verify(response, t).status,
              tsig::Check::Status::WrongKey);

    EXPECT_EQ(tsig::Verifier(key, requestMac).verify(response, t + 300).status,
              tsig::Check::Status::Ok);
    EXPECT_EQ(tsig::Verifier(key, requestMac).verify(response, t + 301).status,
              tsig::Check::Status::BadTime);
    EXPECT_EQ(tsig::Verifier(key, requestMac).verify(response, t - 301).status,
              tsig::Check::Status::BadTime);

    // Cut short: malformed, never a crash.
    for (std::size_t n : {0UL, 11UL, 12UL, 40UL, response.size() - 1}) {
        const std::vector<std::uint8_t> cut(response.begin(),
                                            response.begin() + static_cast<std::ptrdiff_t>(n));
        const auto s = tsig::Verifier(key, requestMac).verify(cut, t).status;
        EXPECT_TRUE(s == tsig::Check::Status::Malformed || s == tsig::Check::Status::Unsigned) << n;
    }
}

TEST(TsigVerify, AnUnsignedFirstAnswerIsUnsigned) {
    const auto& v = vectors[3];
    const auto key = keyOf(v);
    const auto response = fromHex(v.response);
    tsig::Verifier probe(key, {});
    const auto c = probe.verify(response, 0);
    const auto plain = tsig::stripped(response, c.tsigOffset);
    EXPECT_EQ(tsig::Verifier(key, {}).verify(plain, 0).status, tsig::Check::Status::Unsigned);
}

TEST(TsigVerify, NamedsBadsigAndBadkeyAnswersAreRejections) {
    // Captured as above: dig -y hmac-sha384:k-sha384:<another secret>, and
    // dig -y hmac-sha256:nosuchkey:<a secret>. named answers NOTAUTH with an unsigned TSIG
    // record carrying the error (RFC 8945 §5.3.2).
    const auto badsig = fromHex(
        "75048109000100000000000203777777036c61620474657374000001000100002904d000000000001c000a0018"
        "2d3d2d1e8003620e010000006b04973e91abf0171a231fde086b2d7368613338340000fa00ff00000000001d0b"
        "686d61632d7368613338340000006b04973e012c0000750400100000");
    const auto key384 = keyOf(vectors[4]);
    const auto c = tsig::Verifier(key384, std::vector<std::uint8_t>(48, 0)).verify(badsig, 0);
    EXPECT_EQ(c.status, tsig::Check::Status::Rejected);
    EXPECT_EQ(c.error, tsig::badSig);
    EXPECT_EQ(badsig[3] & 0x0f, 9); // NOTAUTH

    const auto badkey = fromHex(
        "54448109000100000000000203777777036c61620474657374000001000100002904d000000000001c000a0018"
        "8aa42ff8345482d0010000006b04973fd3edbf06286a6374096e6f737563686b65790000fa00ff0000000000"
        "1d0b686d61632d7368613235360000006b04973f012c0000544400110000");
    const auto nosuch = tsig::makeKey("nosuchkey", "hmac-sha256", "YWJj", {});
    const auto k = tsig::Verifier(nosuch, std::vector<std::uint8_t>(32, 0)).verify(badkey, 0);
    EXPECT_EQ(k.status, tsig::Check::Status::Rejected);
    EXPECT_EQ(k.error, tsig::badKey);
}

TEST(TsigSign, AnUpdateSignedAsNsupdateDoesAndNamedsAnswerVerifies) {
    const auto key =
        tsig::makeKey("k-sha224", "hmac-sha224", "nmXlQbtdAvwX3zV3hSNcGSwaVrh6dTD8Qu2a8A==", {});
    const auto signedByNsupdate = fromHex(updateSha224);
    const auto c = tsig::Verifier(key, {}).verify(signedByNsupdate, 0);
    auto message = tsig::stripped(signedByNsupdate, c.tsigOffset);
    const auto mac = tsig::sign(key, message, c.timeSigned);
    EXPECT_EQ(toHex(message), toHex(signedByNsupdate));

    tsig::Verifier verifier(key, mac);
    const auto r = verifier.verify(fromHex(updateSha224Response), c.timeSigned);
    EXPECT_EQ(r.status, tsig::Check::Status::Ok);
}

TEST(TsigVerify, LaterMessagesOfAStreamCoverTheUnsignedOnesBefore) {
    // RFC 8945 §5.3.1 for a zone transfer: the first answer is verified against the request's
    // MAC, each later signed one against the MAC before it, covering the unsigned messages
    // in between and only the timers. named signs every message, so cdm's own signer builds
    // the later messages here; the bats suite transfers a zone of many messages from named.
    const auto key = keyOf(vectors[5]);
    const auto first = fromHex(vectors[5].response);
    const std::uint64_t t = timeOf(fromHex(vectors[5].query), key);
    const auto requestMac = requestMacOf(vectors[5], key);

    tsig::Verifier verifier(key, requestMac);
    const auto c1 = verifier.verify(first, t);
    ASSERT_EQ(c1.status, tsig::Check::Status::Ok);
    const auto mac1 = std::vector<std::uint8_t>(first.end() - 6 - 64, first.end() - 6);

    // Message 2 unsigned, message 3 signed over: MAC1, message 2, message 3, timers.
    const std::vector<std::uint8_t> m2 = tsig::stripped(first, c1.tsigOffset);
    std::vector<std::uint8_t> m3 = m2;
    m3[1] ^= 0x55;
    std::vector<std::uint8_t> input;
    input.push_back(0);
    input.push_back(64);
    input.insert(input.end(), mac1.begin(), mac1.end());
    input.insert(input.end(), m2.begin(), m2.end());
    input.insert(input.end(), m3.begin(), m3.end());
    for (int shift = 40; shift >= 0; shift -= 8) {
        input.push_back(static_cast<std::uint8_t>((t >> shift) & 0xff));
    }
    input.push_back(0x01);
    input.push_back(0x2c);
    const auto mac3 = tsig::hmac(key, input);
    // The TSIG record as dig's vector has it, with this MAC.
    std::vector<std::uint8_t> signed3 = m3;
    signed3.insert(signed3.end(), first.begin() + static_cast<std::ptrdiff_t>(c1.tsigOffset),
                   first.end());
    std::copy(mac3.begin(), mac3.end(), signed3.end() - 6 - 64);
    signed3[signed3.size() - 6] = m3[0]; // original ID
    signed3[signed3.size() - 5] = m3[1];
    signed3[11] = static_cast<std::uint8_t>(signed3[11] + 1);

    EXPECT_EQ(verifier.verify(m2, t).status, tsig::Check::Status::Unsigned);
    EXPECT_EQ(verifier.verify(signed3, t).status, tsig::Check::Status::Ok);

    // Without message 2 in between, the same message does not verify.
    tsig::Verifier skipping(key, requestMac);
    ASSERT_EQ(skipping.verify(first, t).status, tsig::Check::Status::Ok);
    EXPECT_EQ(skipping.verify(signed3, t).status, tsig::Check::Status::BadMac);
}

TEST(TsigVerify, DamagedAnswersAreNeverTrusted) {
    // Every single-octet change of a signed answer: rejected (or not DNS), never a crash and
    // never Ok. Not the ID in the header: the MAC covers the TSIG record's original ID
    // instead (RFC 8945 §4.3.3, so that a forwarder may change it); the provider compares
    // the header's ID with its request's itself.
    const auto& v = vectors[2]; // hmac-sha224
    const auto key = keyOf(v);
    const std::uint64_t t = timeOf(fromHex(v.query), key);
    const auto requestMac = requestMacOf(v, key);
    const auto response = fromHex(v.response);
    for (std::size_t i = 2; i < response.size(); ++i) {
        for (const unsigned x : {0x01U, 0x80U, 0xffU}) {
            auto damaged = response;
            damaged[i] = static_cast<std::uint8_t>(damaged[i] ^ x);
            const auto c = tsig::Verifier(key, requestMac).verify(damaged, t);
            EXPECT_NE(c.status, tsig::Check::Status::Ok) << "octet " << i << " ^ " << x;
        }
    }
}
