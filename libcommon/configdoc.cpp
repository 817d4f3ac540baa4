#include "libcommon/configdoc.hpp"

#include <algorithm>

#include "libcommon/domain.hpp"
#include "libcommon/log.hpp"

namespace cdm::configdoc {

namespace json = boost::json;

namespace {

std::string_view modeName(domain::Mode mode) {
    switch (mode) {
    case domain::Mode::Set:
        return "replace";
    case domain::Mode::Add:
        return "add";
    case domain::Mode::Remove:
        return "remove";
    }
    return "replace";
}

} // namespace

json::object sectionToJson(const config::Section& section) {
    json::object keys;
    json::object where;
    for (const auto& v : section.values) {
        const std::string origin = v.where.empty() ? v.origin : v.where.toString();
        if (v.secret()) {
            keys[v.key] = json::object{{"secret", origin}};
        } else {
            keys[v.key] = v.value;
        }
        where[v.key] = origin;
    }
    json::object out{{"keys", std::move(keys)}, {"where", std::move(where)}};
    out["source"] = section.where.empty() ? json::value(nullptr) : json::value(section.where.toString());
    return out;
}

std::string rereadSecret(const json::object& doc, config::SectionType type,
                         const std::string& name, const std::string& key) {
    const std::string label = "[" + std::string(config::toString(type)) + ":" + name + "]";
    const json::object* cfg = doc.if_contains("config") ? doc.at("config").if_object() : nullptr;
    std::string where;
    if (cfg != nullptr) {
        const json::value* byType = cfg->if_contains(config::toString(type));
        const json::value* section =
            byType != nullptr && byType->is_object() ? byType->as_object().if_contains(name) : nullptr;
        const json::value* keys = section != nullptr && section->is_object()
                                      ? section->as_object().if_contains("keys")
                                      : nullptr;
        const json::value* value =
            keys != nullptr && keys->is_object() ? keys->as_object().if_contains(key) : nullptr;
        if (value != nullptr && value->is_object()) {
            if (const auto* ref = value->as_object().if_contains("secret"); ref && ref->is_string()) {
                where = std::string(ref->as_string());
            }
        }
    }
    const auto colon = where.rfind(':');
    const std::string file = colon == std::string::npos ? where : where.substr(0, colon);
    if (file.empty() || file.front() == '<') {
        throw Error(Exit::Config,
                    "'" + key + "' of " + label + " comes from " + (where.empty() ? "nowhere" : where) +
                        ", which cannot be read again; write it in a file and set " + key + "_file");
    }
    ini::Ini ini;
    if (const auto* sources = cfg->if_contains("sources"); sources != nullptr && sources->is_array()) {
        for (const auto& s : sources->as_array()) {
            if (s.is_string() && !s.as_string().empty() && s.as_string().front() != '<') {
                ini.readFile(std::string(s.as_string()));
            }
        }
    }
    const config::Config config = config::load(ini);
    const config::Section* section = config.find(type, name);
    const config::Value* v = section != nullptr ? section->find(key) : nullptr;
    if (v == nullptr) {
        throw Error(Exit::Config, "'" + key + "' of " + label + " is no longer in " + file,
                    Location{file, 0, {}});
    }
    return v->value;
}

Result run(const Request& request) {
    if (std::count(request.files.begin(), request.files.end(), "-") > 1) {
        throw Error(Exit::Usage, "standard input ('-') can be read only once");
    }
    ini::Ini ini;
    for (const auto& f : request.files) {
        ini.readFile(f);
    }
    if (request.content) {
        ini.readString(ini::expandConfigContent(*request.content), "<config-content>");
    }
    const config::Config config = config::load(ini);

    Result result;
    json::object doc = document::empty();
    json::object cfg;
    json::array sources;
    for (const auto& s : config.sources) {
        sources.emplace_back(s);
    }
    cfg["sources"] = std::move(sources);
    for (const auto& [type, sections] : config.sections) {
        json::object byName;
        for (const auto& s : sections) {
            byName[s.name] = sectionToJson(s);
        }
        cfg[config::toString(type)] = std::move(byName);
    }

    json::array files;
    std::map<std::string, json::array> certDomains;
    auto& domains = cfg["domain"];
    if (domains.is_null()) {
        domains = json::object{};
    }
    for (const config::Section* section : config.named(config::SectionType::Domain)) {
        domain::DomainPlan plan = domain::plan(*section, config);
        json::object& out = domains.as_object()[section->name].as_object();
        out["name"] = plan.name;
        json::array certs;
        for (const auto& c : plan.certs) {
            certs.emplace_back(c);
            certDomains[c].emplace_back(section->name);
        }
        out["certs"] = std::move(certs);
        json::array tlsa;
        for (const auto& t : plan.tlsa) {
            tlsa.push_back(json::object{{"mode", modeName(t.mode)},
                                        {"op", t.op},
                                        {"owner", t.owner},
                                        {"proto", t.proto},
                                        {"port", t.port},
                                        {"usage", t.usage},
                                        {"selector", t.selector},
                                        {"matching", t.matching},
                                        {"scope", document::toJson(t.scope)},
                                        {"source", t.source}});
        }
        out["tlsa"] = std::move(tlsa);
        json::array dkim;
        for (const auto& d : plan.dkim) {
            dkim.push_back(json::object{{"mode", modeName(d.mode)},
                                        {"op", d.op},
                                        {"key", d.key},
                                        {"scope", document::toJson(d.scope)},
                                        {"source", d.source}});
        }
        out["dkim"] = std::move(dkim);
        for (auto& f : plan.files) {
            files.push_back(std::move(f));
        }
        for (auto& r : plan.records) {
            result.records.push_back(std::move(r));
        }
    }
    if (auto* certs = cfg.if_contains("cert")) {
        for (const config::Section* section : config.named(config::SectionType::Cert)) {
            json::array list;
            if (const auto it = certDomains.find(section->name); it != certDomains.end()) {
                list = it->second;
            } else {
                log::warn((section->where.empty() ? std::string("cert:") + section->name
                                                  : section->where.toString()) +
                          ": no domain links cert:" + section->name +
                          " (cert = " + section->name + "), so no certificate is requested for it");
            }
            certs->as_object()[section->name].as_object()["domains"] = std::move(list);
        }
    }
    if (domains.as_object().empty()) {
        cfg.erase("domain");
    }

    json::array records;
    for (const auto& r : result.records) {
        records.push_back(document::toJson(r));
    }
    doc["config"] = std::move(cfg);
    doc["records"] = std::move(records);
    doc["files"] = std::move(files);
    document::report(doc, "cdm-config", "loaded",
                     {{"sources", doc["config"].as_object()["sources"]},
                      {"domains", config.named(config::SectionType::Domain).size()},
                      {"records", result.records.size()}});
    result.document = std::move(doc);
    return result;
}

} // namespace cdm::configdoc
