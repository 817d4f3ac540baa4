#include "libcommon/keys.hpp"

#include <pwd.h>
#include <cerrno>
#include <cstring>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <optional>
#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "libcommon/error.hpp"
#include "libcommon/fsutil.hpp"
#include "libcommon/ossl.hpp"

namespace cdm::keys {

namespace {

// A 4096-bit RSA key in PEM is about 3.3 kB; anything near this cap is not a key.
constexpr std::size_t maxKeyFileBytes = 64 * 1024;

Location at(const std::string& path, unsigned line = 0) {
    return Location{path, line, {}};
}

std::string parentOf(const std::string& path) {
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) {
        return {};
    }
    return slash == 0 ? "/" : path.substr(0, slash);
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

// OpenSSL's reason for the last failure, for internal errors only: it never holds key bytes.
std::string opensslReason() {
    const unsigned long code = ERR_peek_last_error();
    std::string reason = code == 0 ? "unknown error"
                         : ERR_reason_error_string(code) == nullptr
                             ? "error " + std::to_string(code)
                             : ERR_reason_error_string(code);
    ERR_clear_error();
    return reason;
}

// The decoder asks for a passphrase only for an encrypted key. Refuse, and remember it, so
// that the message can say "encrypted" rather than "malformed".
int refusePassphrase(char* /*buf*/, std::size_t /*size*/, std::size_t* /*len*/,
                     const OSSL_PARAM* /*params*/, void* asked) {
    *static_cast<bool*>(asked) = true;
    return 0;
}

ossl::PKey decode(std::string_view data, const char* inputType, int selection, bool& encrypted) {
    EVP_PKEY* raw = nullptr;
    ossl::DecoderCtx ctx(OSSL_DECODER_CTX_new_for_pkey(&raw, inputType, nullptr, nullptr, selection,
                                                       nullptr, nullptr));
    if (!ctx) {
        throw Error(Exit::Software, "unable to set up the key decoder: " + opensslReason());
    }
    OSSL_DECODER_CTX_set_passphrase_cb(ctx.get(), refusePassphrase, &encrypted);
    const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
    std::size_t length = data.size();
    const int ok = OSSL_DECODER_from_data(ctx.get(), &bytes, &length);
    ERR_clear_error();
    ossl::PKey key(raw);
    if (ok != 1) {
        return nullptr;
    }
    return key;
}

const char* const encryptedAdvice =
    "encrypted private keys are not supported; decrypt it first (openssl pkey -in FILE -out NEW)";

struct PemBlock {
    std::string_view label;
    std::string_view text; // from BEGIN to the end of the END line
    unsigned line = 0;     // of the BEGIN line
    bool encrypted = false;
};

bool isKeyLabel(std::string_view label) {
    for (std::string_view known : {"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "PUBLIC KEY",
                                   "RSA PUBLIC KEY", "ENCRYPTED PRIVATE KEY"}) {
        if (label == known) {
            return true;
        }
    }
    return false;
}

// A label fit to quote in a message: PEM labels are upper-case words; anything else is data
// this module does not echo.
std::string printableLabel(std::string_view label) {
    if (label.empty() || label.size() > 40 ||
        label.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ") !=
            std::string_view::npos) {
        return "a PEM block";
    }
    return "a '" + std::string(label) + "' block";
}

// Find the first key block in PEM text. Blocks of other kinds (EC PARAMETERS before a SEC1
// key, a certificate beside the key) are skipped; a file with none of the key kinds is refused
// naming the first block found.
PemBlock findKeyBlock(std::string_view data, const std::string& path) {
    constexpr std::string_view begin = "-----BEGIN ";
    std::optional<PemBlock> other;
    unsigned line = 1;
    std::size_t pos = 0;
    while (pos < data.size()) {
        const std::size_t eol = std::min(data.find('\n', pos), data.size());
        const std::string_view text = data.substr(pos, eol - pos);
        if (text.starts_with(begin)) {
            const std::size_t close = text.find("-----", begin.size());
            PemBlock block;
            block.line = line;
            block.label = close == std::string_view::npos
                              ? std::string_view{}
                              : text.substr(begin.size(), close - begin.size());
            if (!isKeyLabel(block.label)) {
                if (!other) {
                    other = block;
                }
            } else {
                const std::string end = "-----END " + std::string(block.label) + "-----";
                const std::size_t endAt = data.find(end, eol);
                if (endAt == std::string_view::npos) {
                    throw Error(Exit::DataErr,
                                "truncated key: no '" + end + "' after this BEGIN line",
                                at(path, line));
                }
                block.text = data.substr(pos, endAt + end.size() - pos);
                block.encrypted =
                    block.label == "ENCRYPTED PRIVATE KEY" ||
                    block.text.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos;
                return block;
            }
        }
        pos = eol + 1;
        ++line;
    }
    if (other) {
        throw Error(Exit::DataErr, printableLabel(other->label) + ", not a key",
                    at(path, other->line));
    }
    throw Error(Exit::DataErr, "not a key: neither PEM ('-----BEGIN') nor DER", at(path));
}

// Decode a key file's bytes `data`; `path` names it in messages.
ossl::PKey decodeKey(std::string_view data, const std::string& path) {
    if (data.empty()) {
        throw Error(Exit::DataErr, "empty file, not a key", at(path));
    }
    bool encrypted = false;
    if (static_cast<unsigned char>(data.front()) == 0x30) {
        // DER: a SEQUENCE. Try a private key first, then a public one.
        ossl::PKey key = decode(data, "DER", EVP_PKEY_KEYPAIR, encrypted);
        if (!key && !encrypted) {
            key = decode(data, "DER", EVP_PKEY_PUBLIC_KEY, encrypted);
        }
        if (encrypted) {
            throw Error(Exit::DataErr, encryptedAdvice, at(path));
        }
        if (!key) {
            throw Error(Exit::DataErr, "not a key: malformed DER", at(path));
        }
        return key;
    }
    const PemBlock block = findKeyBlock(data, path);
    if (block.encrypted) {
        throw Error(Exit::DataErr, encryptedAdvice, at(path, block.line));
    }
    const bool isPublic = block.label.ends_with("PUBLIC KEY");
    ossl::PKey key =
        decode(block.text, "PEM", isPublic ? EVP_PKEY_PUBLIC_KEY : EVP_PKEY_KEYPAIR, encrypted);
    if (encrypted) {
        throw Error(Exit::DataErr, encryptedAdvice, at(path, block.line));
    }
    if (!key) {
        throw Error(Exit::DataErr,
                    "malformed key: " + printableLabel(block.label) + " that does not decode",
                    at(path, block.line));
    }
    return key;
}

// Read and decode a key file; the file's bytes live only in a wiped buffer.
ossl::PKey load(const std::string& path) {
    SecretBuffer buffer(maxKeyFileBytes);
    const std::size_t size = fsutil::readFileInto(path, buffer.span());
    return decodeKey(std::string_view(buffer.data(), size), path);
}

std::vector<std::uint8_t> spkiOf(EVP_PKEY* key) {
    auto der = ossl::encode(i2d_PUBKEY, key);
    if (der.empty()) {
        throw Error(Exit::Software, "unable to encode the public key: " + opensslReason());
    }
    return der;
}

ossl::PKey fromSpki(const std::vector<std::uint8_t>& spki) {
    const unsigned char* p = spki.data();
    ossl::PKey key(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size())));
    ERR_clear_error();
    if (!key || p != spki.data() + spki.size()) {
        throw Error(Exit::DataErr, "not a SubjectPublicKeyInfo");
    }
    return key;
}

