#include "libcommon/certphase.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <random>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "libcommon/caa.hpp"
#include "libcommon/challenge.hpp"
#include "libcommon/configdoc.hpp"
#include "libcommon/document.hpp"
#include "libcommon/faultpoint.hpp"
#include "libcommon/fsutil.hpp"
#include "libcommon/keys.hpp"
#include "libcommon/log.hpp"
#include "libcommon/timefmt.hpp"

namespace cdm::certphase {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t day = 86400;
const char* const deployFiles[] = {"cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"};

const json::object* objectAt(const json::value* v) {
    return v != nullptr && v->is_object() ? &v->get_object() : nullptr;
}

std::string text(const json::object* o, std::string_view key, const std::string& fallback = {}) {
    if (o == nullptr) {
        return fallback;
    }
    const auto* v = o->if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : fallback;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) {
        return {};
    }
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

using document::locationOf;

std::string utc(std::time_t t) {
    return timefmt::utcTime(t);
}

std::string hex(const unsigned char* data, std::size_t size) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        out += digits[data[i] >> 4U];
        out += digits[data[i] & 15U];
    }
    return out;
}

std::time_t timeOf(const ASN1_TIME* t) {
    std::tm tm{};
    if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
        throw Error(Exit::DataErr, "a certificate with an unreadable validity time");
    }
    return timegm(&tm);
}

bool parseBool(const std::string& value, const std::string& key, const Location& where) {
    const std::string v = lower(trim(value));
    if (v == "yes" || v == "true" || v == "on" || v == "1") {
        return true;
    }
    if (v == "no" || v == "false" || v == "off" || v == "0" || v.empty()) {
        return false;
    }
    throw Error(Exit::Config, key + " takes yes or no, not '" + value + "'", where);
}

std::int64_t parseCount(const std::string& value, const std::string& key, const Location& where,
                        std::int64_t min, std::int64_t max, const char* unit) {
    const std::string v = trim(value);
    if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos ||
        std::stoll(v) < min || std::stoll(v) > max) {
        throw Error(Exit::Config,
                    key + " takes " + std::to_string(min) + " to " + std::to_string(max) + " " +
                        unit + ", not '" + value + "'",
                    where);
    }
    return std::stoll(v);
}

std::int64_t number(const json::object& o, std::string_view key, const std::string& path) {
    const auto* v = o.if_contains(key);
    if (v == nullptr) {
        return 0;
    }
    if (!v->is_int64() && !v->is_uint64()) {
        throw Error(Exit::DataErr, "not a number", Location{{}, 0, path + "." + std::string(key)});
    }
    return v->to_number<std::int64_t>();
}

std::string str(const json::object& o, std::string_view key, const std::string& path) {
    const auto* v = o.if_contains(key);
    if (v == nullptr || v->is_null()) {
        return {};
    }
    if (!v->is_string()) {
        throw Error(Exit::DataErr, "not a string", Location{{}, 0, path + "." + std::string(key)});
    }
    return std::string(v->as_string());
}

KeyType keyTypeOf(const std::string& s, const std::string& path) {
    if (s == "rsa" || s.empty()) {
        return KeyType::Rsa;
    }
    if (s == "ecdsa") {
        return KeyType::Ecdsa;
    }
    throw Error(Exit::DataErr, "keytype '" + s + "' is not rsa or ecdsa", Location{{}, 0, path});
}

const json::object* certSection(const json::object& doc, const std::string& name) {
    const auto* config = objectAt(doc.if_contains("config"));
    const auto* certs = config != nullptr ? objectAt(config->if_contains("cert")) : nullptr;
    return certs != nullptr ? objectAt(certs->if_contains(name)) : nullptr;
}

std::string statedirOf(const json::object& doc) {
    const auto* config = objectAt(doc.if_contains("config"));
    const auto* cdm = config != nullptr ? objectAt(config->if_contains("cdm")) : nullptr;
    const auto* def = cdm != nullptr ? objectAt(cdm->if_contains("DEFAULT")) : nullptr;
    const std::string dir =
        text(def != nullptr ? objectAt(def->if_contains("keys")) : nullptr, "statedir");
    return dir.empty() ? "/var/lib/cdm" : dir;
}

std::string stateCertDir(const Settings& s) {
    return s.statedir + "/cert/" + s.name;
}

