#include "libcommon/domain.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <set>

#include <openssl/evp.h>

#include "libcommon/log.hpp"
#include "libcommon/name.hpp"

namespace cdm::domain {

namespace {

namespace json = boost::json;
using document::DesiredRecord;
using document::Op;
using document::Scope;
using record::Type;

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string_view strip(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
        s.remove_prefix(1);
    }
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
        s.remove_suffix(1);
    }
    return s;
}

std::vector<std::string> splitOn(std::string_view s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (true) {
        const auto p = s.find(sep, start);
        out.emplace_back(s.substr(start, p == std::string_view::npos ? s.npos : p - start));
        if (p == std::string_view::npos) {
            return out;
        }
        start = p + 1;
    }
}

std::vector<std::string> splitWhitespace(std::string_view s) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) {
            ++i;
        }
        const std::size_t start = i;
        while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) {
            ++i;
        }
        if (i > start) {
            out.emplace_back(s.substr(start, i - start));
        }
    }
    if (out.empty()) {
        out.emplace_back(); // Python's ''.split() is [], but an empty item still fills [0]
    }
    return out;
}

// The comma-separated items of a value, each stripped (splitList in the original).
std::vector<std::string> items(std::string_view value) {
    std::vector<std::string> out;
    for (const auto& piece : splitOn(value, ',')) {
        out.emplace_back(strip(piece));
    }
    return out;
}

struct TypeSpec {
    std::string_view type;
    std::vector<std::string> fieldNames;
    std::vector<std::string> defaults;
    bool splitKey;
    Split split;
};

// Field lists and defaults of the original (confighandler.py interprete*), except TLSA:
// the original's default list made `tlsa = auto` mean matching type 3 and crash; cdm's
// defaults make every open field 3 1 1 (DANE-EE, SPKI, SHA-256).
const std::vector<TypeSpec>& typeSpecs() {
    static const std::vector<TypeSpec> specs = {
        {"ip4", {"content"}, {"*"}, true, Split::Colon},
        {"ip6", {"content"}, {"*"}, false, Split::None},
        {"mx", {"content", "prio"}, {"*", "10"}, true, Split::Colon},
        {"srv",
         {"server", "service", "proto", "port", "weight", "prio"},
         {"*", "http", "tcp", "443", "0", "0"},
         true,
         Split::Colon},
        {"caa", {"flag", "url", "tag"}, {"*", "*", "*"}, true, Split::Whitespace},
        {"dkim", {"op", "content"}, {"*", "*"}, true, Split::Colon},
        {"tlsa",
         {"op", "proto", "port", "matchingtype", "selector", "usage"},
         {"*", "tcp", "*", "1", "1", "3"},
         true,
         Split::Colon},
    };
    return specs;
}

const TypeSpec& specFor(std::string_view rrType) {
    for (const auto& s : typeSpecs()) {
        if (s.type == rrType) {
            return s;
        }
    }
    throw Error(Exit::Software, "no grammar for record type " + quoted(rrType));
}

Fields toFields(const std::vector<std::string>& list, const std::vector<std::string>& names,
                bool hasContent) {
    Fields out;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i == 0 && !hasContent) {
            continue;
        }
        if (i < list.size() && list[i] != "*") {
            out[names[i]] = list[i];
        }
    }
    return out;
}

bool belongsTo(std::string_view key, std::string_view rrType) {
    return key.substr(0, rrType.size()) == rrType;
}

} // namespace

NestedEntry parseNestedEntry(std::string_view key, std::string_view value,
                             const std::vector<std::string>& defaults, bool splitKey,
                             Split valueSplit) {
    std::vector<std::string> keyList = splitKey ? splitOn(key, '.') : std::vector<std::string>{std::string(key)};
    std::vector<std::string> valueList;
    switch (valueSplit) {
    case Split::Colon:
        valueList = splitOn(value, ':');
        break;
    case Split::Whitespace:
        valueList = splitWhitespace(value);
        break;
    case Split::None:
        valueList = {std::string(value)};
        break;
    }

    NestedEntry out;
    std::string& last = keyList.back();
    if (!last.empty() && (last.back() == '+' || last.back() == '-')) {
        out.mode = last.back() == '+' ? Mode::Add : Mode::Remove;
        last = std::string(strip(std::string_view(last).substr(0, last.size() - 1)));
    } else {
        out.scopeFields = keyList;
    }
    out.fields = defaults;
    if (out.fields.size() < keyList.size()) {
        out.fields.resize(keyList.size());
    }
    std::copy(keyList.begin(), keyList.end(), out.fields.begin());
    // Value pieces go to [0], [-1], [-2] ... as Python's addList[-i] does.
    const std::size_t n = out.fields.size();
    for (std::size_t i = 0; i < valueList.size(); ++i) {
        if (valueList.size() > n) {
            // Python's addList[-n] is addList[0]: the original silently let the extra piece
            // overwrite the first one (`mx = host:10:x` published MX 10 x).
            throw Error(Exit::Config, quoted(value) + " has " + std::to_string(valueList.size()) +
                                          " fields, but '" + std::string(key) + "' takes at most " +
                                          std::to_string(n));
        }
        out.fields[(n - i) % n] = valueList[i];
    }
    return out;
}

std::vector<Item> interpret(const config::Section& section, std::string_view rrType) {
    const TypeSpec& spec = specFor(rrType);
    std::vector<Item> out;
    for (const auto& v : section.values) {
        if (!belongsTo(v.key, rrType)) {
            continue;
        }
        // ip4detect/ip6detect are cdm-ip's source lists, not records (cdm-ip(1)).
        if (v.key == std::string(rrType) + "detect") {
            continue;
        }
        for (const auto& item : items(v.value)) {
            NestedEntry e;
            try {
                e = parseNestedEntry(v.key, item, spec.defaults, spec.splitKey, spec.split);
            } catch (const Error& error) {
                throw Error(error.code(),
                            "[domain:" + section.name + "] " + v.key + ": " +
                                (v.secret() ? std::string("invalid value (not shown: it comes from a secret)")
                                            : error.message()),
                            v.where);
            }
            Item it;
            it.mode = e.mode;
            it.key = v.key;
            it.raw = item;
            it.where = v.where;
            it.fields = toFields(e.fields, spec.fieldNames, true);
            if (e.mode == Mode::Set) {
                it.scope = toFields(e.scopeFields, spec.fieldNames, false);
            }
            out.push_back(std::move(it));
        }
    }
    return out;
}

