#include "libcommon/dkim.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>

#include "libcommon/dkimphase.hpp"
#include "libcommon/document.hpp"
#include "libcommon/fsutil.hpp"
#include "libcommon/log.hpp"
#include "libcommon/name.hpp"
#include "libcommon/record.hpp"

namespace cdm::dkim {

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

// Record files are a few hundred bytes; rspamadm's 4096-bit output is under 1 kB.
constexpr std::size_t maxRecordFileBytes = 64 * 1024;

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

bool isBlank(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && isBlank(text.front())) {
        text.remove_prefix(1);
    }
    while (!text.empty() && isBlank(text.back())) {
        text.remove_suffix(1);
    }
    return text;
}

// User text in a message: quoted, and cut short so that a 1 MB argument stays one line.
std::string quote(std::string_view text) {
    constexpr std::size_t limit = 40;
    std::string out = "'";
    for (char c : text.substr(0, limit)) {
        out += std::isprint(static_cast<unsigned char>(c)) != 0 ? c : '?';
    }
    return out + (text.size() > limit ? "...'" : "'");
}

std::vector<std::string> split(std::string_view text, char separator) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        const std::size_t at = text.find(separator, start);
        out.emplace_back(text.substr(start, at == std::string_view::npos ? at : at - start));
        if (at == std::string_view::npos) {
            return out;
        }
        start = at + 1;
    }
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
    std::string out;
    for (const auto& p : parts) {
        out += (out.empty() ? "" : std::string(separator)) + p;
    }
    return out;
}

constexpr std::string_view base64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(const std::vector<std::uint8_t>& bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
        std::uint32_t v = static_cast<std::uint32_t>(bytes[i]) << 16U;
        if (n > 1) {
            v |= static_cast<std::uint32_t>(bytes[i + 1]) << 8U;
        }
        if (n > 2) {
            v |= bytes[i + 2];
        }
        out += base64Alphabet[(v >> 18U) & 63U];
        out += base64Alphabet[(v >> 12U) & 63U];
        out += n > 1 ? base64Alphabet[(v >> 6U) & 63U] : '=';
        out += n > 2 ? base64Alphabet[v & 63U] : '=';
    }
    return out;
}

// Strict base64 (RFC 4648 §4): whole quanta, padding only at the end. nullopt otherwise.
std::optional<std::vector<std::uint8_t>> unbase64(std::string_view text) {
    if (text.size() % 4 != 0) {
        return std::nullopt;
    }
    std::vector<std::uint8_t> out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        std::uint32_t v = 0;
        int pad = 0;
        for (std::size_t j = 0; j < 4; ++j) {
            const char c = text[i + j];
            if (c == '=') {
                if (i + 4 != text.size() || j < 2) {
                    return std::nullopt;
                }
                ++pad;
                v <<= 6U;
                continue;
            }
            const auto at = base64Alphabet.find(c);
            if (at == std::string_view::npos || pad != 0) {
                return std::nullopt;
            }
            v = (v << 6U) | static_cast<std::uint32_t>(at);
        }
        out.push_back(static_cast<std::uint8_t>(v >> 16U));
        if (pad < 2) {
            out.push_back(static_cast<std::uint8_t>(v >> 8U));
        }
        if (pad < 1) {
            out.push_back(static_cast<std::uint8_t>(v));
        }
    }
    return out;
}

// DKIM-quoted-printable (RFC 6376 §2.11): n= may hold any text this way.
std::string quotedPrintable(std::string_view text) {
    static constexpr std::string_view hex = "0123456789ABCDEF";
    std::string out;
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c >= 0x21 && c <= 0x3a) || c == 0x3c || (c >= 0x3e && c <= 0x7e)) {
            out += ch;
        } else {
            out += '=';
            out += hex[c >> 4U];
            out += hex[c & 15U];
        }
    }
    return out;
}

std::string bare(const std::string& domain) {
    return !domain.empty() && domain.back() == '.' ? domain.substr(0, domain.size() - 1) : domain;
}

std::string normalizeDomain(std::string_view domain) {
    if (domain.empty()) {
        throw Error(Exit::Usage, "--domain is empty");
    }
    try {
        std::string out = name::normalize(domain);
        if (out == "." || out.starts_with("*")) {
            throw Error(Exit::Usage, "--domain " + quote(domain) + " is not a mail domain");
        }
        return out;
    } catch (const Error& e) {
        if (e.code() == Exit::Usage) {
            throw;
        }
        throw Error(Exit::Usage, "--domain " + quote(domain) + ": " + e.message());
    }
}

std::string absolutePath(const std::string& path) {
    return std::filesystem::absolute(path).lexically_normal().string();
}

bool fileExists(const std::string& path) {
    std::error_code ec;
    return std::filesystem::symlink_status(path, ec).type() !=
               std::filesystem::file_type::not_found &&
           !ec;
}

// Escape for a double-quoted UCL string (rspamd).
std::string uclString(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            // JSON's escape, which UCL reads: a raw newline would end the value early.
            std::array<char, 8> u{};
            std::snprintf(u.data(), u.size(), "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
            out += u.data();
            continue;
        }
        out += c;
    }
    return out + "\"";
}