std::vector<std::string> sortedLower(std::vector<std::string> names) {
    for (auto& n : names) {
        n = lower(n);
        if (!n.empty() && n.back() == '.') {
            n.pop_back();
        }
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
}

std::string keyText(KeyType t, unsigned size) {
    return std::string(toString(t)) + " " + std::to_string(size);
}

bool isSymlinkTo(const std::string& path, const std::string& target) {
    std::error_code ec;
    if (!fs::is_symlink(fs::symlink_status(path, ec))) {
        return false;
    }
    return fs::read_symlink(path, ec).string() == target && !ec;
}

void fsyncDir(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

Exit errnoExit(int err) {
    return err == EACCES || err == EPERM ? Exit::NoPerm : Exit::CantCreat;
}

// Point `path` at `target` atomically: a symlink beside it, then rename over it (a regular
// file the original left there is replaced the same way).
void replaceSymlink(const std::string& path, const std::string& target) {
    if (isSymlinkTo(path, target)) {
        return;
    }
    const std::string tmp = path + ".cdm-tmp";
    ::unlink(tmp.c_str());
    if (::symlink(target.c_str(), tmp.c_str()) != 0) {
        const int err = errno;
        throw Error(errnoExit(err),
                    "unable to create symlink '" + tmp + "': " + std::strerror(err));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw Error(errnoExit(err), "unable to replace '" + path + "': " + std::strerror(err));
    }
}

// Write a public file only when its content differs (a second rollover changes nothing).
void writePublic(const std::string& path, const std::string& content) {
    std::error_code ec;
    if (fs::is_regular_file(fs::symlink_status(path, ec)) &&
        fs::file_size(path, ec) == content.size() && fsutil::readFile(path, 1U << 20U) == content) {
        return;
    }
    fsutil::writeFileAtomic(path, content, 0644);
}

bool removeTree(const std::string& path) {
    std::error_code ec;
    const auto status = fs::symlink_status(path, ec);
    if (ec || !fs::exists(status)) {
        return false;
    }
    fs::remove_all(path, ec);
    if (ec) {
        log::warn("unable to remove '" + path + "': " + ec.message() + ", ignoring");
        return false;
    }
    return true;
}

bool under(const std::string& path, const std::string& dir) {
    const std::string p = fs::path(path).lexically_normal().string();
    const std::string d = fs::path(dir).lexically_normal().string();
    return !d.empty() && p.size() > d.size() + 1 && p.compare(0, d.size(), d) == 0 &&
           p[d.size()] == '/' && p.find("/../") == std::string::npos;
}

Material materialOf(const json::object& doc, const std::string& name) {
    const auto* material = objectAt(doc.if_contains("material"));
    const auto* cert = material != nullptr ? objectAt(material->if_contains("cert")) : nullptr;
    const auto* v = cert != nullptr ? cert->if_contains(name) : nullptr;
    return v != nullptr ? materialFromJson(*v, "material.cert." + name) : Material{};
}

json::array toArray(const std::vector<std::string>& v) {
    json::array a;
    for (const auto& s : v) {
        a.emplace_back(s);
    }
    return a;
}

} // namespace

std::string_view toString(KeyType type) {
    return type == KeyType::Rsa ? "rsa" : "ecdsa";
}

Location Settings::at(const std::string& key) const {
    const auto it = where.find(key);
    return it != where.end() && !it->second.empty() ? it->second : source;
}

// ---------------------------------------------------------------------------- settings

Settings settingsOf(const json::object& doc, const std::string& name,
                    std::vector<std::string>& warnings) {
    const auto* section = certSection(doc, name);
    if (section == nullptr) {
        throw Error(Exit::Config, "no [cert:" + name + "] section",
                    Location{{}, 0, "config.cert." + name});
    }
    Settings s;
    s.name = name;
    s.source = locationOf(text(section, "source"));
    const auto* keys = objectAt(section->if_contains("keys"));
    if (const auto* where = objectAt(section->if_contains("where")); where != nullptr) {
        for (const auto& [k, v] : *where) {
            if (v.is_string()) {
                s.where[std::string(k)] = locationOf(std::string(v.as_string()));
            }
        }
    }
    const auto key = [&](const char* k) { return text(keys, k); };
    const auto written = [&](const char* k) {
        return keys != nullptr && keys->contains(k) && !s.at(k).empty() && s.where.count(k) != 0U &&
               !s.where.at(k).empty();
    };
    const std::string section_ = "[cert:" + name + "] ";
    if (const auto* d = section->if_contains("domains"); d != nullptr && d->is_array()) {
        for (const auto& n : d->get_array()) {
            if (n.is_string()) {
                s.names.emplace_back(lower(std::string(n.as_string())));
            }
        }
    }
    s.statedir = statedirOf(doc);

    const std::string handler = lower(trim(key("handler")));
    if (handler != "acme" && handler != "dehydrated" && handler != "dehydrated/letsencrypt") {
        throw Error(Exit::Config,
                    section_ + "handler '" + key("handler") +
                        "' is not acme, dehydrated or dehydrated/letsencrypt",
                    s.at("handler"));
    }

    // extraflags: the original passed them to dehydrated; these keep their meaning.
    bool staging = false;
    {
        std::string flags = key("extraflags");
        std::replace(flags.begin(), flags.end(), ',', ' ');
        std::istringstream in(flags);
        for (std::string f; in >> f;) {
            const std::string l = lower(f);
            if (l == "-x" || l == "--force") {
                s.force = true;
            } else if (l == "staging" || l == "--staging") {
                staging = true;
            } else if (l == "--ocsp" || l == "ocsp" || l == "--must-staple") {
                s.mustStaple = true;
            } else {
                warnings.push_back(s.at("extraflags").toString() + ": " + section_ +
                                   "extraflags '" + f + "' is not known, ignoring it");
            }
        }
    }
    s.ca = trim(key("ca"));
    if (s.ca.empty()) {
        s.ca = staging ? letsEncryptStaging : letsEncrypt;
    } else if (s.ca.rfind("https://", 0) != 0 && s.ca.rfind("http://", 0) != 0) {
        throw Error(Exit::Config, section_ + "ca '" + s.ca + "' is not an https:// directory URL",
                    s.at("ca"));
    }
    if (s.mustStaple) {
        warnings.push_back(s.at("extraflags").toString() + ": " + section_ +
                           "must-staple requested (--ocsp): Let's Encrypt no longer issues "
                           "must-staple certificates, other CAs may");
    }
    s.cabundle = trim(key("cabundle"));
    s.email = trim(key("email"));

    const std::string type = lower(trim(key("keytype")));
    if (type.empty() || type == "rsa") {
        s.keyType = KeyType::Rsa;
    } else if (type == "ecdsa" || type == "ec" || type == "secp256r1" || type == "secp384r1") {
        s.keyType = KeyType::Ecdsa;
    } else {
        throw Error(Exit::Config, section_ + "keytype '" + key("keytype") + "' is not rsa or ecdsa",
                    s.at("keytype"));
    }
    const bool sizeWritten = written("keysize");
    const std::string size = trim(key("keysize"));
    if (s.keyType == KeyType::Ecdsa && (!sizeWritten || size.empty())) {
        s.keySize = type == "secp384r1" ? 384 : 256;
    } else if (size.empty()) {
        s.keySize = 4096;
    } else {
        const bool ok = s.keyType == KeyType::Rsa
                            ? (size == "2048" || size == "3072" || size == "4096")
                            : (size == "256" || size == "384");
        if (!ok) {
            throw Error(
                Exit::Config,
                section_ + "keysize '" + size + "' is not " +
                    (s.keyType == KeyType::Rsa ? "2048, 3072 or 4096 (rsa)" : "256 or 384 (ecdsa)"),
                s.at("keysize"));
        }
        s.keySize = static_cast<unsigned>(std::stoul(size));
    }
    s.reuseKey = parseBool(key("reusekey"), section_ + "reusekey", s.at("reusekey"));
    if (!key("keyroll").empty()) {
        s.keyRollDays =
            parseCount(key("keyroll"), section_ + "keyroll", s.at("keyroll"), 0, 36500, "days");
    }
    if (written("renewbefore") && !trim(key("renewbefore")).empty()) {
        s.renewBeforeDays = parseCount(key("renewbefore"), section_ + "renewbefore",
                                       s.at("renewbefore"), 1, 3650, "days");
    }
    s.ari = key("ari").empty() || parseBool(key("ari"), section_ + "ari", s.at("ari"));
    const std::string challenge = lower(trim(key("challenge")));
    if (challenge.empty() || challenge == "dns-01" || challenge == "dns") {
        s.challenge = acme::ChallengeType::Dns01;
    } else if (challenge == "http-01" || challenge == "http") {
        s.challenge = acme::ChallengeType::Http01;
    } else {
        throw Error(Exit::Config,
                    section_ + "challenge '" + key("challenge") + "' is not dns-01 or http-01",
                    s.at("challenge"));
    }
    s.webroot = trim(key("webroot"));
    if (s.challenge == acme::ChallengeType::Http01 && s.webroot.empty()) {
        throw Error(Exit::Config, section_ + "challenge http-01 needs webroot", s.at("challenge"));
    }
    s.destination = trim(key("destination"));
    s.eabKid = trim(key("eab_kid"));
    s.eabHmacKey = trim(key("eab_hmac_key"));
    if (const auto* v = keys != nullptr ? keys->if_contains("eab_hmac_key") : nullptr;
        v != nullptr && v->is_object()) {
        // The document names only where the key is written (it never carries a secret).
        s.eabHmacKey =
            trim(configdoc::rereadSecret(doc, config::SectionType::Cert, name, "eab_hmac_key"));
    }
    s.eabHmacKeyFile = trim(key("eab_hmac_key_file"));
    if (!s.eabKid.empty() && s.eabHmacKey.empty() && s.eabHmacKeyFile.empty()) {
        throw Error(Exit::Config, section_ + "eab_kid needs eab_hmac_key or eab_hmac_key_file",
                    s.at("eab_kid"));
    }
    if (s.eabKid.empty() && (!s.eabHmacKey.empty() || !s.eabHmacKeyFile.empty())) {
        throw Error(Exit::Config, section_ + "an EAB HMAC key needs eab_kid",
                    s.at(s.eabHmacKey.empty() ? "eab_hmac_key_file" : "eab_hmac_key"));
    }
    s.profile = trim(key("profile"));
    s.preferredChain = trim(key("preferredchain"));
    s.caaPin = trim(key("caapin"));
    if (!key("propagationtimeout").empty()) {
        s.propagationTimeout = std::chrono::seconds(
            parseCount(key("propagationtimeout"), section_ + "propagationtimeout",
                       s.at("propagationtimeout"), 1, 86400, "seconds"));
    }
    return s;
}

std::vector<std::string> linkedCerts(const json::object& doc, std::vector<std::string>& unlinked) {
    std::vector<std::string> out;
    const auto* config = objectAt(doc.if_contains("config"));
    const auto* certs = config != nullptr ? objectAt(config->if_contains("cert")) : nullptr;
    if (certs == nullptr) {
        return out;
    }
    for (const auto& [name, value] : *certs) {
        if (name == "DEFAULT" || !value.is_object()) {
            continue;
        }
        const auto* d = value.as_object().if_contains("domains");
        if (d != nullptr && d->is_array() && !d->get_array().empty()) {
            out.emplace_back(name);
        } else {
            unlinked.emplace_back(name);
        }
    }
    return out;
}

// ---------------------------------------------------------------------------- material

json::object toJson(const Generation& g) {
    json::object o{{"dir", g.dir},
                   {"key", g.key},
                   {"csr", g.csr},
                   {"cert", g.cert},
                   {"chain", g.chain},
                   {"fullchain", g.fullchain},
                   {"names", toArray(g.names)},
                   {"keytype", toString(g.keyType)},
                   {"keysize", g.keySize},
                   {"spki_sha256", g.spkiSha256},
                   {"serial", g.serial},
                   {"not_before", g.notBefore},
                   {"not_after", g.notAfter},
                   {"issued", g.issued},
                   {"issuer", g.issuer},
                   {"ca", g.ca},
                   {"renew_at", g.renewAt},
                   {"renew_reason", g.renewReason},
                   {"key_since", g.keySince}};
    if (g.ari) {
        o["ari"] = json::object{{"cert_id", g.ari->certId},
                                {"start", g.ari->start},
                                {"end", g.ari->end},
                                {"explanation", g.ari->explanation}};
    }
    if (!g.deployed.empty()) {
        json::array a;
        for (const auto& d : g.deployed) {
            a.push_back(
                json::object{{"domain", d.domain}, {"dir", d.dir}, {"generation", d.generation}});
        }
        o["deployed"] = std::move(a);
    }
    return o;
}

json::object toJson(const Standby& s) {
    return json::object{{"key", s.key},
                        {"spki_sha256", s.spkiSha256},
                        {"keytype", toString(s.keyType)},
                        {"keysize", s.keySize},
                        {"created", s.created}};
}

json::object toJson(const Material& m) {
    json::object o;
    if (m.current) {
        o["current"] = toJson(*m.current);
    }
    if (m.next) {
        o["next"] = toJson(*m.next);
    }
    if (m.previous) {
        o["previous"] = toJson(*m.previous);
    }
    if (m.standby) {
        o["standby"] = toJson(*m.standby);
    }
    return o;
}

namespace {

Generation generationFromJson(const json::value& v, const std::string& path) {
    if (!v.is_object()) {
        throw Error(Exit::DataErr, "not an object", Location{{}, 0, path});
    }
    const auto& o = v.get_object();
    Generation g;
    g.dir = str(o, "dir", path);
    g.key = str(o, "key", path);
    g.csr = str(o, "csr", path);
    g.cert = str(o, "cert", path);
    g.chain = str(o, "chain", path);
    g.fullchain = str(o, "fullchain", path);
    if (g.dir.empty() || g.key.empty() || g.cert.empty() || g.fullchain.empty()) {
        throw Error(Exit::DataErr, "needs dir, key, cert and fullchain", Location{{}, 0, path});
    }
    if (const auto* n = o.if_contains("names"); n != nullptr) {
        if (!n->is_array()) {
            throw Error(Exit::DataErr, "not an array", Location{{}, 0, path + ".names"});
        }
        for (const auto& x : n->get_array()) {
            if (!x.is_string()) {
                throw Error(Exit::DataErr, "not a string", Location{{}, 0, path + ".names"});
            }
            g.names.emplace_back(x.as_string());
        }
    }
    g.keyType = keyTypeOf(str(o, "keytype", path), path + ".keytype");
    g.keySize = static_cast<unsigned>(number(o, "keysize", path));
    g.spkiSha256 = str(o, "spki_sha256", path);
    g.serial = str(o, "serial", path);
    g.notBefore = number(o, "not_before", path);
    g.notAfter = number(o, "not_after", path);
    g.issued = number(o, "issued", path);
    g.issuer = str(o, "issuer", path);
    g.ca = str(o, "ca", path);
    g.renewAt = number(o, "renew_at", path);
    g.renewReason = str(o, "renew_reason", path);
    g.keySince = number(o, "key_since", path);
    if (const auto* a = o.if_contains("ari"); a != nullptr && a->is_object()) {
        const auto& ao = a->get_object();
        g.ari = AriWindow{str(ao, "cert_id", path + ".ari"), number(ao, "start", path + ".ari"),
                          number(ao, "end", path + ".ari"), str(ao, "explanation", path + ".ari")};
    }
    if (const auto* d = o.if_contains("deployed"); d != nullptr) {
        if (!d->is_array()) {
            throw Error(Exit::DataErr, "not an array", Location{{}, 0, path + ".deployed"});
        }
        std::size_t i = 0;
        for (const auto& x : d->get_array()) {
            const std::string p = path + ".deployed[" + std::to_string(i++) + "]";
            if (!x.is_object()) {
                throw Error(Exit::DataErr, "not an object", Location{{}, 0, p});
            }
            g.deployed.push_back(Deployed{str(x.get_object(), "domain", p),
                                          str(x.get_object(), "dir", p),
                                          str(x.get_object(), "generation", p)});
        }
    }
    return g;
}

} // namespace

Material materialFromJson(const json::value& v, const std::string& path) {
    Material m;
    if (v.is_null()) {
        return m;
    }
    if (!v.is_object()) {
        throw Error(Exit::DataErr, "not an object", Location{{}, 0, path});
    }
    const auto& o = v.get_object();
    if (const auto* x = o.if_contains("current"); x != nullptr && !x->is_null()) {
        m.current = generationFromJson(*x, path + ".current");
    }
    if (const auto* x = o.if_contains("next"); x != nullptr && !x->is_null()) {
        m.next = generationFromJson(*x, path + ".next");
    }
    if (const auto* x = o.if_contains("previous"); x != nullptr && !x->is_null()) {
        m.previous = generationFromJson(*x, path + ".previous");
    }
    if (const auto* x = o.if_contains("standby"); x != nullptr && !x->is_null()) {
        const std::string p = path + ".standby";
        if (!x->is_object()) {
            throw Error(Exit::DataErr, "not an object", Location{{}, 0, p});
        }
        const auto& so = x->get_object();
        Standby s;
        s.key = str(so, "key", p);
        if (s.key.empty()) {
            throw Error(Exit::DataErr, "needs key", Location{{}, 0, p});
        }
        s.spkiSha256 = str(so, "spki_sha256", p);
        s.keyType = keyTypeOf(str(so, "keytype", p), p + ".keytype");
        s.keySize = static_cast<unsigned>(number(so, "keysize", p));
        s.created = number(so, "created", p);
        m.standby = s;
    }
    return m;
}

// ---------------------------------------------------------------------------- facts

std::string spkiSha256(const std::vector<std::uint8_t>& spki) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_Digest(spki.data(), spki.size(), md, &size, EVP_sha256(), nullptr) != 1) {
        throw Error(Exit::Software, "SHA-256 failed");
    }
    return hex(md, size);
}

