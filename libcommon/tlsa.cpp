#include "libcommon/tlsa.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

#include <openssl/evp.h>

#include "libcommon/document.hpp"
#include "libcommon/error.hpp"
#include "libcommon/keys.hpp"
#include "libcommon/log.hpp"
#include "libcommon/name.hpp"
#include "libcommon/x509.hpp"

namespace cdm::tlsa {

namespace json = boost::json;

namespace {

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string upper(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return out;
}

// A number 0..max, or one of the RFC 7218 mnemonics (index = value).
int parseField(std::string_view text, const char* what, int max,
               std::initializer_list<std::initializer_list<const char*>> names) {
    const std::string u = upper(text);
    int value = 0;
    for (const auto& aliases : names) {
        for (const char* alias : aliases) {
            if (u == alias) {
                return value;
            }
        }
        ++value;
    }
    if (!text.empty() && text.size() <= 3 && std::all_of(text.begin(), text.end(), ::isdigit)) {
        const int n = std::stoi(std::string(text));
        if (n <= max) {
            return n;
        }
    }
    throw Error(Exit::Usage, std::string("TLSA ") + what + " " + quoted(text) + " is not one of 0 to " +
                                 std::to_string(max));
}

std::string hex(const unsigned char* data, std::size_t size) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        out += digits[data[i] >> 4];
        out += digits[data[i] & 0x0f];
    }
    return out;
}

std::string digestHex(const std::vector<std::uint8_t>& data, const EVP_MD* md) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), digest.data(), &len, md, nullptr) != 1) {
        throw Error(Exit::Software, "digest failed");
    }
    return hex(digest.data(), len);
}

} // namespace

std::string Params::toString() const {
    return std::to_string(static_cast<int>(usage)) + " " + std::to_string(static_cast<int>(selector)) +
           " " + std::to_string(static_cast<int>(matching));
}

Usage parseUsage(std::string_view text) {
    return static_cast<Usage>(parseField(text, "usage", 3, {{"PKIX-TA"}, {"PKIX-EE"}, {"DANE-TA"}, {"DANE-EE"}}));
}

Selector parseSelector(std::string_view text) {
    return static_cast<Selector>(parseField(text, "selector", 1, {{"CERT"}, {"SPKI"}}));
}

Matching parseMatching(std::string_view text) {
    return static_cast<Matching>(
        parseField(text, "matching type", 2, {{"FULL"}, {"SHA2-256", "SHA-256", "SHA256"}, {"SHA2-512", "SHA-512", "SHA512"}}));
}

std::vector<Params> parseParams(std::string_view text) {
    std::vector<Params> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto comma = text.find(',', start);
        const std::string_view item =
            text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
        std::vector<std::string_view> parts;
        std::size_t p = 0;
        while (p <= item.size()) {
            const auto colon = item.find(':', p);
            parts.push_back(item.substr(p, colon == std::string_view::npos ? item.npos : colon - p));
            if (colon == std::string_view::npos) {
                break;
            }
            p = colon + 1;
        }
        if (parts.size() != 3) {
            throw Error(Exit::Usage, "TLSA parameters " + quoted(item) + " are not USAGE:SELECTOR:MATCHING");
        }
        out.push_back({parseUsage(parts[0]), parseSelector(parts[1]), parseMatching(parts[2])});
        if (comma == std::string_view::npos) {
            break;
        }
        start = comma + 1;
    }
    return out;
}

const x509::Certificate& trustAnchor(const Source& source, unsigned caDepth) {
    if (source.chain.empty()) {
        throw Error(Exit::DataErr, "usage 0 and 2 need a certificate chain, not a bare key",
                    Location{source.name, 0, {}});
    }
    if (caDepth != 0) {
        if (caDepth >= source.chain.size()) {
            throw Error(Exit::DataErr,
                        "the chain has " + std::to_string(source.chain.size()) +
                            " certificate(s); there is none at depth " + std::to_string(caDepth),
                        Location{source.name, 0, {}});
        }
        return source.chain[caDepth];
    }
    const auto& leaf = source.chain.front();
    for (std::size_t i = 1; i < source.chain.size(); ++i) {
        if (x509::issued(source.chain[i], leaf)) {
            return source.chain[i];
        }
    }
    throw Error(Exit::DataErr,
                "no certificate in the chain issued the leaf '" + leaf.subject +
                    "'; usage 0 and 2 need its CA (a full chain, or --ca-depth)",
                Location{source.name, 0, {}});
}

