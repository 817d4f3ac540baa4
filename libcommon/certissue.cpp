#include "libcommon/certissue.hpp"

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "libcommon/acme.hpp"
#include "libcommon/cert.hpp"
#include "libcommon/challenge.hpp"
#include "libcommon/document.hpp"
#include "libcommon/error.hpp"
#include "libcommon/fsutil.hpp"
#include "libcommon/keys.hpp"
#include "libcommon/log.hpp"
#include "libcommon/ossl.hpp"
#include "libcommon/x509.hpp"

namespace cdm::certissue {

namespace po = boost::program_options;
namespace json = boost::json;

namespace {

constexpr const char* letsEncrypt = "https://acme-v02.api.letsencrypt.org/directory";

std::string text(const po::variables_map& vm, const char* name) {
    return vm.count(name) != 0U ? vm[name].as<std::string>() : std::string{};
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

std::string hex(const unsigned char* data, std::size_t size) {
    static constexpr std::string_view digits = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < size; ++i) {
        out += digits[data[i] >> 4U];
        out += digits[data[i] & 15U];
    }
    return out;
}

std::string sha256Hex(const std::vector<std::uint8_t>& data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int length = 0;
    if (EVP_Digest(data.data(), data.size(), md.data(), &length, EVP_sha256(), nullptr) != 1) {
        throw Error(Exit::Software, "unable to compute SHA-256");
    }
    return hex(md.data(), length);
}

// The public facts of the leaf that the report carries.
struct LeafFacts {
    std::string serial; // lower-case hex, as openssl x509 -serial prints it (without leading zeros)
    std::time_t notBefore = 0;
    std::time_t notAfter = 0;
    std::string issuer;
};

std::time_t timeOf(const ASN1_TIME* t) {
    std::tm tm{};
    if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
        return 0;
    }
    return timegm(&tm);
}

LeafFacts factsOf(const x509::Certificate& leaf) {
    const ossl::X509Ptr x = x509::toX509(leaf);
    LeafFacts f;
    const auto der =
        ossl::encode(i2d_ASN1_INTEGER, const_cast<ASN1_INTEGER*>(X509_get0_serialNumber(x.get())));
    if (der.size() > 2) {
        const std::size_t header = der[1] < 0x80 ? 2 : 2 + (der[1] & 0x7fU);
        std::size_t start = header;
        while (start + 1 < der.size() && der[start] == 0) {
            ++start;
        }
        f.serial = hex(der.data() + start, der.size() - start);
    }
    f.notBefore = timeOf(X509_get0_notBefore(x.get()));
    f.notAfter = timeOf(X509_get0_notAfter(x.get()));
    const X509_NAME* name = X509_get_issuer_name(x.get());
    const int at = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    f.issuer = leaf.issuer;
    if (at >= 0) {
        const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at));
        f.issuer.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                        static_cast<std::size_t>(ASN1_STRING_length(data)));
    }
    return f;
}

// A private directory for a key generated before the certificate exists, removed with what
// is in it when the issue ends, so that a failed issue leaves nothing in --out.
class Staging {
public:
    explicit Staging(const std::string& statedir) {
        fsutil::ensureDirectory(statedir, 0700);
        std::string tmpl = statedir + "/issue-XXXXXX";
        if (::mkdtemp(tmpl.data()) == nullptr) {
            const int err = errno;
            throw Error(err == EACCES ? Exit::NoPerm : Exit::CantCreat,
                        std::string("unable to create a staging directory: ") + std::strerror(err),
                        Location{statedir, 0, {}});
        }
        dir_ = tmpl;
    }
    ~Staging() {
        ::unlink(key().c_str());
        ::rmdir(dir_.c_str());
    }
    Staging(const Staging&) = delete;
    Staging& operator=(const Staging&) = delete;
    std::string key() const { return dir_ + "/privkey.pem"; }

private:
    std::string dir_;
};