std::vector<Fields> adds(const std::vector<Item>& list) {
    std::vector<Fields> out;
    for (const auto& it : list) {
        if (it.mode != Mode::Remove) {
            out.push_back(it.fields);
        }
    }
    return out;
}

std::vector<Fields> dels(const std::vector<Item>& list) {
    std::vector<Fields> out;
    for (const auto& it : list) {
        if (it.mode == Mode::Set) {
            out.push_back(it.scope);
        }
    }
    for (const auto& it : list) {
        if (it.mode == Mode::Remove) {
            out.push_back(it.fields);
        }
    }
    return out;
}

SpfSets interpretSpf(const config::Section& section) {
    SpfSets out;
    const auto insert = [](std::vector<std::string>& set, const std::string& token) {
        if (!token.empty() && std::find(set.begin(), set.end(), token) == set.end()) {
            set.push_back(token);
        }
    };
    for (const auto& v : section.values) {
        if (!belongsTo(v.key, "spf")) {
            continue;
        }
        for (const auto& item : items(v.value)) {
            const NestedEntry e = parseNestedEntry(v.key, item, {"*"}, false, Split::None);
            if (e.mode == Mode::Remove) {
                insert(out.del, e.fields[0]);
            } else {
                insert(out.add, e.fields[0]);
                if (e.mode == Mode::Set) {
                    insert(out.del, "*");
                }
            }
        }
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> interpretDict(const config::Section& section,
                                                               std::string_view rrType) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& v : section.values) {
        const auto pieces = splitOn(v.key, '.');
        if (pieces[0] != rrType) {
            continue;
        }
        out.emplace_back(pieces.size() > 1 ? pieces[1] : "", v.value);
    }
    return out;
}

namespace {

const std::vector<std::string> ownedTxtPrefixes = {"v=spf1", "v=DMARC1", "v=DKIM1", "v=STSv1",
                                                   "v=TLSRPTv1"};

bool isNone(std::string_view raw) { return raw.empty() || raw == "none"; }

std::string underscored(std::string_view label) {
    return label.empty() || label.front() == '_' ? std::string(label) : "_" + std::string(label);
}

bool isNumber(std::string_view s, unsigned long max, unsigned long min = 0) {
    if (s.empty() || s.size() > 10 || !std::all_of(s.begin(), s.end(), ::isdigit)) {
        return false;
    }
    const unsigned long v = std::stoul(std::string(s));
    return v >= min && v <= max;
}

// Builds the plan of one [domain:NAME] section.
class Planner {
public:
    Planner(const config::Section& section, const config::Config& config)
        : section_(section), config_(config) {
        try {
            domain_ = name::normalize(section.name);
        } catch (const Error& e) {
            throw Error(Exit::Config, "[domain:" + section.name + "]: " + e.message(), section.where);
        }
        const config::Value* ttl = section.find("ttl");
        if (ttl != nullptr) {
            if (!isNumber(ttl->value, 2147483647UL)) {
                fail(*ttl, "ttl " + quoted(ttl->value) + " is not a number of seconds");
            }
            ttl_ = static_cast<std::uint32_t>(std::stoul(ttl->value));
        }
        plan_.name = domain_;
    }

    DomainPlan run() {
        certs();
        acme();
        caa();
        soa();
        spf();
        adsp();
        dmarc();
        srv();
        addresses("ip4", Type::A, "A");
        addresses("ip6", Type::AAAA, "AAAA");
        mx();
        txtLike("txt", Type::TXT, "TXT");
        txtLike("cname", Type::CNAME, "CNAME");
        mtasts();
        tlsrpt();
        tlsa();
        dkim();
        warnUnknownKeys();
        return std::move(plan_);
    }

private:
    // A value that holds a secret is never repeated in a message.
    static std::string shown(bool secret, const std::string& message) {
        return secret ? "invalid value (not shown: it comes from a secret)" : message;
    }

    // `text` from the value of `key` as a message may show it: never a secret.
    std::string shownValue(const std::string& key, const std::string& text) const {
        const config::Value* v = section_.find(key);
        return v != nullptr && v->secret() ? std::string("(a secret, not shown)") : text;
    }

    [[noreturn]] void fail(const config::Value& v, const std::string& message) const {
        throw Error(Exit::Config,
                    "[domain:" + section_.name + "] " + v.key + ": " + shown(v.secret(), message),
                    v.where);
    }
    [[noreturn]] void fail(const Item& it, const std::string& message) const {
        const config::Value* v = section_.find(it.key);
        if (v != nullptr && v->secret()) {
            fail(*v, message);
        }
        throw Error(Exit::Config, "[domain:" + section_.name + "] " + it.key + ": " + message,
                    it.where);
    }

    const config::Value& valueOf(const std::string& key) const {
        const config::Value* v = section_.find(key);
        if (v == nullptr) {
            throw Error(Exit::Software, "no key " + quoted(key));
        }
        return *v;
    }

    std::string owner(std::string_view prefix) const {
        return prefix.empty() ? domain_ : std::string(prefix) + "." + domain_;
    }

    template <typename Where>
    std::string canonical(Type type, const std::string& data, const Where& where) const {
        try {
            return record::canonical(type, data);
        } catch (const Error& e) {
            fail(where, e.message());
        }
    }

    template <typename Where>
    std::string absolute(const std::string& host, const Where& where) const {
        try {
            return name::normalize(host);
        } catch (const Error& e) {
            fail(where, e.message());
        }
    }

    DesiredRecord make(const std::string& ownerName, Type type, std::string label, Op op,
                       const Location& where, Scope scope) const {
        DesiredRecord r;
        r.name = ownerName;
        r.type = type;
        r.ttl = ttl_;
        r.op = op;
        r.label = std::move(label);
        r.source = where.toString();
        r.section = section_.name;
        if (scope.name.empty()) {
            scope.name = ownerName;
            scope.type = type;
        }
        r.scope = std::move(scope);
        return r;
    }