namespace {

// Publishing a pin for a key no client should accept helps nobody: CAs stopped issuing RSA
// below 2048 bits in 2013 and TLS libraries refuse such keys.
void checkStrength(const Source& source) {
    const auto& spki = source.chain.empty() ? source.spki : source.chain.front().spki;
    bool rsa = false;
    try {
        rsa = keys::algorithmOf(spki) == keys::Algorithm::Rsa;
    } catch (const Error&) {
        return; // a key type keys does not make (Ed448, DSA ...): TLSA hashes it all the same
    }
    if (rsa) {
        const unsigned bits = keys::bitsOf(spki);
        if (bits < 2048) {
            throw Error(Exit::DataErr,
                        "an RSA key of " + std::to_string(bits) + " bits is too weak (at least 2048)",
                        Location{source.name, 0, {}});
        }
    }
}

} // namespace

std::string associationData(const Source& source, const Params& params, unsigned caDepth) {
    checkStrength(source);
    const bool caUsage = params.usage == Usage::PkixTa || params.usage == Usage::DaneTa;
    std::vector<std::uint8_t> data;
    if (source.chain.empty()) {
        if (caUsage || params.selector == Selector::Cert) {
            throw Error(Exit::DataErr,
                        "a bare key answers only selector 1 with usage 1 or 3, not " + params.toString(),
                        Location{source.name, 0, {}});
        }
        data = source.spki;
    } else {
        const x509::Certificate& cert = caUsage ? trustAnchor(source, caDepth) : source.chain.front();
        data = params.selector == Selector::Cert ? cert.der : cert.spki;
    }
    switch (params.matching) {
    case Matching::Full:
        return hex(data.data(), data.size());
    case Matching::Sha256:
        return digestHex(data, EVP_sha256());
    case Matching::Sha512:
        return digestHex(data, EVP_sha512());
    }
    throw Error(Exit::Software, "unknown matching type");
}

std::string rdata(const Source& source, const Params& params, unsigned caDepth) {
    return params.toString() + " " + associationData(source, params, caDepth);
}

std::uint16_t parsePort(std::string_view text) {
    if (text.empty() || text.size() > 5 || !std::all_of(text.begin(), text.end(), ::isdigit) ||
        std::stoul(std::string(text)) == 0 || std::stoul(std::string(text)) > 65535) {
        throw Error(Exit::Usage, "port " + quoted(text) + " is not from 1 to 65535");
    }
    return static_cast<std::uint16_t>(std::stoul(std::string(text)));
}

std::string ownerName(std::optional<unsigned> port, std::string_view proto, std::string_view host) {
    if (port && (*port == 0 || *port > 65535)) {
        throw Error(Exit::Usage, "port " + std::to_string(*port) + " is not from 1 to 65535");
    }
    if (proto.empty() || !std::all_of(proto.begin(), proto.end(), [](unsigned char c) {
            return std::isalnum(c) || c == '-';
        })) {
        throw Error(Exit::Usage, "protocol " + quoted(proto) + " is not a protocol name such as tcp");
    }
    const std::string label = port ? "_" + std::to_string(*port) : std::string("*");
    try {
        return name::normalize(label + "._" + std::string(proto) + "." + std::string(host) +
                               (host.empty() || host.back() != '.' ? "." : ""));
    } catch (const Error& e) {
        throw Error(Exit::Usage, "host " + quoted(host) + ": " + e.message());
    }
}

