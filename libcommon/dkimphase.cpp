#include "libcommon/dkimphase.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "libcommon/dkim.hpp"
#include "libcommon/document.hpp"
#include "libcommon/error.hpp"
#include "libcommon/faultpoint.hpp"
#include "libcommon/fsutil.hpp"
#include "libcommon/keys.hpp"
#include "libcommon/log.hpp"

namespace cdm::dkimphase {

namespace json = boost::json;

namespace {

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

using document::sectionKeys;

struct Link {
    std::string domain; // absolute
    std::string mode;   // replace | add | remove
    std::uint32_t ttl = 600;
    std::string source;
    std::string section; // the [domain:NAME], whose provider publishes the record
};

// Which domains link which [dkim:NAME] with op auto.
std::map<std::string, std::vector<Link>> links(const json::object& doc) {
    std::map<std::string, std::vector<Link>> out;
    const auto* config = objectAt(doc.if_contains("config"));
    const auto* domains = config != nullptr ? objectAt(config->if_contains("domain")) : nullptr;
    if (domains == nullptr) {
        return out;
    }
    for (const auto& [name, value] : *domains) {
        const auto* section = objectAt(&value);
        if (section == nullptr || name == "DEFAULT") {
            continue;
        }
        const auto* specs = section->if_contains("dkim");
        if (specs == nullptr || !specs->is_array()) {
            continue;
        }
        std::uint32_t ttl = 600;
        if (const std::string t = text(objectAt(section->if_contains("keys")), "ttl"); !t.empty()) {
            ttl = static_cast<std::uint32_t>(std::stoul(t));
        }
        for (const auto& spec : specs->get_array()) {
            const auto& s = spec.as_object();
            if (text(&s, "op") != "auto") {
                continue;
            }
            out[text(&s, "key")].push_back(
                Link{text(section, "name"), text(&s, "mode"), ttl, text(&s, "source"), name});
        }
    }
    return out;
}

document::DesiredRecord keyRecord(const Link& link, const std::string& selector,
                                  const std::string& data, document::Op op) {
    document::DesiredRecord r;
    r.name = dkim::owner(selector, link.domain);
    r.type = record::Type::TXT;
    r.ttl = link.ttl;
    r.op = op;
    if (!data.empty()) {
        r.data = record::txtFromText(data);
    }
    // Only this selector's own name, and only DKIM key records there (reference §9 item 18:
    // the original deleted unrelated TXT records two labels below the domain).
    r.scope = document::Scope{r.name, record::Type::TXT, {}, "v=DKIM1", {}};
    r.label = "DKIM";
    r.source = link.source;
    r.section = link.section;
    return r;
}

std::int64_t number(const json::object* o, const char* key) {
    if (o == nullptr) {
        return 0;
    }
    const auto* v = o->if_contains(key);
    return v != nullptr && (v->is_int64() || v->is_uint64()) ? v->to_number<std::int64_t>() : 0;
}

// The newest "*.key" file in `dir` that `material` names as no generation's key and that is
// newer than every key it names: one that a run killed between writing it and the state's
// write left behind. Never an older key (a retired one whose file a rollover left): that
// must not come back as the next key. Names are compared by file name, since the state may
// spell the state directory another way than this run's configuration; a material that
// names no key (a run by hand without the state) has no unrecorded key.
std::optional<std::string> unrecordedKey(const std::string& dir, const json::object& material) {
    std::set<std::string> named;
    std::optional<std::filesystem::file_time_type> newestNamed;
    std::error_code ec;
    for (const char* which : {"current", "next", "previous"}) {
        if (const auto* k = objectAt(material.if_contains(which))) {
            const std::filesystem::path key = std::filesystem::path(text(k, "key")).lexically_normal();
            named.insert(key.filename().string());
            const auto t = std::filesystem::last_write_time(std::filesystem::path(dir) / key.filename(), ec);
            if (!ec && (!newestNamed || t > *newestNamed)) {
                newestNamed = t;
            }
        }
    }
    if (named.empty()) {
        return std::nullopt;
    }
    std::optional<std::string> newest;
    std::filesystem::file_time_type newestTime;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        const std::string path = e.path().lexically_normal().string();
        if (e.path().extension() != ".key" || !e.is_regular_file(ec) ||
            named.count(e.path().filename().string()) != 0U) {
            continue;
        }
        if (newestNamed && e.last_write_time(ec) <= *newestNamed) {
            continue;
        }
        const auto t = e.last_write_time(ec);
        if (!newest || t > newestTime) {
            newest = path;
            newestTime = t;
        }
    }
    return newest;
}

// The entry of an unrecorded key file whose name is its selector, when it is a usable key of
// `type`; nothing otherwise (a new key is made then, and cleanup removes this one).
std::optional<dkim::Entry> adopt(const std::string& keyPath, const std::string& domain,
                                 dkim::KeyType type) {
    try {
        dkim::RecordRequest request;
        request.domain = domain;
        request.keyPaths = {keyPath};
        request.selector.fixed = {std::filesystem::path(keyPath).stem().string()};
        auto entry = dkim::fromKeys(request).front();
        if (entry.record.type == type) {
            return entry;
        }
    } catch (const Error& e) {
        log::warn("not using '" + keyPath + "': " + e.message());
    }
    return std::nullopt;
}

} // namespace

