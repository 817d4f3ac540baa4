#include "libcommon/dnsplan.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <sstream>

#include "libcommon/name.hpp"

namespace cdm::dnsplan {

namespace json = boost::json;
using document::DesiredRecord;
using document::Op;
using provider::RRsetKey;
using record::Record;
using record::Type;

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string withoutDot(std::string_view n) {
    if (n.size() > 1 && n.back() == '.') {
        n.remove_suffix(1);
    }
    return std::string(n);
}

std::vector<std::string> words(std::string_view text) {
    std::vector<std::string> out;
    std::istringstream in{std::string(text)};
    for (std::string w; in >> w;) {
        out.push_back(w);
    }
    return out;
}

RRsetKey keyOf(const Record& rr) { return RRsetKey{rr.name, rr.type}; }

bool holds(const std::vector<Record>& set, const Record& rr) {
    return std::any_of(set.begin(), set.end(), [&](const Record& r) { return r.sameRecord(rr); });
}


// A string equal for two records exactly when Record::sameRecord says they are the same, for
// sets: names are lower-case already, TXT compares by its text, CAA tags without case.
std::string identity(const Record& rr) {
    std::string data = rr.data;
    try {
        if (rr.type == Type::TXT) {
            data = record::txtText(rr.data);
        } else if (rr.type == Type::CAA) {
            const auto w = words(rr.data);
            if (w.size() >= 2) {
                data = w[0] + " " + lower(w[1]) + rr.data.substr(rr.data.find(w[1]) + w[1].size());
            }
        }
    } catch (const Error&) {
    }
    return lower(rr.name) + '\t' + std::to_string(static_cast<unsigned>(rr.type)) + '\t' + data;
}

std::string where(const DesiredRecord& d) { return d.source.empty() ? std::string() : " (" + d.source + ")"; }

// --- merges: SPF terms, DMARC tags, SOA fields ---

std::string spfMechanism(const std::string& term) {
    std::string t = term;
    if (!t.empty() && std::string("+-~?").find(t.front()) != std::string::npos) {
        t.erase(0, 1);
    }
    return lower(t.substr(0, t.find_first_of(":/=")));
}

// The SPF text with `add` terms taking the place of terms of the same mechanism-and-argument
// (a qualifier change) or appended before `all`/redirect, and `remove` terms dropped.
std::string mergeSpf(const std::string& current, const json::object& spec) {
    std::vector<std::string> terms = words(current);
    if (terms.empty() || lower(terms.front()) != "v=spf1") {
        terms.insert(terms.begin(), "v=spf1");
    }
    const auto bare = [](const std::string& t) {
        return (!t.empty() && std::string("+-~?").find(t.front()) != std::string::npos) ? lower(t.substr(1)) : lower(t);
    };
    if (const auto* rm = spec.if_contains("remove"); rm && rm->is_array()) {
        for (const auto& v : rm->as_array()) {
            if (!v.is_string()) {
                continue;
            }
            const std::string r(v.as_string());
            const bool qualified = !r.empty() && std::string("+-~?").find(r.front()) != std::string::npos;
            terms.erase(std::remove_if(terms.begin() + 1, terms.end(),
                                       [&](const std::string& t) {
                                           return qualified ? lower(t) == lower(r) : bare(t) == bare(r);
                                       }),
                        terms.end());
        }
    }
    if (const auto* add = spec.if_contains("add"); add && add->is_array()) {
        for (const auto& v : add->as_array()) {
            if (!v.is_string()) {
                continue;
            }
            const std::string a(v.as_string());
            auto same = std::find_if(terms.begin() + 1, terms.end(), [&](const std::string& t) {
                return bare(t) == bare(a) || (spfMechanism(a) == "all" && spfMechanism(t) == "all");
            });
            if (same != terms.end()) {
                *same = a;
                continue;
            }
            // New terms go before `all` and modifiers, which end the evaluation.
            auto end = std::find_if(terms.begin() + 1, terms.end(), [](const std::string& t) {
                const std::string m = spfMechanism(t);
                return m == "all" || t.find('=') != std::string::npos;
            });
            if (spfMechanism(a) == "all" || a.find('=') != std::string::npos) {
                end = terms.end();
            }
            terms.insert(end, a);
        }
    }
    std::string out;
    for (const auto& t : terms) {
        out += (out.empty() ? "" : " ") + t;
    }
    return out;
}

std::string trim(std::string s) {
    const auto b = s.find_first_not_of(" \t");
    const auto e = s.find_last_not_of(" \t");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// DMARC tags in their order, `set` changing or appending, `remove` dropping; v=DMARC1 first
// and p second (RFC 7489 §6.4).
std::string mergeDmarc(const std::string& current, const json::object& spec) {
    std::vector<std::pair<std::string, std::string>> tags;
    std::istringstream in(current);
    for (std::string part; std::getline(in, part, ';');) {
        const auto eq = part.find('=');
        if (eq == std::string::npos) {
            continue;
        }
        tags.emplace_back(lower(trim(part.substr(0, eq))), trim(part.substr(eq + 1)));
    }
    const auto find = [&](const std::string& tag) {
        return std::find_if(tags.begin(), tags.end(), [&](const auto& t) { return t.first == tag; });
    };
    if (const auto* rm = spec.if_contains("remove"); rm && rm->is_array()) {
        for (const auto& v : rm->as_array()) {
            if (v.is_string()) {
                if (auto it = find(lower(std::string(v.as_string()))); it != tags.end()) {
                    tags.erase(it);
                }
            }
        }
    }
    if (const auto* set = spec.if_contains("set"); set && set->is_object()) {
        for (const auto& [k, v] : set->as_object()) {
            const std::string value = v.is_string() ? std::string(v.as_string()) : json::serialize(v);
            if (auto it = find(lower(std::string(k))); it != tags.end()) {
                it->second = value;
            } else {
                tags.emplace_back(lower(std::string(k)), value);
            }
        }
    }
    std::string p = "none";
    if (auto it = find("p"); it != tags.end()) {
        p = it->second;
    }
    std::string out = "v=DMARC1;p=" + p;
    for (const auto& [k, v] : tags) {
        if (k != "v" && k != "p") {
            out += ";" + k + "=" + v;
        }
    }
    return out;
}

std::string mergeSoa(const std::string& current, const json::object& spec, bool& changed) {
    static const std::vector<std::string> fields = {"mname", "rname", "serial", "refresh", "retry", "expire", "minimum"};
    std::vector<std::string> values = words(current);
    if (values.size() != fields.size()) {
        throw Error(Exit::DataErr, "the zone's SOA record '" + current + "' does not have seven fields");
    }
    changed = false;
    for (std::size_t i = 0; i < fields.size(); ++i) {
        const auto* v = spec.if_contains(fields[i]);
        if (v == nullptr) {
            continue;
        }
        std::string want = v->is_string() ? std::string(v->as_string()) : json::serialize(*v);
        if (i < 2) {
            want = name::normalize(want);
        }
        if (want != values[i]) {
            values[i] = want;
            changed = true;
        }
    }
    if (changed && spec.if_contains("serial") == nullptr) {
        // RFC 2136 §3.4.2.2: an SOA whose serial does not grow is ignored.
        values[2] = std::to_string(static_cast<std::uint32_t>(std::stoul(values[2]) + 1U));
    }
    std::string out;
    for (const auto& v : values) {
        out += (out.empty() ? "" : " ") + v;
    }
    return out;
}

} // namespace

std::string_view toString(Entry::Action action) {
    switch (action) {
    case Entry::Action::AddNew:
        return "add";
    case Entry::Action::AddExists:
        return "exists";
    case Entry::Action::Delete:
        return "delete";
    case Entry::Action::Update:
        return "update";
    case Entry::Action::Ttl:
        return "ttl";
    case Entry::Action::Skip:
        return "skip";
    }
    return "add";
}

std::vector<RRsetKey> wanted(const std::vector<DesiredRecord>& desired) {
    std::set<RRsetKey> keys;
    for (const auto& d : desired) {
        keys.insert(RRsetKey{name::normalize(d.name), d.type});
        if (!d.scope.name.empty() && d.scope.name.find('*') == std::string::npos) {
            keys.insert(RRsetKey{name::normalize(d.scope.name), d.scope.type});
        }
    }
    return {keys.begin(), keys.end()};
}

bool needsWholeZone(const std::vector<DesiredRecord>& desired) {
    return std::any_of(desired.begin(), desired.end(), [](const DesiredRecord& d) {
        return d.op != Op::Add && d.scope.name.find('*') != std::string::npos;
    });
}

Plan compute(const std::string& zone, const std::vector<DesiredRecord>& desired,
             const provider::ZoneContents& current) {
    Plan plan;
    plan.change.zone = name::normalize(zone);

    std::map<RRsetKey, std::vector<Record>> before;
    for (const auto& rr : current.records) {
        before[keyOf(rr)].push_back(rr);
    }
    std::map<Type, std::vector<const Record*>> byType;
    for (const auto& rr : current.records) {
        byType[rr.type].push_back(&rr);
    }
    // The zone's records in a scope. A scope without `*` labels is one RRset; one with them
    // is matched against the records of its type once and remembered, since many records of
    // a document share one scope (the TLSA records of a port, the DKIM selectors of a domain).
    std::map<std::string, std::vector<Record>> scopeCache;
    const auto currentIn = [&](const document::Scope& scope) -> const std::vector<Record>& {
        const std::string id = json::serialize(document::toJson(scope));
        const auto cached = scopeCache.find(id);
        if (cached != scopeCache.end()) {
            return cached->second;
        }
        std::vector<Record> out;
        if (scope.name.find('*') == std::string::npos) {
            const auto it = before.find(RRsetKey{name::normalize(scope.name), scope.type});
            if (it != before.end()) {
                std::copy_if(it->second.begin(), it->second.end(), std::back_inserter(out),
                             [&](const Record& rr) { return scope.contains(rr); });
            }
        } else {
            const auto labels = std::count(scope.name.begin(), scope.name.end(), '.');
            for (const Record* rr : byType[scope.type]) {
                // A cheap test first: a pattern matches names of as many labels only.
                if (std::count(rr->name.begin(), rr->name.end(), '.') == labels && scope.contains(*rr)) {
                    out.push_back(*rr);
                }
            }
        }
        return scopeCache.emplace(id, std::move(out)).first->second;
    };

    // What the document asks the zone to hold, and where each asked record came from.
    struct Asked {
        Record rr;
        const DesiredRecord* from;
        Entry::Action action;
    };
    std::vector<Asked> asked;
    std::map<RRsetKey, std::vector<Record>> askedSets;
    std::vector<std::pair<Record, const DesiredRecord*>> deletes;
    std::set<std::string> deleted; // identity() of each record in `deletes`
    const auto ask = [&](const Record& rr, const DesiredRecord& d, Entry::Action action) {
        if (holds(askedSets[keyOf(rr)], rr)) {
            return;
        }
        askedSets[keyOf(rr)].push_back(rr);
        asked.push_back({rr, &d, action});
    };
    // An unfilled placeholder (ip4 = auto whose detection failed) protects its scope: the
    // zone keeps what it has there.
    std::vector<document::Scope> protectedScopes;
    for (const auto& d : desired) {
        if (!d.placeholder.empty() && !d.data) {
            protectedScopes.push_back(d.scope.name.empty() ? document::Scope{name::normalize(d.name), d.type, {}, {}, {}}
                                                           : d.scope);
        }
    }
    const auto drop = [&](const Record& rr, const DesiredRecord* d) {
        if (std::any_of(protectedScopes.begin(), protectedScopes.end(),
                        [&](const document::Scope& s) { return s.contains(rr); })) {
            return;
        }
        if (deleted.insert(identity(rr)).second) {
            deletes.emplace_back(rr, d);
        }
    };

    for (const auto& d : desired) {
        if (!d.placeholder.empty() && !d.data) {
            Entry e{Entry::Action::Skip, Record{name::normalize(d.name), d.type, d.ttl, ""}, d.label, d.source,
                    "'auto' (" + d.placeholder + ") was not filled in; the zone's " +
                        std::string(record::toString(d.type)) + " records are left alone"};
            plan.warnings.push_back(d.name + " " + std::string(record::toString(d.type)) + ": " + e.note + where(d));
            plan.entries.push_back(std::move(e));
            continue;
        }
        if ((d.op == Op::Replace || d.op == Op::Add) && d.data) {
            ask(Record::make(d.name, d.type, d.ttl, *d.data), d, Entry::Action::AddNew);
        }
    }
    // Merges: combine with the one record the zone holds in the scope.
    for (const auto& d : desired) {
        if (d.op != Op::Merge) {
            continue;
        }
        document::Scope scope = d.scope;
        if (scope.name.empty()) {
            scope.name = name::normalize(d.name);
            scope.type = d.type;
        }
        const std::vector<Record> have = currentIn(scope);
        if (have.empty()) {
            if (d.data) {
                ask(Record::make(d.name, d.type, d.ttl, *d.data), d, Entry::Action::AddNew);
            } else {
                plan.entries.push_back({Entry::Action::Skip, Record{name::normalize(d.name), d.type, d.ttl, ""}, d.label,
                                        d.source, "nothing to merge into and nothing to create"});
            }
            continue;
        }
        if (have.size() > 1) {
            plan.warnings.push_back(d.name + ": the zone holds " + std::to_string(have.size()) + " " + d.label +
                                    " records; merging into the first, deleting the others" + where(d));
        }
        const Record& old = have.front();
        std::string data;
        bool changed = true;
        if (const auto* spf = d.merge.if_contains("spf"); spf && spf->is_object()) {
            const std::string merged = mergeSpf(record::txtText(old.data), spf->as_object());
            data = record::txtFromText(merged);
        } else if (const auto* dmarc = d.merge.if_contains("dmarc"); dmarc && dmarc->is_object()) {
            data = record::txtFromText(mergeDmarc(record::txtText(old.data), dmarc->as_object()));
        } else if (const auto* soa = d.merge.if_contains("soa"); soa && soa->is_object()) {
            if (d.type != Type::SOA) {
                throw Error(Exit::DataErr, "a SOA merge on a " + std::string(record::toString(d.type)) + " record" + where(d));
            }
            data = mergeSoa(old.data, soa->as_object(), changed);
        } else {
            throw Error(Exit::DataErr, "record " + d.name + " has op merge without spf, dmarc or soa" + where(d));
        }
        const Record merged = Record::make(old.name, old.type, d.type == Type::SOA ? old.ttl : d.ttl, data);
        if (!changed || merged.sameRecord(old)) {
            ask(old.ttl == merged.ttl ? old : merged, d, Entry::Action::AddExists);
        } else {
            ask(merged, d, Entry::Action::Update);
            drop(old, &d);
        }
        for (std::size_t i = 1; i < have.size(); ++i) {
            drop(have[i], &d);
        }
    }

    for (const auto& d : desired) {
        if (d.op == Op::Remove && d.data) {
            const Record rr = Record::make(d.name, d.type, d.ttl, *d.data);
            if (holds(askedSets[keyOf(rr)], rr)) {
                const auto other = std::find_if(asked.begin(), asked.end(), [&](const Asked& a) { return a.rr.sameRecord(rr); });
                throw Error(Exit::DataErr, "the document asks to add and to remove " + rr.toZoneLine() + where(d) +
                                               (other != asked.end() ? where(*other->from) : ""));
            }
            for (const auto& have : before[keyOf(rr)]) {
                if (have.sameRecord(rr)) {
                    drop(have, &d);
                }
            }
        } else if (d.op == Op::None || d.op == Op::Replace) {
            // `none` empties the scope, `replace` keeps in it only what some record asks for.
            document::Scope scope = d.scope;
            if (scope.name.empty()) {
                scope.name = name::normalize(d.name);
                scope.type = d.type;
            }
            for (const auto& have : currentIn(scope)) {
                if (!holds(askedSets[keyOf(have)], have)) {
                    drop(have, &d);
                }
            }
        }
    }

    // The RRsets as they will be: current minus deletions plus asked records, one TTL each
    // (an RRset has one TTL: the asked records' TTL wins over the one the zone has).
    std::map<RRsetKey, std::vector<Record>> after = before;
    for (const auto& deletion : deletes) {
        const Record& rr = deletion.first; // not a structured binding: clang 14 cannot capture one
        auto& set = after[keyOf(rr)];
        set.erase(std::remove_if(set.begin(), set.end(), [&](const Record& r) { return r.sameRecord(rr); }), set.end());
    }
    for (const auto& a : asked) {
        auto& set = after[keyOf(a.rr)];
        set.erase(std::remove_if(set.begin(), set.end(), [&](const Record& r) { return r.sameRecord(a.rr); }), set.end());
        set.push_back(a.rr);
    }
    for (auto& [key, set] : after) {
        const auto& want = askedSets[key];
        if (!want.empty()) {
            for (auto& rr : set) {
                rr.ttl = want.front().ttl;
            }
        }
    }

    for (const auto& a : asked) {
        Entry e{a.action, a.rr, a.from->label.empty() ? logLabel(a.rr) : a.from->label, a.from->source, {}};
        const auto& was = before[keyOf(a.rr)];
        const auto it = std::find_if(was.begin(), was.end(), [&](const Record& r) { return r.sameRecord(a.rr); });
        if (a.action == Entry::Action::AddNew && it != was.end()) {
            e.action = Entry::Action::AddExists;
        }
        const std::uint32_t ttl = after[keyOf(a.rr)].empty() ? a.rr.ttl : after[keyOf(a.rr)].front().ttl;
        e.rr.ttl = ttl;
        if (e.action == Entry::Action::AddExists && it != was.end() && it->ttl != ttl) {
            e.action = Entry::Action::Ttl;
            e.note = "TTL " + std::to_string(it->ttl) + " -> " + std::to_string(ttl);
        }
        plan.entries.push_back(std::move(e));
    }
    for (const auto& [rr, d] : deletes) {
        std::string label = logLabel(rr);
        if (d != nullptr && !d->label.empty() && (d->op != Op::Merge || rr.type == d->type)) {
            label = d->label;
        }
        plan.entries.push_back({Entry::Action::Delete, rr, label, d != nullptr ? d->source : "", {}});
    }

    for (const auto& [key, set] : after) {
        const auto& was = before[key];
        provider::RRsetChange change{key, was, set};
        if (!change.adds().empty() || !change.deletes().empty() || change.ttlChanged()) {
            plan.change.rrsets.push_back(std::move(change));
        }
    }
    return plan;
}

std::string logLabel(const Record& rr) {
    const std::string n = lower(rr.name);
    if (n.rfind("_adsp.", 0) == 0) {
        return "ADSP";
    }
    if (n.rfind("_acme-challenge.", 0) == 0) {
        return "ACME";
    }
    if (rr.type == Type::TXT) {
        std::string text;
        try {
            text = record::txtText(rr.data);
        } catch (const Error&) {
            return "TXT";
        }
        const auto v = lower(text).find("v=");
        if (v != std::string::npos) {
            std::string word;
            for (std::size_t i = v + 2; i < text.size() && text[i] != ';' && text[i] != ' ' && text[i] != '1'; ++i) {
                word += static_cast<char>(std::toupper(static_cast<unsigned char>(text[i])));
            }
            if (word == "STSV") {
                return "MTA-STS";
            }
            if (word == "TLSRPTV") {
                return "TLSRPT";
            }
            if (!word.empty()) {
                return word;
            }
        }
    }
    return std::string(record::toString(rr.type));
}

std::string logLine(const Entry& entry) {
    const Record& rr = entry.rr;
    std::string content = rr.data;
    const auto w = words(rr.data);
    switch (rr.type) {
    case Type::MX:
        content = w.size() == 2 ? withoutDot(w[1]) : rr.data;
        break;
    case Type::SRV:
        content = w.size() == 4 ? w[1] + " " + w[2] + " " + withoutDot(w[3]) : rr.data;
        break;
    case Type::NS:
    case Type::CNAME:
        content = withoutDot(rr.data);
        break;
    case Type::TXT:
        try {
            content = record::txtText(rr.data);
        } catch (const Error&) {
        }
        break;
    default:
        break;
    }
    std::string verb;
    switch (entry.action) {
    case Entry::Action::AddNew:
        verb = "add (new)";
        break;
    case Entry::Action::AddExists:
        verb = "add (exists)";
        break;
    case Entry::Action::Delete:
        verb = "delete";
        break;
    case Entry::Action::Update:
        verb = "update";
        break;
    case Entry::Action::Ttl:
        verb = "update TTL of";
        break;
    case Entry::Action::Skip:
        return "skip " + entry.label + " for " + withoutDot(rr.name) + " : " + entry.note;
    }
    std::string line = verb + " " + entry.label + " for " + withoutDot(rr.name) + " : " + content;
    if (!entry.note.empty()) {
        line += " (" + entry.note + ")";
    }
    return line;
}

json::object toJson(const Entry& entry, const std::string& zone) {
    json::object o{{"action", toString(entry.action)},
                   {"zone", zone},
                   {"name", entry.rr.name},
                   {"type", record::toString(entry.rr.type)},
                   {"ttl", entry.rr.ttl},
                   {"label", entry.label}};
    o["data"] = entry.rr.data.empty() ? json::value(nullptr) : json::value(entry.rr.data);
    if (!entry.source.empty()) {
        o["source"] = entry.source;
    }
    if (!entry.note.empty()) {
        o["note"] = entry.note;
    }
    return o;
}

} // namespace cdm::dnsplan
