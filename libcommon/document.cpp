#include "libcommon/document.hpp"

#include <algorithm>
#include <array>

#include "libcommon/name.hpp"

namespace cdm::document {

namespace json = boost::json;

namespace {

const std::array<std::pair<Op, std::string_view>, 5> opNames = {{
    {Op::Replace, "replace"},
    {Op::Add, "add"},
    {Op::Remove, "remove"},
    {Op::None, "none"},
    {Op::Merge, "merge"},
}};

std::vector<std::string> words(std::string_view s, std::size_t maxWords) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < s.size() && out.size() < maxWords) {
        while (i < s.size() && s[i] == ' ') {
            ++i;
        }
        if (i >= s.size()) {
            break;
        }
        if (out.size() + 1 == maxWords) {
            out.emplace_back(s.substr(i));
            break;
        }
        const auto end = s.find(' ', i);
        out.emplace_back(s.substr(i, end == std::string_view::npos ? s.npos : end - i));
        i = end == std::string_view::npos ? s.size() : end;
    }
    return out;
}

bool startsWithNoCase(std::string_view text, std::string_view prefix) {
    if (text.size() < prefix.size()) {
        return false;
    }
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(text[i])) !=
            std::tolower(static_cast<unsigned char>(prefix[i]))) {
            return false;
        }
    }
    return true;
}

[[noreturn]] void bad(const std::string& path, const std::string& message) {
    throw Error(Exit::DataErr, message, Location{{}, 0, path});
}

const json::value& member(const json::object& o, const char* key, const std::string& path) {
    const auto* v = o.if_contains(key);
    if (v == nullptr) {
        bad(path + "." + key, "missing");
    }
    return *v;
}

std::string stringMember(const json::object& o, const char* key, const std::string& path) {
    const json::value& v = member(o, key, path);
    if (!v.is_string()) {
        bad(path + "." + key, "expected a string");
    }
    return std::string(v.as_string());
}

void prettyPrint(std::string& out, const json::value& v, int indent) {
    const std::string pad(static_cast<std::size_t>(indent) * 2, ' ');
    const std::string inner(static_cast<std::size_t>(indent + 1) * 2, ' ');
    if (v.is_object()) {
        const auto& o = v.get_object();
        if (o.empty()) {
            out += "{}";
            return;
        }
        out += "{\n";
        bool firstItem = true;
        for (const auto& [k, val] : o) {
            if (!firstItem) {
                out += ",\n";
            }
            firstItem = false;
            out += inner + json::serialize(json::string(k)) + ": ";
            prettyPrint(out, val, indent + 1);
        }
        out += "\n" + pad + "}";
    } else if (v.is_array()) {
        const auto& a = v.get_array();
        if (a.empty()) {
            out += "[]";
            return;
        }
        out += "[\n";
        for (std::size_t i = 0; i < a.size(); ++i) {
            out += inner;
            prettyPrint(out, a[i], indent + 1);
            out += i + 1 < a.size() ? ",\n" : "\n";
        }
        out += pad + "]";
    } else {
        out += json::serialize(v);
    }
}

} // namespace

std::string_view toString(Op op) {
    for (const auto& [o, n] : opNames) {
        if (o == op) {
            return n;
        }
    }
    return "replace";
}

std::optional<Op> opFromString(std::string_view text) {
    for (const auto& [o, n] : opNames) {
        if (n == text) {
            return o;
        }
    }
    return std::nullopt;
}

std::vector<std::string> fieldNames(record::Type type) {
    using record::Type;
    switch (type) {
    case Type::MX:
        return {"preference", "exchange"};
    case Type::SRV:
        return {"priority", "weight", "port", "target"};
    case Type::CAA:
        return {"flags", "tag", "value"};
    case Type::TLSA:
        return {"usage", "selector", "matching", "data"};
    case Type::SOA:
        return {"mname", "rname", "serial", "refresh", "retry", "expire", "minimum"};
    default:
        return {};
    }
}

std::optional<std::string> fieldValue(record::Type type, std::string_view data,
                                      std::string_view field) {
    const auto names = fieldNames(type);
    const auto it = std::find(names.begin(), names.end(), field);
    if (it == names.end()) {
        return std::nullopt;
    }
    const auto index = static_cast<std::size_t>(it - names.begin());
    auto parts = words(data, names.size());
    if (index >= parts.size()) {
        return std::nullopt;
    }
    std::string value = parts[index];
    if (type == record::Type::CAA && field == "value" && value.size() >= 2 && value.front() == '"') {
        value = value.substr(1, value.size() - 2);
    }
    return value;
}