// Escape for a single-quoted Perl string (amavisd).
std::string perlString(std::string_view text) {
    std::string out = "'";
    for (char c : text) {
        if (c == '\'' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out + "'";
}

std::string algorithmName(const Entry& e) {
    return std::string(toString(e.record.type));
}

void checkFormat(Format format, const std::vector<KeyType>& types, bool revoked,
                 std::size_t seeds) {
    if (format == Format::Json || format == Format::Zone) {
        return;
    }
    if (revoked) {
        throw Error(Exit::Usage,
                    "a revoked key has no signing configuration; use --format zone or json");
    }
    for (KeyType t : types) {
        if (t != KeyType::Ed25519) {
            continue;
        }
        if (format == Format::Amavisd) {
            throw Error(Exit::Usage,
                        "amavisd signs with RSA keys only; --format amavisd takes no Ed25519 key");
        }
        if (format == Format::Rspamd && seeds == 0) {
            throw Error(Exit::Usage,
                        "rspamd cannot read PEM Ed25519 keys; add --seed-out FILE for the key "
                        "file rspamd reads");
        }
    }
}

void checkSeeds(const std::vector<std::string>& seeds, const std::vector<KeyType>& types) {
    if (seeds.empty()) {
        return;
    }
    if (seeds.size() > 1) {
        throw Error(Exit::Usage, "--seed-out is given more than once");
    }
    if (std::find(types.begin(), types.end(), KeyType::Ed25519) == types.end()) {
        throw Error(Exit::Usage, "--seed-out applies to Ed25519 keys only");
    }
}

// Refuse to start when any output exists or two outputs are one file: bad input changes nothing.
void checkOutputs(const std::vector<std::string>& paths) {
    std::set<std::string> seen;
    for (const auto& p : paths) {
        if (p.empty()) {
            throw Error(Exit::Usage, "an output file name is empty");
        }
        if (!seen.insert(absolutePath(p)).second) {
            throw Error(Exit::Usage, "the file " + quote(p) + " is named twice");
        }
        if (fileExists(p)) {
            throw Error(Exit::CantCreat, "already exists, not overwriting it", Location{p, 0, {}});
        }
    }
}

// The record of a key file, with the file named in any error.
Entry entryFromKey(const std::string& path, const std::string& domain, const Tags& tags) {
    const auto spki = keys::publicKeyDer(path);
    Entry e;
    e.domain = domain;
    e.keyPath = absolutePath(path);
    try {
        e.record = fromPublicKey(spki, tags);
        if (e.record.type == KeyType::Rsa) {
            e.bits = keys::bitsOf(spki);
        }
    } catch (const Error& err) {
        throw Error(err.code(), err.message(), Location{path, 0, {}});
    }
    return e;
}

} // namespace

std::string_view toString(KeyType type) {
    return type == KeyType::Rsa ? "rsa" : "ed25519";
}

std::optional<KeyType> keyTypeFromString(std::string_view text) {
    const std::string t = lower(text);
    if (t == "rsa") {
        return KeyType::Rsa;
    }
    if (t == "ed25519") {
        return KeyType::Ed25519;
    }
    return std::nullopt;
}

Tags parseFlags(std::string_view text) {
    Tags tags;
    auto add = [](std::vector<std::string>& list, const std::string& v) {
        if (std::find(list.begin(), list.end(), v) == list.end()) {
            list.push_back(v);
        }
    };
    for (const auto& rawItem : split(text, ',')) {
        const std::string_view item = trim(rawItem);
        if (item.empty()) {
            continue;
        }
        const auto eq = item.find('=');
        if (eq == std::string_view::npos) {
            throw Error(Exit::Usage, "--flags item " + quote(item) + " is not tag=value");
        }
        const std::string tag = lower(trim(item.substr(0, eq)));
        const std::string_view value = trim(item.substr(eq + 1));
        if (tag == "n") {
            tags.notes = std::string(value);
            continue;
        }
        for (const auto& piece : split(value, ':')) {
            const std::string v = lower(trim(piece));
            if (tag == "h" && v == "sha256") {
                add(tags.hashes, v);
            } else if (tag == "h" && v == "sha1") {
                throw Error(Exit::Usage,
                            "--flags h=sha1: RFC 8301 retired SHA-1 for DKIM; use h=sha256");
            } else if (tag == "t" && (v == "y" || v == "s")) {
                add(tags.flags, v);
            } else if (tag == "s" && (v == "email" || v == "*")) {
                add(tags.services, v);
            } else if (tag == "h" || tag == "t" || tag == "s") {
                throw Error(Exit::Usage, "--flags " + tag + "=" + quote(v) +
                                             " is not known (h=sha256, t=y, t=s, s=email, s=*)");
            } else {
                throw Error(Exit::Usage, "--flags tag " + quote(tag) + " is not one of h, s, t, n");
            }
        }
    }
    return tags;
}

std::string KeyRecord::toText() const {
    std::vector<std::string> parts{"v=DKIM1"};
    if (!tags.hashes.empty()) {
        parts.push_back("h=" + join(tags.hashes, ":"));
    }
    if (explicitType) {
        parts.push_back("k=" + std::string(dkim::toString(type)));
    }
    if (!tags.services.empty()) {
        parts.push_back("s=" + join(tags.services, ":"));
    }
    if (!tags.flags.empty()) {
        parts.push_back("t=" + join(tags.flags, ":"));
    }
    if (!tags.notes.empty()) {
        parts.push_back("n=" + quotedPrintable(tags.notes));
    }
    parts.push_back("p=" + publicKey);
    return join(parts, "; ");
}

KeyRecord fromPublicKey(const std::vector<std::uint8_t>& spki, const Tags& tags) {
    KeyRecord r;
    r.tags = tags;
    const keys::Algorithm algorithm = keys::algorithmOf(spki);
    switch (algorithm) {
    case keys::Algorithm::Rsa: {
        const unsigned bits = keys::bitsOf(spki);
        if (bits < 1024) {
            throw Error(Exit::DataErr,
                        "a " + std::to_string(bits) +
                            "-bit RSA key; DKIM needs at least 1024 bits (RFC 8301)");
        }
        r.type = KeyType::Rsa;
        r.publicKey = base64(spki);
        break;
    }
    case keys::Algorithm::Ed25519:
        r.type = KeyType::Ed25519;
        r.publicKey = base64(keys::ed25519Raw(spki));
        break;
    default:
        throw Error(Exit::DataErr, "an " + std::string(keys::toString(algorithm)) +
                                       " key; DKIM records take RSA or Ed25519 keys");
    }
    return r;
}

void checkSelector(std::string_view selector) {
    const auto bad = [&](const std::string& why) {
        throw Error(Exit::Usage, "selector " + quote(selector) + " " + why);
    };
    if (selector.empty()) {
        bad("is empty");
    }
    for (const auto& label : split(selector, '.')) {
        if (label.empty()) {
            bad("has an empty label");
        }
        if (label.size() > 63) {
            bad("has a label longer than 63 characters");
        }
        for (char c : label) {
            if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-' && c != '_') {
                bad("may hold only letters, digits, '-', '_' and '.'");
            }
        }
    }
}

std::string owner(std::string_view selector, std::string_view domain) {
    checkSelector(selector);
    const std::string d = normalizeDomain(domain);
    try {
        return name::normalize(lower(selector) + "._domainkey." + d);
    } catch (const Error& e) {
        throw Error(Exit::Usage, "selector " + quote(selector) + " with domain " + quote(domain) +
                                     ": " + e.message());
    }
}

std::vector<std::string> selectors(const SelectorRule& rule, std::size_t count) {
    if (rule.fixed.size() > count) {
        throw Error(Exit::Usage, std::to_string(rule.fixed.size()) + " selectors given for " +
                                     std::to_string(count) + (count == 1 ? " key" : " keys"));
    }
    if (!rule.fixed.empty() && !rule.datePattern.empty()) {
        throw Error(Exit::Usage, "--selector and --selector-date exclude each other");
    }
    std::vector<std::string> out;
    if (rule.fixed.size() == count) {
        out = rule.fixed;
    } else {
        std::string base;
        if (!rule.fixed.empty()) {
            base = rule.fixed.front();
        } else if (!rule.datePattern.empty()) {
            std::tm tm{};
            gmtime_r(&rule.now, &tm);
            const std::array<std::pair<std::string_view, int>, 6> fields{{
                {"YYYY", tm.tm_year + 1900},
                {"MM", tm.tm_mon + 1},
                {"DD", tm.tm_mday},
                {"hh", tm.tm_hour},
                {"mm", tm.tm_min},
                {"ss", tm.tm_sec},
            }};
            std::string_view p = rule.datePattern;
            while (!p.empty()) {
                bool replaced = false;
                for (const auto& [token, value] : fields) {
                    if (p.starts_with(token)) {
                        const std::string digits = std::to_string(value);
                        base += std::string(
                                    token.size() > digits.size() ? token.size() - digits.size() : 0,
                                    '0') +
                                digits;
                        p.remove_prefix(token.size());
                        replaced = true;
                        break;
                    }
                }
                if (!replaced) {
                    base += p.front();
                    p.remove_prefix(1);
                }
            }
        } else {
            // The original: keybasename + '_' + '{:10d}'.format(int(time.time())).
            base = rule.keyBaseName + "_" + std::to_string(static_cast<long long>(rule.now));
        }
        if (count == 1) {
            out.push_back(base);
        } else {
            out.push_back(base + "-rsa");
            out.push_back(base + "-ed25519");
        }
    }
    for (const auto& s : out) {
        checkSelector(s);
    }
    if (out.size() == 2 && lower(out[0]) == lower(out[1])) {
        throw Error(Exit::Usage, "the two keys need two different selectors");
    }
    return out;
}

Format formatFromString(std::string_view text) {
    if (text == "json") {
        return Format::Json;
    }
    if (text == "zone") {
        return Format::Zone;
    }
    if (text == "rspamd") {
        return Format::Rspamd;
    }
    if (text == "opendkim") {
        return Format::OpenDkim;
    }
    if (text == "amavisd") {
        return Format::Amavisd;
    }
    throw Error(Exit::Usage,
                "--format takes json, zone, rspamd, opendkim or amavisd, not " + quote(text));
}

