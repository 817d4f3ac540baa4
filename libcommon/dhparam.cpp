#include "libcommon/dhparam.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <system_error>

#include <openssl/core_names.h>
#include <openssl/dh.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "libcommon/document.hpp"
#include "libcommon/error.hpp"
#include "libcommon/fsutil.hpp"
#include "libcommon/log.hpp"
#include "libcommon/ossl.hpp"

namespace cdm::dhparam {

namespace json = boost::json;
namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace {

constexpr unsigned minBits = 1024;
constexpr unsigned maxBits = 8192;
constexpr std::size_t pemCap = 64 * 1024;

std::string opensslError() {
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) {
        return "unknown error";
    }
    std::array<char, 256> buffer{};
    ERR_error_string_n(code, buffer.data(), buffer.size());
    return buffer.data();
}

std::string toPem(EVP_PKEY* pkey) {
    ossl::Bio bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_Parameters(bio.get(), pkey) != 1) {
        throw Error(Exit::Software, "unable to encode DH parameters: " + opensslError());
    }
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

ossl::PKey fromPem(std::string_view pem, const std::string& sourceName) {
    ossl::Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    ossl::PKey pkey(bio ? PEM_read_bio_Parameters(bio.get(), nullptr) : nullptr);
    if (!pkey || EVP_PKEY_get_base_id(pkey.get()) != EVP_PKEY_DH) {
        ERR_clear_error();
        throw Error(Exit::DataErr, "no PEM DH parameters", Location{sourceName, 0, {}});
    }
    return pkey;
}

bool paramCheck(EVP_PKEY* pkey) {
    ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
    const bool ok = ctx && EVP_PKEY_param_check(ctx.get()) == 1;
    ERR_clear_error();
    return ok;
}

using document::locationOf;

const json::object* objectAt(const json::value* v) {
    return v != nullptr && v->is_object() ? &v->get_object() : nullptr;
}

std::string text(const json::object* o, const char* key, const std::string& fallback = {}) {
    if (o == nullptr) {
        return fallback;
    }
    const auto* v = o->if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : fallback;
}

std::int64_t number(const json::object* o, const char* key) {
    if (o == nullptr) {
        return 0;
    }
    const auto* v = o->if_contains(key);
    return v != nullptr && (v->is_int64() || v->is_uint64()) ? v->to_number<std::int64_t>() : 0;
}

unsigned parseBits(const std::string& value, const std::string& what, const Location& where) {
    if (value.empty() || value.size() > 5 ||
        value.find_first_not_of("0123456789") != std::string::npos || std::stoul(value) < minBits ||
        std::stoul(value) > maxBits) {
        throw Error(Exit::Usage,
                    what + " '" + value + "' is not a number from " + std::to_string(minBits) +
                        " to " + std::to_string(maxBits),
                    where);
    }
    return static_cast<unsigned>(std::stoul(value));
}

bool knownGroup(std::string_view name) {
    for (auto g : groupNames()) {
        if (g == name) {
            return true;
        }
    }
    return false;
}

unsigned groupBits(std::string_view name) {
    return static_cast<unsigned>(std::stoul(std::string(name.substr(5))));
}

std::string stamp(std::time_t now) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::array<char, 32> buffer{};
    std::strftime(buffer.data(), buffer.size(), "%Y%m%dT%H%M%SZ", &tm);
    return buffer.data();
}

// One [dhparam:NAME] as the phases read it.
struct Settings {
    std::string name;
    unsigned bits = 2048;
    std::string group; // "" = generate
    std::string filename;
    Location filenameWhere;
    enum class Regenerate { No, Yes, Days } regenerate = Regenerate::No;
    std::int64_t days = 0;
};