bool Scope::contains(const record::Record& rr) const {
    if (rr.type != type || !name::matchesPattern(rr.name, name)) {
        return false;
    }
    for (const auto& [field, want] : fields) {
        const auto have = fieldValue(rr.type, rr.data, field);
        // CAA tags match without case (RFC 8659 §4.1), as record::equalData compares them.
        const bool noCase = rr.type == record::Type::CAA && field == "tag";
        if (!have || (noCase ? !(have->size() == want.size() && startsWithNoCase(*have, want))
                             : *have != want)) {
            return false;
        }
    }
    if (rr.type == record::Type::TXT && (!txtPrefix.empty() || !txtExclude.empty())) {
        const std::string text = record::txtText(rr.data);
        if (!txtPrefix.empty() && !startsWithNoCase(text, txtPrefix)) {
            return false;
        }
        for (const auto& p : txtExclude) {
            if (startsWithNoCase(text, p)) {
                return false;
            }
        }
    }
    return true;
}

json::object toJson(const Scope& scope) {
    json::object out{{"name", scope.name}, {"type", record::toString(scope.type)}};
    if (!scope.fields.empty()) {
        json::object fields;
        for (const auto& [k, v] : scope.fields) {
            fields[k] = v;
        }
        out["fields"] = std::move(fields);
    }
    if (!scope.txtPrefix.empty()) {
        out["txt_prefix"] = scope.txtPrefix;
    }
    if (!scope.txtExclude.empty()) {
        json::array ex;
        for (const auto& p : scope.txtExclude) {
            ex.emplace_back(p);
        }
        out["txt_exclude"] = std::move(ex);
    }
    return out;
}

json::object toJson(const DesiredRecord& r) {
    json::object o{{"name", r.name},
                   {"type", record::toString(r.type)},
                   {"ttl", r.ttl},
                   {"data", r.data ? json::value(*r.data) : json::value(nullptr)},
                   {"op", toString(r.op)},
                   {"scope", toJson(r.scope)}};
    if (!r.placeholder.empty()) {
        o["auto"] = r.placeholder;
    }
    if (!r.merge.empty()) {
        o["merge"] = r.merge;
    }
    if (!r.label.empty()) {
        o["label"] = r.label;
    }
    if (!r.source.empty()) {
        o["source"] = r.source;
    }
    if (!r.section.empty()) {
        o["section"] = r.section;
    }
    return o;
}

Scope scopeFromJson(const json::value& v, const std::string& at) {
    if (!v.is_object()) {
        bad(at, "expected an object");
    }
    const auto& so = v.get_object();
    Scope scope;
    const std::string scopeName = stringMember(so, "name", at);
    if (!name::isValid(scopeName)) {
        bad(at + ".name", "invalid name '" + scopeName + "'");
    }
    scope.name = name::normalize(scopeName); // a pattern: `*` labels are allowed
    const std::string typeText = stringMember(so, "type", at);
    const auto type = record::typeFromString(typeText);
    if (!type) {
        bad(at + ".type", "unsupported record type '" + typeText + "'");
    }
    scope.type = *type;
    if (const auto* fields = so.if_contains("fields"); fields && fields->is_object()) {
        for (const auto& [k, fv] : fields->get_object()) {
            if (!fv.is_string()) {
                bad(at + ".fields." + std::string(k), "expected a string");
            }
            scope.fields[std::string(k)] = std::string(fv.as_string());
        }
    }
    if (const auto* p = so.if_contains("txt_prefix"); p && p->is_string()) {
        scope.txtPrefix = std::string(p->as_string());
    }
    if (const auto* ex = so.if_contains("txt_exclude"); ex && ex->is_array()) {
        for (const auto& e : ex->get_array()) {
            if (e.is_string()) {
                scope.txtExclude.emplace_back(e.as_string());
            }
        }
    }
    return scope;
}

