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

// Read and decode a key file; the file's bytes live only in a wiped buffer.
ossl::PKey load(const std::string& path) {
    SecretBuffer buffer(maxKeyFileBytes);
    const std::size_t size = fsutil::readFileInto(path, buffer.span());
    const std::string_view data(buffer.data(), size);
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

} // namespace cdm::keys
