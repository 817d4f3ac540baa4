#include "libcommon/mtasts.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "libcommon/document.hpp"
#include "libcommon/domain.hpp"
#include "libcommon/error.hpp"
#include "libcommon/fsutil.hpp"
#include "libcommon/log.hpp"
#include "libcommon/record.hpp"
#include "libcommon/timefmt.hpp"

namespace cdm::mtasts {

namespace json = boost::json;

namespace {

// RFC 8461 §3.2: max_age is at most 31557600 seconds (about a year).
constexpr std::uint64_t maxAgeLimit = 31557600;

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

bool contains(const std::vector<std::string>& hosts, const std::string& host) {
    const std::string h = lower(host);
    return std::any_of(hosts.begin(), hosts.end(),
                       [&](const std::string& x) { return lower(x) == h; });
}

bool sameHosts(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    return std::all_of(a.begin(), a.end(), [&](const std::string& x) { return contains(b, x); }) &&
           std::all_of(b.begin(), b.end(), [&](const std::string& x) { return contains(a, x); });
}

bool allDigits(std::string_view s) {
    return !s.empty() && s.size() <= 12 &&
           s.find_first_not_of("0123456789") == std::string_view::npos;
}

[[noreturn]] void bad(const std::string& path, const std::string& what) {
    throw Error(Exit::DataErr, what, Location{"", 0, path});
}

const json::object& objectAt(const json::value& v, const std::string& path) {
    if (!v.is_object()) {
        bad(path, "not an object");
    }
    return v.as_object();
}

std::string stringAt(const json::object& o, std::string_view key, const std::string& path) {
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_string()) {
        bad(path + "." + std::string(key), "missing or not a string");
    }
    return std::string(v->as_string());
}

std::int64_t integerAt(const json::object& o, std::string_view key, const std::string& path) {
    const auto* v = o.if_contains(key);
    if (v == nullptr || !(v->is_int64() || v->is_uint64())) {
        bad(path + "." + std::string(key), "missing or not an integer");
    }
    return v->is_int64() ? v->as_int64() : static_cast<std::int64_t>(v->as_uint64());
}

json::array hostsJson(const std::vector<std::string>& hosts) {
    json::array a;
    for (const auto& h : hosts) {
        a.emplace_back(h);
    }
    return a;
}

} // namespace

Policy parse(std::string_view text, const std::string& where) {
    Policy policy;
    bool version = false;
    bool maxAge = false;
    std::size_t lineNo = 0;
    while (!text.empty()) {
        const std::size_t end = text.find('\n');
        const std::string_view line = trim(text.substr(0, end));
        text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
        ++lineNo;
        if (line.empty()) {
            continue;
        }
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) {
            throw Error(Exit::DataErr,
                        "MTA-STS policy line " + std::to_string(lineNo) +
                            " has no ':' (RFC 8461 §3.2)",
                        Location{"", 0, where});
        }
        const std::string key(trim(line.substr(0, colon)));
        const std::string value(trim(line.substr(colon + 1)));
        if (key == "version") {
            if (value != "STSv1") {
                throw Error(Exit::DataErr, "MTA-STS policy version '" + value + "' is not STSv1",
                            Location{"", 0, where});
            }
            version = true;
        } else if (key == "mode") {
            if (value != "enforce" && value != "testing" && value != "none") {
                throw Error(Exit::DataErr,
                            "MTA-STS policy mode '" + value + "' is not enforce, testing or none",
                            Location{"", 0, where});
            }
            policy.mode = value;
        } else if (key == "mx") {
            if (value.empty()) {
                throw Error(Exit::DataErr, "MTA-STS policy has an empty mx line",
                            Location{"", 0, where});
            }
            policy.mx.push_back(value);
        } else if (key == "max_age") {
            if (!allDigits(value) || std::stoull(value) > maxAgeLimit) {
                throw Error(Exit::DataErr,
                            "MTA-STS max_age '" + value +
                                "' is not a number of seconds up to 31557600",
                            Location{"", 0, where});
            }
            policy.maxAge = std::stoull(value);
            maxAge = true;
        }
    }
    if (!version || policy.mode.empty() || !maxAge) {
        throw Error(Exit::DataErr, "MTA-STS policy lacks version, mode or max_age (RFC 8461 §3.2)",
                    Location{"", 0, where});
    }
    return policy;
}

