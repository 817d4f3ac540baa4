#include "libcommon/config.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>

#include "libcommon/log.hpp"

namespace cdm::config {

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// The handler's first part picks its defaults: "dehydrated/letsencrypt" -> "dehydrated".
std::string handlerFamily(std::string_view handler) {
    return std::string(handler.substr(0, handler.find('/')));
}

const std::array<std::pair<SectionType, std::string_view>, 6> typeNames = {{
    {SectionType::Cdm, "cdm"},
    {SectionType::Domain, "domain"},
    {SectionType::Cert, "cert"},
    {SectionType::Dkim, "dkim"},
    {SectionType::Dhparam, "dhparam"},
    {SectionType::Service, "service"},
}};

// Handlers each section type accepts; the original crashed on anything else (§2.1).
const std::map<SectionType, std::set<std::string>>& knownHandlers() {
    static const std::map<SectionType, std::set<std::string>> handlers = {
        {SectionType::Domain, {"dnsuptools", "inwx", "rfc2136", "powerdns", "zonefile"}},
        {SectionType::Cert, {"dehydrated", "acme"}},
        {SectionType::Dkim, {"rspamd", "opendkim", "file"}},
        {SectionType::Dhparam, {"openssl"}},
        {SectionType::Service,
         {"apache2", "nginx", "postfix", "dovecot", "rspamd", "traefik", "command"}},
    };
    return handlers;
}

} // namespace

std::string_view toString(SectionType type) {
    for (const auto& [t, name] : typeNames) {
        if (t == type) {
            return name;
        }
    }
    return "?";
}

std::optional<SectionType> sectionTypeFromString(std::string_view text) {
    for (const auto& [t, name] : typeNames) {
        if (name == text) {
            return t;
        }
    }
    return std::nullopt;
}

bool Value::secret() const { return fromSecret || log::isSecretKey(key); }

const Value* Section::find(std::string_view key) const {
    for (const auto& v : values) {
        if (v.key == key) {
            return &v;
        }
    }
    return nullptr;
}

std::string Section::get(std::string_view key, std::string_view fallback) const {
    const Value* v = find(key);
    return v != nullptr ? v->value : std::string(fallback);
}

const Defaults& builtinDefaults(SectionType type) {
    static const std::map<SectionType, Defaults> all = [] {
        std::map<SectionType, Defaults> d;
        d[SectionType::Cdm].type = {{"statedir", "/var/lib/cdm"},
                                    {"depends", "cert, domain, dkim, dhparam, service"},
                                    {"cert", "auto"},
                                    {"domain", "auto"},
                                    {"dkim", "auto"},
                                    {"dhparam", "auto"},
                                    {"service", "auto"}};
        // The original created every record with TTL 600 (dnsuptools/dnsupdate.py).
        d[SectionType::Domain].type = {{"ttl", "600"}};
        d[SectionType::Cert].type = {{"handler", "dehydrated/letsencrypt"}, {"extraflags", ""}};
        d[SectionType::Cert].defaultHandler = "dehydrated/letsencrypt";
        const Pairs acme = {{"keysize", "4096"}, {"extraflags", ""}};
        d[SectionType::Cert].handler = {{"dehydrated", acme}, {"acme", acme}};
        d[SectionType::Dkim].type = {{"keysize", "2048"}};
        d[SectionType::Dkim].handler = {
            {"rspamd",
             {{"keysize", "2048"},
              {"keybasename", "key"},
              {"keylocation", "/var/lib/rspamd/dkim"},
              {"keyname", "dkim.key"},
              {"signingconfdestinationfile", "/etc/rspamd/local.d/dkim_signing.conf"}}}};
        d[SectionType::Dhparam].type = {{"filename", "/etc/myssl/dhparam.pem"},
                                        {"keysize", "2048"}};
        d[SectionType::Dhparam].handler = {
            {"openssl", {{"filename", "/etc/myssl/dh2048.pem"}, {"keysize", "2048"}}}};
        d[SectionType::Service].type = {{"container", "false"}};
        d[SectionType::Service].handlerFromName = true;
        const Pairs web = {{"cert", "auto"}, {"dhparam", "auto"}, {"depends", "cert, dhparam"}};
        d[SectionType::Service].handler = {{"apache2", web},
                                           {"nginx", web},
                                           {"postfix", web},
                                           {"dovecot", web},
                                           {"traefik", web},
                                           {"rspamd", {{"dkim", "auto"}, {"depends", "dkim"}}}};
        return d;
    }();
    static const Defaults none;
    const auto it = all.find(type);
    return it != all.end() ? it->second : none;
}