DesiredRecord recordFromJson(const json::value& v, const std::string& path) {
    if (!v.is_object()) {
        bad(path, "expected an object");
    }
    const auto& o = v.get_object();
    DesiredRecord r;
    const auto typeOf = [&](const std::string& text, const std::string& at) {
        const auto t = record::typeFromString(text);
        if (!t) {
            bad(at, "unsupported record type '" + text + "'");
        }
        return *t;
    };
    try {
        r.name = name::normalize(stringMember(o, "name", path));
    } catch (const Error& e) {
        if (!e.where().path.empty()) {
            throw;
        }
        bad(path + ".name", e.message());
    }
    r.type = typeOf(stringMember(o, "type", path), path + ".type");
    if (const auto* ttl = o.if_contains("ttl")) {
        const bool integer = ttl->is_int64() || ttl->is_uint64();
        const auto seconds = integer ? ttl->to_number<std::int64_t>() : -1;
        if (seconds < 0 || seconds > 2147483647) {
            bad(path + ".ttl", "expected a number of seconds from 0 to 2147483647");
        }
        r.ttl = static_cast<std::uint32_t>(seconds);
    }
    const std::string opText = o.contains("op") ? stringMember(o, "op", path) : "replace";
    const auto op = opFromString(opText);
    if (!op) {
        bad(path + ".op", "unknown op '" + opText + "' (replace, add, remove, none, merge)");
    }
    r.op = *op;
    if (const auto* data = o.if_contains("data"); data != nullptr && !data->is_null()) {
        if (!data->is_string()) {
            bad(path + ".data", "expected a string");
        }
        try {
            r.data = record::canonical(r.type, std::string(data->as_string()));
        } catch (const Error& e) {
            bad(path + ".data", e.message());
        }
    }
    if (const auto* placeholder = o.if_contains("auto"); placeholder && placeholder->is_string()) {
        r.placeholder = std::string(placeholder->as_string());
    }
    if (!r.data && r.placeholder.empty() && r.op != Op::None && r.op != Op::Merge) {
        bad(path + ".data", "missing (only 'none' and 'merge' records go without data)");
    }
    if (const auto* merge = o.if_contains("merge"); merge && merge->is_object()) {
        r.merge = merge->get_object();
    }
    for (const auto& [key, target] : {std::pair{"label", &r.label}, {"source", &r.source},
                                      {"section", &r.section}}) {
        if (const auto* s = o.if_contains(key); s && s->is_string()) {
            *target = std::string(s->as_string());
        }
    }
    r.scope.name = r.name;
    r.scope.type = r.type;
    if (const auto* scope = o.if_contains("scope"); scope != nullptr) {
        r.scope = scopeFromJson(*scope, path + ".scope");
    }
    return r;
}

std::string toZoneText(const std::vector<DesiredRecord>& records) {
    std::string out;
    for (const auto& r : records) {
        const std::string type(record::toString(r.type));
        const std::string where = r.source.empty() ? "" : " (" + r.source + ")";
        if (!r.placeholder.empty()) {
            out += "; " + r.name + " " + type + " " + std::string(toString(r.op)) + ": '" +
                   r.placeholder + "', filled in by " +
                   (r.placeholder.rfind("caa", 0) == 0 ? "cdm-cert" : "cdm-ip") + where + "\n";
            continue;
        }
        if (r.op == Op::None) {
            std::string except;
            for (const auto& p : r.scope.txtExclude) {
                except += (except.empty() ? " except those starting '" : "', '") + p;
            }
            if (!except.empty()) {
                except += "'";
            }
            std::string fields;
            for (const auto& [k, v] : r.scope.fields) {
                fields += (fields.empty() ? " with " : ", ") + k + " " + v;
            }
            out += "; delete every " + type + " at " + r.scope.name + fields +
                   (r.scope.txtPrefix.empty() ? "" : " starting '" + r.scope.txtPrefix + "'") +
                   except + where + "\n";
            continue;
        }
        if (r.op == Op::Merge) {
            out += "; merge into the " + type + " at " + r.name + ": " + json::serialize(r.merge) +
                   where + "\n";
            if (!r.data) {
                continue;
            }
        }
        const record::Record rr{r.name, r.type, r.ttl, r.data.value_or("")};
        out += r.op == Op::Remove ? "; remove: " + rr.toZoneLine() + where + "\n"
                                  : rr.toZoneLine() + "\n";
    }
    return out;
}

json::object empty() {
    return json::object{{"cdm", schemaVersion},  {"config", json::object{}},
                        {"material", json::object{}}, {"records", json::array{}},
                        {"files", json::array{}}, {"report", json::array{}}};
}

json::object parse(std::string_view text, const std::string& sourceName) {
    boost::system::error_code ec;
    json::parse_options options;
    options.max_depth = 64;
    json::value v = json::parse(text, ec, {}, options);
    if (ec) {
        throw Error(Exit::DataErr, "not a JSON document: " + ec.message(), Location{sourceName, 0, {}});
    }
    if (!v.is_object()) {
        throw Error(Exit::DataErr, "expected a JSON object", Location{sourceName, 0, {}});
    }
    auto& o = v.get_object();
    const auto* version = o.if_contains("cdm");
    if (version == nullptr || !version->is_int64()) {
        throw Error(Exit::DataErr, "not a cdm document (no \"cdm\" version number)",
                    Location{sourceName, 0, "cdm"});
    }
    if (version->as_int64() > schemaVersion || version->as_int64() < 1) {
        throw Error(Exit::DataErr,
                    "document version " + std::to_string(version->as_int64()) +
                        " is not supported (this cdm reads version " +
                        std::to_string(schemaVersion) + ")",
                    Location{sourceName, 0, "cdm"});
    }
    for (const char* key : {"records", "files", "report"}) {
        if (const auto* m = o.if_contains(key); m != nullptr && !m->is_array()) {
            throw Error(Exit::DataErr, "expected an array", Location{sourceName, 0, key});
        }
    }
    for (const char* key : {"config", "material"}) {
        if (const auto* m = o.if_contains(key); m != nullptr && !m->is_object()) {
            throw Error(Exit::DataErr, "expected an object", Location{sourceName, 0, key});
        }
    }
    return std::move(o);
}