std::vector<Params> pairParams(const std::vector<std::string>& usages,
                               const std::vector<std::string>& selectors,
                               const std::vector<std::string>& matchings) {
    const std::size_t n = std::max({usages.size(), selectors.size(), matchings.size(), std::size_t{1}});
    for (const auto* list : {&usages, &selectors, &matchings}) {
        if (list->size() > 1 && list->size() != n) {
            throw Error(Exit::Usage, "give --usage, --selector and --matching the same number of times (or once)");
        }
    }
    const auto at = [](const std::vector<std::string>& list, std::size_t i) -> const std::string* {
        if (list.empty()) {
            return nullptr;
        }
        return &list[list.size() == 1 ? 0 : i];
    };
    std::vector<Params> out;
    for (std::size_t i = 0; i < n; ++i) {
        Params p;
        if (const auto* u = at(usages, i)) {
            p.usage = parseUsage(*u);
        }
        if (const auto* sel = at(selectors, i)) {
            p.selector = parseSelector(*sel);
        }
        if (const auto* m = at(matchings, i)) {
            p.matching = parseMatching(*m);
        }
        out.push_back(p);
    }
    return out;
}

std::vector<document::DesiredRecord> fromRequest(const Request& request) {
    const int sources = !request.cert.empty() + !request.key.empty() + !request.csr.empty();
    if (sources != 1) {
        throw Error(Exit::Usage, "give exactly one of --cert, --key and --csr");
    }
    if (request.host.empty()) {
        throw Error(Exit::Usage, "--host is needed for the owner name");
    }
    Source source;
    if (!request.cert.empty()) {
        source.chain = x509::loadChain(request.cert);
        source.name = request.cert;
    } else if (!request.key.empty()) {
        source.spki = keys::publicKeyDer(request.key);
        source.name = request.key;
    } else {
        source.spki = x509::csrPublicKey(request.csr);
        source.name = request.csr;
    }
    const std::string owner = ownerName(request.port, request.proto, request.host);
    std::vector<document::DesiredRecord> out;
    for (const auto& params : request.params.empty() ? std::vector<Params>{Params{}} : request.params) {
        document::DesiredRecord r;
        r.name = owner;
        r.type = record::Type::TLSA;
        r.ttl = request.ttl;
        r.data = rdata(source, params, request.caDepth);
        r.op = document::Op::Add;
        r.scope = document::Scope{owner, record::Type::TLSA, {}, {}, {}};
        r.label = "TLSA";
        r.source = source.name;
        out.push_back(std::move(r));
    }
    return out;
}

std::string toDocumentText(const std::vector<document::DesiredRecord>& records) {
    json::object doc = document::empty();
    auto& list = doc["records"].as_array();
    for (const auto& r : records) {
        list.push_back(document::toJson(r));
    }
    document::report(doc, "cdm-tlsa", "created", {{"records", records.size()}});
    return document::serialize(doc);
}

std::string toRdataText(const std::vector<document::DesiredRecord>& records) {
    std::string out;
    for (const auto& r : records) {
        out += r.data.value_or("") + "\n";
    }
    return out;
}

