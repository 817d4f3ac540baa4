#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include "libcommon/deleter.hpp"

// OpenSSL handles in RAII: no *_free call appears outside this header.

namespace cdm::ossl {

using cdm::Deleter;

using Bio = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using PKey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PKeyCtx = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using X509Req = std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using SslCtx = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX_free>>;
using Ssl = std::unique_ptr<SSL, Deleter<SSL_free>>;
using X509Store = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using X509StoreCtx = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
// sk_X509_free is a macro; the stack holds borrowed certificates, not owned ones.
inline void freeX509Stack(STACK_OF(X509) * stack) { sk_X509_free(stack); }
using X509Stack = std::unique_ptr<STACK_OF(X509), Deleter<freeX509Stack>>;
using GeneralNames = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;
using BigNum = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using SecretBigNum = std::unique_ptr<BIGNUM, Deleter<BN_clear_free>>; // wiped when freed
using EcdsaSig = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG_free>>;
using GeneralName = std::unique_ptr<GENERAL_NAME, Deleter<GENERAL_NAME_free>>;
using X509Extension = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
// A stack that owns its extensions (a CSR's extension request).
inline void freeX509Extensions(STACK_OF(X509_EXTENSION) * stack) {
    sk_X509_EXTENSION_pop_free(stack, X509_EXTENSION_free);
}
using X509Extensions = std::unique_ptr<STACK_OF(X509_EXTENSION), Deleter<freeX509Extensions>>;
using DecoderCtx = std::unique_ptr<OSSL_DECODER_CTX, Deleter<OSSL_DECODER_CTX_free>>;
using EncoderCtx = std::unique_ptr<OSSL_ENCODER_CTX, Deleter<OSSL_ENCODER_CTX_free>>;

// The DER encoding by an OpenSSL i2d_* function; empty when encoding fails.
template <typename T, typename Encoder>
std::vector<std::uint8_t> encode(Encoder i2d, T* object) {
    unsigned char* out = nullptr;
    const int len = i2d(object, &out);
    if (len <= 0 || out == nullptr) {
        return {};
    }
    std::vector<std::uint8_t> der(out, out + len);
    OPENSSL_free(out);
    return der;
}

} // namespace cdm::ossl