std::int64_t parseDuration(const std::string& value, const std::string& what) {
    std::int64_t unit = 1;
    std::string digits = value;
    if (!digits.empty()) {
        switch (digits.back()) {
        case 's':
            digits.pop_back();
            break;
        case 'm':
            unit = 60;
            digits.pop_back();
            break;
        case 'h':
            unit = 3600;
            digits.pop_back();
            break;
        case 'd':
            unit = 86400;
            digits.pop_back();
            break;
        default:
            break;
        }
    }
    if (digits.empty() || digits.size() > 9 ||
        digits.find_first_not_of("0123456789") != std::string::npos) {
        throw Error(Exit::Config,
                    what + " '" + value + "' is not a duration such as 3600, 30m, 88h or 4d");
    }
    return std::stoll(digits) * unit;
}

Summary run(json::object& doc, const std::string& phase, std::time_t now) {
    Summary summary;
    if (phase != "prepare" && phase != "rollover" && phase != "cleanup") {
        return summary;
    }
    const std::string statedir =
        text(sectionKeys(doc, "cdm", "DEFAULT"), "statedir", "/var/lib/cdm");
    std::vector<json::object> added;
    // Per-section events for the programs after this one (cdm-reload reloads what a deployed
    // key serves; cdm-phase records what changed), in the order they happened.
    std::vector<std::pair<const char*, json::object>> events;
    const auto add = [&](const document::DesiredRecord& r) {
        added.push_back(document::toJson(r));
        ++summary.records;
    };

    for (const auto& [name, domains] : links(doc)) {
        const json::object* keysOf = sectionKeys(doc, "dkim", name);
        if (keysOf == nullptr) {
            continue; // cdm-config warned: no such [dkim:NAME]
        }
        // Each section stands alone: one that fails keeps its material as it was (a rerun
        // does its step again) and the others go on; the caller writes the document, then
        // exits with the first failure.
        const json::object saved = document::material(doc, "dkim", name);
        const std::size_t addedBefore = added.size();
        const std::size_t recordsBefore = summary.records;
        const std::size_t eventsBefore = events.size();
        try {
            json::object& m = document::material(doc, "dkim", name);
            const std::string where = "[dkim:" + name + "]";
            const std::int64_t grace =
                parseDuration(text(keysOf, "grace", "88h"), where + " grace");
            const std::int64_t revoked =
                parseDuration(text(keysOf, "revoked", "24h"), where + " revoked");

            const std::int64_t rotate =
                parseDuration(text(keysOf, "rotate", "0"), where + " rotate");
            if (phase == "prepare") {
                const auto* next = objectAt(m.if_contains("next"));
                const auto* current = objectAt(m.if_contains("current"));
                // With `rotate`, a current key younger than that is kept: prepare has nothing to
                // stage for this section, and the cycle need not run for it.
                const bool young =
                    rotate > 0 && current != nullptr && now < number(current, "created") + rotate;
                if ((next == nullptr || !std::filesystem::exists(text(next, "key"))) && !young) {
                    dkim::GenerateRequest request;
                    request.domain = domains.front().domain;
                    const std::string algorithm = text(keysOf, "algorithm", "rsa");
                    const auto type = dkim::keyTypeFromString(algorithm);
                    if (!type) {
                        throw Error(Exit::Config,
                                    where + " algorithm '" + algorithm + "' is not rsa or ed25519");
                    }
                    request.algorithms = {*type};
                    request.bits =
                        static_cast<unsigned>(std::stoul(text(keysOf, "keysize", "2048")));
                    request.selector.keyBaseName = text(keysOf, "keybasename", "key");
                    request.selector.now = now;
                    // A run killed after writing its next key, before the state recorded it,
                    // may have published the key's record already: that key becomes `next`
                    // again, so no stray key or record is left and the selector stays the same.
                    const std::string keyDir = statedir + "/modules/dkim/" + name;
                    std::optional<dkim::Entry> adopted;
                    if (const auto stray = unrecordedKey(keyDir, m)) {
                        adopted = adopt(*stray, request.domain, *type);
                    }
                    std::string selector;
                    dkim::Entry entry;
                    if (adopted) {
                        entry = *adopted;
                        selector = entry.selector;
                        log::info(where + " next key: " + entry.keyPath +
                                  ", written by an interrupted run");
                    } else {
                        selector = dkim::selectors(request.selector, 1).front();
                        request.selector.fixed = {selector};
                        request.keyPaths = {keyDir + "/" + selector + ".key"};
                        entry = dkim::generate(request).front();
                    }
                    fault::point("dkim.staged-key-written");
                    m["next"] = json::object{{"selector", selector},
                                             {"key", entry.keyPath},
                                             {"record", entry.record.toText()},
                                             {"created", static_cast<std::int64_t>(now)}};
                    ++summary.generated;
                    events.push_back(
                        {"generated", json::object{{"dkim", name}, {"selector", selector}}});
                }
            }
            if (phase == "rollover") {
                if (const auto* found = objectAt(m.if_contains("next"))) {
                    // A copy: inserting "previous" into `m` below may move its members.
                    const json::object nextCopy = *found;
                    const json::object* next = &nextCopy;
                    const std::string location =
                        text(keysOf, "keylocation", "/var/lib/rspamd/dkim");
                    const std::string conf = text(keysOf, "signingconfdestinationfile");
                    // With a signing configuration cdm writes, each key gets a file of its own and
                    // the configuration's one atomic rename switches selector and key together; one
                    // file overwritten in place would pair the old selector with the new key until
                    // the configuration follows (and rspamd re-reads a changed key file at once).
                    const std::string deployed = location + "/" +
                                                 (conf.empty() ? text(keysOf, "keyname", "dkim.key")
                                                               : text(next, "selector") + ".key");
                    fsutil::ensureDirectory(location, 0755);
                    keys::deploy(text(next, "key"), deployed, text(keysOf, "keyowner"));
                    fault::point("dkim.key-deployed");
                    if (!conf.empty()) {
                        dkim::Entry entry;
                        entry.domain = domains.front().domain;
                        entry.selector = text(next, "selector");
                        entry.keyPath = deployed;
                        entry.record = dkim::parseKeyRecord(text(next, "record"));
                        fsutil::ensureDirectory(std::filesystem::path(conf).parent_path().string(),
                                                0755);
                        fsutil::writeFileAtomic(
                            conf, dkim::render({entry}, dkim::Format::Rspamd, 0, "rollover"), 0644);
                    }
                    if (const auto* current = objectAt(m.if_contains("current"))) {
                        json::object previous = *current;
                        previous["retired"] = static_cast<std::int64_t>(now);
                        m["previous"] = std::move(previous);
                    }
                    events.push_back({"deployed", json::object{{"dkim", name},
                                                               {"selector", text(next, "selector")},
                                                               {"key", deployed}}});
                    json::object current = *next;
                    current["deployed"] = deployed;
                    m["current"] = std::move(current);
                    m.erase("next");
                    ++summary.deployed;
                    fault::point("dkim.deployed");
                }
            }

            // The records this phase wants for every linking domain.
            for (const auto& link : domains) {
                for (const char* which : {"current", "next"}) {
                    if (const auto* k = objectAt(m.if_contains(which))) {
                        add(keyRecord(link, text(k, "selector"), text(k, "record"),
                                      document::Op::Add));
                    }
                }
                const auto* previous = objectAt(m.if_contains("previous"));
                if (previous == nullptr) {
                    continue;
                }
                const std::string selector = text(previous, "selector");
                const std::int64_t retired = number(previous, "retired");
                const std::int64_t revokedAt = number(previous, "revoked");
                if (phase != "cleanup" || now < retired + grace) {
                    add(keyRecord(link, selector,
                                  revokedAt != 0 ? "v=DKIM1; p=" : text(previous, "record"),
                                  revokedAt != 0 ? document::Op::Replace : document::Op::Add));
                } else if (revokedAt == 0 || now < revokedAt + revoked) {
                    add(keyRecord(link, selector, "v=DKIM1; p=", document::Op::Replace));
                } else {
                    add(keyRecord(link, selector, "", document::Op::None));
                }
            }
            if (phase == "cleanup") {
                if (auto* previous = m.if_contains("previous");
                    previous != nullptr && previous->is_object()) {
                    auto& p = previous->as_object();
                    const std::int64_t retired = number(&p, "retired");
                    const std::int64_t revokedAt = number(&p, "revoked");
                    if (now >= retired + grace && revokedAt == 0) {
                        p["revoked"] = static_cast<std::int64_t>(now);
                        events.push_back(
                            {"revoked",
                             json::object{{"dkim", name}, {"selector", text(&p, "selector")}}});
                    } else if (revokedAt != 0 && now >= revokedAt + revoked) {
                        events.push_back(
                            {"removed",
                             json::object{{"dkim", name}, {"selector", text(&p, "selector")}}});
                        std::error_code ec;
                        std::filesystem::remove(text(&p, "key"), ec);
                        // The deployed copy, unless the current key is deployed to the same file
                        // (keyname, without a signing configuration).
                        const std::string deployedOld = text(&p, "deployed");
                        const auto* current = objectAt(m.if_contains("current"));
                        if (!deployedOld.empty() &&
                            (current == nullptr || text(current, "deployed") != deployedOld)) {
                            std::filesystem::remove(deployedOld, ec);
                        }
                        m.erase("previous");
                    }
                }
                // Keys of interrupted runs that no run adopted (see prepare).
                while (const auto stray = unrecordedKey(statedir + "/modules/dkim/" + name, m)) {
                    std::error_code ec;
                    if (!std::filesystem::remove(*stray, ec)) {
                        break;
                    }
                    log::info(where + " removed '" + *stray + "', a key no state names");
                }
            }
        } catch (const Error& e) {
            document::material(doc, "dkim", name) = saved;
            added.resize(addedBefore);
            summary.records = recordsBefore;
            events.resize(eventsBefore);
            log::error("[dkim:" + name + "] " +
                       (e.where().empty() ? "" : e.where().toString() + ": ") + e.message());
            events.push_back({"failed", json::object{{"dkim", name},
                                                     {"error", e.message()},
                                                     {"exit", static_cast<int>(e.code())}}});
            if (!summary.failure) {
                summary.failure = e;
            }
        }
    }
    document::appendRecords(doc, std::move(added));
    for (auto& [event, fields] : events) {
        fields["phase"] = phase;
        document::report(doc, "cdm-dkim", event, std::move(fields));
    }
    document::report(doc, "cdm-dkim", phase,
                     {{"generated", summary.generated},
                      {"deployed", summary.deployed},
                      {"records", summary.records}});
    return summary;
}

} // namespace cdm::dkimphase