Settings settingsOf(const std::string& name, const json::object& section) {
    const json::object* keys = objectAt(section.if_contains("keys"));
    const json::object* where = objectAt(section.if_contains("where"));
    const auto whereOf = [&](const char* key) {
        return locationOf(text(where, key, "[dhparam:" + name + "]"));
    };
    Settings s;
    s.name = name;
    const std::string handler = text(keys, "handler");
    if (handler != "openssl") {
        throw Error(Exit::Config, "dhparam handler '" + handler + "' is not openssl",
                    whereOf("handler"));
    }
    try {
        s.bits = parseBits(text(keys, "keysize", "2048"), "keysize", whereOf("keysize"));
    } catch (const Error& e) {
        throw Error(Exit::Config, e.message(), e.where());
    }
    if (s.bits < 2048) {
        log::warn(whereOf("keysize").toString() + ": keysize " + std::to_string(s.bits) +
                  " is weak (2048 or more is recommended), using it");
    }
    s.group = text(keys, "group");
    if (s.group == "none") {
        s.group.clear();
    }
    if (!s.group.empty() && !knownGroup(s.group)) {
        throw Error(Exit::Config,
                    "group '" + s.group +
                        "' is not ffdhe2048, ffdhe3072, ffdhe4096, ffdhe6144 or ffdhe8192",
                    whereOf("group"));
    }
    s.filename = text(keys, "filename");
    s.filenameWhere = whereOf("filename");
    const std::string regenerate = text(keys, "regenerate", "no");
    if (regenerate == "no" || regenerate == "false") {
        s.regenerate = Settings::Regenerate::No;
    } else if (regenerate == "yes" || regenerate == "true") {
        s.regenerate = Settings::Regenerate::Yes;
    } else if (!regenerate.empty() && regenerate.size() <= 6 &&
               regenerate.find_first_not_of("0123456789") == std::string::npos &&
               std::stol(regenerate) > 0) {
        s.regenerate = Settings::Regenerate::Days;
        s.days = std::stol(regenerate);
    } else {
        throw Error(Exit::Config,
                    "regenerate '" + regenerate + "' is not no, yes or a number of days",
                    whereOf("regenerate"));
    }
    return s;
}

bool sameParams(const json::object& entry, const Settings& s) {
    if (!s.group.empty()) {
        return text(&entry, "group") == s.group;
    }
    return text(&entry, "group").empty() &&
           number(&entry, "bits") == static_cast<std::int64_t>(s.bits);
}

// The staged file of `entry`, read and checked against its recorded hash; "" when missing.
std::string readStaged(const json::object& entry, const std::string& path) {
    const std::string file = text(&entry, "file");
    if (file.empty() || !fs::exists(file)) {
        return {};
    }
    std::string pem = fsutil::readFile(file, pemCap);
    if (sha256Hex(pem) != text(&entry, "sha256")) {
        throw Error(Exit::DataErr,
                    "staged DH parameters '" + file + "' differ from what material records",
                    Location{{}, 0, path});
    }
    return pem;
}

bool isOurs(const std::string& file, const std::string& dir) {
    const fs::path p(file);
    return !file.empty() && p.parent_path() == fs::path(dir) &&
           fsutil::isStampedPemName(p.filename().string());
}

void removeQuietly(const std::string& file) {
    std::error_code ec;
    fs::remove(file, ec);
    if (ec) {
        log::warn("unable to remove '" + file + "': " + ec.message() + ", ignoring");
    }
}

// Why prepare must make new parameters; "" when the current or staged ones serve.
std::string needNew(const json::object& m, const Settings& s, std::time_t now) {
    if (const auto* next = objectAt(m.if_contains("next"))) {
        if (!sameParams(*next, s)) {
            return "staged parameters do not match keysize/group";
        }
        if (!fs::exists(text(next, "file"))) {
            return "staged file is missing";
        }
        return {};
    }
    const auto* current = objectAt(m.if_contains("current"));
    if (current == nullptr) {
        return "none yet";
    }
    if (!sameParams(*current, s)) {
        return "keysize/group changed";
    }
    if (s.regenerate == Settings::Regenerate::Yes) {
        return "regenerate = yes";
    }
    if (s.regenerate == Settings::Regenerate::Days &&
        now - number(current, "created") >= s.days * 86400) {
        return "older than " + std::to_string(s.days) + " days";
    }
    return {};
}

json::object describe(const Settings& s, std::string_view phase, std::string_view action,
                      std::string_view reason) {
    return json::object{{"name", s.name}, {"phase", phase}, {"action", action}, {"reason", reason}};
}

} // namespace

const std::vector<std::string_view>& groupNames() {
    static const std::vector<std::string_view> names = {"ffdhe2048", "ffdhe3072", "ffdhe4096",
                                                        "ffdhe6144", "ffdhe8192"};
    return names;
}