std::string render(const std::vector<Entry>& entries, Format format, std::uint32_t ttl,
                   std::string_view event) {
    std::vector<KeyType> types;
    bool revoked = false;
    std::size_t seeds = 0;
    for (const auto& e : entries) {
        types.push_back(e.record.type);
        revoked = revoked || e.record.publicKey.empty();
        seeds += e.seedPath.empty() ? 0 : 1;
    }
    checkFormat(format, types, revoked, seeds);
    std::string out;
    switch (format) {
    case Format::Zone:
        for (const auto& e : entries) {
            out += record::Record::make(owner(e.selector, e.domain), record::Type::TXT, ttl,
                                        record::txtFromText(e.record.toText()))
                       .toZoneLine() +
                   "\n";
        }
        break;
    case Format::Json: {
        auto doc = document::empty();
        auto& list = doc["records"].as_array();
        for (const auto& e : entries) {
            document::DesiredRecord r;
            r.name = owner(e.selector, e.domain);
            r.type = record::Type::TXT;
            r.ttl = ttl;
            r.data = record::canonical(record::Type::TXT, record::txtFromText(e.record.toText()));
            r.op = document::Op::Replace;
            r.scope.name = r.name;
            r.scope.type = record::Type::TXT;
            r.label = "DKIM";
            list.emplace_back(document::toJson(r));
            boost::json::object fields{{"domain", e.domain},
                                       {"selector", e.selector},
                                       {"record", r.name},
                                       {"algorithm", algorithmName(e)}};
            if (e.bits != 0) {
                fields["bits"] = e.bits;
            }
            if (!e.keyPath.empty()) {
                fields["key"] = e.keyPath;
            }
            if (!e.seedPath.empty()) {
                fields["seed"] = e.seedPath;
            }
            document::report(doc, "cdm-dkim", event, std::move(fields));
        }
        out = document::serialize(doc);
        break;
    }
    case Format::Rspamd: {
        auto pathOf = [](const Entry& e) { return e.seedPath.empty() ? e.keyPath : e.seedPath; };
        if (entries.size() == 1) {
            // The original's dkim_signing.conf template, byte for byte.
            out = "path = " + uclString(pathOf(entries[0])) + ";\n" +
                  "selector = " + uclString(entries[0].selector) + ";\n" + "use_esld = false\n" +
                  "allow_username_mismatch = true;\n";
            break;
        }
        // Two keys (dual signing): rspamd takes several selectors per domain.
        out = "use_esld = false\nallow_username_mismatch = true;\ndomain {\n";
        std::string domain;
        for (const auto& e : entries) {
            if (e.domain != domain) {
                if (!domain.empty()) {
                    out += "    ];\n  }\n";
                }
                domain = e.domain;
                out += "  " + uclString(bare(e.domain)) + " {\n    selectors = [\n";
            }
            out += "      { path = " + uclString(pathOf(e)) +
                   "; selector = " + uclString(e.selector) + "; },\n";
        }
        out += "    ];\n  }\n}\n";
        break;
    }
    case Format::OpenDkim:
        // The KeyTable is split at blanks and lines, with no quoting: a key path with a blank
        // or a line break would add a field or a line of its own.
        for (const auto& e : entries) {
            if (std::any_of(e.keyPath.begin(), e.keyPath.end(), [](char c) {
                    return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
                })) {
                throw Error(Exit::Usage, "key path " + quote(e.keyPath) +
                                             " holds a blank or a control character, which an "
                                             "OpenDKIM KeyTable cannot hold");
            }
        }
        out = "# KeyTable\n";
        for (const auto& e : entries) {
            out += bare(owner(e.selector, e.domain)) + " " + bare(e.domain) + ":" + e.selector +
                   ":" + e.keyPath + "\n";
        }
        out += "# SigningTable\n";
        for (const auto& e : entries) {
            out += bare(e.domain) + " " + bare(owner(e.selector, e.domain)) + "\n";
        }
        break;
    case Format::Amavisd:
        for (const auto& e : entries) {
            out += "dkim_key(" + perlString(bare(e.domain)) + ", " + perlString(e.selector) + ", " +
                   perlString(e.keyPath) + ");\n";
        }
        break;
    }
    return out;
}

std::vector<Entry> generate(const GenerateRequest& request) {
    const auto& algs = request.algorithms;
    if (algs.empty() || algs.size() > 2 ||
        (algs.size() == 2 && (algs[0] != KeyType::Rsa || algs[1] != KeyType::Ed25519))) {
        throw Error(Exit::Usage, "--algorithm takes rsa, ed25519 or rsa+ed25519");
    }
    if (request.keyPaths.size() != algs.size()) {
        throw Error(Exit::Usage,
                    algs.size() == 2
                        ? "--algorithm rsa+ed25519 takes two --key-out files, the RSA key's first"
                        : "--key-out must be given once");
    }
    const keys::KeySpec rsa{keys::Algorithm::Rsa, request.bits};
    if (algs.front() == KeyType::Rsa) {
        keys::checkSpec(rsa);
    }
    checkSeeds(request.seedPaths, algs);
    checkFormat(request.format, algs, false, request.seedPaths.size());
    const std::string domain = normalizeDomain(request.domain);
    const auto names = selectors(request.selector, algs.size());
    for (const auto& s : names) {
        owner(s, domain);
    }
    std::vector<std::string> outputs = request.keyPaths;
    outputs.insert(outputs.end(), request.seedPaths.begin(), request.seedPaths.end());
    checkOutputs(outputs);
    if (algs.front() == KeyType::Rsa && request.bits < 2048) {
        log::warn("RSA keys of " + std::to_string(request.bits) +
                  " bits are below the 2048 bits RFC 8301 recommends, generating one anyway");
    }

    // Directories that do not exist yet: keys::generate() makes them, and a failure removes
    // them again (deepest first; only while empty).
    std::vector<fs::path> newDirectories;
    for (const auto& p : outputs) {
        for (fs::path d = fs::absolute(p).lexically_normal().parent_path();
             !d.empty() && !fileExists(d.string()); d = d.parent_path()) {
            newDirectories.push_back(d);
        }
    }
    std::sort(
        newDirectories.begin(), newDirectories.end(),
        [](const fs::path& a, const fs::path& b) { return a.string().size() > b.string().size(); });

    std::vector<std::string> written;
    std::vector<Entry> entries;
    try {
        for (std::size_t i = 0; i < algs.size(); ++i) {
            const std::string& path = request.keyPaths[i];
            const keys::KeySpec spec =
                algs[i] == KeyType::Rsa ? rsa : keys::KeySpec{keys::Algorithm::Ed25519, 0};
            const auto spki = keys::generate(spec, path);
            written.push_back(path);
            Entry e;
            e.domain = domain;
            e.selector = names[i];
            e.keyPath = absolutePath(path);
            e.record = fromPublicKey(spki, request.tags);
            e.bits = algs[i] == KeyType::Rsa ? keys::bitsOf(spki) : 0;
            if (algs[i] == KeyType::Ed25519 && !request.seedPaths.empty()) {
                keys::exportEd25519Seed(path, request.seedPaths.front());
                written.push_back(request.seedPaths.front());
                e.seedPath = absolutePath(request.seedPaths.front());
            }
            log::debug("generated " + std::string(toString(algs[i])) + " key " + e.keyPath +
                       " for selector " + e.selector);
            entries.push_back(std::move(e));
        }
    } catch (...) {
        // Undo the part already done, so that a failure leaves no file behind.
        std::error_code ec;
        for (const auto& p : written) {
            fs::remove(p, ec);
        }
        for (const auto& d : newDirectories) {
            fs::remove(d, ec);
        }
        throw;
    }
    return entries;
}