json::object toJson(const DomainState& state) {
    json::array retained;
    for (const auto& r : state.retained) {
        retained.push_back(json::object{{"mx", r.mx}, {"until", r.until}});
    }
    return json::object{
        {"id", state.id},          {"mode", state.mode},   {"mx", hostsJson(state.mx)},
        {"max_age", state.maxAge}, {"since", state.since}, {"retained", std::move(retained)}};
}

DomainState stateFromJson(const json::value& value, const std::string& path) {
    const json::object& o = objectAt(value, path);
    DomainState s;
    s.id = stringAt(o, "id", path);
    if (const auto* m = o.if_contains("mode"); m != nullptr && m->is_string()) {
        s.mode = std::string(m->as_string());
    }
    const auto* mx = o.if_contains("mx");
    if (mx == nullptr || !mx->is_array()) {
        bad(path + ".mx", "missing or not an array");
    }
    for (std::size_t i = 0; i < mx->as_array().size(); ++i) {
        const auto& h = mx->as_array()[i];
        if (!h.is_string()) {
            bad(path + ".mx[" + std::to_string(i) + "]", "not a string");
        }
        s.mx.emplace_back(h.as_string());
    }
    const std::int64_t age = integerAt(o, "max_age", path);
    if (age < 0 || static_cast<std::uint64_t>(age) > maxAgeLimit) {
        bad(path + ".max_age", "not a number of seconds up to 31557600");
    }
    s.maxAge = static_cast<std::uint64_t>(age);
    s.since = integerAt(o, "since", path);
    if (const auto* r = o.if_contains("retained"); r != nullptr) {
        if (!r->is_array()) {
            bad(path + ".retained", "not an array");
        }
        for (std::size_t i = 0; i < r->as_array().size(); ++i) {
            const std::string at = path + ".retained[" + std::to_string(i) + "]";
            const json::object& e = objectAt(r->as_array()[i], at);
            s.retained.push_back({stringAt(e, "mx", at), integerAt(e, "until", at)});
        }
    }
    return s;
}

Merged merge(const Policy& wanted, const std::optional<DomainState>& previous, std::time_t now) {
    Merged out;
    DomainState& s = out.state;
    s.mx = wanted.mx;
    s.mode = wanted.mode;
    s.maxAge = wanted.maxAge;
    s.since = now;
    if (previous) {
        if (previous->mode == wanted.mode && previous->maxAge == wanted.maxAge &&
            sameHosts(previous->mx, wanted.mx)) {
            s.since = previous->since;
        }
        for (const auto& r : previous->retained) {
            if (r.until > now && !contains(wanted.mx, r.mx)) {
                s.retained.push_back(r);
            }
        }
        // A sender that fetched the previous policy just before this run caches it for the
        // previous max_age; its MX list must keep working until that copy expires.
        const std::int64_t until =
            static_cast<std::int64_t>(now) + static_cast<std::int64_t>(previous->maxAge);
        for (const auto& host : previous->mx) {
            const bool kept =
                std::any_of(s.retained.begin(), s.retained.end(),
                            [&](const Retained& r) { return lower(r.mx) == lower(host); });
            if (!contains(wanted.mx, host) && !kept && until > now) {
                s.retained.push_back({host, until});
            }
        }
    }
    std::vector<std::string> hosts = wanted.mx;
    for (const auto& r : s.retained) {
        hosts.push_back(r.mx);
    }
    out.content = domain::mtaStsPolicy(wanted.mode, hosts, wanted.maxAge);
    out.id = domain::mtaStsId(out.content);
    s.id = out.id;
    return out;
}