ossl::PKey makeKey(const KeySpec& spec) {
    EVP_PKEY* raw = nullptr;
    switch (spec.algorithm) {
    case Algorithm::Rsa:
        raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(spec.bits));
        break;
    case Algorithm::Ed25519:
        raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
        break;
    case Algorithm::EcdsaP256:
        raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
        break;
    case Algorithm::EcdsaP384:
        raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
        break;
    }
    if (raw == nullptr) {
        throw Error(Exit::Software, "key generation failed: " + opensslReason());
    }
    return ossl::PKey(raw);
}

} // namespace

std::string_view toString(Algorithm algorithm) {
    switch (algorithm) {
    case Algorithm::Rsa:
        return "RSA";
    case Algorithm::Ed25519:
        return "Ed25519";
    case Algorithm::EcdsaP256:
        return "ECDSA P-256";
    case Algorithm::EcdsaP384:
        return "ECDSA P-384";
    }
    return "?";
}

SecretBuffer::SecretBuffer(std::size_t size) : bytes_(new char[size]), size_(size) {}

SecretBuffer::~SecretBuffer() {
    if (bytes_) {
        OPENSSL_cleanse(bytes_.get(), size_);
    }
}

void checkSpec(const KeySpec& spec) {
    if (spec.algorithm != Algorithm::Rsa) {
        return;
    }
    for (unsigned ok : {1024U, 2048U, 3072U, 4096U}) {
        if (spec.bits == ok) {
            return;
        }
    }
    throw Error(Exit::Usage, "RSA keys of " + std::to_string(spec.bits) +
                                 " bits are not supported; use 1024, 2048, 3072 or 4096");
}