Section resolve(const ini::Ini& ini, SectionType type, const std::string& name,
                const std::vector<Layer>& layers) {
    Section out;
    out.type = type;
    out.name = name;
    std::set<std::string> seen;
    for (const auto& layer : layers) {
        if (layer.section != nullptr) {
            for (const auto& e : layer.section->entries) {
                if (!seen.insert(e.key).second) {
                    continue;
                }
                bool fromSecret = false;
                const ini::Section& context = layer.context != nullptr ? *layer.context : *layer.section;
                std::string value = ini.interpolate(context, e, &fromSecret);
                out.values.push_back(Value{e.key, std::move(value), e.where, layer.origin, fromSecret});
            }
        } else if (layer.builtin != nullptr) {
            for (const auto& [k, v] : *layer.builtin) {
                if (seen.insert(k).second) {
                    out.values.push_back(Value{k, v, {}, layer.origin});
                }
            }
        }
    }
    return out;
}

std::vector<const Section*> Config::named(SectionType type) const {
    std::vector<const Section*> out;
    if (const auto it = sections.find(type); it != sections.end()) {
        for (const auto& s : it->second) {
            if (!s.isDefault()) {
                out.push_back(&s);
            }
        }
    }
    return out;
}

const Section* Config::find(SectionType type, std::string_view name) const {
    if (const auto it = sections.find(type); it != sections.end()) {
        for (const auto& s : it->second) {
            if (s.name == name) {
                return &s;
            }
        }
    }
    return nullptr;
}

const Section& Config::cdm() const {
    const Section* s = find(SectionType::Cdm, "DEFAULT");
    if (s == nullptr) {
        throw Error(Exit::Software, "no [cdm] section after load()");
    }
    return *s;
}

namespace {

// Which handler a section uses, from what is written, the section name or the built-in.
std::string effectiveHandler(SectionType type, const std::string& name,
                             const std::vector<Layer>& written) {
    const Defaults& defaults = builtinDefaults(type);
    for (const auto& layer : written) {
        if (layer.section == nullptr) {
            continue;
        }
        if (const ini::Entry* e = layer.section->find("handler")) {
            if (!(defaults.handlerFromName && e->value == "auto")) {
                return e->value;
            }
            break;
        }
    }
    if (defaults.handlerFromName && name != "DEFAULT") {
        return name;
    }
    return defaults.defaultHandler;
}

void checkHandler(SectionType type, const Section& section) {
    const Value* handler = section.find("handler");
    const auto known = knownHandlers().find(type);
    if (known == knownHandlers().end()) {
        return;
    }
    std::string value;
    Location where = section.where;
    if (handler != nullptr) {
        value = handler->value;
        if (!handler->where.empty()) {
            where = handler->where;
        }
    } else if (type == SectionType::Service && !section.isDefault()) {
        value = section.name;
    }
    if (value.empty()) {
        return; // no handler: the section is skipped, as in the original
    }
    const std::string family = handlerFamily(value);
    const std::string variant = value.size() > family.size() ? value.substr(family.size() + 1) : "";
    // The original's two-part names: dnsuptools/inwx, and dehydrated/<CA> (letsencrypt or another).
    const bool variantOk = variant.empty() || (family == "dnsuptools" && variant == "inwx") ||
                           (family == "dehydrated" && value.find('/', family.size() + 1) == std::string::npos);
    if (known->second.count(family) == 0 || !variantOk) {
        std::string list;
        for (const auto& h : known->second) {
            list += (list.empty() ? "" : ", ") + h;
        }
        const std::string label = section.isDefault()
                                      ? "[" + std::string(toString(type)) + "]"
                                      : "[" + std::string(toString(type)) + ":" + section.name + "]";
        throw Error(Exit::Config, label + " handler " + quoted(value) + " is not one of " + list,
                    where);
    }
}

// Why `text` cannot be one component of a path, or "" when it can. Section names become
// directories (<statedir>/cert/NAME, <destination>/DOMAIN/) and some values file names
// (keyname): a '/' or a ".." would reach outside the configured directory, a control character
// would reach zone lines, signing configurations and logs.
std::string badPathComponent(std::string_view text) {
    if (text == "." || text == "..") {
        return "is '" + std::string(text) + "'";
    }
    for (const char c : text) {
        if (c == '/') {
            return "holds a '/'";
        }
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            return "holds a control character";
        }
    }
    return {};
}

// Keys whose values become a file name inside a configured directory; a whole path there
// would escape it (keyname = ../../etc/x deploys beside keylocation, not in it).
void checkFileNameKeys(SectionType type, const Section& section) {
    if (type != SectionType::Dkim) {
        return;
    }
    const std::string label = section.isDefault() ? "[dkim]" : "[dkim:" + section.name + "]";
    if (const Value* v = section.find("keyname"); v != nullptr) {
        if (const std::string why = badPathComponent(v->value); !why.empty()) {
            throw Error(Exit::Config,
                        label + " keyname " + quoted(v->value) + " is not a file name: " + why,
                        v->where);
        }
    }
    // The selector is keybasename_TIME, and SELECTOR.key a file name: DNS labels of letters,
    // digits, '-' and '_', joined by single dots.
    if (const Value* v = section.find("keybasename"); v != nullptr) {
        const std::string& b = v->value;
        const bool ok = b.empty() || (b.size() <= 50 && b.front() != '.' && b.back() != '.' &&
                                      b.find("..") == std::string::npos &&
                                      std::all_of(b.begin(), b.end(), [](char c) {
                                          return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
                                                 c == '-' || c == '_' || c == '.';
                                      }));
        if (!ok) {
            throw Error(Exit::Config,
                        label + " keybasename " + quoted(b) +
                            " is not up to 50 letters, digits, '-' and '_' in dot-separated labels "
                            "(it begins the DKIM selector)",
                        v->where);
        }
    }
}

} // namespace

