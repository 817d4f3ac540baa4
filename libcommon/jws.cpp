#include "libcommon/jws.hpp"

#include <array>
#include <optional>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "libcommon/error.hpp"
#include "libcommon/ossl.hpp"

namespace cdm::jws {

namespace json = boost::json;

namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int valueOf(char c) {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '-') {
        return 62;
    }
    if (c == '_') {
        return 63;
    }
    return -1;
}

// Decode into `out` (which must hold text.size() * 3 / 4 bytes); the decoded length, or
// nullopt for text that is not base64url.
std::optional<std::size_t> decodeInto(std::string_view text, std::uint8_t* out) {
    while (!text.empty() && text.back() == '=') {
        text.remove_suffix(1);
    }
    if (text.size() % 4 == 1) {
        return std::nullopt;
    }
    std::size_t n = 0;
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        const int v = valueOf(c);
        if (v < 0) {
            return std::nullopt;
        }
        acc = (acc << 6U) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = static_cast<std::uint8_t>((acc >> static_cast<unsigned>(bits)) & 0xffU);
        }
    }
    return n;
}

std::vector<std::uint8_t> bytesOfBn(EVP_PKEY* key, const char* name, int pad) {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) {
        ERR_clear_error();
        throw Error(Exit::DataErr, std::string("the public key has no '") + name + "'");
    }
    const ossl::BigNum bn(raw);
    const int size = pad > 0 ? pad : BN_num_bytes(bn.get());
    std::vector<std::uint8_t> out(static_cast<std::size_t>(size));
    if (pad > 0 ? BN_bn2binpad(bn.get(), out.data(), pad) != pad
                : BN_bn2bin(bn.get(), out.data()) != size) {
        throw Error(Exit::DataErr, std::string("the public key's '") + name + "' is too large");
    }
    return out;
}

std::string text(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_string()) {
        throw Error(Exit::DataErr, "the JWK has no \"" + std::string(key) + "\"");
    }
    return std::string(v->as_string());
}

std::string sha256(std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int length = 0;
    if (EVP_Digest(data.data(), data.size(), md.data(), &length, EVP_sha256(), nullptr) != 1) {
        throw Error(Exit::Software, "unable to compute SHA-256");
    }
    return std::string(reinterpret_cast<const char*>(md.data()), length);
}

} // namespace

std::string base64url(std::span<const std::uint8_t> data) {
    std::string out;
    out.reserve((data.size() * 4 + 2) / 3);
    std::size_t i = 0;
    for (; i + 3 <= data.size(); i += 3) {
        const std::uint32_t v =
            (std::uint32_t{data[i]} << 16U) | (std::uint32_t{data[i + 1]} << 8U) | data[i + 2];
        out += alphabet[(v >> 18U) & 63U];
        out += alphabet[(v >> 12U) & 63U];
        out += alphabet[(v >> 6U) & 63U];
        out += alphabet[v & 63U];
    }
    if (data.size() - i == 1) {
        const std::uint32_t v = std::uint32_t{data[i]} << 16U;
        out += alphabet[(v >> 18U) & 63U];
        out += alphabet[(v >> 12U) & 63U];
    } else if (data.size() - i == 2) {
        const std::uint32_t v =
            (std::uint32_t{data[i]} << 16U) | (std::uint32_t{data[i + 1]} << 8U);
        out += alphabet[(v >> 18U) & 63U];
        out += alphabet[(v >> 12U) & 63U];
        out += alphabet[(v >> 6U) & 63U];
    }
    return out;
}