std::vector<std::uint8_t> generate(const KeySpec& spec, const std::string& path) {
    checkSpec(spec);
    if (path.empty()) {
        throw Error(Exit::Usage, "no file name for the key");
    }
    // Checked before the (slow) generation; writeFileAtomic() checks again without a race.
    if (exists(path)) {
        throw Error(Exit::CantCreat, "already exists, not overwriting it", at(path));
    }
    fsutil::ensureDirectory(parentOf(path), 0700);
    const ossl::PKey key = makeKey(spec);
    // A secure-heap memory BIO: its buffer is wiped when it grows and when it is freed.
    ossl::Bio bio(BIO_new(BIO_s_secmem()));
    if (!bio || PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                              nullptr) != 1) {
        throw Error(Exit::Software, "unable to encode the private key: " + opensslReason());
    }
    char* pem = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &pem);
    fsutil::writeFileAtomic(path, std::string_view(pem, static_cast<std::size_t>(length)), 0600,
                            true);
    return spkiOf(key.get());
}

std::vector<std::uint8_t> publicKeyDer(const std::string& path) {
    const ossl::PKey key = load(path);
    return spkiOf(key.get());
}

std::vector<std::uint8_t> publicKeyDerFromData(std::string_view data, const std::string& sourceName) {
    const ossl::PKey key = decodeKey(data, sourceName);
    return spkiOf(key.get());
}

std::vector<std::uint8_t> spkiFromPublicDer(const std::vector<std::uint8_t>& der) {
    bool encrypted = false;
    const std::string_view data(reinterpret_cast<const char*>(der.data()), der.size());
    const ossl::PKey key = decode(data, "DER", EVP_PKEY_PUBLIC_KEY, encrypted);
    if (!key) {
        throw Error(Exit::DataErr, "not a public key (SubjectPublicKeyInfo or RSAPublicKey)");
    }
    return spkiOf(key.get());
}

Algorithm algorithmOf(const std::vector<std::uint8_t>& spki) {
    const ossl::PKey key = fromSpki(spki);
    if (EVP_PKEY_is_a(key.get(), "RSA")) {
        return Algorithm::Rsa;
    }
    if (EVP_PKEY_is_a(key.get(), "ED25519")) {
        return Algorithm::Ed25519;
    }
    if (EVP_PKEY_is_a(key.get(), "EC")) {
        std::array<char, 64> group{};
        std::size_t length = 0;
        if (EVP_PKEY_get_group_name(key.get(), group.data(), group.size(), &length) == 1) {
            const std::string_view name(group.data(), length);
            if (name == "prime256v1" || name == "P-256") {
                return Algorithm::EcdsaP256;
            }
            if (name == "secp384r1" || name == "P-384") {
                return Algorithm::EcdsaP384;
            }
            ERR_clear_error();
            throw Error(Exit::DataErr,
                        "an EC key on curve '" + std::string(name) + "', not P-256 or P-384");
        }
        ERR_clear_error();
        throw Error(Exit::DataErr, "an EC key on an unnamed curve");
    }
    const char* type = EVP_PKEY_get0_type_name(key.get());
    throw Error(Exit::DataErr, "a key of type '" + std::string(type == nullptr ? "?" : type) +
                                   "', not RSA, Ed25519 or ECDSA");
}

unsigned bitsOf(const std::vector<std::uint8_t>& spki) {
    const ossl::PKey key = fromSpki(spki);
    return static_cast<unsigned>(EVP_PKEY_get_bits(key.get()));
}

std::vector<std::uint8_t> ed25519Raw(const std::vector<std::uint8_t>& spki) {
    const ossl::PKey key = fromSpki(spki);
    std::vector<std::uint8_t> raw(32);
    std::size_t length = raw.size();
    if (!EVP_PKEY_is_a(key.get(), "ED25519") ||
        EVP_PKEY_get_raw_public_key(key.get(), raw.data(), &length) != 1 || length != 32) {
        ERR_clear_error();
        throw Error(Exit::DataErr, "not an Ed25519 public key");
    }
    return raw;
}