std::vector<Entry> fromKeys(const RecordRequest& request) {
    const auto& paths = request.keyPaths;
    if (paths.empty() || paths.size() > 2) {
        throw Error(Exit::Usage, "--key must be given once or twice");
    }
    if (request.selector.fixed.empty() && request.selector.datePattern.empty()) {
        throw Error(Exit::Usage, "an existing key needs --selector or --selector-date");
    }
    const std::string domain = normalizeDomain(request.domain);
    std::vector<Entry> entries;
    std::vector<KeyType> types;
    for (const auto& p : paths) {
        entries.push_back(entryFromKey(p, domain, request.tags));
        types.push_back(entries.back().record.type);
    }
    checkSeeds(request.seedPaths, types);
    checkFormat(request.format, types, false, request.seedPaths.size());
    auto names = selectors(request.selector, paths.size());
    if (paths.size() == 2 && request.selector.fixed.size() < 2) {
        // Derived names end in -rsa and -ed25519: give each key the one of its type.
        if (types[0] == types[1]) {
            throw Error(Exit::Usage, "two keys of one type need two --selector values");
        }
        if (types[0] == KeyType::Ed25519) {
            std::swap(names[0], names[1]);
        }
    }
    for (std::size_t i = 0; i < entries.size(); ++i) {
        entries[i].selector = names[i];
        owner(names[i], domain);
    }
    if (!request.seedPaths.empty()) {
        checkOutputs(request.seedPaths);
        for (std::size_t i = 0; i < entries.size(); ++i) {
            if (types[i] == KeyType::Ed25519) {
                keys::exportEd25519Seed(paths[i], request.seedPaths.front());
                entries[i].seedPath = absolutePath(request.seedPaths.front());
                break;
            }
        }
    }
    return entries;
}

Entry revoke(std::string_view domain, std::string_view selector, std::optional<KeyType> type) {
    Entry e;
    e.domain = normalizeDomain(domain);
    e.selector = std::string(selector);
    owner(selector, e.domain);
    e.record.type = type.value_or(KeyType::Rsa);
    e.record.explicitType = type.has_value();
    return e;
}

std::vector<FoundRecord> findRecords(std::string_view text, const std::string& sourceName) {
    struct Token {
        enum Kind { Word, Quoted, End } kind;
        std::string text;
        unsigned line;
    };
    const auto fail = [&](const std::string& why, unsigned line) {
        throw Error(Exit::DataErr, why, Location{sourceName, line, {}});
    };

    std::vector<FoundRecord> found;
    if (text.find('"') == std::string_view::npos) {
        // No quoted strings: a bare tag list, as dknewkey's .dns file holds.
        const std::string_view body = trim(text);
        if (body.find("p=") != std::string_view::npos) {
            const auto before = text.substr(0, text.find(body.front()));
            const auto line =
                static_cast<unsigned>(std::count(before.begin(), before.end(), '\n') + 1);
            found.push_back({{}, {}, std::string(body), Location{sourceName, line, {}}});
        }
    } else {
        // Zone-file style: split into tokens, then into entries at line ends outside ( ).
        std::vector<Token> tokens;
        unsigned line = 1;
        unsigned openLine = 0;
        int depth = 0;
        std::size_t i = 0;
        while (i < text.size()) {
            const char c = text[i];
            if (c == '\n') {
                if (depth == 0) {
                    tokens.push_back({Token::End, {}, line});
                }
                ++line;
                ++i;
            } else if (c == ' ' || c == '\t' || c == '\r') {
                ++i;
            } else if (c == ';') {
                while (i < text.size() && text[i] != '\n') {
                    ++i;
                }
            } else if (c == '(') {
                if (depth++ == 0) {
                    openLine = line;
                }
                ++i;
            } else if (c == ')') {
                if (depth-- == 0) {
                    fail("')' without '('", line);
                }
                ++i;
            } else if (c == '"') {
                const unsigned start = line;
                std::string s;
                ++i;
                for (;;) {
                    if (i >= text.size() || text[i] == '\n') {
                        fail("unterminated quoted string", start);
                    }
                    if (text[i] == '"') {
                        ++i;
                        break;
                    }
                    if (text[i] == '\\' && i + 1 < text.size()) {
                        if (i + 3 < text.size() &&
                            std::isdigit(static_cast<unsigned char>(text[i + 1])) != 0 &&
                            std::isdigit(static_cast<unsigned char>(text[i + 2])) != 0 &&
                            std::isdigit(static_cast<unsigned char>(text[i + 3])) != 0) {
                            const int v = (text[i + 1] - '0') * 100 + (text[i + 2] - '0') * 10 +
                                          (text[i + 3] - '0');
                            if (v > 255) {
                                fail("escape \\" + std::string(text.substr(i + 1, 3)) +
                                         " is over 255",
                                     line);
                            }
                            s += static_cast<char>(v);
                            i += 4;
                            continue;
                        }
                        ++i;
                    }
                    s += text[i++];
                }
                tokens.push_back({Token::Quoted, std::move(s), start});
            } else {
                const std::size_t start = i;
                while (i < text.size() && !isBlank(text[i]) &&
                       std::string_view("();\"").find(text[i]) == std::string_view::npos) {
                    ++i;
                }
                tokens.push_back({Token::Word, std::string(text.substr(start, i - start)), line});
            }
        }
        if (depth > 0) {
            fail("'(' not closed", openLine);
        }
        tokens.push_back({Token::End, {}, line});

        std::vector<Token> entry;
        for (auto& t : tokens) {
            if (t.kind != Token::End) {
                entry.push_back(std::move(t));
                continue;
            }
            std::string joined;
            bool quoted = false;
            for (const auto& e : entry) {
                if (e.kind == Token::Quoted) {
                    joined += e.text;
                    quoted = true;
                }
            }
            if (quoted && joined.find("p=") != std::string::npos) {
                FoundRecord r;
                r.text = joined;
                r.where = Location{sourceName, entry.front().line, {}};
                if (entry.front().kind == Token::Word && lower(entry.front().text) != "txt") {
                    const std::string ownerName = entry.front().text;
                    const auto at = lower(ownerName).find("._domainkey");
                    if (at != std::string::npos) {
                        r.selector = ownerName.substr(0, at);
                        std::string rest = ownerName.substr(at + 11);
                        if (rest.starts_with(".")) {
                            r.domain = bare(rest.substr(1));
                        }
                    }
                }
                found.push_back(std::move(r));
            }
            entry.clear();
        }
    }
    if (found.empty()) {
        throw Error(Exit::DataErr, "no DKIM record (a TXT record with p=) found",
                    Location{sourceName, 0, {}});
    }
    return found;
}

std::vector<std::pair<std::string, std::string>> parseTagList(std::string_view text,
                                                              const Location& where) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& raw : split(text, ';')) {
        const std::string_view spec = trim(raw);
        if (spec.empty()) {
            continue;
        }
        const auto eq = spec.find('=');
        if (eq == std::string_view::npos) {
            throw Error(Exit::DataErr, "tag " + quote(spec) + " has no '='", where);
        }
        const std::string tag(trim(spec.substr(0, eq)));
        if (tag.empty() || std::isalpha(static_cast<unsigned char>(tag.front())) == 0 ||
            !std::all_of(tag.begin(), tag.end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
            })) {
            throw Error(Exit::DataErr, "invalid tag name " + quote(tag), where);
        }
        for (const auto& [name, value] : out) {
            if (name == tag) {
                throw Error(Exit::DataErr, "tag '" + tag + "' appears twice", where);
            }
        }
        out.emplace_back(tag, std::string(trim(spec.substr(eq + 1))));
    }
    return out;
}