std::string base64url(std::string_view data) {
    return base64url(std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

std::vector<std::uint8_t> base64urlDecode(std::string_view text) {
    std::vector<std::uint8_t> out(text.size() * 3 / 4 + 1);
    const auto n = decodeInto(text, out.data());
    if (!n) {
        throw Error(Exit::DataErr, "not base64url text");
    }
    out.resize(*n);
    return out;
}

std::string_view algorithmFor(keys::Algorithm algorithm) {
    switch (algorithm) {
    case keys::Algorithm::Rsa:
        return "RS256";
    case keys::Algorithm::EcdsaP256:
        return "ES256";
    case keys::Algorithm::EcdsaP384:
        return "ES384";
    case keys::Algorithm::Ed25519:
        break;
    }
    throw Error(Exit::DataErr,
                "Ed25519 keys cannot sign for ACME (RFC 8555 CAs take RS256 and ES256/ES384)");
}

json::object jwk(const std::vector<std::uint8_t>& spki) {
    const keys::Algorithm algorithm = keys::algorithmOf(spki);
    const unsigned char* p = spki.data();
    const ossl::PKey key(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size())));
    if (!key) {
        ERR_clear_error();
        throw Error(Exit::DataErr, "not a SubjectPublicKeyInfo");
    }
    json::object out;
    switch (algorithm) {
    case keys::Algorithm::Rsa:
        out["e"] = base64url(bytesOfBn(key.get(), OSSL_PKEY_PARAM_RSA_E, 0));
        out["kty"] = "RSA";
        out["n"] = base64url(bytesOfBn(key.get(), OSSL_PKEY_PARAM_RSA_N, 0));
        return out;
    case keys::Algorithm::EcdsaP256:
    case keys::Algorithm::EcdsaP384: {
        const int size = algorithm == keys::Algorithm::EcdsaP256 ? 32 : 48;
        out["crv"] = algorithm == keys::Algorithm::EcdsaP256 ? "P-256" : "P-384";
        out["kty"] = "EC";
        out["x"] = base64url(bytesOfBn(key.get(), OSSL_PKEY_PARAM_EC_PUB_X, size));
        out["y"] = base64url(bytesOfBn(key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, size));
        return out;
    }
    case keys::Algorithm::Ed25519:
        break;
    }
    throw Error(Exit::DataErr, "an Ed25519 key has no JWK for ACME");
}

std::string canonicalJwk(const json::object& key) {
    const std::string kty = text(key, "kty");
    std::vector<std::string_view> members;
    if (kty == "RSA") {
        members = {"e", "kty", "n"};
    } else if (kty == "EC") {
        members = {"crv", "kty", "x", "y"};
    } else if (kty == "OKP") {
        members = {"crv", "kty", "x"};
    } else if (kty == "oct") {
        members = {"k", "kty"};
    } else {
        throw Error(Exit::DataErr, "a JWK of type '" + kty + "'");
    }
    std::string out = "{";
    for (const auto m : members) {
        if (out.size() > 1) {
            out += ',';
        }
        out += json::serialize(json::string(m));
        out += ':';
        out += json::serialize(json::string(text(key, m)));
    }
    return out + "}";
}

std::string thumbprint(const json::object& key) {
    return base64url(sha256(canonicalJwk(key)));
}

std::string sign(const keys::PrivateKey& key, std::string_view url, std::string_view nonce,
                 std::string_view kid, std::string_view payload) {
    json::object header;
    header["alg"] = algorithmFor(key.algorithm());
    if (kid.empty()) {
        header["jwk"] = jwk(key.publicKeyDer());
    } else {
        header["kid"] = kid;
    }
    header["nonce"] = nonce;
    header["url"] = url;
    const std::string protectedPart = base64url(json::serialize(header));
    const std::string payloadPart = base64url(payload);
    const std::string input = protectedPart + "." + payloadPart;
    const auto signature = key.sign(std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(input.data()), input.size()));
    json::object out;
    out["protected"] = protectedPart;
    out["payload"] = payloadPart;
    out["signature"] = base64url(signature);
    return json::serialize(out);
}

json::object externalAccountBinding(const json::object& accountJwk, std::string_view eabKid,
                                    std::string_view hmacKey, std::string_view url) {
    if (eabKid.empty()) {
        throw Error(Exit::Config, "the External Account Binding has no key identifier (eab_kid)");
    }
    keys::SecretBuffer key(hmacKey.size() * 3 / 4 + 1);
    const auto length = decodeInto(hmacKey, reinterpret_cast<std::uint8_t*>(key.data()));
    if (!length) {
        throw Error(Exit::Config, "the External Account Binding HMAC key is not base64url");
    }
    if (*length == 0) {
        throw Error(Exit::Config, "the External Account Binding HMAC key is empty");
    }
    json::object header;
    header["alg"] = "HS256";
    header["kid"] = eabKid;
    header["url"] = url;
    const std::string protectedPart = base64url(json::serialize(header));
    const std::string payloadPart = base64url(json::serialize(accountJwk));
    const std::string input = protectedPart + "." + payloadPart;
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    std::size_t macLength = 0;
    if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), *length,
                  reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(),
                  mac.size(), &macLength) == nullptr) {
        ERR_clear_error();
        throw Error(Exit::Software, "unable to compute the External Account Binding MAC");
    }
    json::object out;
    out["protected"] = protectedPart;
    out["payload"] = payloadPart;
    out["signature"] = base64url(std::span<const std::uint8_t>(mac.data(), macLength));
    return out;
}

} // namespace cdm::jws