CertFacts factsOf(const x509::Certificate& cert) {
    CertFacts f;
    const auto x = x509::toX509(cert);
    f.names = x509::dnsNames(cert);
    const ASN1_INTEGER* serial = X509_get0_serialNumber(x.get());
    f.serial =
        hex(ASN1_STRING_get0_data(serial), static_cast<std::size_t>(ASN1_STRING_length(serial)));
    f.notBefore = timeOf(X509_get0_notBefore(x.get()));
    f.notAfter = timeOf(X509_get0_notAfter(x.get()));
    const X509_NAME* issuer = X509_get_issuer_name(x.get());
    const int at = X509_NAME_get_index_by_NID(issuer, NID_commonName, -1);
    if (at >= 0) {
        const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(issuer, at));
        f.issuer.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                        static_cast<std::size_t>(ASN1_STRING_length(cn)));
    } else {
        f.issuer = cert.issuer;
    }
    f.spkiSha256 = spkiSha256(cert.spki);
    const auto algorithm = keys::algorithmOf(cert.spki);
    if (algorithm == keys::Algorithm::Rsa) {
        f.keyType = KeyType::Rsa;
    } else if (algorithm == keys::Algorithm::EcdsaP256 || algorithm == keys::Algorithm::EcdsaP384) {
        f.keyType = KeyType::Ecdsa;
    } else {
        throw Error(Exit::DataErr, "a certificate with an " +
                                       std::string(keys::toString(algorithm)) +
                                       " key (cdm-cert issues RSA and ECDSA)");
    }
    f.keySize = keys::bitsOf(cert.spki);
    return f;
}