KeyRecord parseKeyRecord(std::string_view text, const Location& where) {
    const auto tags = parseTagList(text, where);
    KeyRecord r;
    r.explicitType = false;
    bool haveKey = false;
    for (std::size_t i = 0; i < tags.size(); ++i) {
        // Plain references: clang 14 cannot capture a structured binding in a lambda.
        const std::string& tag = tags[i].first;
        const std::string& value = tags[i].second;
        auto list = [&value]() {
            std::vector<std::string> items;
            for (const auto& item : split(value, ':')) {
                if (!trim(item).empty()) {
                    items.push_back(lower(trim(item)));
                }
            }
            return items;
        };
        if (tag == "v") {
            if (value != "DKIM1") {
                throw Error(Exit::DataErr, "v=" + quote(value) + ", not DKIM1", where);
            }
            if (i != 0) {
                throw Error(Exit::DataErr, "v= is not the first tag (RFC 6376 §3.6.1)", where);
            }
        } else if (tag == "k") {
            const auto type = keyTypeFromString(value);
            if (!type) {
                throw Error(Exit::DataErr, "k=" + quote(value) + " is not rsa or ed25519", where);
            }
            r.type = *type;
            r.explicitType = true;
        } else if (tag == "p") {
            for (char c : value) {
                if (!isBlank(c)) {
                    r.publicKey += c;
                }
            }
            haveKey = true;
        } else if (tag == "h") {
            r.tags.hashes = list();
        } else if (tag == "s") {
            r.tags.services = list();
        } else if (tag == "t") {
            r.tags.flags = list();
        } else if (tag == "n") {
            r.tags.notes = value;
        }
    }
    if (!haveKey) {
        throw Error(Exit::DataErr, "no p= tag", where);
    }
    return r;
}

Comparison compare(const KeyRecord& record, const std::vector<std::uint8_t>& spki) {
    if (record.publicKey.empty()) {
        return {false, "the record is revoked (empty p=)"};
    }
    keys::Algorithm algorithm{};
    try {
        algorithm = keys::algorithmOf(spki);
    } catch (const Error& e) {
        return {false, "the key is " + e.message()};
    }
    const bool keyIsRsa = algorithm == keys::Algorithm::Rsa;
    const bool keyIsEd = algorithm == keys::Algorithm::Ed25519;
    if (!keyIsRsa && !keyIsEd) {
        return {false,
                "the key is " + std::string(keys::toString(algorithm)) + ", not RSA or Ed25519"};
    }
    if ((record.type == KeyType::Rsa) != keyIsRsa) {
        return {false, "the record has k=" + std::string(toString(record.type)) +
                           " but the key is " + std::string(keys::toString(algorithm))};
    }
    const auto bytes = unbase64(record.publicKey);
    if (!bytes) {
        return {false, "p= is not valid base64"};
    }
    try {
        if (keyIsRsa) {
            if (keys::spkiFromPublicDer(*bytes) == spki) {
                return {true, {}};
            }
            return {false, "p= holds another key"};
        }
        if (*bytes == keys::ed25519Raw(spki)) {
            return {true, {}};
        }
        if (bytes->size() != 32) {
            if (keys::spkiFromPublicDer(*bytes) == spki) {
                return {false, "p= holds the key as a SubjectPublicKeyInfo; RFC 8463 wants the "
                               "raw 32-byte key"};
            }
            return {false,
                    "p= is " + std::to_string(bytes->size()) + " bytes, not a 32-byte Ed25519 key"};
        }
        return {false, "p= holds another key"};
    } catch (const Error&) {
        return {false, "p= does not hold a public key"};
    }
}

CompareResult compareFiles(const CompareRequest& request) {
    const std::string source = request.recordPath == "-" ? "<stdin>" : request.recordPath;
    const std::string text = request.recordPath == "-"
                                 ? cli::readAll(std::cin, maxRecordFileBytes, source)
                                 : fsutil::readFile(request.recordPath, maxRecordFileBytes);
    if (text.find('\0') != std::string::npos) {
        throw Error(Exit::DataErr, "binary data (a NUL byte), not a DKIM record",
                    Location{source, 0, {}});
    }
    std::vector<FoundRecord> fitting;
    for (auto& r : findRecords(text, source)) {
        if (!request.selector.empty() && !r.selector.empty() &&
            lower(r.selector) != lower(request.selector)) {
            continue;
        }
        if (!request.domain.empty() && !r.domain.empty() &&
            !name::equal(r.domain, request.domain)) {
            continue;
        }
        fitting.push_back(std::move(r));
    }
    if (fitting.empty()) {
        throw Error(Exit::DataErr, "no DKIM record for the selector and domain given",
                    Location{source, 0, {}});
    }
    if (fitting.size() > 1) {
        std::vector<std::string> names;
        for (const auto& r : fitting) {
            names.push_back(r.selector.empty() ? r.where.toString() : "'" + r.selector + "'");
        }
        throw Error(Exit::DataErr,
                    std::to_string(fitting.size()) + " DKIM records (" + join(names, ", ") +
                        "); choose one with --selector",
                    Location{source, 0, {}});
    }
    const auto spki = keys::publicKeyDer(request.keyPath);
    CompareResult result;
    result.record = fitting.front();
    const KeyRecord parsed = parseKeyRecord(result.record.text, result.record.where);
    result.comparison = compare(parsed, spki);
    std::string label = result.record.where.toString();
    if (!result.record.selector.empty()) {
        const std::string domain =
            !result.record.domain.empty() ? result.record.domain : request.domain;
        label = result.record.selector + "._domainkey" +
                (domain.empty() ? "" : "." + bare(domain) + ".");
    }
    if (result.comparison.match) {
        std::string what;
        try {
            const auto algorithm = keys::algorithmOf(spki);
            what = std::string(keys::toString(algorithm));
            if (algorithm == keys::Algorithm::Rsa) {
                what += " " + std::to_string(keys::bitsOf(spki)) + " bits";
            }
        } catch (const Error&) {
            what = "key";
        }
        result.line = label + ": match: the record publishes the key in '" + request.keyPath +
                      "' (" + what + ")";
    } else {
        result.line = label + ": mismatch: " + result.comparison.reason;
    }
    return result;
}