std::string generate(unsigned bits, const std::string& what) {
    parseBits(std::to_string(bits), what, Location{});
    ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr));
    if (!ctx || EVP_PKEY_paramgen_init(ctx.get()) != 1) {
        throw Error(Exit::Software, "unable to start DH parameter generation: " + opensslError());
    }
    // "generator" is the safe-prime method of `openssl dhparam` (p = 2q + 1, q prime).
    char type[] = "generator";
    int generator = 2;
    std::size_t pbits = bits;
    const std::array<OSSL_PARAM, 4> params = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_FFC_TYPE, type, 0),
        OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_FFC_PBITS, &pbits),
        OSSL_PARAM_construct_int(OSSL_PKEY_PARAM_DH_GENERATOR, &generator),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY* raw = nullptr;
    if (EVP_PKEY_CTX_set_params(ctx.get(), params.data()) != 1 ||
        EVP_PKEY_paramgen(ctx.get(), &raw) != 1) {
        throw Error(Exit::Software, "unable to generate DH parameters: " + opensslError());
    }
    ossl::PKey pkey(raw);
    if (!paramCheck(pkey.get())) {
        throw Error(Exit::Software, "generated DH parameters fail the OpenSSL check");
    }
    return toPem(pkey.get());
}

std::string group(std::string_view name, const std::string& what) {
    if (!knownGroup(name)) {
        throw Error(Exit::Usage,
                    what + " '" + std::string(name) +
                        "' is not ffdhe2048, ffdhe3072, ffdhe4096, ffdhe6144 or ffdhe8192");
    }
    ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr));
    std::string groupName(name);
    const std::array<OSSL_PARAM, 2> params = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, groupName.data(), 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY* raw = nullptr;
    // With a group name, "generation" only looks the group up in OpenSSL's RFC 7919 table.
    if (!ctx || EVP_PKEY_paramgen_init(ctx.get()) != 1 ||
        EVP_PKEY_CTX_set_params(ctx.get(), params.data()) != 1 ||
        EVP_PKEY_paramgen(ctx.get(), &raw) != 1) {
        throw Error(Exit::Software,
                    "unable to load DH group '" + groupName + "': " + opensslError());
    }
    ossl::PKey pkey(raw);
    return toPem(pkey.get());
}

Info inspect(std::string_view pem, const std::string& sourceName) {
    const ossl::PKey pkey = fromPem(pem, sourceName);
    Info info;
    info.bits = static_cast<unsigned>(EVP_PKEY_get_bits(pkey.get()));
    // A BIGNUM parameter read into an unsigned long: fails (and stays 0) when g is larger.
    unsigned long g = 0;
    std::array<char, 64> groupName{};
    std::array<OSSL_PARAM, 2> gParam = {OSSL_PARAM_construct_ulong(OSSL_PKEY_PARAM_FFC_G, &g),
                                        OSSL_PARAM_construct_end()};
    if (EVP_PKEY_get_params(pkey.get(), gParam.data()) == 1) {
        info.generator = g;
    }
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey.get(), OSSL_PKEY_PARAM_GROUP_NAME, groupName.data(),
                                       groupName.size(), &len) == 1) {
        info.group = std::string(groupName.data(), len);
    }
    ERR_clear_error();
    info.valid = paramCheck(pkey.get());
    return info;
}

std::string sha256Hex(std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) {
        throw Error(Exit::Software, "unable to hash: " + opensslError());
    }
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
        out += digits[md[i] >> 4];
        out += digits[md[i] & 0xf];
    }
    return out;
}