// ---------------------------------------------------------------------------- decision

Random defaultRandom() {
    return [](std::uint64_t size) -> std::uint64_t {
        if (size == 0) {
            return 0;
        }
        std::random_device device;
        return std::uniform_int_distribution<std::uint64_t>(0, size - 1)(device);
    };
}

std::pair<std::time_t, std::string> renewTime(std::time_t notBefore, std::time_t notAfter,
                                              std::optional<std::int64_t> renewBeforeDays) {
    if (renewBeforeDays) {
        return {notAfter - *renewBeforeDays * day,
                "renewbefore " + std::to_string(*renewBeforeDays) + " days before expiry"};
    }
    const std::int64_t lifetime = std::max<std::int64_t>(0, notAfter - notBefore);
    if (lifetime / 3 < 30 * day) {
        // Short-lived certificates (Let's Encrypt's 6-day ones, Pebble's): a third of their
        // life left, as Let's Encrypt advises.
        return {notAfter - lifetime / 3, "a third of the lifetime (" +
                                             std::to_string(lifetime / 3) +
                                             " seconds) before expiry"};
    }
    return {notAfter - 30 * day, "30 days before expiry"};
}

Decision decide(const DecisionInput& in, const Material& m, const Random& random) {
    Decision d;
    if (m.current) {
        d.renewAt = m.current->renewAt;
        d.ari = m.current->ari;
    }
    if (in.forced) {
        d.issue = true;
        d.reason = "forced";
        return d;
    }
    if (!m.current && !m.next) {
        d.issue = true;
        d.reason = "no certificate yet";
        return d;
    }
    if (m.next) {
        d.reason = "next already staged (serial " + m.next->serial + "), waiting for rollover";
        d.renewAt = m.next->renewAt;
        return d;
    }
    const Generation& c = *m.current;
    if (sortedLower(c.names) != sortedLower(in.names)) {
        d.issue = true;
        d.keyChange = false;
        std::string have;
        for (const auto& n : c.names) {
            have += (have.empty() ? "" : ",") + n;
        }
        std::string want;
        for (const auto& n : in.names) {
            want += (want.empty() ? "" : ",") + n;
        }
        d.reason = "names changed (" + have + " -> " + want + ")";
        return d;
    }
    if (c.keyType != in.keyType || c.keySize != in.keySize) {
        d.issue = true;
        d.keyChange = true;
        d.reason = "key parameters changed (" + keyText(c.keyType, c.keySize) + " -> " +
                   keyText(in.keyType, in.keySize) + ")";
        return d;
    }
    if (in.compromised) {
        d.issue = true;
        d.keyChange = true;
        d.reason = "key compromised";
        return d;
    }
    if (in.rollKey) {
        d.issue = true;
        d.keyChange = true;
        d.reason = "key roll requested";
        return d;
    }
    if (in.ari && in.ari->end >= in.ari->start) {
        // RFC 9773 §4.2: a random time in the window, chosen once; the same window keeps it.
        const auto& w = *in.ari;
        const bool same = c.ari && c.ari->start == w.start && c.ari->end == w.end &&
                          c.renewAt >= w.start && c.renewAt <= w.end;
        d.renewAt = same ? c.renewAt
                         : w.start + static_cast<std::time_t>(
                                         random(static_cast<std::uint64_t>(w.end - w.start) + 1));
        d.ari = AriWindow{in.ariCertId, w.start, w.end, w.explanationUrl};
        d.issue = in.now >= d.renewAt;
        d.reason = std::string(d.issue ? "due" : "not due") + ": ARI window " + utc(w.start) +
                   " to " + utc(w.end) + ", renewal at " + utc(d.renewAt);
        if (!w.explanationUrl.empty()) {
            // ARI says why only in prose; a key compromise is the operator's call
            // (--compromised), so the URL goes where the operator reads.
            d.reason += " (the CA explains: " + w.explanationUrl + ")";
        }
        return d;
    }
    const auto [at, why] = renewTime(c.notBefore, c.notAfter, in.renewBeforeDays);
    d.renewAt = at;
    d.ari.reset();
    d.issue = in.now >= at;
    d.reason = std::string(d.issue ? "due" : "not due") + ": " + why + ", renewal at " + utc(at);
    return d;
}

