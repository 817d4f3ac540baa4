#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// The only code that creates, reads or writes private keys. It hands out public keys
// (SubjectPublicKeyInfo DER), never private key bytes.

namespace cdm::keys {

enum class Algorithm { Rsa, Ed25519, EcdsaP256, EcdsaP384 };

// "RSA", "Ed25519", "ECDSA P-256", "ECDSA P-384".
std::string_view toString(Algorithm algorithm);

// Bytes that are secret: a fixed size, never reallocated, not copyable, and wiped with
// OPENSSL_cleanse when destroyed.
class SecretBuffer {
public:
    explicit SecretBuffer(std::size_t size);
    ~SecretBuffer();
    SecretBuffer(const SecretBuffer&) = delete;
    SecretBuffer& operator=(const SecretBuffer&) = delete;
    SecretBuffer(SecretBuffer&&) noexcept = default;
    SecretBuffer& operator=(SecretBuffer&&) noexcept = delete;

    char* data() { return bytes_.get(); }
    const char* data() const { return bytes_.get(); }
    std::size_t size() const { return size_; }
    std::span<char> span() { return {bytes_.get(), size_}; }

private:
    std::unique_ptr<char[]> bytes_;
    std::size_t size_;
};

struct KeySpec {
    Algorithm algorithm = Algorithm::Rsa;
    unsigned bits = 2048; // RSA only: 1024, 2048, 3072 or 4096
};

// Generate a key and write it as unencrypted PKCS#8 PEM, mode 0600, to `path`, atomically
// (fsutil), creating missing directories 0700. An existing file is never overwritten
// (Exit::CantCreat). Returns the public key as SubjectPublicKeyInfo DER.
// Throws Error(Exit::Usage) for an unsupported algorithm/size, before anything is written.
std::vector<std::uint8_t> generate(const KeySpec& spec, const std::string& path);

// Check a KeySpec as generate() does, without generating: RSA takes 1024, 2048, 3072 or 4096
// bits. Throws Error(Exit::Usage) naming the size.
void checkSpec(const KeySpec& spec);

// The SubjectPublicKeyInfo DER of a key file: a private key (PKCS#8, PKCS#1 RSA, SEC1 EC)
// or a public key (SPKI), in PEM or DER. Throws Error(Exit::NoInput) for an unreadable file,
// Error(Exit::DataErr) naming the file for anything else ("encrypted private keys are not
// supported", "not a key"), never printing key material.
std::vector<std::uint8_t> publicKeyDer(const std::string& path);

// publicKeyDer() of a key file's content `data` held in memory (tests, fuzz targets); messages
// name `sourceName`. Throws like publicKeyDer(), without Exit::NoInput.
std::vector<std::uint8_t> publicKeyDerFromData(std::string_view data, const std::string& sourceName);

// The SubjectPublicKeyInfo DER of public key bytes in DER: an SPKI (returned re-encoded) or
// a PKCS#1 RSAPublicKey, which some DKIM records carry in p=. Throws Error(Exit::DataErr)
// for other data.
std::vector<std::uint8_t> spkiFromPublicDer(const std::vector<std::uint8_t>& der);

// Facts about a public key (SPKI DER). Throws Error(Exit::DataErr) for other data and for
// key types outside Algorithm (DSA, X25519, other curves ...), naming the type.
Algorithm algorithmOf(const std::vector<std::uint8_t>& spki);
// The size as OpenSSL counts it: the RSA modulus; 256 or 384 for the ECDSA curves; 256 for
// Ed25519.
unsigned bitsOf(const std::vector<std::uint8_t>& spki);
// The raw 32-byte Ed25519 public key inside an SPKI (RFC 8463 puts these bytes in p=).
std::vector<std::uint8_t> ed25519Raw(const std::vector<std::uint8_t>& spki);

// Write the raw 32-byte seed of an Ed25519 private key, base64 on one line as dkimpy's
// dknewkey and other signers read it (rspamd 3.4 signs with such a file; it cannot read
// PEM Ed25519 keys), mode 0600, atomically, never overwriting. Throws like generate() and
// publicKeyDer(), and Error(Exit::DataErr) when the key is not an Ed25519 private key.
void exportEd25519Seed(const std::string& keyPath, const std::string& outPath);

// Copy the private key file `from` to `to` atomically, mode 0600, replacing `to` (rollover
// deploys a key where the signer reads it). With `owner` (a user name), the copy is handed
// to that user. Throws Error(Exit::NoInput) for `from`, Error(Exit::CantCreat/NoPerm/IoErr)
// for `to`; `to` keeps its old content on any failure.
void deploy(const std::string& from, const std::string& to, const std::string& owner = {});

// A private key held in memory for signing (the ACME account key, a certificate's key for
// its CSR). Not copyable; the key is freed (and OpenSSL wipes it) when this is destroyed.
class PrivateKey {
public:
    // Read a private key file as publicKeyDer() does. Throws like publicKeyDer(), and
    // Error(Exit::DataErr) for a public key.
    static PrivateKey load(const std::string& path);
    ~PrivateKey();
    PrivateKey(PrivateKey&&) noexcept;
    PrivateKey& operator=(PrivateKey&&) noexcept;
    PrivateKey(const PrivateKey&) = delete;
    PrivateKey& operator=(const PrivateKey&) = delete;

    Algorithm algorithm() const;
    std::vector<std::uint8_t> publicKeyDer() const;
    // The JWS signature of `data` (RFC 7518 §3): RS256 (RSASSA-PKCS1-v1_5 SHA-256) for RSA,
    // ES256/ES384 as the fixed-size R||S for ECDSA P-256/P-384. Throws Error(Exit::DataErr)
    // for an Ed25519 key (ACME CAs do not take EdDSA).
    std::vector<std::uint8_t> sign(std::span<const std::uint8_t> data) const;
    // The CSR (PKCS#10 DER) for `names` as subjectAltName dNSNames (no subject CN, as
    // RFC 8555 allows), signed with this key; with `mustStaple` the TLS feature extension
    // status_request (RFC 7633). Throws Error(Exit::Usage) for no names.
    std::vector<std::uint8_t> csr(const std::vector<std::string>& names, bool mustStaple) const;

private:
    struct Impl;
    explicit PrivateKey(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace cdm::keys