void exportEd25519Seed(const std::string& keyPath, const std::string& outPath) {
    if (outPath.empty()) {
        throw Error(Exit::Usage, "no file name for the seed");
    }
    if (exists(outPath)) {
        throw Error(Exit::CantCreat, "already exists, not overwriting it", at(outPath));
    }
    const ossl::PKey key = load(keyPath);
    SecretBuffer seed(32);
    std::size_t length = seed.size();
    if (!EVP_PKEY_is_a(key.get(), "ED25519") ||
        EVP_PKEY_get_raw_private_key(key.get(), reinterpret_cast<unsigned char*>(seed.data()),
                                     &length) != 1 ||
        length != seed.size()) {
        ERR_clear_error();
        throw Error(Exit::DataErr, "not an Ed25519 private key", at(keyPath));
    }
    // 32 bytes are 44 base64 characters; EVP_EncodeBlock adds a NUL, the file a newline.
    SecretBuffer text(46);
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()),
                                  reinterpret_cast<const unsigned char*>(seed.data()),
                                  static_cast<int>(seed.size()));
    text.data()[n] = '\n';
    fsutil::ensureDirectory(parentOf(outPath), 0700);
    fsutil::writeFileAtomic(outPath, std::string_view(text.data(), static_cast<std::size_t>(n) + 1),
                            0600, true);
}

void deploy(const std::string& from, const std::string& to, const std::string& owner) {
    SecretBuffer buffer(maxKeyFileBytes);
    const std::size_t size = fsutil::readFileInto(from, buffer.span());
    fsutil::writeFileAtomic(to, std::string_view(buffer.data(), size), 0600);
    if (!owner.empty()) {
        const passwd* user = ::getpwnam(owner.c_str());
        if (user == nullptr) {
            throw Error(Exit::NoPerm, "no user '" + owner + "' to own the key", Location{to, 0, {}});
        }
        if (::chown(to.c_str(), user->pw_uid, user->pw_gid) != 0) {
            throw Error(Exit::NoPerm, std::string("unable to hand the key to '") + owner + "': " + std::strerror(errno),
                        Location{to, 0, {}});
        }
    }
}

// ---------------------------------------------------------------- PrivateKey

namespace {

// Whether a decoded key holds its private half (RSA d, EC's private scalar, Ed25519's seed).
// The values are only looked at, in wiped buffers.
bool hasPrivateHalf(EVP_PKEY* key) {
    const char* param =
        EVP_PKEY_is_a(key, "RSA") ? OSSL_PKEY_PARAM_RSA_D : OSSL_PKEY_PARAM_PRIV_KEY;
    if (EVP_PKEY_is_a(key, "ED25519")) {
        std::size_t length = 0;
        const bool ok =
            EVP_PKEY_get_octet_string_param(key, param, nullptr, 0, &length) == 1 && length > 0;
        ERR_clear_error();
        return ok;
    }
    BIGNUM* raw = nullptr;
    const bool ok = EVP_PKEY_get_bn_param(key, param, &raw) == 1;
    const ossl::SecretBigNum value(raw);
    ERR_clear_error();
    return ok && value;
}

} // namespace

struct PrivateKey::Impl {
    ossl::PKey key;
    Algorithm algorithm = Algorithm::Rsa;
};

PrivateKey::PrivateKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PrivateKey::~PrivateKey() = default;
PrivateKey::PrivateKey(PrivateKey&&) noexcept = default;
PrivateKey& PrivateKey::operator=(PrivateKey&&) noexcept = default;

PrivateKey PrivateKey::load(const std::string& path) {
    auto impl = std::make_unique<Impl>();
    impl->key = keys::load(path);
    // A public key decodes as well; signing needs the private half.
    if (!hasPrivateHalf(impl->key.get())) {
        throw Error(Exit::DataErr, "a public key, not a private key", at(path));
    }
    ERR_clear_error();
    try {
        impl->algorithm = algorithmOf(spkiOf(impl->key.get()));
    } catch (const Error& e) {
        throw Error(e.code(), e.message(), at(path));
    }
    return PrivateKey(std::move(impl));
}

Algorithm PrivateKey::algorithm() const {
    return impl_->algorithm;
}

std::vector<std::uint8_t> PrivateKey::publicKeyDer() const {
    return spkiOf(impl_->key.get());
}

namespace {

// The digest a JWS algorithm (and cdm's CSRs) pair with each key type.
const EVP_MD* digestFor(Algorithm algorithm) {
    switch (algorithm) {
    case Algorithm::Rsa:
    case Algorithm::EcdsaP256:
        return EVP_sha256();
    case Algorithm::EcdsaP384:
        return EVP_sha384();
    case Algorithm::Ed25519:
        break;
    }
    throw Error(Exit::DataErr,
                "Ed25519 keys cannot sign for ACME (RFC 8555 CAs take RS256 and ES256/ES384)");
}

} // namespace

