#include "libcommon/provider.hpp"

#include <algorithm>

#include "libcommon/config.hpp"
#include "libcommon/fsutil.hpp"
#include "libcommon/ini.hpp"
#include "libcommon/provider/providers.hpp"

namespace cdm::provider {

namespace json = boost::json;

namespace {

// Adding a provider: one file in libcommon/provider/, its factory in providers.hpp, one line here.
const std::map<std::string, Factory>& registry() {
    static const std::map<std::string, Factory> factories = {
        {"inwx", makeInwx},
        {"powerdns", makePowerdns},
        {"rfc2136", makeRfc2136},
        {"zonefile", makeZonefile},
    };
    return factories;
}

Location parseWhere(const std::string& text) {
    Location at;
    const auto colon = text.rfind(':');
    if (colon != std::string::npos && colon + 1 < text.size() &&
        std::all_of(text.begin() + static_cast<std::ptrdiff_t>(colon) + 1, text.end(),
                    [](unsigned char c) { return std::isdigit(c); })) {
        at.file = text.substr(0, colon);
        at.line = static_cast<unsigned>(std::stoul(text.substr(colon + 1)));
    } else {
        at.file = text;
    }
    return at;
}

std::string firstLine(std::string text) {
    text = text.substr(0, text.find('\n'));
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
        text.pop_back();
    }
    return text;
}

} // namespace

std::optional<std::string> Settings::get(const std::string& key) const {
    const auto it = keys.find(key);
    if (it == keys.end()) {
        return std::nullopt;
    }
    return it->second;
}

Location Settings::locate(const std::string& key) const {
    const auto it = where.find(key);
    if (it != where.end() && !it->second.empty()) {
        return parseWhere(it->second);
    }
    return Location{"", 0, section};
}

std::string Settings::require(const std::string& key) const {
    auto value = get(key);
    if (!value || value->empty()) {
        throw Error(Exit::Config,
                    "the " + handler + " provider needs '" + key + "' in " + section, locate("handler"));
    }
    return *value;
}

unsigned long Settings::number(const std::string& key, unsigned long fallback, unsigned long lo,
                               unsigned long hi) const {
    const auto value = get(key);
    if (!value || value->empty()) {
        return fallback;
    }
    const bool digits = value->size() <= 10 &&
                        std::all_of(value->begin(), value->end(), [](unsigned char c) { return std::isdigit(c); });
    const unsigned long n = digits ? std::stoul(*value) : 0;
    if (!digits || n < lo || n > hi) {
        throw Error(Exit::Config,
                    key + " '" + *value + "' is not a number from " + std::to_string(lo) + " to " + std::to_string(hi),
                    locate(key));
    }
    return n;
}

std::optional<std::string> Settings::secret(const std::string& key) const {
    if (const auto file = get(key + "_file"); file && !file->empty()) {
        std::string text = firstLine(fsutil::readFile(*file, 64 * 1024));
        if (text.empty()) {
            throw Error(Exit::Config, "the file named by '" + key + "_file' is empty: '" + *file + "'",
                        locate(key + "_file"));
        }
        return text;
    }
    if (const auto plain = get(key)) {
        return plain; // a key name that is not a secret by its name
    }
    const auto ref = secretRefs.find(key);
    if (ref == secretRefs.end()) {
        return std::nullopt;
    }
    // The document names the file and line; read the configuration again, as cdm-config
    // read it, and take the section's value (inheritance and %(...)s included).
    const Location at = parseWhere(ref->second);
    if (at.file.empty() || at.file.front() == '<') {
        throw Error(Exit::Config,
                    "'" + key + "' of " + section + " comes from " + ref->second +
                        ", which cannot be read again; write it in a file, or set " + key + "_file",
                    at);
    }
    ini::Ini ini;
    for (const auto& s : sources) {
        if (s.empty() || s.front() == '<') {
            continue;
        }
        ini.readFile(s);
    }
    const config::Config cfg = config::load(ini);
    std::string name = section;
    if (name.rfind("[domain:", 0) == 0 && name.back() == ']') {
        name = name.substr(8, name.size() - 9);
    }
    const config::Section* s = cfg.find(config::SectionType::Domain, name);
    const config::Value* v = s ? s->find(key) : nullptr;
    if (v == nullptr) {
        throw Error(Exit::Config, "'" + key + "' of " + section + " is no longer in " + at.file, at);
    }
    return v->value;
}