namespace {

// The name of a DNS rcode in messages and JSON (RFC 1035 §4.1.1, RFC 6895 §2.3).
std::string rcodeName(int rcode) {
    static constexpr std::array<std::string_view, 11> names{
        "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
        "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE"};
    return rcode >= 0 && static_cast<std::size_t>(rcode) < names.size()
               ? std::string(names[static_cast<std::size_t>(rcode)])
               : "RCODE" + std::to_string(rcode);
}

// "RSA 2048 bits" or "Ed25519"; for a key that fromPublicKey() accepted.
std::string keyDescription(const std::vector<std::uint8_t>& spki) {
    const auto algorithm = keys::algorithmOf(spki);
    std::string out(keys::toString(algorithm));
    if (algorithm == keys::Algorithm::Rsa) {
        out += " " + std::to_string(keys::bitsOf(spki)) + " bits";
    }
    return out;
}

// Why p= cannot be used as a key of the record's k= type, or nullopt when it can. compare()
// would call most of these a mismatch; a verifier fails on them whatever key was meant.
std::optional<std::string> keyProblem(const KeyRecord& record) {
    const auto bytes = unbase64(record.publicKey);
    if (!bytes) {
        return "p= is not valid base64";
    }
    if (record.type == KeyType::Ed25519) {
        if (bytes->size() == 32) {
            return std::nullopt;
        }
        try {
            if (keys::algorithmOf(keys::spkiFromPublicDer(*bytes)) == keys::Algorithm::Ed25519) {
                return "p= holds the Ed25519 key as a SubjectPublicKeyInfo; RFC 8463 §4 wants "
                       "the raw 32-byte key";
            }
        } catch (const Error&) {
            // Not an SPKI either: the size is the problem to report.
        }
        return "p= is " + std::to_string(bytes->size()) +
               " bytes, not a 32-byte Ed25519 key (RFC 8463 §4)";
    }
    std::vector<std::uint8_t> spki;
    keys::Algorithm algorithm{};
    try {
        spki = keys::spkiFromPublicDer(*bytes);
        algorithm = keys::algorithmOf(spki);
    } catch (const Error&) {
        return "p= does not hold an RSA public key";
    }
    if (algorithm != keys::Algorithm::Rsa) {
        return std::string(record.explicitType ? "k=rsa" : "no k= (so RSA)") +
               ", but p= holds an " + std::string(keys::toString(algorithm)) + " key";
    }
    if (const unsigned bits = keys::bitsOf(spki); bits < 1024) {
        return "p= holds a " + std::to_string(bits) +
               "-bit RSA key; verifiers refuse keys under 1024 bits (RFC 8301 §3.2)";
    }
    return std::nullopt;
}

bool contains(const std::vector<std::string>& list, std::string_view item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

} // namespace

std::string_view toString(Verdict verdict) {
    switch (verdict) {
    case Verdict::Pass:
        return "pass";
    case Verdict::Mismatch:
        return "key mismatch";
    case Verdict::Revoked:
        return "revoked";
    case Verdict::Malformed:
        return "malformed";
    case Verdict::NotFound:
        return "not found";
    }
    return "malformed";
}

bool looksLikeKeyRecord(std::string_view text) {
    bool first = true;
    for (const auto& raw : split(text, ';')) {
        const std::string_view spec = trim(raw);
        if (spec.empty()) {
            continue;
        }
        const auto eq = spec.find('=');
        const std::string_view tag = trim(spec.substr(0, eq));
        const std::string_view value =
            eq == std::string_view::npos ? std::string_view() : trim(spec.substr(eq + 1));
        // A leading v= names the protocol: "v=DKIM1" is DKIM (a bad version is then
        // malformed), "v=DMARC1; p=none" or "v=spf1" is not, whatever tags follow.
        if (first && tag == "v" && eq != std::string_view::npos) {
            return lower(value.substr(0, 4)) == "dkim";
        }
        first = false;
        if (tag == "p" && eq != std::string_view::npos) {
            return true;
        }
    }
    return false;
}

RecordVerdict judgeRecord(std::string_view text, const std::vector<std::uint8_t>& spki,
                          std::string_view keyName) {
    RecordVerdict v{std::string(text), Verdict::Malformed, {}};
    KeyRecord record;
    try {
        record = parseKeyRecord(text);
    } catch (const Error& e) {
        v.reason = e.message();
        return v;
    }
    if (record.publicKey.empty()) {
        v.verdict = Verdict::Revoked;
        v.reason = "p= is empty: the key is revoked (RFC 6376 §3.6.1)";
        return v;
    }
    if (auto problem = keyProblem(record)) {
        v.reason = std::move(*problem);
        return v;
    }
    // RFC 8301 §3.1: signers use sha256 only, so a key whose h= leaves it out verifies nothing.
    if (!record.tags.hashes.empty() && !contains(record.tags.hashes, "sha256")) {
        v.reason = "h=" + quote(join(record.tags.hashes, ":")) +
                   " leaves out sha256, the only hash signers may use (RFC 8301 §3.1)";
        return v;
    }
    // RFC 6376 §3.6.1: a key whose s= names neither "email" nor "*" is not for mail.
    if (!record.tags.services.empty() && !contains(record.tags.services, "email") &&
        !contains(record.tags.services, "*")) {
        v.reason = "s=" + quote(join(record.tags.services, ":")) +
                   " does not include email or *, so verifiers ignore the key (RFC 6376 §3.6.1)";
        return v;
    }
    const Comparison c = compare(record, spki);
    if (!c.match) {
        v.verdict = Verdict::Mismatch;
        v.reason = c.reason;
        return v;
    }
    v.verdict = Verdict::Pass;
    std::string what;
    try {
        what = keyDescription(spki);
    } catch (const Error&) {
        what = "key";
    }
    v.reason = "the record publishes the key" +
               (keyName.empty() ? std::string() : " in '" + std::string(keyName) + "'") + " (" +
               what + ")";
    if (contains(record.tags.flags, "y")) {
        v.reason += "; t=y: the domain is testing DKIM, verifiers may ignore failures";
    }
    return v;
}

TestReport judgeAnswer(const std::string& owner, const resolve::Answer& answer,
                       const std::vector<std::uint8_t>& spki, const std::string& keyPath) {
    if (answer.rcode != 0 && answer.rcode != 3) {
        throw Error(Exit::Unavailable,
                    "the DNS answered " + rcodeName(answer.rcode) + " for '" + owner + "' TXT");
    }
    TestReport r;
    r.owner = owner;
    r.keyPath = keyPath;
    r.keyType = keyDescription(spki);
    r.expected = fromPublicKey(spki).toText();
    r.rcode = answer.rcode;
    r.security = answer.security;
    r.securityWhy = answer.why;
    for (const auto& rr : answer.records) {
        if (rr.type != record::Type::TXT) {
            continue;
        }
        try {
            // The character-strings joined (RFC 6376 §3.6.2.2): a key over 255 octets is split.
            r.txt.push_back(record::txtText(rr.data));
        } catch (const Error& e) {
            throw Error(Exit::DataErr,
                        "a TXT record at '" + owner + "' cannot be read: " + e.message());
        }
    }
    for (const auto& text : r.txt) {
        if (looksLikeKeyRecord(text)) {
            r.records.push_back(judgeRecord(text, spki, keyPath));
        }
    }
    if (r.rcode == 3) {
        r.verdict = Verdict::NotFound;
        r.reason = "the name does not exist (NXDOMAIN)";
    } else if (r.txt.empty()) {
        r.verdict = Verdict::NotFound;
        r.reason = "no TXT record at the name";
    } else if (r.records.empty()) {
        r.verdict = Verdict::NotFound;
        r.reason = "no DKIM record among the " + std::to_string(r.txt.size()) + " TXT record(s)";
    } else if (r.records.size() == 1) {
        r.verdict = r.records.front().verdict;
        r.reason = r.records.front().reason;
    } else {
        const Verdict first = r.records.front().verdict;
        const bool same =
            std::all_of(r.records.begin(), r.records.end(),
                        [first](const RecordVerdict& v) { return v.verdict == first; });
        const std::string count = std::to_string(r.records.size()) + " DKIM records at the name";
        if (same) {
            r.verdict = first;
            r.reason = count + ", all " + std::string(toString(first)) +
                       "; the first: " + r.records.front().reason;
        } else {
            // RFC 6376 §3.6.2.2: the verifier may choose any one of them, so the outcome of a
            // signature depends on the receiver's choice.
            std::vector<std::string> verdicts;
            for (const auto& v : r.records) {
                verdicts.emplace_back(toString(v.verdict));
            }
            r.verdict = Verdict::Malformed;
            r.reason = count + " disagree (" + join(verdicts, ", ") +
                       "), and a verifier may take any one of them (RFC 6376 §3.6.2.2)";
        }
    }
    r.ok = r.verdict == Verdict::Pass && r.security != resolve::Security::Bogus;
    return r;
}

TestReport test(const TestRequest& request) {
    const std::string name = owner(request.selector, request.domain);
    const auto spki = keys::publicKeyDer(request.keyPath);
    try {
        fromPublicKey(spki);
    } catch (const Error& e) {
        throw Error(e.code(), "holds " + e.message(), Location{request.keyPath, 0, {}});
    }
    const auto answer = resolve::query(request.dns, name, record::Type::TXT);
    return judgeAnswer(name, answer, spki, request.keyPath);
}

std::string toText(const TestReport& report) {
    std::string out = report.owner + " TXT: " +
                      (report.rcode == 3 ? std::string("NXDOMAIN")
                                         : std::to_string(report.txt.size()) + " record(s)") +
                      ", " + std::string(resolve::toString(report.security));
    if (report.security != resolve::Security::Secure && !report.securityWhy.empty()) {
        out += " (" + report.securityWhy + ")";
    }
    out += "\n" + std::string(toString(report.verdict)) + ": " + report.reason + "\n";
    if (report.records.size() > 1) {
        for (std::size_t i = 0; i < report.records.size(); ++i) {
            const auto& v = report.records[i];
            out += "  record " + std::to_string(i + 1) + ": " + std::string(toString(v.verdict)) +
                   ": " + v.reason + "\n";
        }
    }
    if (report.verdict == Verdict::Pass && report.security == resolve::Security::Bogus) {
        out += "the answer is bogus: a validating verifier gets no record at all\n";
    }
    out += report.ok ? "OK\n" : "FAILED\n";
    return out;
}

boost::json::object toJson(const TestReport& report) {
    namespace json = boost::json;
    json::array txt;
    for (const auto& t : report.txt) {
        txt.emplace_back(t);
    }
    json::array records;
    for (const auto& v : report.records) {
        records.push_back(
            json::object{{"text", v.text}, {"verdict", toString(v.verdict)}, {"reason", v.reason}});
    }
    return json::object{
        {"ok", report.ok},
        {"verdict", toString(report.verdict)},
        {"reason", report.reason},
        {"owner", report.owner},
        {"key", json::object{{"file", report.keyPath},
                             {"type", report.keyType},
                             {"expected", report.expected}}},
        {"dns", json::object{{"rcode", rcodeName(report.rcode)},
                             {"security", resolve::toString(report.security)},
                             {"why", report.securityWhy},
                             {"txt", std::move(txt)}}},
        {"records", std::move(records)},
    };
}

namespace {

std::uint32_t parseTtl(const std::string& text) {
    if (text.empty() || text.size() > 10 ||
        text.find_first_not_of("0123456789") != std::string::npos ||
        std::stoull(text) > 2147483647ULL) {
        throw Error(Exit::Usage,
                    "--ttl takes a number from 0 to 2147483647 (RFC 2181), not " + quote(text));
    }
    return static_cast<std::uint32_t>(std::stoull(text));
}

unsigned parseBits(const std::string& text) {
    if (text.empty() || text.size() > 6 ||
        text.find_first_not_of("0123456789") != std::string::npos) {
        throw Error(Exit::Usage,
                    "--bits takes a number of bits (1024, 2048, 3072 or 4096), not " + quote(text));
    }
    return static_cast<unsigned>(std::stoul(text));
}

template <typename T> T get(const po::variables_map& vm, const char* name, T fallback = {}) {
    return vm.count(name) != 0U ? vm[name].as<T>() : fallback;
}

Tags flagsOf(const po::variables_map& vm) {
    Tags all;
    for (const auto& text : get<std::vector<std::string>>(vm, "flags")) {
        const Tags t = parseFlags(text);
        auto merge = [](std::vector<std::string>& into, const std::vector<std::string>& from) {
            for (const auto& v : from) {
                if (std::find(into.begin(), into.end(), v) == into.end()) {
                    into.push_back(v);
                }
            }
        };
        merge(all.hashes, t.hashes);
        merge(all.services, t.services);
        merge(all.flags, t.flags);
        if (!t.notes.empty()) {
            all.notes = t.notes;
        }
    }
    return all;
}

SelectorRule selectorOf(const po::variables_map& vm) {
    SelectorRule rule;
    rule.fixed = get<std::vector<std::string>>(vm, "selector");
    rule.datePattern = get<std::string>(vm, "selector-date");
    rule.keyBaseName = get<std::string>(vm, "keybasename", "key");
    rule.now = std::time(nullptr);
    return rule;
}

void addOutputOptions(po::options_description& o, bool signing) {
    o.add_options()("ttl", po::value<std::string>()->default_value("3600"), "TTL of the record");
    o.add_options()("format", po::value<std::string>()->default_value("json"),
                    signing ? "json | zone | rspamd | opendkim | amavisd" : "json | zone");
}

void addSelectorOptions(po::options_description& o) {
    o.add_options()("selector", po::value<std::vector<std::string>>()->composing(),
                    "the selector (twice for rsa+ed25519, or once as a base)")(
        "selector-date", po::value<std::string>(),
        "the selector from the UTC date: YYYY MM DD hh mm ss are replaced");
}

void addKeyOptions(po::options_description& o) {
    o.add_options()("flags", po::value<std::vector<std::string>>()->composing(),
                    "optional tags: h=sha256,t=y,t=s,s=email,n=TEXT")(
        "seed-out", po::value<std::vector<std::string>>()->composing(),
        "also write the Ed25519 seed (base64), the key file rspamd reads");
}

int runGenerate(const po::variables_map& vm, const cli::Common& common) {
    GenerateRequest request;
    request.domain = get<std::string>(vm, "domain");
    const std::string algorithm = get<std::string>(vm, "algorithm");
    cli::requireOneOf("algorithm", algorithm, {"rsa", "ed25519", "rsa+ed25519"});
    request.algorithms = algorithm == "rsa" ? std::vector<KeyType>{KeyType::Rsa}
                         : algorithm == "ed25519"
                             ? std::vector<KeyType>{KeyType::Ed25519}
                             : std::vector<KeyType>{KeyType::Rsa, KeyType::Ed25519};
    if (algorithm == "ed25519" && !vm["bits"].defaulted()) {
        throw Error(Exit::Usage, "--bits applies to RSA keys only");
    }
    request.bits = parseBits(get<std::string>(vm, "bits"));
    request.keyPaths = get<std::vector<std::string>>(vm, "key-out");
    request.seedPaths = get<std::vector<std::string>>(vm, "seed-out");
    request.selector = selectorOf(vm);
    request.tags = flagsOf(vm);
    request.format = formatFromString(common.format);
    const std::uint32_t ttl = parseTtl(get<std::string>(vm, "ttl"));
    const auto entries = generate(request);
    cli::writeOut(render(entries, request.format, ttl, "generate"));
    return 0;
}

int runRecord(const po::variables_map& vm, const cli::Common& common) {
    RecordRequest request;
    request.domain = get<std::string>(vm, "domain");
    request.keyPaths = get<std::vector<std::string>>(vm, "key");
    request.seedPaths = get<std::vector<std::string>>(vm, "seed-out");
    request.selector = selectorOf(vm);
    request.tags = flagsOf(vm);
    request.format = formatFromString(common.format);
    const std::uint32_t ttl = parseTtl(get<std::string>(vm, "ttl"));
    const auto entries = fromKeys(request);
    cli::writeOut(render(entries, request.format, ttl, "record"));
    return 0;
}

int runCompare(const po::variables_map& vm, const cli::Common&) {
    CompareRequest request;
    request.recordPath = get<std::string>(vm, "record");
    request.keyPath = get<std::string>(vm, "key");
    request.selector = get<std::string>(vm, "selector");
    request.domain = get<std::string>(vm, "domain");
    const auto result = compareFiles(request);
    cli::writeOut(result.line + "\n");
    return result.comparison.match ? 0 : 1;
}

int runRevoke(const po::variables_map& vm, const cli::Common& common) {
    std::optional<KeyType> type;
    if (vm.count("algorithm") != 0U) {
        const std::string algorithm = vm["algorithm"].as<std::string>();
        cli::requireOneOf("algorithm", algorithm, {"rsa", "ed25519"});
        type = keyTypeFromString(algorithm);
    }
    cli::requireOneOf("format", common.format, {"json", "zone"});
    const std::uint32_t ttl = parseTtl(get<std::string>(vm, "ttl"));
    const Entry e = revoke(get<std::string>(vm, "domain"), get<std::string>(vm, "selector"), type);
    cli::writeOut(render({e}, formatFromString(common.format), ttl, "revoke"));
    return 0;
}

int runPhase(const po::variables_map& vm, const cli::Common&) {
    auto doc = document::parse(cli::readAll(std::cin, 64U << 20U, "<stdin>"), "<stdin>");
    std::string phase = vm.count("phase") != 0U ? vm["phase"].as<std::string>() : "";
    if (phase.empty()) {
        const auto* p = doc.if_contains("phase");
        phase = p != nullptr && p->is_string() ? std::string(p->as_string()) : "";
    }
    cli::requireOneOf("phase", phase, {"prepare", "rollover", "cleanup", "update"});
    const std::time_t now = vm.count("now") != 0U ? static_cast<std::time_t>(vm["now"].as<long long>())
                                                  : std::time(nullptr);
    const auto summary = dkimphase::run(doc, phase, now);
    // Written also after a failure: it records what the other sections did.
    cli::writeOut(document::serialize(doc));
    if (summary.failure) {
        throw *summary.failure;
    }
    return 0;
}

int runTest(const po::variables_map& vm, const cli::Common& common) {
    const std::string format = common.format.empty() ? "text" : common.format;
    cli::requireOneOf("format", format, {"text", "json"});
    TestRequest request;
    request.domain = get<std::string>(vm, "domain");
    request.selector = get<std::string>(vm, "selector");
    request.keyPath = get<std::string>(vm, "key");
    for (const auto& r : get<std::vector<std::string>>(vm, "resolver")) {
        request.dns.servers.push_back(resolve::parseServer(r));
    }
    if (vm.count("trust-anchor") != 0U) {
        request.dns.trustAnchorFile = vm["trust-anchor"].as<std::string>();
        if (request.dns.trustAnchorFile.empty()) {
            throw Error(Exit::Usage, "--trust-anchor is empty");
        }
    }
    const std::string timeout = get<std::string>(vm, "timeout");
    if (timeout.empty() || timeout.size() > 3 ||
        timeout.find_first_not_of("0123456789") != std::string::npos || std::stoul(timeout) == 0 ||
        std::stoul(timeout) > 300) {
        throw Error(Exit::Usage, "--timeout takes 1 to 300 seconds, not " + quote(timeout));
    }
    request.dns.timeout = std::chrono::seconds(std::stoul(timeout));
    const TestReport report = test(request);
    cli::writeOut(format == "json" ? boost::json::serialize(toJson(report)) + "\n"
                                   : toText(report));
    return report.ok ? 0 : 1;
}

} // namespace

const std::vector<Verb>& verbs() {
    static const std::vector<Verb> table{
        {"generate", runGenerate,
         "generate --domain D [--algorithm rsa|ed25519|rsa+ed25519] --key-out FILE [options]",
         "Generate a new key (PKCS#8 PEM, mode 0600, in 0700 directories; an existing file is\n"
         "never overwritten) and print its DKIM record. rsa+ed25519 makes two keys for dual\n"
         "signing: give --key-out twice (RSA first) and --selector twice or once as a base.\n"
         "Without --selector the selector is <keybasename>_<unix time>, as cryptdomainmgr's.",
         [](po::options_description& o) {
             o.add_options()("domain", po::value<std::string>()->required(),
                             "the signing domain (d=)")(
                 "algorithm", po::value<std::string>()->default_value("rsa"),
                 "rsa | ed25519 | rsa+ed25519")("bits",
                                                po::value<std::string>()->default_value("2048"),
                                                "RSA key size: 1024 2048 3072 4096")(
                 "key-out", po::value<std::vector<std::string>>()->composing()->required(),
                 "the new key file (twice for rsa+ed25519)")(
                 "keybasename", po::value<std::string>()->default_value("key"),
                 "prefix of the default selector");
             addSelectorOptions(o);
             addKeyOptions(o);
             addOutputOptions(o, true);
         }},
        {"record", runRecord, "record --domain D --key FILE --selector S [options]",
         "Print the DKIM record of an existing key file: a private or public key, PEM or DER\n"
         "(PKCS#8, PKCS#1, SPKI). Give --key twice for two keys.",
         [](po::options_description& o) {
             o.add_options()("domain", po::value<std::string>()->required(),
                             "the signing domain (d=)")(
                 "key", po::value<std::vector<std::string>>()->composing()->required(),
                 "the key file (twice for two keys)");
             addSelectorOptions(o);
             addKeyOptions(o);
             addOutputOptions(o, true);
         }},
        {"compare", runCompare, "compare --record FILE --key FILE [--selector S] [--domain D]",
         "Read a DKIM record as rspamadm dkim_keygen, opendkim-genkey, amavisd showkeys or\n"
         "cdm-dkim print it (FILE '-' is standard input) and say whether it publishes the key:\n"
         "exit 0 on a match, 1 on a mismatch.",
         [](po::options_description& o) {
             o.add_options()("record", po::value<std::string>()->required(),
                             "the file holding the record")(
                 "key", po::value<std::string>()->required(),
                 "the key file")("selector", po::value<std::string>(),
                                 "the record to take when the file has several")(
                 "domain", po::value<std::string>(), "the domain, when the file names several");
         }},
        {"revoke", runRevoke, "revoke --domain D --selector S [--algorithm rsa|ed25519] [options]",
         "Print the record that revokes a selector's key: its p= is empty (RFC 6376 §3.6.1).",
         [](po::options_description& o) {
             o.add_options()("domain", po::value<std::string>()->required(),
                             "the signing domain (d=)")(
                 "selector", po::value<std::string>()->required(), "the selector to revoke")(
                 "algorithm", po::value<std::string>(), "print k= with this key type");
             addOutputOptions(o, false);
         }},
        {"test", runTest,
         "test --domain D --selector S --key FILE [--resolver ADDR[:PORT]]... [--trust-anchor "
         "FILE]",
         "Look up the TXT record <selector>._domainkey.<domain>. and say whether it publishes the\n"
         "key, as a verifier would read it: pass, key mismatch, revoked (empty p=), malformed or\n"
         "not found; and whether the answer was DNSSEC-secure (the resolver's AD bit, or cdm's "
         "own\n"
         "validation against --trust-anchor). Exit 0 on a pass, 1 otherwise, 69 when the DNS\n"
         "does not answer.",
         [](po::options_description& o) {
             o.add_options()("domain", po::value<std::string>()->required(),
                             "the signing domain (d=)")(
                 "selector", po::value<std::string>()->required(),
                 "the selector (s=)")("key", po::value<std::string>()->required(),
                                      "the key file (private or public, PEM or DER)")(
                 "resolver", po::value<std::vector<std::string>>()->composing(),
                 "ask this server, ADDR[:PORT] (repeatable; default: /etc/resolv.conf)")(
                 "trust-anchor", po::value<std::string>(),
                 "DS/DNSKEY file: validate with ldns instead of trusting the AD bit")(
                 "timeout", po::value<std::string>()->default_value("3"),
                 "seconds to wait for each answer")("format", po::value<std::string>(),
                                                    "text (the default) | json");
         }},
        {"phase", runPhase, "phase --phase prepare|rollover|cleanup [--now SECONDS] < DOCUMENT",
         "Read a cdm document on standard input and do the DKIM part of its phase (the\n"
         "document's \"phase\", or --phase): prepare makes the next key of every linked\n"
         "[dkim:NAME]; rollover deploys it with the signing configuration; cleanup keeps the old\n"
         "selector for its grace period, then revokes it, then deletes it. Prints the document.",
         [](po::options_description& o) {
             o.add_options()("phase", po::value<std::string>(), "prepare | rollover | cleanup")(
                 "now", po::value<long long>(), "the time to act at, in Unix seconds (for tests)");
         }},
    };
    return table;
}

int dispatch(const std::vector<Verb>& table, int argc, const char* const* argv) {
    return cli::dispatch({"cdm-dkim", "", "DKIM keys and records (RFC 6376, RFC 8463)."}, table,
                         argc, argv);
}

} // namespace cdm::dkim