Config load(const ini::Ini& ini) {
    Config config;
    config.sources = ini.sources();

    // Group the written sections by type, checking their names.
    std::map<SectionType, const ini::Section*> typeSections;
    std::map<SectionType, std::vector<const ini::Section*>> namedSections;
    for (const auto& s : ini.sections()) {
        const auto colon = s.name.find(':');
        const std::string typeName = s.name.substr(0, colon);
        const auto type = sectionTypeFromString(typeName);
        if (!type) {
            if (s.name.find('.') != std::string::npos && colon == std::string::npos) {
                throw Error(Exit::Config,
                            "old-style section [" + s.name + "]: write [domain:" + s.name + "]",
                            s.where);
            }
            throw Error(Exit::Config,
                        "unknown section type " + quoted(typeName) +
                            " (expected cdm, domain, cert, dkim, dhparam or service)",
                        s.where);
        }
        if (colon == std::string::npos) {
            typeSections[*type] = &s;
            continue;
        }
        const std::string name = s.name.substr(colon + 1);
        if (name.empty() || name == "DEFAULT") {
            throw Error(Exit::Config,
                        "section [" + s.name + "] needs a name other than '" + name + "'",
                        s.where);
        }
        if (const std::string why = badPathComponent(name); !why.empty()) {
            throw Error(Exit::Config, "section name " + quoted(name) + " " + why, s.where);
        }
        namedSections[*type].push_back(&s);
    }

    const ini::Section* defaultSection = &ini.defaults();
    for (const auto& typeEntry : typeNames) {
        // Plain names: clang 14 cannot capture a structured binding in the lambda below.
        const SectionType type = typeEntry.first;
        const std::string_view typeName = typeEntry.second;
        const bool present = typeSections.count(type) != 0 || namedSections.count(type) != 0;
        if (!present && type != SectionType::Cdm) {
            continue; // [cdm] always exists (cdmcore.py:42-43); others only when written
        }
        const Defaults& defaults = builtinDefaults(type);
        const ini::Section* typeSection =
            typeSections.count(type) != 0 ? typeSections.at(type) : nullptr;

        const auto build = [&](const ini::Section* own, const std::string& name) {
            std::vector<Layer> layers;
            if (own != nullptr) {
                layers.push_back({"[" + own->name + "]", own, nullptr});
            }
            if (typeSection != nullptr && typeSection != own) {
                layers.push_back({"[" + std::string(typeName) + "]", typeSection, nullptr});
            }
            const ini::Section* reader = own != nullptr ? own : typeSection;
            layers.push_back({"[DEFAULT]", defaultSection, nullptr, reader});
            const std::string handler = effectiveHandler(type, name, layers);
            if (const auto h = defaults.handler.find(handlerFamily(handler));
                h != defaults.handler.end()) {
                layers.push_back({"built-in", nullptr, &h->second});
            }
            layers.push_back({"built-in", nullptr, &defaults.type});
            Section section = resolve(ini, type, name, layers);
            if (own != nullptr) {
                section.where = own->where;
            }
            if (defaults.handlerFromName && name != "DEFAULT" && section.find("handler") == nullptr) {
                section.values.push_back(Value{"handler", handler, {}, "built-in"});
            } else if (defaults.handlerFromName && name != "DEFAULT") {
                for (auto& v : section.values) {
                    if (v.key == "handler" && v.value == "auto") {
                        v.value = handler;
                    }
                }
            }
            checkHandler(type, section);
            checkFileNameKeys(type, section);
            return section;
        };

        auto& list = config.sections[type];
        list.push_back(build(typeSection, "DEFAULT"));
        for (const ini::Section* s : namedSections[type]) {
            list.push_back(build(s, s->name.substr(s->name.find(':') + 1)));
        }
    }
    return config;
}

std::vector<std::string> listItems(std::string_view value) {
    std::vector<std::string> out;
    while (true) {
        const auto comma = value.find(',');
        std::string_view item = value.substr(0, comma);
        const auto b = item.find_first_not_of(" \t\r\n");
        if (b != std::string_view::npos) {
            item = item.substr(b, item.find_last_not_of(" \t\r\n") - b + 1);
            out.emplace_back(item);
        }
        if (comma == std::string_view::npos) {
            return out;
        }
        value.remove_prefix(comma + 1);
    }
}

} // namespace cdm::config