Summary run(json::object& doc, const std::string& phase, std::time_t now) {
    Summary summary;
    if (phase != "prepare" && phase != "rollover" && phase != "cleanup") {
        return summary;
    }
    const json::object* config = objectAt(doc.if_contains("config"));
    const json::object* sections =
        config != nullptr ? objectAt(config->if_contains("dhparam")) : nullptr;
    if (sections == nullptr) {
        return summary;
    }
    const json::object* cdm = objectAt(config->if_contains("cdm"));
    const json::object* cdmSection =
        cdm != nullptr ? objectAt(cdm->if_contains("DEFAULT")) : nullptr;
    const json::object* cdmKeys =
        cdmSection != nullptr ? objectAt(cdmSection->if_contains("keys")) : nullptr;
    const std::string statedir = text(cdmKeys, "statedir", "/var/lib/cdm");

    // Read every section first: a bad value fails before anything is written.
    std::vector<Settings> all;
    for (const auto& [name, value] : *sections) {
        const json::object* section = objectAt(&value);
        if (section == nullptr || name == "DEFAULT") {
            continue;
        }
        if (text(objectAt(section->if_contains("keys")), "handler").empty()) {
            log::debug("dhparam:" + std::string(name) + " has no handler, skipping");
            continue;
        }
        all.push_back(settingsOf(std::string(name), *section));
    }

    std::vector<json::object> reports;
    for (const Settings& s : all) {
        const std::string dir = statedir + "/dhparam/" + s.name;
        const std::string at = "material.dhparam." + s.name;
        // Work on a copy; it replaces the material only when the section's phase succeeded.
        json::object m = document::material(doc, "dhparam", s.name);

        if (phase == "prepare") {
            const std::string why = needNew(m, s, now);
            if (why.empty()) {
                reports.push_back(describe(
                    s, phase, "kept", m.contains("next") ? "already staged" : "current is kept"));
            } else {
                const auto started = std::chrono::steady_clock::now();
                const std::string pem =
                    s.group.empty() ? generate(s.bits, "keysize") : group(s.group);
                const auto seconds =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
                        .count();
                fsutil::ensureDirectory(dir, 0700);
                std::string file = dir + "/" + stamp(now) + ".pem";
                for (int n = 2; fs::exists(file); ++n) {
                    file = dir + "/" + stamp(now) + "-" + std::to_string(n) + ".pem";
                }
                // DH parameters are public: 0644 (the directory is 0700 anyway).
                fsutil::writeFileAtomic(file, pem, 0644, true);
                if (const auto* old = objectAt(m.if_contains("next"));
                    old != nullptr && isOurs(text(old, "file"), dir)) {
                    removeQuietly(text(old, "file")); // a stale staged set never deployed
                }
                m["next"] = json::object{{"file", file},
                                         {"bits", s.group.empty() ? s.bits : groupBits(s.group)},
                                         {"group", s.group},
                                         {"created", static_cast<std::int64_t>(now)},
                                         {"sha256", sha256Hex(pem)}};
                ++summary.generated;
                json::object r = describe(s, phase, "generated", why);
                r["file"] = file;
                r["seconds"] = seconds;
                reports.push_back(std::move(r));
                log::info("dhparam:" + s.name + ": staged " + file + " (" + why + ")");
            }
        }

        if (phase == "rollover") {
            const auto* next = objectAt(m.if_contains("next"));
            const auto* current = objectAt(m.if_contains("current"));
            const json::object* deploy = next != nullptr ? next : current;
            if (deploy != nullptr && s.filename.empty()) {
                throw Error(Exit::Config, "[dhparam:" + s.name + "] has no 'filename' to deploy to",
                            s.filenameWhere);
            }
            std::string pem;
            if (deploy != nullptr) {
                pem = readStaged(*deploy, at + (next != nullptr ? ".next" : ".current"));
                if (pem.empty() && next != nullptr) {
                    throw Error(Exit::DataErr,
                                "staged DH parameters '" + text(next, "file") +
                                    "' are missing; run prepare again",
                                Location{{}, 0, at + ".next"});
                }
            }
            bool write = next != nullptr && !pem.empty();
            if (next == nullptr && !pem.empty()) {
                // Converge: the deployed file was removed or changed, or filename moved.
                std::string deployed;
                if (fs::exists(s.filename)) {
                    deployed = fsutil::readFile(s.filename, pemCap);
                }
                write = deployed != pem;
            }
            if (write) {
                const fs::path parent = fs::path(s.filename).parent_path();
                if (!parent.empty() && !fs::is_directory(parent)) {
                    throw Error(Exit::CantCreat,
                                "unable to deploy DH parameters to '" + s.filename +
                                    "': no directory '" + parent.string() + "'",
                                s.filenameWhere);
                }
                fsutil::writeFileAtomic(s.filename, pem, 0644);
                ++summary.deployed;
                log::info("dhparam:" + s.name + ": deployed " + s.filename);
            }
            if (next != nullptr) {
                json::object promoted = *next;
                promoted["deployed"] = s.filename;
                if (current != nullptr) {
                    json::object retired = *current;
                    if (const auto* older = objectAt(m.if_contains("previous"))) {
                        // Rollover twice without cleanup: the older set is not used by anything.
                        if (isOurs(text(older, "file"), dir) &&
                            text(older, "file") != text(&retired, "file")) {
                            removeQuietly(text(older, "file"));
                        }
                    }
                    retired["retired"] = static_cast<std::int64_t>(now);
                    m["previous"] = std::move(retired);
                }
                m["current"] = std::move(promoted);
                m.erase("next");
                reports.push_back(describe(s, phase, "deployed", "next parameters"));
            } else if (write) {
                json::object updated = *current;
                updated["deployed"] = s.filename;
                m["current"] = std::move(updated);
                reports.push_back(
                    describe(s, phase, "deployed", "deployed file was missing or differed"));
            } else if (current != nullptr) {
                reports.push_back(describe(s, phase, "kept", "nothing staged"));
            }
        }

        if (phase == "cleanup") {
            std::size_t removed = 0;
            if (const auto* previous = objectAt(m.if_contains("previous"))) {
                const std::string file = text(previous, "file");
                const bool used = (objectAt(m.if_contains("current")) != nullptr &&
                                   text(objectAt(m.if_contains("current")), "file") == file) ||
                                  (objectAt(m.if_contains("next")) != nullptr &&
                                   text(objectAt(m.if_contains("next")), "file") == file);
                if (!used && isOurs(file, dir) && fs::exists(file)) {
                    removeQuietly(file);
                    ++removed;
                }
                m.erase("previous");
            }
            // Files a crash left behind: staged names in our own directory that material
            // does not know.
            std::error_code ec;
            if (fs::is_directory(dir, ec)) {
                for (const auto& entry : fs::directory_iterator(dir, ec)) {
                    const std::string file = entry.path().string();
                    bool known = false;
                    for (const char* which : {"current", "next"}) {
                        if (const auto* e = objectAt(m.if_contains(which));
                            e != nullptr && text(e, "file") == file) {
                            known = true;
                        }
                    }
                    if (!known && isOurs(file, dir)) {
                        removeQuietly(file);
                        ++removed;
                    }
                }
            }
            summary.cleaned += removed;
            if (removed != 0) {
                reports.push_back(describe(s, phase, "cleaned",
                                           std::to_string(removed) + " unused file(s) removed"));
            }
        }
        document::material(doc, "dhparam", s.name) = std::move(m);
    }
    for (auto& r : reports) {
        document::report(doc, "cdm-cert", "dhparam", std::move(r));
    }
    return summary;
}