std::vector<std::uint8_t> PrivateKey::sign(std::span<const std::uint8_t> data) const {
    const EVP_MD* md = digestFor(impl_->algorithm);
    ossl::MdCtx ctx(EVP_MD_CTX_new());
    std::size_t length = 0;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, impl_->key.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &length, data.data(), data.size()) != 1) {
        throw Error(Exit::Software, "unable to sign: " + opensslReason());
    }
    std::vector<std::uint8_t> signature(length);
    if (EVP_DigestSign(ctx.get(), signature.data(), &length, data.data(), data.size()) != 1) {
        throw Error(Exit::Software, "unable to sign: " + opensslReason());
    }
    signature.resize(length);
    if (impl_->algorithm == Algorithm::Rsa) {
        return signature;
    }
    // OpenSSL gives ECDSA signatures as DER; JWS wants R and S, each the curve's size (RFC 7518
    // §3.4).
    const int half = impl_->algorithm == Algorithm::EcdsaP256 ? 32 : 48;
    const unsigned char* p = signature.data();
    const ossl::EcdsaSig sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(signature.size())));
    if (!sig) {
        throw Error(Exit::Software, "unable to read the ECDSA signature: " + opensslReason());
    }
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(sig.get(), &r, &s);
    std::vector<std::uint8_t> raw(static_cast<std::size_t>(2 * half));
    if (BN_bn2binpad(r, raw.data(), half) != half ||
        BN_bn2binpad(s, raw.data() + half, half) != half) {
        throw Error(Exit::Software, "unable to encode the ECDSA signature: " + opensslReason());
    }
    return raw;
}

std::vector<std::uint8_t> PrivateKey::csr(const std::vector<std::string>& names,
                                          bool mustStaple) const {
    if (names.empty()) {
        throw Error(Exit::Usage, "a certificate request needs at least one name");
    }
    const EVP_MD* md = digestFor(impl_->algorithm);
    ossl::X509Req req(X509_REQ_new());
    if (!req || X509_REQ_set_version(req.get(), 0) != 1 ||
        X509_REQ_set_pubkey(req.get(), impl_->key.get()) != 1) {
        throw Error(Exit::Software, "unable to build the certificate request: " + opensslReason());
    }
    ossl::GeneralNames sans(GENERAL_NAMES_new());
    if (!sans) {
        throw Error(Exit::Software, "unable to build the certificate request: out of memory");
    }
    for (const auto& name : names) {
        if (name.empty() || name.size() > 253) {
            throw Error(Exit::Usage, "'" + name + "' is not a DNS name for a certificate");
        }
        ossl::GeneralName gn(a2i_GENERAL_NAME(nullptr, nullptr, nullptr, GEN_DNS, name.c_str(), 0));
        if (!gn || sk_GENERAL_NAME_push(sans.get(), gn.get()) <= 0) {
            throw Error(Exit::Software,
                        "unable to add '" + name + "' to the request: " + opensslReason());
        }
        (void)gn.release(); // the stack owns it now
    }
    ossl::X509Extensions extensions(sk_X509_EXTENSION_new_null());
    ossl::X509Extension san(X509V3_EXT_i2d(NID_subject_alt_name, 0, sans.get()));
    if (!extensions || !san || sk_X509_EXTENSION_push(extensions.get(), san.get()) <= 0) {
        throw Error(Exit::Software, "unable to build the subjectAltName: " + opensslReason());
    }
    (void)san.release();
    if (mustStaple) {
        // RFC 7633: TLS feature status_request (5), what "OCSP Must-Staple" means.
        ossl::X509Extension feature(
            X509V3_EXT_nconf_nid(nullptr, nullptr, NID_tlsfeature, "status_request"));
        if (!feature || sk_X509_EXTENSION_push(extensions.get(), feature.get()) <= 0) {
            throw Error(Exit::Software,
                        "unable to build the TLS feature extension: " + opensslReason());
        }
        (void)feature.release();
    }
    if (X509_REQ_add_extensions(req.get(), extensions.get()) != 1 ||
        X509_REQ_sign(req.get(), impl_->key.get(), md) <= 0) {
        throw Error(Exit::Software, "unable to sign the certificate request: " + opensslReason());
    }
    auto der = ossl::encode(i2d_X509_REQ, req.get());
    if (der.empty()) {
        throw Error(Exit::Software, "unable to encode the certificate request: " + opensslReason());
    }
    return der;
}

} // namespace cdm::keys