struct KeyChoice {
    keys::KeySpec spec;
    bool explicitType = false;
    bool explicitSize = false;
};

KeyChoice keyChoice(const po::variables_map& vm) {
    KeyChoice k;
    const std::string type = vm.count("key-type") != 0U ? vm["key-type"].as<std::string>() : "rsa";
    k.explicitType = vm.count("key-type") != 0U;
    cli::requireOneOf("key-type", type, {"rsa", "ecdsa"});
    unsigned size = type == "rsa" ? 4096 : 256;
    if (vm.count("key-size") != 0U) {
        size = vm["key-size"].as<unsigned>();
        k.explicitSize = true;
    }
    if (type == "rsa") {
        if (size != 2048 && size != 3072 && size != 4096) {
            throw Error(Exit::Usage, "--key-size for RSA takes 2048, 3072 or 4096, not '" +
                                         std::to_string(size) + "'");
        }
        k.spec = keys::KeySpec{keys::Algorithm::Rsa, size};
    } else {
        if (size != 256 && size != 384) {
            throw Error(Exit::Usage, "--key-size for ECDSA takes 256 or 384, not '" +
                                         std::to_string(size) + "'");
        }
        k.spec = keys::KeySpec{
            size == 256 ? keys::Algorithm::EcdsaP256 : keys::Algorithm::EcdsaP384, size};
    }
    return k;
}

std::string keyTypeWord(keys::Algorithm a) {
    return a == keys::Algorithm::Rsa ? "rsa" : a == keys::Algorithm::Ed25519 ? "ed25519" : "ecdsa";
}

// Wipes a string holding a secret when it goes out of scope.
struct Wiped {
    std::string value;
    Wiped() = default;
    Wiped(const Wiped&) = delete;
    Wiped& operator=(const Wiped&) = delete;
    ~Wiped() { OPENSSL_cleanse(value.data(), value.size()); }
};

} // namespace

void options(po::options_description& o) {
    o.add_options()("domain,d", po::value<std::vector<std::string>>()->composing(),
                    "NAME: a name for the certificate (repeatable; the first comes first)")(
        "out", po::value<std::string>(),
        "DIR: where privkey.pem, cert.pem, chain.pem and fullchain.pem go")(
        "ca", po::value<std::string>(), "ACME directory URL (default: Let's Encrypt)")(
        "cabundle", po::value<std::string>(), "PEM file of the CA's HTTPS roots (Pebble's)")(
        "email", po::value<std::string>(),
        "ADDR: the account's contact")("state-dir", po::value<std::string>(),
                                       "DIR: holds the ACME account (default /var/lib/cdm)")(
        "account-key", po::value<std::string>(), "FILE: the account key (created when missing)")(
        "eab-kid", po::value<std::string>(), "External Account Binding key identifier")(
        "eab-hmac-key-file", po::value<std::string>(), "FILE holding the EAB HMAC key (base64url)")(
        "challenge", po::value<std::string>(), "dns-01 (default) | http-01")(
        "webroot", po::value<std::string>(),
        "DIR: http-01 answers go under DIR/.well-known/acme-challenge/")(
        "key", po::value<std::string>(),
        "FILE: the certificate's key; reused when it exists, else made there")(
        "key-type", po::value<std::string>(), "rsa (default) | ecdsa, for a new key")(
        "key-size", po::value<unsigned>(),
        "2048, 3072, 4096 (RSA, default 4096) | 256 (default), 384 (ECDSA)")(
        "must-staple", po::bool_switch(), "add the TLS feature status_request (RFC 7633)")(
        "profile", po::value<std::string>(), "NAME: an ACME profile the CA offers")(
        "preferred-chain", po::value<std::string>(),
        "CN: take the chain whose top issuer's CN holds this");
    cert::dnsOptions(o);
}