Settings Settings::fromDocument(const json::object& doc, const std::string& name) {
    Settings s;
    s.section = "[domain:" + name + "]";
    const json::object* cfg = nullptr;
    if (const auto* c = doc.if_contains("config"); c && c->is_object()) {
        cfg = &c->as_object();
    }
    const json::object* sec = nullptr;
    if (cfg) {
        if (const auto* d = cfg->if_contains("domain"); d && d->is_object()) {
            if (const auto* x = d->as_object().if_contains(name); x && x->is_object()) {
                sec = &x->as_object();
            }
        }
        if (const auto* src = cfg->if_contains("sources"); src && src->is_array()) {
            for (const auto& v : src->as_array()) {
                if (v.is_string()) {
                    s.sources.emplace_back(v.as_string());
                }
            }
        }
    }
    if (sec == nullptr) {
        throw Error(Exit::DataErr, "the document has no section " + s.section + " in \"config\".\"domain\"");
    }
    if (const auto* keys = sec->if_contains("keys"); keys && keys->is_object()) {
        for (const auto& [k, v] : keys->as_object()) {
            if (v.is_string()) {
                s.keys[std::string(k)] = std::string(v.as_string());
            } else if (v.is_object()) {
                if (const auto* ref = v.as_object().if_contains("secret"); ref && ref->is_string()) {
                    s.secretRefs[std::string(k)] = std::string(ref->as_string());
                }
            }
        }
    }
    if (const auto* wh = sec->if_contains("where"); wh && wh->is_object()) {
        for (const auto& [k, v] : wh->as_object()) {
            if (v.is_string()) {
                s.where[std::string(k)] = std::string(v.as_string());
            }
        }
    }
    s.handler = canonicalHandler(s.get("handler").value_or(""));
    return s;
}

std::vector<record::Record> RRsetChange::adds() const {
    std::vector<record::Record> out;
    for (const auto& a : after) {
        if (std::none_of(before.begin(), before.end(), [&](const record::Record& b) { return b.sameRecord(a); })) {
            out.push_back(a);
        }
    }
    return out;
}

std::vector<record::Record> RRsetChange::deletes() const {
    std::vector<record::Record> out;
    for (const auto& b : before) {
        if (std::none_of(after.begin(), after.end(), [&](const record::Record& a) { return a.sameRecord(b); })) {
            out.push_back(b);
        }
    }
    return out;
}

bool RRsetChange::ttlChanged() const {
    if (after.empty() || before.empty()) {
        return false;
    }
    return std::any_of(before.begin(), before.end(),
                       [&](const record::Record& b) { return b.ttl != after.front().ttl; });
}

std::string canonicalHandler(std::string_view handler) {
    if (handler == "dnsuptools" || handler == "dnsuptools/inwx") {
        return "inwx";
    }
    return std::string(handler);
}

std::unique_ptr<Provider> make(const Settings& settings) {
    const auto& r = registry();
    const auto it = r.find(settings.handler);
    if (it == r.end()) {
        std::string known;
        for (const auto& [name, f] : r) {
            known += (known.empty() ? "" : ", ") + name;
        }
        if (settings.handler.empty()) {
            throw Error(Exit::Config, settings.section + " has no 'handler' (one of " + known + ")",
                        settings.locate("handler"));
        }
        throw Error(Exit::Config, "unknown handler '" + settings.handler + "' (one of " + known + ")",
                    settings.locate("handler"));
    }
    return it->second(settings);
}

std::vector<std::string> handlers() {
    std::vector<std::string> out;
    for (const auto& [name, f] : registry()) {
        out.push_back(name);
    }
    return out;
}

} // namespace cdm::provider
