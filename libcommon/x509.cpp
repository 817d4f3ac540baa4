#include "libcommon/x509.hpp"

#include <algorithm>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "libcommon/error.hpp"
#include "libcommon/fsutil.hpp"
#include "libcommon/ossl.hpp"

namespace cdm::x509 {

namespace {

constexpr std::size_t maxFileBytes = 1024 * 1024;

std::string nameText(const X509_NAME* name) {
    ossl::Bio bio(BIO_new(BIO_s_mem()));
    X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
    char* text = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &text);
    return std::string(text, static_cast<std::size_t>(len));
}

std::vector<std::uint8_t> derOf(X509* cert) {
    auto der = ossl::encode(i2d_X509, cert);
    if (der.empty()) {
        throw Error(Exit::Software, "unable to encode a certificate");
    }
    return der;
}

std::vector<std::uint8_t> spkiOf(X509* cert) {
    auto der = ossl::encode(i2d_X509_PUBKEY, X509_get_X509_PUBKEY(cert));
    if (der.empty()) {
        throw Error(Exit::Software, "unable to encode a public key");
    }
    return der;
}

Certificate fromX509(X509* cert) {
    return Certificate{derOf(cert), spkiOf(cert), nameText(X509_get_subject_name(cert)),
                       nameText(X509_get_issuer_name(cert))};
}

unsigned lineOf(std::string_view data, std::size_t offset) {
    return 1 + static_cast<unsigned>(std::count(data.begin(), data.begin() + static_cast<long>(offset), '\n'));
}

} // namespace

std::vector<Certificate> parseChain(std::string_view data, const std::string& sourceName) {
    std::vector<Certificate> out;
    constexpr std::string_view begin = "-----BEGIN CERTIFICATE-----";
    constexpr std::string_view end = "-----END CERTIFICATE-----";
    if (data.find("-----BEGIN ") == std::string_view::npos) {
        // DER: exactly one certificate and nothing after it.
        const auto* p = reinterpret_cast<const unsigned char*>(data.data());
        ossl::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(data.size())));
        ERR_clear_error();
        if (!cert) {
            throw Error(Exit::DataErr, "not a certificate (neither PEM nor DER)", Location{sourceName, 0, {}});
        }
        if (p != reinterpret_cast<const unsigned char*>(data.data() + data.size())) {
            throw Error(Exit::DataErr, "data after the DER certificate", Location{sourceName, 0, {}});
        }
        out.push_back(fromX509(cert.get()));
        return out;
    }
    std::size_t pos = 0;
    while ((pos = data.find(begin, pos)) != std::string_view::npos) {
        const auto stop = data.find(end, pos);
        const unsigned line = lineOf(data, pos);
        if (stop == std::string_view::npos) {
            throw Error(Exit::DataErr, "truncated PEM certificate (no END line)", Location{sourceName, line, {}});
        }
        const std::string_view block = data.substr(pos, stop + end.size() - pos);
        ossl::Bio bio(BIO_new_mem_buf(block.data(), static_cast<int>(block.size())));
        ossl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        ERR_clear_error();
        if (!cert) {
            throw Error(Exit::DataErr, "garbled PEM certificate", Location{sourceName, line, {}});
        }
        out.push_back(fromX509(cert.get()));
        pos = stop + end.size();
    }
    if (out.empty()) {
        throw Error(Exit::DataErr, "no CERTIFICATE block in the PEM data", Location{sourceName, 0, {}});
    }
    return out;
}

std::vector<Certificate> loadChain(const std::string& path) {
    return parseChain(fsutil::readFile(path, maxFileBytes), path);
}

std::vector<std::uint8_t> csrPublicKey(const std::string& path) {
    const std::string data = fsutil::readFile(path, maxFileBytes);
    ossl::X509Req req;
    if (data.find("-----BEGIN ") != std::string::npos) {
        ossl::Bio bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
        req.reset(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
    } else {
        const auto* p = reinterpret_cast<const unsigned char*>(data.data());
        req.reset(d2i_X509_REQ(nullptr, &p, static_cast<long>(data.size())));
    }
    ERR_clear_error();
    if (!req) {
        throw Error(Exit::DataErr, "not a certificate signing request", Location{path, 0, {}});
    }
    EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
    if (key == nullptr || X509_REQ_verify(req.get(), key) != 1) {
        ERR_clear_error();
        throw Error(Exit::DataErr, "the request's signature does not verify with its own key",
                    Location{path, 0, {}});
    }
    auto der = ossl::encode(i2d_PUBKEY, key);
    if (der.empty()) {
        throw Error(Exit::Software, "unable to encode a public key");
    }
    return der;
}

ossl::X509Ptr toX509(const Certificate& c) {
    const unsigned char* p = c.der.data();
    return ossl::X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(c.der.size())));
}

bool issued(const Certificate& issuer, const Certificate& subject) {
    const auto a = toX509(issuer);
    const auto b = toX509(subject);
    if (!a || !b || X509_check_issued(a.get(), b.get()) != X509_V_OK) {
        return false;
    }
    EVP_PKEY* key = X509_get0_pubkey(a.get());
    const bool ok = key != nullptr && X509_verify(b.get(), key) == 1;
    ERR_clear_error();
    return ok;
}

std::vector<std::string> dnsNames(const Certificate& cert) {
    std::vector<std::string> out;
    const auto x = toX509(cert);
    if (!x) {
        return out;
    }
    const ossl::GeneralNames names(
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x.get(), NID_subject_alt_name, nullptr, nullptr)));
    if (!names) {
        return out;
    }
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* n = sk_GENERAL_NAME_value(names.get(), i);
        if (n->type == GEN_DNS) {
            const auto* s = n->d.dNSName;
            std::string name(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                             static_cast<std::size_t>(ASN1_STRING_length(s)));
            std::transform(name.begin(), name.end(), name.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            out.push_back(std::move(name));
        }
    }
    return out;
}

} // namespace cdm::x509