std::vector<Outcome> run(json::object& doc, const json::value* previous, std::time_t now) {
    const json::object* before = nullptr;
    if (previous != nullptr && !previous->is_null()) {
        before = &objectAt(*previous, "state.mtasts");
    }
    struct Planned {
        json::object* file = nullptr;
        Merged merged;
        Outcome outcome;
        std::string fileMode;
    };
    std::vector<Planned> planned;
    if (auto* files = doc.if_contains("files"); files != nullptr && files->is_array()) {
        auto& list = files->as_array();
        for (std::size_t i = 0; i < list.size(); ++i) {
            const std::string at = "files[" + std::to_string(i) + "]";
            if (!list[i].is_object()) {
                bad(at, "not an object");
            }
            json::object& f = list[i].as_object();
            const auto* kind = f.if_contains("kind");
            if (kind == nullptr || !kind->is_string() || kind->as_string() != "mta-sts-policy") {
                continue;
            }
            Planned p;
            p.file = &f;
            p.outcome.domain = stringAt(f, "domain", at);
            const Policy wanted = parse(stringAt(f, "content", at), at + ".content");
            std::optional<DomainState> old;
            if (before != nullptr) {
                if (const auto* s = before->if_contains(p.outcome.domain)) {
                    old = stateFromJson(*s, "state.mtasts[\"" + p.outcome.domain + "\"]");
                }
            }
            p.merged = merge(wanted, old, now);
            p.outcome.id = p.merged.id;
            p.outcome.retained = p.merged.state.retained;
            if (const auto* path = f.if_contains("path"); path != nullptr && path->is_string()) {
                p.outcome.path = std::string(path->as_string());
            }
            p.fileMode = "0644";
            if (const auto* m = f.if_contains("mode"); m != nullptr && m->is_string()) {
                p.fileMode = std::string(m->as_string());
                if (p.fileMode.size() != 4 ||
                    p.fileMode.find_first_not_of("01234567") != std::string::npos) {
                    bad(at + ".mode",
                        "'" + p.fileMode + "' is not an octal file mode such as 0644");
                }
            }
            planned.push_back(std::move(p));
        }
    }

    json::object states;
    std::vector<json::object> reports;
    std::vector<Outcome> outcomes;
    for (auto& p : planned) {
        const std::string& domain = p.outcome.domain;
        (*p.file)["content"] = p.merged.content;
        // Policy first, id second (smtp-sts #149): the file is written here, the record's id
        // changes only when cdm-dns-apply applies it after this step.
        if (!p.outcome.path.empty()) {
            std::optional<std::string> existing;
            try {
                existing = fsutil::readFile(p.outcome.path, 1U << 20U);
            } catch (const Error& e) {
                if (e.code() != Exit::NoInput) {
                    throw;
                }
            }
            if (existing != p.merged.content) {
                const auto parent = std::filesystem::path(p.outcome.path).parent_path();
                if (!parent.empty()) {
                    // The policy is served over HTTPS: its directory must be readable by the web
                    // server.
                    fsutil::ensureDirectory(parent.string(), 0755);
                }
                fsutil::writeFileAtomic(p.outcome.path, p.merged.content,
                                        static_cast<mode_t>(std::stoul(p.fileMode, nullptr, 8)));
                p.outcome.written = true;
                log::info("write MTA-STS policy for " + domain + " to " + p.outcome.path);
            }
        }
        bool recordFound = false;
        if (auto* records = doc.if_contains("records"); records != nullptr && records->is_array()) {
            const std::string owner = lower("_mta-sts." + domain);
            for (auto& r : records->as_array()) {
                if (!r.is_object()) {
                    continue;
                }
                auto& o = r.as_object();
                const auto* name = o.if_contains("name");
                const auto* type = o.if_contains("type");
                const auto* data = o.if_contains("data");
                if (name != nullptr && name->is_string() && lower(name->as_string()) == owner &&
                    type != nullptr && type->is_string() && type->as_string() == "TXT" &&
                    data != nullptr && data->is_string()) {
                    o["data"] = record::txtFromText("v=STSv1; id=" + p.merged.id);
                    recordFound = true;
                }
            }
        }
        if (!recordFound) {
            log::warn("no _mta-sts." + domain +
                      " TXT record in the document: only the policy is kept");
        }
        json::array retained;
        for (const auto& r : p.merged.state.retained) {
            retained.push_back(json::object{{"mx", r.mx}, {"until", r.until}});
            log::info("MTA-STS " + domain + ": keep mx " + r.mx + " in the policy until " +
                      timefmt::utcTime(r.until) +
                      " (senders may cache the previous policy until then)");
        }
        states[domain] = toJson(p.merged.state);
        reports.push_back({{"domain", domain},
                           {"id", p.merged.id},
                           {"retained", std::move(retained)},
                           {"written", p.outcome.written}});
        outcomes.push_back(std::move(p.outcome));
    }
    // Only now members are added to `doc`: that may move the files the loop pointed into.
    for (auto& fields : reports) {
        document::report(doc, "cdm-phase", "mtasts", std::move(fields));
    }
    auto& state = doc["state"];
    if (!state.is_object()) {
        state = json::object{};
    }
    state.as_object()["mtasts"] = std::move(states);
    return outcomes;
}

} // namespace cdm::mtasts