namespace {

std::optional<Source> sourceOf(const json::object& material, const std::string& path) {
    const auto text = [&](const char* key) -> std::string {
        const auto* v = material.if_contains(key);
        return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    Source s;
    if (const std::string chain = text("fullchain"); !chain.empty()) {
        s.chain = x509::loadChain(chain);
        s.name = chain;
    } else if (const std::string key = text("key"); !key.empty()) {
        s.spki = keys::publicKeyDer(key);
        s.name = key;
    } else if (const std::string csr = text("csr"); !csr.empty()) {
        s.spki = x509::csrPublicKey(csr);
        s.name = csr;
    } else {
        throw Error(Exit::DataErr, "material without 'fullchain', 'key' or 'csr'", Location{{}, 0, path});
    }
    return s;
}

const json::object* objectAt(const json::value* v) {
    return v != nullptr && v->is_object() ? &v->get_object() : nullptr;
}

std::optional<Source> keySourceOf(const json::object& material, const std::string& path) {
    const auto* key = material.if_contains("key");
    if (key == nullptr || !key->is_string() || key->get_string().empty()) {
        throw Error(Exit::DataErr, "standby material without 'key'", Location{{}, 0, path});
    }
    Source s;
    s.name = std::string(key->get_string());
    s.spki = keys::publicKeyDer(s.name);
    return s;
}

} // namespace

std::size_t addRecords(json::object& doc) {
    const json::object* config = objectAt(doc.if_contains("config"));
    const json::object* domains = config != nullptr ? objectAt(config->if_contains("domain")) : nullptr;
    if (domains == nullptr) {
        return 0;
    }
    const json::object* material = objectAt(doc.if_contains("material"));
    const json::object* certMaterial = material != nullptr ? objectAt(material->if_contains("cert")) : nullptr;

    std::vector<json::object> added;
    for (const auto& [sectionName, sectionValue] : *domains) {
        const json::object* section = objectAt(&sectionValue);
        if (section == nullptr || sectionName == "DEFAULT") {
            continue;
        }
        const auto* specs = section->if_contains("tlsa");
        const auto* certs = section->if_contains("certs");
        if (specs == nullptr || !specs->is_array() || certs == nullptr || !certs->is_array()) {
            continue;
        }
        std::uint32_t ttl = 600;
        if (const auto* keys = objectAt(section->if_contains("keys"))) {
            if (const auto* t = keys->if_contains("ttl"); t != nullptr && t->is_string()) {
                ttl = static_cast<std::uint32_t>(std::stoul(std::string(t->as_string())));
            }
        }
        const std::string base = "config.domain." + std::string(sectionName) + ".tlsa";
        std::size_t index = 0;
        for (const auto& specValue : specs->get_array()) {
            const std::string at = base + "[" + std::to_string(index++) + "]";
            const json::object& spec = specValue.as_object();
            const std::string op(spec.at("op").as_string());
            const std::string mode(spec.at("mode").as_string());
            document::DesiredRecord r;
            r.name = std::string(spec.at("owner").as_string());
            r.type = record::Type::TLSA;
            r.ttl = ttl;
            r.scope = document::scopeFromJson(spec.at("scope"), at + ".scope");
            r.label = "TLSA";
            r.section = std::string(sectionName);
            if (const auto* src = spec.if_contains("source"); src != nullptr && src->is_string()) {
                r.source = std::string(src->as_string());
            }
            if (op == "none") {
                r.op = document::Op::None;
                added.push_back(document::toJson(r));
                continue;
            }
            if (op != "auto") {
                continue; // the original published only `auto`; cdm-config warned about the rest
            }
            r.op = mode == "add" ? document::Op::Add : mode == "remove" ? document::Op::Remove : document::Op::Replace;
            const Params params{static_cast<Usage>(spec.at("usage").to_number<int>()),
                                static_cast<Selector>(spec.at("selector").to_number<int>()),
                                static_cast<Matching>(spec.at("matching").to_number<int>())};
            for (const auto& certName : certs->get_array()) {
                const std::string cert(certName.as_string());
                const json::object* m = certMaterial != nullptr ? objectAt(certMaterial->if_contains(cert)) : nullptr;
                if (m == nullptr) {
                    log::warn(r.source + ": no material for cert:" + cert + " yet, no TLSA record for " + r.name);
                    continue;
                }
                // `previous` is there only until cdm-cert's cleanup retires it, or while a
                // rollover has not completed: its records stay until then, since a service
                // may still present it.
                for (const char* which : {"current", "next", "standby", "previous"}) {
                    const json::object* item = objectAt(m->if_contains(which));
                    if (item == nullptr) {
                        continue;
                    }
                    const std::string mpath = "material.cert." + cert + "." + which;
                    std::optional<Source> source;
                    try {
                        // The standby key has no certificate: its key is all it publishes.
                        source = std::string_view(which) == "standby" ? keySourceOf(*item, mpath)
                                                                      : sourceOf(*item, mpath);
                    } catch (const Error& e) {
                        if (std::string_view(which) != "previous") {
                            throw;
                        }
                        log::warn(mpath + ": " + e.message() + "; its TLSA record is not kept");
                        continue;
                    }
                    if (source->chain.empty() &&
                        (params.selector == Selector::Cert || params.usage == Usage::PkixTa ||
                         params.usage == Usage::DaneTa)) {
                        // A pre-generated next key has no certificate yet: only its `3 1 x`
                        // can be published ahead.
                        continue;
                    }
                    document::DesiredRecord one = r;
                    one.data = rdata(*source, params);
                    const json::object jr = document::toJson(one);
                    if (std::find(added.begin(), added.end(), jr) == added.end()) {
                        added.push_back(jr);
                    }
                }
            }
        }
    }
    const std::size_t count = added.size();
    document::appendRecords(doc, std::move(added));
    return count;
}

} // namespace cdm::tlsa