void verbOptions(po::options_description& options) {
    options.add_options()("bits", po::value<unsigned>(),
                          "generate parameters of N bits (1024-8192; 2048 advised)")(
        "group", po::value<std::string>(),
        "take the RFC 7919 group ffdhe2048|ffdhe3072|ffdhe4096|ffdhe6144|ffdhe8192")(
        "out", po::value<std::string>(),
        "write the PEM parameters to FILE (atomically, mode 0644)")(
        "format", po::value<std::string>()->default_value("json"),
        "report as json (a cdm document) or text");
}

int runVerb(const po::variables_map& vm, const cli::Common& common) {
    const std::string format = common.format.empty() ? "json" : common.format;
    cli::requireOneOf("format", format, {"json", "text"});
    if ((vm.count("bits") != 0U) == (vm.count("group") != 0U)) {
        throw Error(Exit::Usage, "give one of --bits and --group");
    }
    if (vm.count("out") == 0U || vm["out"].as<std::string>().empty()) {
        throw Error(Exit::Usage, "--out FILE is required");
    }
    const std::string out = vm["out"].as<std::string>();
    const std::string groupName =
        vm.count("group") != 0U ? vm["group"].as<std::string>() : std::string();
    if (!groupName.empty() && !knownGroup(groupName)) {
        group(groupName, "--group"); // throws the usage error
    }
    if (groupName.empty()) {
        parseBits(std::to_string(vm["bits"].as<unsigned>()), "--bits", Location{});
    }
    const fs::path parent = fs::path(out).parent_path();
    if (!parent.empty() && !fs::is_directory(parent)) {
        throw Error(Exit::CantCreat,
                    "unable to create '" + out + "': no directory '" + parent.string() + "'");
    }
    const auto started = std::chrono::steady_clock::now();
    const std::string pem = groupName.empty() ? generate(vm["bits"].as<unsigned>(), "--bits")
                                              : group(groupName, "--group");
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const Info info = inspect(pem, out);
    fsutil::writeFileAtomic(out, pem, 0644);
    const std::string hash = sha256Hex(pem);
    if (format == "text") {
        cli::writeOut(out + ": DH parameters, " + std::to_string(info.bits) + " bits, generator " +
                      std::to_string(info.generator) +
                      (groupName.empty() ? std::string() : ", group " + groupName) + ", sha256 " +
                      hash + "\n");
        return 0;
    }
    json::object doc = document::empty();
    document::report(doc, "cdm-cert", "dhparam",
                     {{"file", out},
                      {"bits", info.bits},
                      {"group", groupName},
                      {"generator", info.generator},
                      {"sha256", hash},
                      {"seconds", seconds}});
    cli::writeOut(document::serialize(doc));
    return 0;
}

} // namespace cdm::dhparam