    // A record needs every field; `*` (or nothing) leaves one open only in a delete scope.
    void requireFields(const Item& it, const char* type,
                       std::initializer_list<std::pair<const char*, const char*>> fields) const {
        for (const auto& [field, what] : fields) {
            if (it.fields.count(field) == 0 || it.fields.at(field).empty()) {
                fail(it, std::string(type) + " " + what + " is missing in " + quoted(it.raw) +
                             " ('*' leaves a field open only in the key)");
            }
        }
    }

    static Op opFor(Mode mode) {
        switch (mode) {
        case Mode::Set:
            return Op::Replace;
        case Mode::Add:
            return Op::Add;
        case Mode::Remove:
            return Op::Remove;
        }
        return Op::Replace;
    }

    // `none`/empty: alone in a set key it deletes the scope; elsewhere it is an error or nothing.
    // Returns true when the item has been dealt with.
    bool handleNone(const Item& it, const std::vector<Item>& all, const DesiredRecord& noneRecord) {
        if (!isNone(it.raw)) {
            return false;
        }
        if (it.mode != Mode::Set) {
            if (it.raw == "none") {
                fail(it, "'none' only goes with '=' (it deletes everything in the key's scope)");
            }
            return true; // `ip4 += ` adds nothing
        }
        const auto sameKey = std::count_if(all.begin(), all.end(),
                                           [&](const Item& o) { return o.key == it.key; });
        if (sameKey > 1) {
            fail(it, "'" + it.raw + "' cannot be combined with other values");
        }
        plan_.records.push_back(noneRecord);
        return true;
    }

    void certs() {
        const config::Value* v = section_.find("cert");
        if (v == nullptr) {
            return;
        }
        const auto all = config_.named(config::SectionType::Cert);
        for (const auto& item : items(v->value)) {
            if (item.empty() || item == "none") {
                continue;
            }
            std::vector<std::string> names;
            if (item == "auto") {
                for (const auto* c : all) {
                    names.push_back(c->name);
                }
            } else if (config_.find(config::SectionType::Cert, item) != nullptr) {
                names.push_back(item);
            } else {
                log::warn(v->where.toString() + ": section cert:" + shownValue(v->key, item) +
                          " referenced in domain:" + section_.name + " does not exist, ignoring");
            }
            for (auto& n : names) {
                if (std::find(plan_.certs.begin(), plan_.certs.end(), n) == plan_.certs.end()) {
                    plan_.certs.push_back(n);
                }
            }
        }
    }

    void addresses(std::string_view key, Type type, const std::string& label) {
        const auto list = interpret(section_, key);
        for (const auto& it : list) {
            Scope scope{domain_, type, {}, {}, {}};
            if (handleNone(it, list, make(domain_, type, label, Op::None, it.where, scope))) {
                continue;
            }
            requireFields(it, label.c_str(), {{"content", "address"}});
            const std::string content = it.fields.at("content");
            DesiredRecord r = make(domain_, type, label, opFor(it.mode), it.where, scope);
            if (content == "auto") {
                if (it.mode == Mode::Remove) {
                    fail(it, "'auto' cannot be removed; name the address");
                }
                r.placeholder = std::string(key);
            } else {
                r.data = canonical(type, content, it);
            }
            plan_.records.push_back(std::move(r));
        }
    }

    void mx() {
        const auto list = interpret(section_, "mx");
        for (const auto& it : list) {
            Scope scope{domain_, Type::MX, {}, {}, {}};
            if (it.scope.count("prio")) {
                scope.fields["preference"] = it.scope.at("prio");
            }
            if (handleNone(it, list, make(domain_, Type::MX, "MX", Op::None, it.where, scope))) {
                continue;
            }
            requireFields(it, "MX", {{"content", "mail server"}, {"prio", "preference"}});
            const std::string host = it.fields.at("content");
            const std::string prio = it.fields.at("prio");
            DesiredRecord r = make(domain_, Type::MX, "MX", opFor(it.mode), it.where, scope);
            r.data = canonical(Type::MX, prio + " " + absolute(host, it), it);
            plan_.records.push_back(std::move(r));
        }
    }

    void srv() {
        const auto list = interpret(section_, "srv");
        for (const auto& it : list) {
            const auto field = [&](const Fields& f, const char* name) {
                return f.count(name) ? f.at(name) : std::string();
            };
            Scope scope;
            scope.type = Type::SRV;
            const std::string svc = field(it.scope, "service");
            const std::string proto = field(it.scope, "proto");
            scope.name = (svc.empty() ? std::string("*") : underscored(svc)) + "." +
                         (proto.empty() ? std::string("*") : underscored(proto)) + "." + domain_;
            for (const auto& [from, to] : {std::pair{"port", "port"}, {"weight", "weight"},
                                           {"prio", "priority"}}) {
                if (!field(it.scope, from).empty()) {
                    scope.fields[to] = field(it.scope, from);
                }
            }
            if (handleNone(it, list, make(scope.name, Type::SRV, "SRV", Op::None, it.where, scope))) {
                continue;
            }
            requireFields(it, "SRV", {{"server", "target"}, {"service", "service"}, {"proto", "protocol"},
                                      {"port", "port"}, {"weight", "weight"}, {"prio", "priority"}});
            const std::string target = field(it.fields, "server");
            const std::string ownerName =
                underscored(field(it.fields, "service")) + "." + underscored(field(it.fields, "proto")) +
                "." + domain_;
            DesiredRecord r = make(absolute(ownerName, it), Type::SRV, "SRV", opFor(it.mode),
                                   it.where, it.mode == Mode::Remove ? Scope{} : scope);
            r.data = canonical(Type::SRV,
                               field(it.fields, "prio") + " " + field(it.fields, "weight") + " " +
                                   field(it.fields, "port") + " " + absolute(target, it),
                               it);
            plan_.records.push_back(std::move(r));
        }
    }