int run(const po::variables_map& vm, const cli::Common& common) {
    const auto started = std::chrono::steady_clock::now();
    if (!common.format.empty()) {
        cli::requireOneOf("format", common.format, {"json"});
    }
    // Everything is checked before anything is written or asked of the CA.
    std::vector<std::string> names = vm.count("domain") != 0U
                                         ? vm["domain"].as<std::vector<std::string>>()
                                         : std::vector<std::string>{};
    if (names.empty()) {
        throw Error(Exit::Usage, "give at least one name (-d NAME)");
    }
    const std::string out = text(vm, "out");
    if (out.empty()) {
        throw Error(Exit::Usage, "give the output directory (--out DIR)");
    }
    const std::string challengeWord =
        vm.count("challenge") != 0U ? text(vm, "challenge") : "dns-01";
    cli::requireOneOf("challenge", challengeWord, {"dns-01", "http-01"});
    const acme::ChallengeType challengeType = *acme::challengeTypeFromString(challengeWord);
    const std::string webroot = text(vm, "webroot");
    if (challengeType == acme::ChallengeType::Http01 && webroot.empty()) {
        throw Error(Exit::Usage, "http-01 needs --webroot DIR");
    }
    for (const auto& n : names) {
        if (n.starts_with("*.") && challengeType != acme::ChallengeType::Dns01) {
            throw Error(Exit::Usage, "the wildcard '" + n + "' needs dns-01");
        }
    }
    const KeyChoice keyChoiceMade = keyChoice(vm);
    const std::string ca = vm.count("ca") != 0U ? text(vm, "ca") : letsEncrypt;
    const std::string statedir =
        vm.count("state-dir") != 0U ? text(vm, "state-dir") : "/var/lib/cdm";
    const std::string eabKid = text(vm, "eab-kid");
    const std::string eabFile = text(vm, "eab-hmac-key-file");
    if (eabKid.empty() != eabFile.empty()) {
        throw Error(Exit::Usage, "--eab-kid and --eab-hmac-key-file go together");
    }
    Wiped eabKey;
    if (!eabFile.empty()) {
        eabKey.value = fsutil::readFile(eabFile, 4096);
        const auto first = eabKey.value.find_first_not_of(" \t\r\n");
        const auto last = eabKey.value.find_last_not_of(" \t\r\n");
        if (first == std::string::npos) {
            throw Error(Exit::Config, "the EAB HMAC key file is empty", Location{eabFile, 0, {}});
        }
        std::string trimmed = eabKey.value.substr(first, last - first + 1);
        OPENSSL_cleanse(eabKey.value.data(), eabKey.value.size());
        eabKey.value.swap(trimmed);
        OPENSSL_cleanse(trimmed.data(), trimmed.size());
    }
    std::unique_ptr<acme::Solver> solver;
    if (challengeType == acme::ChallengeType::Dns01) {
        challenge::DnsOptions dns;
        dns.base = cert::dnsRequest(vm);
        solver = std::make_unique<challenge::DnsSolver>(std::move(dns));
    } else {
        solver = std::make_unique<challenge::HttpSolver>(webroot);
    }

    acme::ClientOptions clientOptions;
    clientOptions.directoryUrl = ca;
    clientOptions.caBundle = text(vm, "cabundle");
    clientOptions.progress = ::isatty(STDERR_FILENO) != 0;
    acme::Client client(clientOptions);

    acme::AccountRequest accountRequest;
    accountRequest.keyPath = vm.count("account-key") != 0U
                                 ? text(vm, "account-key")
                                 : acme::accountDir(statedir, ca) + "/account.key";
    if (const std::string email = text(vm, "email"); !email.empty()) {
        accountRequest.contact.push_back(email.starts_with("mailto:") ? email : "mailto:" + email);
    }
    accountRequest.eabKid = eabKid;
    accountRequest.eabHmacKey = eabKey.value;
    const acme::Account account = client.account(accountRequest);
    OPENSSL_cleanse(accountRequest.eabHmacKey.data(), accountRequest.eabHmacKey.size());

    // The certificate's key: --key reused when it exists (or made there), else a new one that
    // reaches --out only with its certificate.
    std::optional<Staging> staging;
    std::string keyPath = text(vm, "key");
    std::string keyWord = "reused";
    if (keyPath.empty()) {
        staging.emplace(statedir);
        keyPath = staging->key();
        keys::generate(keyChoiceMade.spec, keyPath);
        keyWord = "new";
    } else if (!exists(keyPath)) {
        keys::generate(keyChoiceMade.spec, keyPath);
        log::info("cdm-cert: new key " + keyPath);
        keyWord = "new";
    }
    const std::vector<std::uint8_t> spki = keys::publicKeyDer(keyPath);
    const keys::Algorithm algorithm = keys::algorithmOf(spki);
    const unsigned bits = keys::bitsOf(spki);
    if (keyWord == "reused" && ((keyChoiceMade.explicitType &&
                                 (algorithm == keys::Algorithm::Rsa) !=
                                     (keyChoiceMade.spec.algorithm == keys::Algorithm::Rsa)) ||
                                (keyChoiceMade.explicitSize && bits != keyChoiceMade.spec.bits))) {
        log::warn("cdm-cert: the key " + keyPath + " is " + std::string(keys::toString(algorithm)) +
                  " " + std::to_string(bits) +
                  ", not what --key-type/--key-size ask; using it as it is");
    }

    acme::OrderRequest order;
    order.names = names;
    order.keyPath = keyPath;
    order.mustStaple = vm["must-staple"].as<bool>();
    order.profile = text(vm, "profile");
    order.preferredChain = text(vm, "preferred-chain");
    const acme::Issued issued = client.issue(account, order, *solver);

    // Write the four files; the certificate was checked against the key by acme.
    const auto chain = x509::parseChain(issued.fullchainPem, issued.url);
    const LeafFacts facts = factsOf(chain.front());
    fsutil::ensureDirectory(out, 0700);
    const std::string privkeyOut = out + "/privkey.pem";
    fsutil::writeFileAtomic(out + "/cert.pem", issued.certPem, 0644);
    fsutil::writeFileAtomic(out + "/chain.pem", issued.chainPem, 0644);
    fsutil::writeFileAtomic(out + "/fullchain.pem", issued.fullchainPem, 0644);
    std::error_code ec;
    const bool same = std::filesystem::equivalent(keyPath, privkeyOut, ec) && !ec;
    if (!same) {
        keys::deploy(keyPath, privkeyOut);
    }

    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    json::array nameList;
    for (const auto& n : names) {
        nameList.emplace_back(n);
    }
    json::object files{{"privkey", privkeyOut},
                       {"cert", out + "/cert.pem"},
                       {"chain", out + "/chain.pem"},
                       {"fullchain", out + "/fullchain.pem"}};
    json::object doc{{"cdm", document::schemaVersion}};
    document::report(
        doc, "cdm-cert", "issued",
        json::object{
            {"names", std::move(nameList)},
            {"serial", facts.serial},
            {"not_before", facts.notBefore},
            {"not_after", facts.notAfter},
            {"issuer", facts.issuer},
            {"chain_top", issued.chosenIssuer},
            {"key", keyWord},
            {"keytype", keyTypeWord(algorithm)},
            {"keysize", bits},
            {"spki_sha256", sha256Hex(spki)},
            {"challenge", challengeWord},
            {"ca", ca},
            {"account", account.url},
            {"order", issued.orderUrl},
            {"files", std::move(files)},
            {"requests", client.requests()},
            {"seconds", static_cast<double>(static_cast<long long>(seconds * 1000)) / 1000.0}});
    log::info("cdm-cert: issued serial " + facts.serial + " for " + names.front() + " into " + out);
    cli::writeOut(document::serialize(doc));
    return 0;
}

} // namespace cdm::certissue