KeyChoice chooseKey(bool reuseKey, std::int64_t keyRollDays, KeyType keyType, unsigned keySize,
                    const Material& m, std::time_t now, bool rollKey, bool compromised) {
    KeyChoice k;
    const bool standbyFits =
        m.standby && m.standby->keyType == keyType && m.standby->keySize == keySize;
    if (compromised) {
        // The standby key's 3 1 1 record is already published: it takes over at once.
        k.source = standbyFits ? KeySource::Standby : KeySource::New;
        k.reason = standbyFits ? "key compromised: the published standby key"
                               : "key compromised: a new key";
        k.makeStandby = reuseKey;
        return k;
    }
    if (!reuseKey) {
        k.reason = "reusekey is off: a new key";
        return k;
    }
    k.makeStandby = !m.standby;
    if (!m.current) {
        k.reason = "first certificate: a new key";
        return k;
    }
    const Generation& c = *m.current;
    const bool paramsChanged = c.keyType != keyType || c.keySize != keySize;
    const std::time_t since = c.keySince != 0 ? c.keySince : c.issued;
    const bool aged = keyRollDays > 0 && now - since >= keyRollDays * day;
    if (paramsChanged || rollKey || aged) {
        const std::string why = paramsChanged ? "key parameters changed"
                                : rollKey
                                    ? "key roll requested"
                                    : "keyroll " + std::to_string(keyRollDays) + " days passed";
        k.source = standbyFits ? KeySource::Standby : KeySource::New;
        k.reason = why + (standbyFits ? ": the standby key takes over"
                                      : ": a new key (no fitting standby)");
        k.makeStandby = true;
        return k;
    }
    k.source = KeySource::Current;
    k.reason = "reusekey: the current key is kept";
    return k;
}

// ---------------------------------------------------------------------------- filesystem

std::string stamp(std::time_t t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y%m%dT%H%M%SZ", &tm);
    return buffer;
}