    // The CA a cert section will use, as CAA names it; "" when cdm-cert must find it out.
    std::string caIdentity(const config::Section& cert) const {
        // RFC 8657 pins need the ACME account's URL, which only cdm-cert knows.
        if (const std::string pin = cert.get("caapin"); !pin.empty() && pin != "none") {
            return "";
        }
        const std::string handler = cert.get("handler");
        const std::string ca = cert.get("ca");
        const auto slash = handler.find('/');
        if (slash != std::string::npos && handler.substr(slash + 1) != "letsencrypt") {
            return "";
        }
        if (ca.empty() || ca.find("letsencrypt.org") != std::string::npos) {
            return "letsencrypt.org";
        }
        return "";
    }

    void caa() {
        const auto list = interpret(section_, "caa");
        for (const auto& it : list) {
            Scope scope{domain_, Type::CAA, {}, {}, {}};
            // The original's key form `caa.X.Y` fixes the value X and the tag Y.
            if (it.scope.count("url")) {
                scope.fields["value"] = it.scope.at("url");
            }
            if (it.scope.count("tag")) {
                scope.fields["tag"] = it.scope.at("tag");
            }
            if (handleNone(it, list, make(domain_, Type::CAA, "CAA", Op::None, it.where, scope))) {
                continue;
            }
            const auto field = [&](const char* name) {
                return it.fields.count(name) ? it.fields.at(name) : std::string();
            };
            if (field("flag") == "auto") {
                caaAuto(it, scope);
                continue;
            }
            if (field("tag").empty() || field("url").empty()) {
                fail(it, "CAA needs 'flags tag value', found " + quoted(it.raw));
            }
            DesiredRecord r = make(domain_, Type::CAA, "CAA", opFor(it.mode), it.where, scope);
            r.data = canonical(Type::CAA, field("flag") + " " + field("tag") + " \"" + field("url") + "\"", it);
            plan_.records.push_back(std::move(r));
        }
    }

    void caaAuto(const Item& it, const Scope& scope) {
        if (plan_.certs.empty()) {
            log::warn(it.where.toString() + ": caa = auto in domain:" + section_.name +
                      " has no 'cert =' to take the CA from, ignoring");
            return;
        }
        for (const auto& certName : plan_.certs) {
            const config::Section* cert = config_.find(config::SectionType::Cert, certName);
            DesiredRecord r = make(domain_, Type::CAA, "CAA", opFor(it.mode), it.where, scope);
            const std::string identity = cert != nullptr ? caIdentity(*cert) : "";
            if (identity.empty()) {
                r.placeholder = "caa:" + certName; // cdm-cert reads meta.caaIdentities
            } else {
                r.data = canonical(Type::CAA, "0 issue \"" + identity + "\"", it);
            }
            plan_.records.push_back(std::move(r));
        }
    }

    static bool isModifier(std::string_view token) {
        const auto eq = token.find('=');
        const auto colon = token.find(':');
        return eq != std::string_view::npos && (colon == std::string_view::npos || eq < colon);
    }

    static std::string qualified(std::string_view token) {
        if (isModifier(token) || std::string_view("+-~?").find(token.front()) != std::string_view::npos) {
            return std::string(token);
        }
        return "+" + std::string(token); // the original wrote the default qualifier out
    }