std::string serialize(const json::object& doc) {
    std::string out;
    prettyPrint(out, doc, 0);
    out += '\n';
    return out;
}

std::vector<DesiredRecord> records(const json::object& doc, const std::string& sourceName) {
    std::vector<DesiredRecord> out;
    const auto* list = doc.if_contains("records");
    if (list == nullptr) {
        return out;
    }
    const auto& a = list->get_array();
    for (std::size_t i = 0; i < a.size(); ++i) {
        try {
            out.push_back(recordFromJson(a[i], "records[" + std::to_string(i) + "]"));
        } catch (const Error& e) {
            throw Error(e.code(), e.message(), Location{sourceName, 0, e.where().path});
        }
    }
    return out;
}

void appendRecords(json::object& doc, std::vector<json::object> records) {
    auto* list = doc.if_contains("records");
    if (list == nullptr || !list->is_array()) {
        doc["records"] = json::array{};
        list = doc.if_contains("records");
    }
    for (auto& r : records) {
        list->get_array().push_back(std::move(r));
    }
}

json::object& material(json::object& doc, std::string_view kind) {
    auto& all = doc["material"];
    if (!all.is_object()) {
        all = json::object{};
    }
    auto& of = all.as_object()[kind];
    if (!of.is_object()) {
        of = json::object{};
    }
    return of.as_object();
}

json::object& material(json::object& doc, std::string_view kind, std::string_view name) {
    auto& m = material(doc, kind)[name];
    if (!m.is_object()) {
        m = json::object{};
    }
    return m.as_object();
}

void report(json::object& doc, std::string_view program, std::string_view event,
            json::object fields) {
    json::object entry{{"program", program}, {"event", event}};
    for (auto& [k, v] : fields) {
        entry[k] = std::move(v);
    }
    auto* list = doc.if_contains("report");
    if (list == nullptr || !list->is_array()) {
        doc["report"] = json::array{};
        list = doc.if_contains("report");
    }
    list->get_array().push_back(std::move(entry));
}

Location locationOf(const std::string& where) {
    if (where.empty() || where == "built-in") {
        return {};
    }
    const auto colon = where.rfind(':');
    if (colon != std::string::npos && colon + 1 < where.size() && where.size() - colon <= 10 &&
        where.find_first_not_of("0123456789", colon + 1) == std::string::npos) {
        return Location{
            where.substr(0, colon), static_cast<unsigned>(std::stoul(where.substr(colon + 1))), {}};
    }
    return Location{where, 0, {}};
}

namespace {

const json::object* sectionOf(const json::object& doc, std::string_view type, std::string_view name) {
    const auto* config = doc.if_contains("config");
    if (config == nullptr || !config->is_object()) {
        return nullptr;
    }
    const auto* sections = config->as_object().if_contains(type);
    if (sections == nullptr || !sections->is_object()) {
        return nullptr;
    }
    const auto* section = sections->as_object().if_contains(name);
    return section != nullptr && section->is_object() ? &section->as_object() : nullptr;
}

const json::object* memberObject(const json::object* o, std::string_view key) {
    const auto* v = o != nullptr ? o->if_contains(key) : nullptr;
    return v != nullptr && v->is_object() ? &v->as_object() : nullptr;
}

} // namespace

const json::object* sectionKeys(const json::object& doc, std::string_view type, std::string_view name) {
    return memberObject(sectionOf(doc, type, name), "keys");
}

std::optional<std::string> sectionKey(const json::object& doc, std::string_view type,
                                      std::string_view name, std::string_view key) {
    const auto* keys = sectionKeys(doc, type, name);
    const auto* v = keys != nullptr ? keys->if_contains(key) : nullptr;
    if (v == nullptr || !v->is_string()) {
        return std::nullopt;
    }
    return std::string(v->as_string());
}

Location keyLocation(const json::object& doc, std::string_view type, std::string_view name,
                     std::string_view key) {
    const auto* where = memberObject(sectionOf(doc, type, name), "where");
    const auto* v = where != nullptr ? where->if_contains(key) : nullptr;
    if (v == nullptr || !v->is_string()) {
        return Location{{}, 0, std::string("config.") + std::string(type) + "." + std::string(name) + ".keys." +
                                   std::string(key)};
    }
    return locationOf(std::string(v->as_string()));
}

} // namespace cdm::document