std::vector<Deployed> deploy(const Generation& gen, const std::string& destination,
                             const std::vector<std::string>& domains) {
    std::vector<Deployed> out;
    const std::string generation = ".cdm-" + fs::path(gen.dir).filename().string();
    const std::string certPem = fsutil::readFile(gen.cert, 1U << 20U);
    const std::string chainPem =
        gen.chain.empty() ? std::string() : fsutil::readFile(gen.chain, 1U << 20U);
    const std::string fullchainPem = fsutil::readFile(gen.fullchain, 1U << 20U);
    // Every name checked before the first is deployed: a bad one later in the list must not
    // leave the certificate deployed for some names only.
    for (const auto& domain : domains) {
        if (domain.empty() || domain.find('/') != std::string::npos || domain == "." ||
            domain == ".." ||
            std::any_of(domain.begin(), domain.end(),
                        [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
            throw Error(Exit::DataErr, "domain '" + domain + "' cannot be a directory name");
        }
    }
    for (const auto& domain : domains) {
        const std::string dir = destination + "/" + domain;
        fsutil::ensureDirectory(dir);
        const std::string genDir = dir + "/" + generation;
        std::error_code ec;
        const bool made = !fs::exists(fs::symlink_status(genDir, ec));
        fsutil::ensureDirectory(genDir);
        ::chmod(genDir.c_str(), 0700);
        // The complete set first, then the switch: a reader sees the old or the new set.
        try {
            writePublic(genDir + "/cert.pem", certPem);
            writePublic(genDir + "/chain.pem", chainPem);
            writePublic(genDir + "/fullchain.pem", fullchainPem);
            keys::deploy(gen.key, genDir + "/privkey.pem");
            fsyncDir(genDir);
        } catch (const Error&) {
            // A full disk, say: no set that is not whole stays beside the served one.
            if (made) {
                removeTree(genDir);
            }
            throw;
        }
        replaceSymlink(dir + "/.cdm-current", generation);
        for (const char* f : deployFiles) {
            replaceSymlink(dir + "/" + f, std::string(".cdm-current/") + f);
        }
        fsyncDir(dir);
        out.push_back(Deployed{domain, dir, generation});
    }
    return out;
}

std::vector<std::string> cleanupGeneration(const Generation& old, const std::string& stateCertDir) {
    std::vector<std::string> removed;
    for (const auto& d : old.deployed) {
        if (d.generation.rfind(".cdm-", 0) != 0 || d.generation == ".cdm-current" ||
            d.generation.find('/') != std::string::npos ||
            d.generation.find("..") != std::string::npos) {
            log::warn("material names '" + d.generation +
                      "' as a deployed generation, ignoring it");
            continue;
        }
        std::error_code ec;
        const std::string current = fs::read_symlink(d.dir + "/.cdm-current", ec).string();
        if (current == d.generation) {
            continue; // still what the service reads
        }
        const std::string path = d.dir + "/" + d.generation;
        if (fs::is_directory(fs::symlink_status(path, ec)) && removeTree(path)) {
            removed.push_back(path);
        }
    }
    if (!old.dir.empty() && under(old.dir, stateCertDir) && removeTree(old.dir)) {
        removed.push_back(old.dir);
    }
    return removed;
}

namespace {

// Is `name` one prepareOne() gives an issued generation: "<YYYYmmddTHHMMSSZ>-<hex serial>"?
bool isGenerationName(std::string_view name) {
    const auto digits = [&](std::size_t from, std::size_t to) {
        return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(from),
                           name.begin() + static_cast<std::ptrdiff_t>(to),
                           [](char c) { return c >= '0' && c <= '9'; });
    };
    return name.size() > 17 && digits(0, 8) && name[8] == 'T' && digits(9, 15) &&
           name[15] == 'Z' && name[16] == '-' &&
           std::all_of(name.begin() + 17, name.end(),
                       [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

} // namespace

std::vector<std::string> cleanupStandbyKeys(const std::string& stateCertDir,
                                            const std::string& keep) {
    std::vector<std::string> removed;
    std::error_code ec;
    const std::string dir = stateCertDir + "/keys";
    if (!fs::is_directory(dir, ec)) {
        return removed;
    }
    const std::string kept =
        keep.empty() ? std::string() : fs::path(keep).lexically_normal().string();
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        const std::string path = entry.path().lexically_normal().string();
        if (!fsutil::isStampedPemName(name) || path == kept || !entry.is_regular_file(ec)) {
            continue;
        }
        if (fs::remove(entry.path(), ec)) {
            removed.push_back(path);
        }
    }
    return removed;
}

// ---------------------------------------------------------------------------- phases

namespace {

struct Run {
    json::object& doc;
    const Options& options;
    Summary summary;
    std::map<std::string, Material> changed;
};

std::unique_ptr<acme::Client> clientFor(const Settings& s, const Options& o) {
    acme::ClientOptions c;
    c.directoryUrl = o.ca.empty() ? s.ca : o.ca;
    c.caBundle = o.cabundle.empty() ? s.cabundle : o.cabundle;
    c.progress = isatty(STDERR_FILENO) != 0;
    return std::make_unique<acme::Client>(c);
}

acme::AccountRequest accountRequest(const Settings& s, const std::string& ca) {
    acme::AccountRequest r;
    r.keyPath = acme::accountDir(s.statedir, ca) + "/account.key";
    if (!s.email.empty()) {
        r.contact.push_back("mailto:" + s.email);
    }
    r.eabKid = s.eabKid;
    r.eabHmacKey = s.eabHmacKey;
    if (r.eabHmacKey.empty() && !s.eabHmacKeyFile.empty()) {
        r.eabHmacKey = trim(fsutil::readFile(s.eabHmacKeyFile, 4096));
    }
    return r;
}

std::map<std::string, std::string> sectionsOf(const json::object& doc,
                                              const std::vector<std::string>& names) {
    std::map<std::string, std::string> out;
    const auto* config = objectAt(doc.if_contains("config"));
    const auto* domains = config != nullptr ? objectAt(config->if_contains("domain")) : nullptr;
    if (domains == nullptr) {
        return out;
    }
    for (const auto& [section, value] : *domains) {
        const auto* o = objectAt(&value);
        if (section == "DEFAULT" || o == nullptr) {
            continue;
        }
        std::string absolute = lower(text(o, "name", std::string(section)));
        if (absolute.empty() || absolute.back() != '.') {
            absolute += '.';
        }
        const std::string bare = absolute.substr(0, absolute.size() - 1);
        if (std::find(names.begin(), names.end(), bare) != names.end()) {
            // As acme::Challenge::domain spells it: a wildcard's challenge is at its base name
            // (RFC 8555 §8.4), whose own section, if it has one, wins.
            const bool wildcard = bare.starts_with("*.");
            const std::string key = wildcard ? bare.substr(2) : bare;
            if (!wildcard || out.count(key) == 0U) {
                out[key] = std::string(section);
            }
        }
    }
    return out;
}

std::unique_ptr<acme::Solver> solverFor(const Settings& s, const Run& run) {
    if (s.challenge == acme::ChallengeType::Http01) {
        return std::make_unique<challenge::HttpSolver>(s.webroot);
    }
    challenge::DnsOptions d;
    if (const auto* config = objectAt(run.doc.if_contains("config")); config != nullptr) {
        d.config = *config;
    }
    d.sectionOf = sectionsOf(run.doc, s.names);
    d.base = run.options.dns;
    dnsapply::applyConfig(d.base, run.doc);
    if (!run.options.dnsTimeoutSet) {
        d.base.verifyTimeout = s.propagationTimeout;
    }
    // Beside the certificate's directory, which holds only its generations.
    d.journal = stateCertDir(s) + ".challenges.json";
    return std::make_unique<challenge::DnsSolver>(std::move(d));
}

Standby makeStandby(const Settings& s, std::time_t now, std::vector<std::string>& created) {
    const std::string dir = stateCertDir(s) + "/keys";
    fsutil::ensureDirectory(dir);
    std::string path = dir + "/" + stamp(now) + ".pem";
    for (int i = 1; fs::exists(path); ++i) {
        path = dir + "/" + stamp(now) + "-" + std::to_string(i) + ".pem";
    }
    keys::KeySpec spec;
    spec.algorithm = s.keyType == KeyType::Rsa ? keys::Algorithm::Rsa
                     : s.keySize == 384        ? keys::Algorithm::EcdsaP384
                                               : keys::Algorithm::EcdsaP256;
    spec.bits = s.keyType == KeyType::Rsa ? s.keySize : 0;
    const auto spki = keys::generate(spec, path);
    created.push_back(path);
    return Standby{path, spkiSha256(spki), s.keyType, s.keySize, now};
}

void prepareOne(Run& run, const Settings& s, std::optional<Material>& out) {
    const Options& o = run.options;
    Material m = materialOf(run.doc, s.name);
    DecisionInput in;
    in.names = s.names;
    in.keyType = s.keyType;
    in.keySize = s.keySize;
    in.renewBeforeDays = s.renewBeforeDays;
    in.forced = s.force || o.force.count(s.name) != 0U;
    in.compromised = o.compromised.count(s.name) != 0U;
    in.rollKey = o.rollKey.count(s.name) != 0U;
    in.now = o.now;
    const std::string ca = o.ca.empty() ? s.ca : o.ca;
    std::unique_ptr<acme::Client> client;
    std::optional<x509::Certificate> currentCert;
    if (m.current) {
        try {
            currentCert = x509::loadChain(m.current->cert).front();
        } catch (const Error& e) {
            log::warn("[cert:" + s.name + "] current certificate: " + std::string(e.what()) +
                      ", issuing a new one");
            m.current.reset();
        }
    }
    if (s.ari && currentCert && !m.next && !in.forced) {
        try {
            client = clientFor(s, o);
            if (auto info = client->renewalInfo(*currentCert)) {
                in.ari = *info;
                in.ariCertId = acme::certId(*currentCert);
            }
        } catch (const Error& e) {
            log::warn("[cert:" + s.name + "] no renewal information from '" + ca +
                      "': " + e.what() + ", using renewbefore");
        }
    }
    const Decision d = decide(in, m, o.random ? o.random : defaultRandom());
    if (!d.issue) {
        if (m.current && !m.next) {
            m.current->renewAt = d.renewAt;
            m.current->ari = d.ari;
            m.current->renewReason = d.reason;
        }
        if (s.reuseKey && (!m.standby || !fs::exists(m.standby->key))) {
            m.standby = makeStandby(s, o.now, run.summary.created);
        }
        ++run.summary.kept;
        log::info("[cert:" + s.name + "] kept: " + d.reason);
        document::report(
            run.doc, "cdm-cert", "kept",
            json::object{{"cert", s.name}, {"reason", d.reason}, {"renew_at", d.renewAt}});
        out = std::move(m);
        return;
    }
    if (m.standby && !fs::exists(m.standby->key)) {
        log::warn("[cert:" + s.name + "] standby key '" + m.standby->key +
                  "' is missing, making a new one");
        m.standby.reset();
    }
    const KeyChoice k = chooseKey(s.reuseKey, s.keyRollDays, s.keyType, s.keySize, m, o.now,
                                  in.rollKey, in.compromised);
    const std::string base = stateCertDir(s);
    fsutil::ensureDirectory(base);
    const std::string tmp = base + "/.tmp-" + stamp(o.now) + "-" + std::to_string(::getpid());
    removeTree(tmp);
    fsutil::ensureDirectory(tmp);
    run.summary.created.push_back(tmp);
    const std::string keyPath = tmp + "/privkey.pem";
    if (k.source == KeySource::Current) {
        keys::deploy(m.current->key, keyPath);
    } else if (k.source == KeySource::Standby) {
        keys::deploy(m.standby->key, keyPath);
    } else {
        keys::KeySpec spec;
        spec.algorithm = s.keyType == KeyType::Rsa ? keys::Algorithm::Rsa
                         : s.keySize == 384        ? keys::Algorithm::EcdsaP384
                                                   : keys::Algorithm::EcdsaP256;
        spec.bits = s.keyType == KeyType::Rsa ? s.keySize : 0;
        keys::generate(spec, keyPath);
    }
    fault::point("cert.staged-key-written");
    if (!client) {
        client = clientFor(s, o);
    }
    const auto account = client->account(accountRequest(s, ca));
    acme::OrderRequest order;
    order.names = s.names;
    order.keyPath = keyPath;
    order.mustStaple = s.mustStaple;
    order.profile = s.profile;
    order.preferredChain = s.preferredChain;
    order.csrOut = tmp + "/csr.pem";
    if (m.current && in.ari) {
        order.replaces = in.ariCertId;
    }
    const auto solver = solverFor(s, run);
    log::info("[cert:" + s.name + "] issuing (" + d.reason + "; " + k.reason + ") from '" + ca +
              "'");
    const acme::Issued issued = client->issue(account, order, *solver);
    fsutil::writeFileAtomic(tmp + "/cert.pem", issued.certPem, 0644);
    fsutil::writeFileAtomic(tmp + "/chain.pem", issued.chainPem, 0644);
    fsutil::writeFileAtomic(tmp + "/fullchain.pem", issued.fullchainPem, 0644);
    const auto leaf = x509::parseChain(issued.certPem, "the issued certificate").front();
    const CertFacts f = factsOf(leaf);
    if (leaf.spki != keys::publicKeyDer(keyPath)) {
        throw Error(Exit::DataErr, "the CA's certificate does not hold the key of the order");
    }
    const std::string dir = base + "/" + stamp(o.now) + "-" + f.serial;
    if (::rename(tmp.c_str(), dir.c_str()) != 0) {
        const int err = errno;
        throw Error(errnoExit(err),
                    "unable to rename '" + tmp + "' to '" + dir + "': " + std::strerror(err));
    }
    run.summary.created.back() = dir;
    fsyncDir(base);
    fault::point("cert.staged");
    Generation g;
    g.dir = dir;
    g.key = dir + "/privkey.pem";
    g.csr = dir + "/csr.pem";
    g.cert = dir + "/cert.pem";
    g.chain = dir + "/chain.pem";
    g.fullchain = dir + "/fullchain.pem";
    g.names = s.names;
    g.keyType = f.keyType;
    g.keySize = f.keySize;
    g.spkiSha256 = f.spkiSha256;
    g.serial = f.serial;
    g.notBefore = f.notBefore;
    g.notAfter = f.notAfter;
    g.issued = o.now;
    g.issuer = issued.chosenIssuer.empty() ? f.issuer : issued.chosenIssuer;
    g.ca = ca;
    std::tie(g.renewAt, g.renewReason) = renewTime(f.notBefore, f.notAfter, s.renewBeforeDays);
    g.keySince = k.source != KeySource::Current ? o.now
                 : m.current->keySince != 0     ? m.current->keySince
                                                : m.current->issued;
    m.next = g;
    if (k.source == KeySource::Standby) {
        m.standby.reset(); // its file goes at cleanup; the generation holds its copy
    }
    if (s.reuseKey && (k.makeStandby || !m.standby)) {
        m.standby = makeStandby(s, o.now, run.summary.created);
    }
    ++run.summary.issued;
    const char* keyWord = k.source == KeySource::Current   ? "reused"
                          : k.source == KeySource::Standby ? "standby"
                                                           : "new";
    log::info("[cert:" + s.name + "] issued serial " + f.serial + " (" + d.reason + ")");
    document::report(run.doc, "cdm-cert", "issued",
                     json::object{{"cert", s.name},
                                  {"reason", d.reason},
                                  {"key", keyWord},
                                  {"key_reason", k.reason},
                                  {"names", toArray(s.names)},
                                  {"serial", f.serial},
                                  {"not_after", f.notAfter},
                                  {"issuer", g.issuer},
                                  {"dir", dir},
                                  {"requests", client->requests()}});
    out = std::move(m);
}

void rolloverOne(Run& run, const Settings& s, std::optional<Material>& out) {
    Material m = materialOf(run.doc, s.name);
    if (!m.next && !m.current) {
        return;
    }
    if (s.destination.empty()) {
        throw Error(Exit::Config,
                    "[cert:" + s.name + "] has no destination: rollover cannot deploy it",
                    s.source);
    }
    std::vector<std::string> removed;
    if (m.next) {
        Generation g = *m.next;
        g.deployed = deploy(g, s.destination, g.names);
        fault::point("cert.deployed-one");
        if (m.previous) {
            // cleanup did not run since the last rollover: the oldest set goes now.
            removed = cleanupGeneration(*m.previous, stateCertDir(s));
        }
        m.previous = m.current;
        m.current = g;
        m.next.reset();
        log::info("[cert:" + s.name + "] deployed serial " + g.serial + " to '" + s.destination +
                  "'");
        document::report(run.doc, "cdm-cert", "deployed",
                         json::object{{"cert", s.name},
                                      {"reason", "next becomes current"},
                                      {"serial", g.serial},
                                      {"domains", toArray(g.names)},
                                      {"destination", s.destination}});
    } else {
        // Converge: a symlink or file lost after a crash is made again; nothing else changes.
        m.current->deployed = deploy(*m.current, s.destination, m.current->names);
        // "checked", not "deployed": no service needs a reload for it (cdm-reload).
        document::report(run.doc, "cdm-cert", "checked",
                         json::object{{"cert", s.name},
                                      {"reason", "no next: current checked in place"},
                                      {"serial", m.current->serial},
                                      {"domains", toArray(m.current->names)},
                                      {"destination", s.destination}});
    }
    ++run.summary.deployed;
    out = std::move(m);
}

void cleanupOne(Run& run, const Settings& s, std::optional<Material>& out) {
    Material m = materialOf(run.doc, s.name);
    const std::string base = stateCertDir(s);
    std::vector<std::string> removed;
    std::string reason;
    if (m.previous) {
        const bool inUse = (m.current && m.current->dir == m.previous->dir) ||
                           (m.next && m.next->dir == m.previous->dir);
        if (!inUse) {
            removed = cleanupGeneration(*m.previous, base);
        }
        reason = "previous serial " + m.previous->serial + " retired";
        m.previous.reset();
    }
    if (!s.reuseKey && m.standby) {
        m.standby.reset();
    }
    for (const auto& k : cleanupStandbyKeys(base, m.standby ? m.standby->key : std::string())) {
        removed.push_back(k);
    }
    // Staging directories of a prepare that crashed (.tmp-*), never recorded, and issued
    // generations the state never recorded: a prepare killed after the rename below, before
    // the state's write, or one whose `next` a later forced prepare replaced.
    // By directory name, not by path: the state may spell the state directory another way
    // (a symlink, a bind mount) than this run's configuration does. A document without
    // material (a cleanup run by hand, without the state) knows no generation: nothing then
    // counts as unrecorded, or the staged and current certificates would go.
    const bool knowsMaterial = m.current.has_value() || m.next.has_value();
    const auto recorded = [&](const std::string& name) {
        for (const auto* g : {m.current ? &*m.current : nullptr, m.next ? &*m.next : nullptr}) {
            if (g != nullptr && fs::path(g->dir).lexically_normal().filename() == name) {
                return true;
            }
        }
        return false;
    };
    std::error_code ec;
    if (fs::is_directory(base, ec)) {
        for (const auto& entry : fs::directory_iterator(base, ec)) {
            const std::string name = entry.path().filename().string();
            const bool staging = name.rfind(".tmp-", 0) == 0;
            const bool unrecorded = knowsMaterial && isGenerationName(name) && !recorded(name);
            if ((staging || unrecorded) && removeTree(entry.path().string())) {
                removed.push_back(entry.path().string());
            }
        }
    }
    if (removed.empty() && reason.empty()) {
        out = std::move(m);
        return;
    }
    ++run.summary.cleaned;
    for (const auto& r : removed) {
        log::info("[cert:" + s.name + "] removed '" + r + "'");
    }
    document::report(run.doc, "cdm-cert", "cleaned",
                     json::object{{"cert", s.name},
                                  {"reason", reason.empty() ? std::string("unused files") : reason},
                                  {"removed", toArray(removed)}});
    out = std::move(m);
}

caa::CaFacts caaFacts(const json::object& doc, const Options& o, const std::string& name) {
    std::vector<std::string> warnings;
    const Settings s = settingsOf(doc, name, warnings);
    caa::CaFacts f;
    auto client = clientFor(s, o);
    f.directoryUrl = o.ca.empty() ? s.ca : o.ca;
    f.caaIdentities = client->directory().caaIdentities;
    f.pins = caa::parsePins(s.caaPin, s.at("caapin"));
    f.challenge = std::string(acme::toString(s.challenge));
    if (std::find(f.pins.begin(), f.pins.end(), caa::Pin::AccountUri) != f.pins.end()) {
        f.accountUrl = client->account(accountRequest(s, f.directoryUrl)).url;
    }
    return f;
}

} // namespace

Summary run(json::object& doc, const Options& options) {
    Run r{doc, options, {}, {}};
    if (options.phase == "update") {
        const auto filled =
            caa::fill(doc, [&](const std::string& name) { return caaFacts(doc, options, name); });
        if (filled != 0) {
            document::report(doc, "cdm-cert", "caa", json::object{{"placeholders", filled}});
        }
        return r.summary;
    }
    if (options.phase != "prepare" && options.phase != "rollover" && options.phase != "cleanup") {
        return r.summary;
    }
    std::vector<std::string> unlinked;
    const auto names = linkedCerts(doc, unlinked);
    for (const auto& name : unlinked) {
        const auto* section = certSection(doc, name);
        const Location where = locationOf(text(section, "source"));
        log::warn((where.empty() ? std::string() : where.toString() + ": ") +
                  "no domain links cert:" + name + ", skipping it");
        ++r.summary.skipped;
        document::report(
            doc, "cdm-cert", "skipped",
            json::object{{"cert", name}, {"reason", "no domain links it (cert = " + name + ")"}});
    }
    for (const auto& name : names) {
        // A section that fails changes nothing of its own, and the others go on: a certificate
        // issued for one section must not be thrown away because another failed, or every
        // cron run would order it again until the CA's rate limit stops it.
        const std::size_t createdBefore = r.summary.created.size();
        try {
            std::vector<std::string> warnings;
            const Settings s = settingsOf(doc, name, warnings);
            if (options.phase == "prepare") {
                for (const auto& w : warnings) {
                    log::warn(w);
                }
            }
            std::optional<Material> m;
            if (options.phase == "prepare") {
                prepareOne(r, s, m);
            } else if (options.phase == "rollover") {
                rolloverOne(r, s, m);
            } else {
                cleanupOne(r, s, m);
            }
            if (m) {
                r.changed[name] = std::move(*m);
            }
        } catch (const Error& e) {
            Summary own;
            own.created.assign(r.summary.created.begin() + static_cast<std::ptrdiff_t>(createdBefore),
                               r.summary.created.end());
            undo(own);
            r.summary.created.resize(createdBefore);
            if (r.summary.failure) {
                // The first failure is the program's last line; the later ones go here.
                log::error("[cert:" + name + "] " + options.phase + " failed: " + e.what());
            }
            document::report(doc, "cdm-cert", "failed",
                             json::object{{"cert", name},
                                          {"phase", options.phase},
                                          {"exit", static_cast<int>(e.code())},
                                          {"error", e.what()}});
            if (!r.summary.failure) {
                r.summary.failure = e;
            }
        } catch (...) {
            undo(r.summary);
            throw;
        }
    }
    for (auto& [name, m] : r.changed) {
        document::material(doc, "cert")[name] = toJson(m);
    }
    return r.summary;
}

void undo(const Summary& summary) noexcept {
    for (auto it = summary.created.rbegin(); it != summary.created.rend(); ++it) {
        try {
            removeTree(*it);
        } catch (...) {
        }
    }
}

// ---------------------------------------------------------------------------- status

std::vector<StatusEntry> status(const StatusRequest& request) {
    std::unique_ptr<acme::Client> client;
    if (!request.ca.empty()) {
        acme::ClientOptions c;
        c.directoryUrl = request.ca;
        c.caBundle = request.cabundle;
        client = std::make_unique<acme::Client>(c);
    }
    std::vector<StatusEntry> out;
    for (const auto& file : request.certs) {
        const auto leaf = x509::loadChain(file).front();
        StatusEntry e;
        e.file = file;
        e.facts = factsOf(leaf);
        e.lifetime = e.facts.notAfter - e.facts.notBefore;
        std::optional<acme::RenewalInfo> info;
        if (client) {
            info = client->renewalInfo(leaf);
        }
        if (info) {
            // The window's start: from then on the CA wants it renewed.
            e.renewAt = info->start;
            e.ari = AriWindow{acme::certId(leaf), info->start, info->end, info->explanationUrl};
            e.reason = "ARI window " + utc(info->start) + " to " + utc(info->end);
        } else {
            std::tie(e.renewAt, e.reason) =
                renewTime(e.facts.notBefore, e.facts.notAfter, request.renewBeforeDays);
        }
        if (request.now >= e.facts.notAfter) {
            e.reason = "expired; " + e.reason;
        }
        e.due = request.now >= e.renewAt;
        out.push_back(std::move(e));
    }
    return out;
}

json::object toJson(const StatusEntry& e) {
    json::object o{{"file", e.file},
                   {"names", toArray(e.facts.names)},
                   {"serial", e.facts.serial},
                   {"issuer", e.facts.issuer},
                   {"keytype", toString(e.facts.keyType)},
                   {"keysize", e.facts.keySize},
                   {"spki_sha256", e.facts.spkiSha256},
                   {"not_before", e.facts.notBefore},
                   {"not_after", e.facts.notAfter},
                   {"lifetime", e.lifetime},
                   {"renew_at", e.renewAt},
                   {"reason", e.reason},
                   {"due", e.due}};
    if (e.ari) {
        o["ari"] = json::object{{"cert_id", e.ari->certId},
                                {"start", e.ari->start},
                                {"end", e.ari->end},
                                {"explanation", e.ari->explanation}};
    }
    return o;
}

std::string toText(const StatusEntry& e, std::time_t now) {
    std::string names;
    for (const auto& n : e.facts.names) {
        names += (names.empty() ? "" : ",") + n;
    }
    const std::int64_t left = e.renewAt - now;
    std::string when =
        e.due ? "due now" : "due in " + std::to_string((left + day - 1) / day) + " days";
    if (!e.due && left < day) {
        when = "due in " + std::to_string(left) + " seconds";
    }
    return e.file + ": " + names + ": expires " + utc(e.facts.notAfter) + " (lifetime " +
           std::to_string(e.lifetime / day) + " days), renew at " + utc(e.renewAt) + ": " + when +
           " (" + e.reason + ")\n";
}

} // namespace cdm::certphase