    static std::string mechanism(std::string_view token) {
        if (!isModifier(token) && std::string_view("+-~?").find(token.front()) != std::string_view::npos) {
            token.remove_prefix(1);
        }
        std::string out(token);
        std::transform(out.begin(), out.end(), out.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        return out;
    }

    void checkSpfToken(const config::Value& v, const std::string& token) const {
        if (isModifier(token)) {
            return;
        }
        const std::string mech = mechanism(token);
        const std::string word = mech.substr(0, mech.find_first_of(":/"));
        static const std::set<std::string> known = {"all", "include", "a", "mx", "ptr",
                                                    "ip4", "ip6", "exists"};
        if (known.count(word) == 0) {
            // The original's example.conf has `aaaa`, which receivers treat as a permerror.
            fail(v, "SPF term " + quoted(token) + " is not a mechanism or modifier of RFC 7208" +
                        (word == "aaaa" ? " ('a' already matches AAAA records)" : ""));
        }
        if (word == "ip4" || word == "ip6") {
            const auto colon = mech.find(':');
            if (colon == std::string::npos) {
                fail(v, "SPF term " + quoted(token) + " needs an address");
            }
            std::string addr = mech.substr(colon + 1);
            addr = addr.substr(0, addr.find('/'));
            try {
                record::canonical(word == "ip4" ? Type::A : Type::AAAA, addr);
            } catch (const Error& e) {
                fail(v, "SPF term " + quoted(token) + ": " + e.message());
            }
        }
    }

    static std::string spfText(const std::vector<std::string>& tokens) {
        std::string text = "v=spf1";
        std::string all;
        for (const auto& t : tokens) {
            if (mechanism(t) == "all") {
                all = t; // `all` ends the record: terms after it are never evaluated
                continue;
            }
            text += " " + t;
        }
        if (!all.empty()) {
            text += " " + all;
        }
        return text;
    }

    void spf() {
        const config::Value* first = nullptr;
        for (const auto& v : section_.values) {
            if (belongsTo(v.key, "spf")) {
                first = &v;
                break;
            }
        }
        if (first == nullptr) {
            return;
        }
        const SpfSets sets = interpretSpf(section_);
        std::vector<std::string> add;
        for (const auto& t : sets.add) {
            if (mechanism(t) == "v=spf1" || t == "none") {
                continue; // `spf = none` deletes, as `none` does for every key
            }
            checkSpfToken(*first, t);
            // A later term for the same mechanism replaces the earlier one's qualifier.
            const auto same = std::find_if(add.begin(), add.end(),
                                           [&](const std::string& o) { return mechanism(o) == mechanism(t); });
            if (same != add.end()) {
                *same = qualified(t);
            } else {
                add.push_back(qualified(t));
            }
        }
        std::vector<std::string> remove;
        bool replace = false;
        for (const auto& t : sets.del) {
            if (t == "*") {
                replace = true;
            } else {
                remove.push_back(t);
            }
        }
        const auto removed = [&](const std::string& token) {
            return std::any_of(remove.begin(), remove.end(), [&](const std::string& r) {
                // A term written with a qualifier removes exactly that; without, any qualifier.
                return std::string_view("+-~?").find(r.front()) != std::string_view::npos && !isModifier(r)
                           ? r == token
                           : mechanism(r) == mechanism(token);
            });
        };
        std::vector<std::string> tokens;
        for (const auto& t : add) {
            if (!removed(t)) {
                tokens.push_back(t);
            }
        }
        Scope scope{domain_, Type::TXT, {}, "v=spf1", {}};
        if (replace) {
            if (tokens.empty()) {
                plan_.records.push_back(make(domain_, Type::TXT, "SPF", Op::None, first->where, scope));
                return;
            }
            DesiredRecord r = make(domain_, Type::TXT, "SPF", Op::Replace, first->where, scope);
            r.data = record::txtFromText(spfText(tokens));
            plan_.records.push_back(std::move(r));
            return;
        }
        DesiredRecord r = make(domain_, Type::TXT, "SPF", Op::Merge, first->where, scope);
        json::array addJson;
        json::array removeJson;
        for (const auto& t : tokens) {
            addJson.emplace_back(t);
        }
        for (const auto& t : remove) {
            removeJson.emplace_back(t);
        }
        r.merge = {{"spf", json::object{{"add", addJson}, {"remove", removeJson}}}};
        if (!tokens.empty()) {
            r.data = record::txtFromText(spfText(tokens));
        }
        plan_.records.push_back(std::move(r));
    }

    void checkDmarcTag(const config::Value& v, const std::string& tag, const std::string& value) const {
        if (tag.empty() || !std::all_of(tag.begin(), tag.end(), [](unsigned char c) { return std::isalnum(c); })) {
            fail(v, "DMARC tag " + quoted(tag) + " is not a tag name (dmarc.TAG = VALUE; no += or -=)");
        }
        // RFC 7489 §6.3 and DMARCbis; receivers ignore other tags, so they are only warned about.
        static const std::set<std::string> known = {"v", "p", "sp", "np", "adkim", "aspf", "pct",
                                                    "fo", "rf", "ri", "rua", "ruf", "psd", "t"};
        if (known.count(tag) == 0) {
            log::warn(v.where.toString() + ": DMARC tag '" + tag + "' is not one of RFC 7489 or DMARCbis");
        }
        static const std::set<std::string> policies = {"none", "quarantine", "reject"};
        if ((tag == "p" || tag == "sp" || tag == "np") && policies.count(value) == 0) {
            fail(v, "DMARC " + tag + "=" + quoted(value) + " is not none, quarantine or reject");
        }
        if ((tag == "adkim" || tag == "aspf") && value != "r" && value != "s") {
            fail(v, "DMARC " + tag + "=" + quoted(value) + " is not r (relaxed) or s (strict)");
        }
        if (tag == "pct" && !isNumber(value, 100)) {
            fail(v, "DMARC pct=" + quoted(value) + " is not a number from 0 to 100");
        }
        if (tag == "v" && value != "DMARC1") {
            fail(v, "DMARC v=" + quoted(value) + " is not DMARC1");
        }
        if (value.find(';') != std::string::npos) {
            fail(v, "a DMARC tag value cannot contain ';'");
        }
    }

    // The `WORD` and `WORD.FIELD` keys of the section (dmarc, soa, mtasts, tlsrpt): the
    // first of them, for locations; whether a bare `WORD` key is there; the fields in order.
    // A bare key must be empty or `none` unless `bareIgnored` (the original ignored `soa =`).
    struct DictKeys {
        const config::Value* first = nullptr;
        bool bare = false;
        std::vector<std::pair<std::string, const config::Value*>> fields;
    };
    DictKeys dictKeys(std::string_view word, std::string_view bareHint, bool bareIgnored = false) const {
        DictKeys out;
        for (const auto& v : section_.values) {
            const auto pieces = splitOn(v.key, '.');
            if (pieces[0] != word) {
                continue;
            }
            if (pieces.size() == 1) {
                if (bareIgnored) {
                    continue;
                }
                if (!isNone(v.value)) {
                    fail(v, "a bare '" + std::string(word) + "' key takes no value (" +
                                std::string(bareHint) + ")");
                }
                out.bare = true;
            } else {
                out.fields.emplace_back(v.key.substr(word.size() + 1), &v);
            }
            if (out.first == nullptr) {
                out.first = &v;
            }
        }
        return out;
    }

    void dmarc() {
        const DictKeys keys = dictKeys("dmarc", "set tags with dmarc.TAG = VALUE");
        if (keys.first == nullptr) {
            return;
        }
        std::vector<std::pair<std::string, std::string>> set;
        std::vector<std::string> remove;
        for (const auto& [tag, v] : keys.fields) {
            if (v->value.empty()) {
                remove.push_back(tag);
                continue;
            }
            checkDmarcTag(*v, tag, v->value);
            if (tag != "v") {
                set.emplace_back(tag, v->value);
            }
        }
        const std::string ownerName = "_dmarc." + domain_;
        Scope scope{ownerName, Type::TXT, {}, "v=DMARC1", {}};
        const Location& where = keys.first->where;
        if (keys.bare && set.empty()) {
            plan_.records.push_back(make(ownerName, Type::TXT, "DMARC", Op::None, where, scope));
            return;
        }
        // v first and p second (RFC 7489 §6.4), the rest as written, with no spaces as the
        // original wrote it.
        std::string p = "none";
        for (const auto& [tag, value] : set) {
            if (tag == "p") {
                p = value;
            }
        }
        std::string text = "v=DMARC1;p=" + p;
        for (const auto& [tag, value] : set) {
            if (tag != "p") {
                text += ";" + tag + "=" + value;
            }
        }
        DesiredRecord r =
            make(ownerName, Type::TXT, "DMARC", keys.bare ? Op::Replace : Op::Merge, where, scope);
        r.data = record::txtFromText(text);
        if (!keys.bare) {
            json::object tags;
            for (const auto& [tag, value] : set) {
                tags[tag] = value;
            }
            json::array drop;
            for (const auto& t : remove) {
                drop.emplace_back(t);
            }
            r.merge = {{"dmarc", json::object{{"set", tags}, {"remove", drop}}}};
        }
        plan_.records.push_back(std::move(r));
    }

    void singleTxt(const char* key, const std::string& ownerName, const std::string& label,
                   const std::function<std::string(const config::Value&)>& text) {
        const config::Value* v = section_.find(key);
        if (v == nullptr) {
            return;
        }
        Scope scope{ownerName, Type::TXT, {}, {}, {}};
        if (isNone(v->value)) {
            plan_.records.push_back(make(ownerName, Type::TXT, label, Op::None, v->where, scope));
            return;
        }
        DesiredRecord r = make(ownerName, Type::TXT, label, Op::Replace, v->where, scope);
        r.data = record::txtFromText(text(*v));
        plan_.records.push_back(std::move(r));
    }

    void adsp() {
        singleTxt("adsp", "_adsp._domainkey." + domain_, "ADSP", [this](const config::Value& v) {
            if (v.value != "all" && v.value != "unknown" && v.value != "discardable") {
                fail(v, "ADSP policy " + quoted(v.value) + " is not unknown, all or discardable");
            }
            return "dkim=" + v.value;
        });
    }

    void acme() {
        singleTxt("acme", "_acme-challenge." + domain_, "ACME",
                  [](const config::Value& v) { return v.value; });
    }

    void soa() {
        static const std::map<std::string, std::string> fieldOf = {
            {"primns", "mname"}, {"hostmaster", "rname"}, {"serial", "serial"},
            {"refresh", "refresh"}, {"retry", "retry"}, {"expire", "expire"}, {"ncttl", "minimum"}};
        const DictKeys keys = dictKeys("soa", "", true);
        if (keys.first == nullptr) {
            return;
        }
        json::object fields;
        for (const auto& [field, v] : keys.fields) {
            const auto it = fieldOf.find(field);
            if (it == fieldOf.end()) {
                fail(*v, "unknown SOA field " + quoted(field) +
                             " (primns, hostmaster, serial, refresh, retry, expire, ncttl)");
            }
            if (field == "primns") {
                fields[it->second] = absolute(v->value, *v);
            } else if (field == "hostmaster") {
                fields[it->second] = hostmaster(*v);
            } else if (!isNumber(v->value, 4294967295UL)) {
                fail(*v, "SOA " + field + " " + quoted(v->value) + " is not a number from 0 to 4294967295");
            } else {
                fields[it->second] = std::stoul(v->value);
            }
        }
        DesiredRecord r = make(domain_, Type::SOA, "SOA", Op::Merge, keys.first->where, {});
        r.merge = {{"soa", fields}};
        plan_.records.push_back(std::move(r));
    }

    // An e-mail address as SOA RNAME: `user.name@dom.test` -> `user\.name.dom.test.`.
    std::string hostmaster(const config::Value& v) const {
        const auto at = v.value.rfind('@');
        if (at == std::string::npos) {
            return absolute(v.value, v);
        }
        std::string local;
        for (char c : v.value.substr(0, at)) {
            if (c == '.' || c == '\\') {
                local += '\\';
            }
            local += c;
        }
        return absolute(local + "." + v.value.substr(at + 1), v);
    }

    // Comma-separated items where a double-quoted item may hold commas.
    static std::vector<std::string> quotedItems(std::string_view value) {
        std::vector<std::string> out;
        std::string current;
        bool inQuote = false;
        for (std::size_t i = 0; i < value.size(); ++i) {
            const char c = value[i];
            if (c == '\\' && inQuote && i + 1 < value.size()) {
                current += c;
                current += value[++i];
                continue;
            }
            if (c == '"') {
                inQuote = !inQuote;
            }
            if (c == ',' && !inQuote) {
                out.emplace_back(strip(current));
                current.clear();
                continue;
            }
            current += c;
        }
        out.emplace_back(strip(current));
        return out;
    }

    // `txt` and `cname`: the key is `txt`, `txt.SUB` (owner SUB.NAME), with `+`/`-`.
    void txtLike(std::string_view word, Type type, const std::string& label) {
        for (const auto& v : section_.values) {
            if (!belongsTo(v.key, word)) {
                continue;
            }
            std::string_view rest = std::string_view(v.key).substr(word.size());
            Mode mode = Mode::Set;
            rest = strip(rest);
            if (!rest.empty() && (rest.back() == '+' || rest.back() == '-')) {
                mode = rest.back() == '+' ? Mode::Add : Mode::Remove;
                rest = strip(rest.substr(0, rest.size() - 1));
            }
            if (!rest.empty() && rest.front() != '.') {
                continue; // another key that merely starts with the word
            }
            const std::string ownerName =
                rest.empty() ? domain_ : absolute(std::string(rest.substr(1)) + "." + domain_, v);
            Scope scope{ownerName, type, {}, {}, type == Type::TXT ? ownedTxtPrefixes : std::vector<std::string>{}};
            const auto list = quotedItems(v.value);
            for (const auto& item : list) {
                if (isNone(item)) {
                    if (mode == Mode::Set) {
                        if (list.size() > 1) {
                            fail(v, "'" + item + "' cannot be combined with other values");
                        }
                        plan_.records.push_back(make(ownerName, type, label, Op::None, v.where, scope));
                    } else if (item == "none") {
                        fail(v, "'none' only goes with '='");
                    }
                    continue;
                }
                DesiredRecord r = make(ownerName, type, label, opFor(mode), v.where, scope);
                if (type == Type::CNAME) {
                    if (list.size() > 1) {
                        fail(v, "a name has at most one CNAME");
                    }
                    r.data = canonical(type, absolute(item, v), v);
                } else {
                    r.data = item.front() == '"' ? canonical(type, item, v) : record::txtFromText(item);
                }
                plan_.records.push_back(std::move(r));
            }
        }
    }

    void mtasts() {
        const DictKeys keys = dictKeys("mtasts", "use mtasts.mode, mtasts.mx, mtasts.max_age");
        if (keys.first == nullptr) {
            return;
        }
        std::string mode = "testing";
        std::vector<std::string> mx;
        unsigned long maxAge = 604800;
        std::string policyFile;
        for (const auto& [field, v] : keys.fields) {
            if (field == "mode") {
                if (v->value != "enforce" && v->value != "testing" && v->value != "none") {
                    fail(*v, "MTA-STS mode " + quoted(v->value) + " is not enforce, testing or none");
                }
                mode = v->value;
            } else if (field == "mx") {
                for (const auto& host : items(v->value)) {
                    const bool wild = host.rfind("*.", 0) == 0;
                    std::string checked = absolute(wild ? host.substr(2) : host, *v);
                    checked.pop_back();
                    mx.push_back(wild ? "*." + checked : checked);
                }
            } else if (field == "max_age") {
                if (!isNumber(v->value, 31557600UL)) {
                    fail(*v, "MTA-STS max_age " + quoted(v->value) +
                                 " is not a number of seconds up to 31557600 (RFC 8461)");
                }
                maxAge = std::stoul(v->value);
            } else if (field == "policyfile") {
                policyFile = v->value;
            } else {
                fail(*v, "unknown MTA-STS key " + quoted(v->key) +
                             " (mtasts.mode, mtasts.mx, mtasts.max_age, mtasts.policyfile)");
            }
        }
        const std::string ownerName = "_mta-sts." + domain_;
        Scope scope{ownerName, Type::TXT, {}, "v=STSv1", {}};
        const Location& where = keys.first->where;
        if (keys.fields.empty()) {
            plan_.records.push_back(make(ownerName, Type::TXT, "MTA-STS", Op::None, where, scope));
            return;
        }
        if (mx.empty()) {
            for (const auto& r : plan_.records) {
                if (r.type == Type::MX && r.data && r.op != Op::Remove) {
                    std::string host = r.data->substr(r.data->find(' ') + 1);
                    host.pop_back();
                    mx.push_back(host);
                }
            }
        }
        if (mx.empty()) {
            fail(*keys.first, "MTA-STS needs mtasts.mx (or mx records in this section)");
        }
        const std::string policy = mtaStsPolicy(mode, mx, maxAge);
        DesiredRecord r = make(ownerName, Type::TXT, "MTA-STS", Op::Replace, where, scope);
        r.data = record::txtFromText("v=STSv1; id=" + mtaStsId(policy));
        plan_.records.push_back(std::move(r));
        json::object file{{"kind", "mta-sts-policy"},
                          {"domain", domain_},
                          {"url", "https://mta-sts." + domain_.substr(0, domain_.size() - 1) +
                                      "/.well-known/mta-sts.txt"},
                          {"mode", "0644"},
                          {"content", policy},
                          {"source", where.toString()}};
        file["path"] = policyFile.empty() ? json::value(nullptr) : json::value(policyFile);
        plan_.files.push_back(std::move(file));
    }

    void tlsrpt() {
        const DictKeys keys = dictKeys("tlsrpt", "use tlsrpt.rua");
        if (keys.first == nullptr) {
            return;
        }
        std::vector<std::string> rua;
        for (const auto& [field, v] : keys.fields) {
            if (field != "rua") {
                fail(*v, "unknown TLSRPT key " + quoted(v->key) + " (tlsrpt.rua)");
            }
            for (const auto& uri : items(v->value)) {
                if (uri.rfind("mailto:", 0) != 0 && uri.rfind("https:", 0) != 0) {
                    fail(*v, "TLSRPT rua " + quoted(uri) + " is not a mailto: or https: URI (RFC 8460)");
                }
                rua.push_back(uri);
            }
        }
        const std::string ownerName = "_smtp._tls." + domain_;
        Scope scope{ownerName, Type::TXT, {}, "v=TLSRPTv1", {}};
        const Location& where = keys.first->where;
        if (rua.empty()) {
            plan_.records.push_back(make(ownerName, Type::TXT, "TLSRPT", Op::None, where, scope));
            return;
        }
        std::string text = "v=TLSRPTv1; rua=";
        for (std::size_t i = 0; i < rua.size(); ++i) {
            text += (i ? "," : "") + rua[i];
        }
        DesiredRecord r = make(ownerName, Type::TXT, "TLSRPT", Op::Replace, where, scope);
        r.data = record::txtFromText(text);
        plan_.records.push_back(std::move(r));
    }

    void tlsa() {
        const auto list = interpret(section_, "tlsa");
        if (!list.empty() && plan_.certs.empty()) {
            log::warn(list.front().where.toString() + ": tlsa in domain:" + section_.name +
                      " without 'cert =', ignoring");
            return;
        }
        for (const auto& it : list) {
            const auto field = [&](const Fields& f, const char* name) {
                return f.count(name) ? f.at(name) : std::string();
            };
            if (isNone(it.raw) && it.mode != Mode::Set) {
                if (!it.raw.empty()) {
                    fail(it, "'none' only goes with '=' (it deletes everything in the key's scope)");
                }
                continue;
            }
            TlsaSpec spec;
            spec.mode = it.mode;
            spec.source = it.where.toString();
            spec.op = isNone(it.raw) ? "none" : field(it.fields, "op");
            spec.proto = field(it.fields, "proto").empty() ? "tcp" : field(it.fields, "proto");
            spec.port = field(it.fields, "port");
            const auto number = [&](const char* name, int fallback, int max, const char* what) {
                const std::string text = field(it.fields, name);
                if (text.empty()) {
                    return fallback;
                }
                if (!isNumber(text, static_cast<unsigned long>(max))) {
                    fail(it, std::string("TLSA ") + what + " " + quoted(text) + " is not one of 0 to " +
                                 std::to_string(max));
                }
                return std::stoi(text);
            };
            spec.usage = number("usage", 3, 3, "usage");
            spec.selector = number("selector", 1, 1, "selector");
            spec.matching = number("matchingtype", 1, 2, "matching type");
            if (!spec.port.empty() && !isNumber(spec.port, 65535, 1)) {
                fail(it, "TLSA port " + quoted(spec.port) + " is not a number from 1 to 65535");
            }
            spec.owner = absolute((spec.port.empty() ? std::string("*") : "_" + spec.port) + "." +
                                      underscored(spec.proto) + "." + domain_,
                                  it);
            Scope& scope = spec.scope;
            scope.type = Type::TLSA;
            if (it.mode == Mode::Set) {
                const std::string proto = field(it.scope, "proto");
                const std::string port = field(it.scope, "port");
                scope.name = (port.empty() ? std::string("*") : "_" + port) + "." +
                             (proto.empty() ? std::string("*") : underscored(proto)) + "." + domain_;
                for (const auto& [from, to] : {std::pair{"usage", "usage"}, {"selector", "selector"},
                                               {"matchingtype", "matching"}}) {
                    if (!field(it.scope, from).empty()) {
                        scope.fields[to] = field(it.scope, from);
                    }
                }
            } else {
                scope.name = spec.owner;
                scope.fields = {{"usage", std::to_string(spec.usage)},
                                {"selector", std::to_string(spec.selector)},
                                {"matching", std::to_string(spec.matching)}};
            }
            if (spec.op != "auto" && spec.op != "none") {
                log::warn(it.where.toString() + ": TLSA op '" + shownValue(it.key, spec.op) + "'" +
                          " is not 'auto', nothing is published for it");
            }
            plan_.tlsa.push_back(std::move(spec));
        }
    }

    void dkim() {
        const auto list = interpret(section_, "dkim");
        for (const auto& it : list) {
            DkimSpec spec;
            spec.mode = it.mode;
            spec.source = it.where.toString();
            spec.op = it.fields.count("op") && !it.fields.at("op").empty() ? it.fields.at("op") : "none";
            if (spec.op == "none" && it.mode != Mode::Set) {
                if (!it.raw.empty()) {
                    fail(it, "'none' only goes with '=' (it withdraws the key's records)");
                }
                continue;
            }
            spec.key = it.fields.count("content") ? it.fields.at("content") : "";
            if (spec.key.empty() && spec.op != "none") {
                fail(it, "which key? write 'auto:NAME' for a [dkim:NAME] section");
            }
            if (!spec.key.empty() && config_.find(config::SectionType::Dkim, spec.key) == nullptr) {
                log::warn(it.where.toString() + ": section dkim:" + shownValue(it.key, spec.key) +
                          " referenced in domain:" + section_.name + " does not exist, ignoring");
                continue;
            }
            if (spec.op != "auto" && spec.op != "none") {
                log::warn(it.where.toString() + ": DKIM op '" + shownValue(it.key, spec.op) + "'" +
                          " is not 'auto', nothing is published for it");
            }
            spec.scope = Scope{"*._domainkey." + domain_, Type::TXT, {}, "v=DKIM1", {}};
            plan_.dkim.push_back(std::move(spec));
        }
    }

    // The original ignored keys it did not know; a typo such as `ipv4` then did nothing.
    // Keys are checked only where they were written, so [domain] and [DEFAULT] keys that
    // other section types use are not reported once per domain.
    void warnUnknownKeys() const {
        static const std::set<std::string> byPrefix = {"ip4", "ip6", "mx", "srv", "caa",
                                                       "dkim", "tlsa", "spf"};
        static const std::set<std::string> byWord = {"dmarc", "soa", "mtasts", "tlsrpt",
                                                     "txt", "cname"};
        // Keys without a grammar take no suffix: `acme += x` would do nothing.
        static const std::set<std::string> exact = {"adsp", "acme", "cert", "ttl", "ip4detect", "ip6detect",
                                                   "iptimeout"};
        // Access keys of the DNS providers (cdm-dns-apply(1)), and the original's.
        static const std::set<std::string> access = {
            "handler", "user", "passwd", "password", "keyfile", "server", "port", "zone",
            "apikey", "api_key", "api_url", "url", "server_id", "zonefile", "reload", "serial",
            "algorithm", "cabundle", "resolver", "trust_anchor", "key", "axfr", "timeout",
            "tsig_secret", "tfa_secret", "origin"};
        // A secret may come from a file: passwd_file, apikey_file, tsig_secret_file ...
        const auto fileOfSecret = [&](const std::string& key) {
            constexpr std::string_view suffix = "_file";
            if (key.size() <= suffix.size() || key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) {
                return false;
            }
            const std::string stem = key.substr(0, key.size() - suffix.size());
            return access.count(stem) != 0 || log::isSecretKey(stem);
        };
        const std::string own = "[domain:" + section_.name + "]";
        for (const auto& v : section_.values) {
            if (v.origin != own) {
                continue;
            }
            const std::string word = v.key.substr(0, v.key.find_first_of(".+- "));
            bool known = access.count(v.key) != 0 || fileOfSecret(v.key) || exact.count(v.key) != 0 ||
                         (byWord.count(word) != 0 && exact.count(word) == 0);
            for (const auto& p : byPrefix) {
                known = known || belongsTo(v.key, p);
            }
            if (!known) {
                log::warn(v.where.toString() + ": key '" + v.key + "' of " + own +
                          " is not one cdm knows, ignoring");
            }
        }
    }

    const config::Section& section_;
    const config::Config& config_;
    std::string domain_;
    std::uint32_t ttl_ = 600;
    DomainPlan plan_;
};

} // namespace

DomainPlan plan(const config::Section& section, const config::Config& config) {
    return Planner(section, config).run();
}

std::string mtaStsPolicy(std::string_view mode, const std::vector<std::string>& mx,
                         unsigned long maxAge) {
    // RFC 8461 §3.2; fields end in CRLF, the form of the RFC's own examples.
    std::string text = "version: STSv1\r\nmode: " + std::string(mode) + "\r\n";
    for (const auto& host : mx) {
        text += "mx: " + host + "\r\n";
    }
    text += "max_age: " + std::to_string(maxAge) + "\r\n";
    return text;
}

std::string mtaStsId(std::string_view policy) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int len = 0;
    if (EVP_Digest(policy.data(), policy.size(), digest.data(), &len, EVP_sha256(), nullptr) != 1) {
        throw Error(Exit::Software, "SHA-256 failed");
    }
    std::string hex;
    for (unsigned i = 0; i < 16 && i < len; ++i) {
        std::array<char, 3> b{};
        std::snprintf(b.data(), b.size(), "%02x", digest[i]);
        hex += b.data();
    }
    return hex; // 32 characters: the most RFC 8461's id allows
}

} // namespace cdm::domain
