#include "libcommon/phase.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>
#include <unistd.h>

#include "libcommon/dkimphase.hpp"
#include "libcommon/document.hpp"
#include "libcommon/error.hpp"
#include "libcommon/faultpoint.hpp"
#include "libcommon/fsutil.hpp"
#include "libcommon/log.hpp"
#include "libcommon/mtasts.hpp"
#include "libcommon/timefmt.hpp"

namespace cdm::phase {

namespace json = boost::json;

namespace {

// A state file is small (material facts and 20 runs); this only stops a runaway file.
constexpr std::size_t stateCap = 16U << 20U;

std::int64_t integer(const json::value* v, std::int64_t fallback = 0) {
    if (v == nullptr) {
        return fallback;
    }
    if (v->is_int64()) {
        return v->as_int64();
    }
    if (v->is_uint64()) {
        return static_cast<std::int64_t>(v->as_uint64());
    }
    return fallback;
}

std::string text(const json::value* v, std::string_view fallback = {}) {
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string(fallback);
}

const json::object* objectAt(const json::value* v) {
    return v != nullptr && v->is_object() ? &v->as_object() : nullptr;
}

const json::object* objectAt(const json::object& o, std::string_view key) {
    return objectAt(o.if_contains(key));
}

json::object& objectMember(json::object& o, std::string_view key) {
    json::value& v = o[key];
    if (!v.is_object()) {
        v = json::object{};
    }
    return v.as_object();
}

// A duration key of config.<type>.<name> (dkimphase::parseDuration), its error at the key's
// file:line.
std::int64_t duration(const json::object& doc, std::string_view type, std::string_view name,
                      std::string_view key, std::string_view fallback, const std::string& what) {
    const std::string value =
        document::sectionKey(doc, type, name, key).value_or(std::string(fallback));
    try {
        return dkimphase::parseDuration(value, what);
    } catch (const Error& e) {
        throw Error(e.code(), e.message(), document::keyLocation(doc, type, name, key));
    }
}

Phase cyclePhase(const json::object& state) {
    const auto* cycle = objectAt(state, "cycle");
    const auto p =
        phaseFromString(cycle != nullptr ? text(cycle->if_contains("next"), "prepare") : "prepare");
    return p.value_or(Phase::Prepare);
}

std::int64_t cycleDue(const json::object& state) {
    const auto* cycle = objectAt(state, "cycle");
    return cycle != nullptr ? integer(cycle->if_contains("due")) : 0;
}

std::int64_t atOf(const json::object& state, std::string_view member) {
    const auto* o = objectAt(state, member);
    return o != nullptr ? integer(o->if_contains("at")) : 0;
}

std::string seconds(std::int64_t s) {
    return std::to_string(s) + " s";
}

[[noreturn]] void badState(const std::string& path, const std::string& member,
                           const std::string& what) {
    throw Error(Exit::DataErr, what, Location{path, 0, member});
}

void requireInteger(const json::object& o, std::string_view key, const std::string& path,
                    const std::string& member, bool required) {
    const auto* v = o.if_contains(key);
    if (v == nullptr ? required : !(v->is_int64() || v->is_uint64())) {
        badState(path, member + std::string(key), "missing or not an integer");
    }
}

// Everything cdm-phase relies on, checked once so that a damaged file is refused whole.
void validate(const json::object& state, const std::string& path) {
    const auto* version = state.if_contains("cdm_state");
    if (version == nullptr || !(version->is_int64() || version->is_uint64())) {
        badState(path, "cdm_state", "not an integer");
    }
    if (integer(version) != stateVersion) {
        badState(path, "cdm_state",
                 "state version " + std::to_string(integer(version)) + " is not " +
                     std::to_string(stateVersion) + " (written by another version of cdm)");
    }
    const auto* cycle = objectAt(state, "cycle");
    if (cycle == nullptr) {
        badState(path, "cycle", "missing or not an object");
    }
    const std::string next = text(cycle->if_contains("next"));
    if (next != "prepare" && next != "rollover" && next != "cleanup") {
        badState(path, "cycle.next", "'" + next + "' is not prepare, rollover or cleanup");
    }
    requireInteger(*cycle, "due", path, "cycle.", true);
    requireInteger(*cycle, "number", path, "cycle.", true);
    requireInteger(*cycle, "started", path, "cycle.", false);
    for (const char* member : {"material", "mtasts", "prepare", "rollover", "cleanup", "update"}) {
        const auto* v = state.if_contains(member);
        if (v != nullptr && !v->is_object()) {
            badState(path, member, "not an object");
        }
    }
    if (const auto* prepare = objectAt(state, "prepare")) {
        for (const char* key : {"at", "verified_at", "max_ttl", "negative_ttl"}) {
            requireInteger(*prepare, key, path, "prepare.", false);
        }
    }
    if (const auto* runs = state.if_contains("runs"); runs != nullptr && !runs->is_array()) {
        badState(path, "runs", "not an array");
    }
}

// Events after which a phase's work is not complete.
bool failureEvent(std::string_view event) {
    return event == "failed" || event == "held" || event == "test-failed";
}

// What an entry was about: the first of its naming members.
std::string subjectOf(const json::object& entry) {
    for (const char* key :
         {"cert", "dkim", "dhparam", "service", "zone", "domain", "name", "family"}) {
        if (const auto* v = entry.if_contains(key); v != nullptr && v->is_string()) {
            return std::string(key) + " " + std::string(v->as_string());
        }
    }
    return {};
}

bool hasNextMaterial(const json::object& doc) {
    const auto* material = objectAt(doc, "material");
    if (material == nullptr) {
        return false;
    }
    for (const char* kind : {"cert", "dkim", "dhparam"}) {
        if (const auto* sections = objectAt(*material, kind)) {
            for (const auto& section : *sections) {
                const auto* m = objectAt(&section.value());
                if (m != nullptr && objectAt(*m, "next") != nullptr) {
                    return true;
                }
            }
        }
    }
    return false;
}

// What is staged as `next`, one line per section ("cert web 0a1b..."), sorted: a prepare
// that staged something else than the state held must have its records verified again.
std::vector<std::string> stagedOf(const json::object* material) {
    std::vector<std::string> out;
    if (material == nullptr) {
        return out;
    }
    for (const char* kind : {"cert", "dkim", "dhparam"}) {
        if (const auto* sections = objectAt(*material, kind)) {
            for (const auto& section : *sections) {
                const auto* m = objectAt(&section.value());
                const auto* next = m != nullptr ? objectAt(*m, "next") : nullptr;
                if (next != nullptr) {
                    out.push_back(std::string(kind) + " " + std::string(section.key()) + " " +
                                  json::serialize(*next));
                }
            }
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

// The earliest time a cleanup run has DKIM work again: a retired selector's grace period
// ends (it is then revoked), or a revoked one's revocation period ends (it is then removed).
struct Pending {
    std::int64_t due = 0;
    std::string why;
};
std::optional<Pending> dkimPending(const json::object& doc) {
    const auto* material = objectAt(doc, "material");
    const auto* dkim = material != nullptr ? objectAt(*material, "dkim") : nullptr;
    if (dkim == nullptr) {
        return std::nullopt;
    }
    std::optional<Pending> first;
    for (const auto& [name, value] : *dkim) {
        const auto* m = objectAt(&value);
        const auto* previous = m != nullptr ? objectAt(*m, "previous") : nullptr;
        if (previous == nullptr) {
            continue;
        }
        const std::string where = "[dkim:" + std::string(name) + "]";
        const std::string selector = text(previous->if_contains("selector"));
        if (document::sectionKeys(doc, "dkim", name) == nullptr) {
            // cdm-dkim acts only on configured sections: waiting for it would never end.
            log::warn("material.dkim." + std::string(name) + ".previous (selector " + selector +
                      ") has no " + where + " section any more; it is left for you to remove");
            continue;
        }
        const std::int64_t grace = duration(doc, "dkim", name, "grace", "88h", where + " grace");
        const std::int64_t revoked = duration(doc, "dkim", name, "revoked", "24h", where + " revoked");
        const std::int64_t retiredAt = integer(previous->if_contains("retired"));
        const std::int64_t revokedAt = integer(previous->if_contains("revoked"));
        Pending p;
        if (revokedAt == 0) {
            p.due = retiredAt + grace;
            p.why = "DKIM selector " + selector + " of " + where +
                    " stays published for its grace period (" + seconds(grace) +
                    " after it retired at " + utcTime(retiredAt) + "), then is revoked";
        } else {
            p.due = revokedAt + revoked;
            p.why = "DKIM selector " + selector + " of " + where +
                    " is published revoked (p=) for " + seconds(revoked) + " since " +
                    utcTime(revokedAt) + ", then removed";
        }
        if (!first || p.due < first->due) {
            first = p;
        }
    }
    return first;
}

// The completeness of a run, from its report.
struct Verdict {
    std::vector<std::string> missing;
    bool hard = false; // something failed (69), not only a wait for DNS (75)
    std::vector<std::string> zones;
    std::int64_t maxTtl = 0;
    std::int64_t negativeTtl = 0;
    bool changed = false;
    bool dnsOk = true; // every zone applied and verified (whatever else failed)
};

Verdict judge(const json::object& doc, Phase phase, const std::optional<Failed>& failed) {
    Verdict v;
    bool applied = false;
    const auto* recs = doc.if_contains("records");
    const bool records = recs != nullptr && recs->is_array() && !recs->as_array().empty();
    const auto* report = doc.if_contains("report");
    if (report != nullptr && report->is_array()) {
        for (const auto& e : report->as_array()) {
            const auto* entry = objectAt(&e);
            if (entry == nullptr) {
                continue;
            }
            const std::string program = text(entry->if_contains("program"));
            const std::string event = text(entry->if_contains("event"));
            if (failureEvent(event)) {
                std::string why =
                    text(entry->if_contains("error"), text(entry->if_contains("reason")));
                const std::string subject = subjectOf(*entry);
                v.missing.push_back(program + (subject.empty() ? "" : " " + subject) + " " + event +
                                    (why.empty() ? "" : ": " + why));
                v.hard = true;
                continue;
            }
            if (program != "cdm-dns-apply" || event != "apply" || phase == Phase::Rollover) {
                continue;
            }
            applied = true;
            const std::string zone = text(entry->if_contains("zone"));
            v.zones.push_back(zone);
            if (entry->if_contains("error") != nullptr) {
                v.dnsOk = false;
                v.missing.push_back("zone " + zone + ": " + text(entry->if_contains("error")));
                v.hard = v.hard || integer(entry->if_contains("exit")) != 75;
                continue;
            }
            if (const auto* c = entry->if_contains("changed");
                c != nullptr && c->is_bool() && c->as_bool()) {
                v.changed = true;
            }
            const auto* verify = objectAt(*entry, "verify");
            if (verify == nullptr) {
                if (records) {
                    v.dnsOk = false;
                    v.missing.push_back("zone " + zone +
                                        " not verified: cdm-dns-apply ran without --verify");
                    v.hard = true;
                }
                continue;
            }
            v.maxTtl = std::max(v.maxTtl, integer(verify->if_contains("max_ttl")));
            v.negativeTtl = std::max(v.negativeTtl, integer(verify->if_contains("negative_ttl")));
            const auto* ok = verify->if_contains("ok");
            if (!(ok != nullptr && ok->is_bool() && ok->as_bool())) {
                v.dnsOk = false;
                std::string problems;
                if (const auto* p = verify->if_contains("problems");
                    p != nullptr && p->is_array()) {
                    for (const auto& one : p->as_array()) {
                        problems += (problems.empty() ? "" : "; ") + text(&one);
                    }
                }
                v.missing.push_back("zone " + zone + " not verified" +
                                    (problems.empty() ? "" : ": " + problems));
            }
        }
    }
    if (records && !applied && phase != Phase::Rollover) {
        v.dnsOk = false;
        v.missing.emplace_back("records not applied: no cdm-dns-apply report in the document");
        v.hard = true;
    }
    if (failed) {
        v.missing.push_back(failed->program + " exited " + std::to_string(failed->exit));
    }
    return v;
}

bool forcedRun(const json::object& doc) {
    bool forced = false;
    if (const auto* report = doc.if_contains("report"); report != nullptr && report->is_array()) {
        for (const auto& e : report->as_array()) {
            const auto* entry = objectAt(&e);
            if (entry != nullptr && text(entry->if_contains("program")) == "cdm-phase" &&
                text(entry->if_contains("event")) == "begin") {
                const auto* f = entry->if_contains("forced");
                forced = f != nullptr && f->is_bool() && f->as_bool();
            }
        }
    }
    return forced;
}

// The last run of `phase` after `since`, if any.
const json::object* lastRun(const json::object& state, Phase phase, std::int64_t since) {
    const auto* runs = state.if_contains("runs");
    if (runs == nullptr || !runs->is_array()) {
        return nullptr;
    }
    const json::object* found = nullptr;
    for (const auto& r : runs->as_array()) {
        const auto* run = objectAt(&r);
        if (run != nullptr && text(run->if_contains("phase")) == toString(phase) &&
            integer(run->if_contains("at")) >= since) {
            found = run;
        }
    }
    return found;
}

void addRun(json::object& state, json::object run) {
    json::value& v = state["runs"];
    if (!v.is_array()) {
        v = json::array{};
    }
    auto& runs = v.as_array();
    // The same commit again (a rerun after a crash) is one run, not two.
    if (!runs.empty() && runs.back() == json::value(run)) {
        return;
    }
    runs.push_back(std::move(run));
    while (runs.size() > runsKept) {
        runs.erase(runs.begin());
    }
}

json::object& cycleOf(json::object& state) {
    return objectMember(state, "cycle");
}

} // namespace

std::string_view toString(Phase phase) {
    switch (phase) {
    case Phase::Update:
        return "update";
    case Phase::Prepare:
        return "prepare";
    case Phase::Rollover:
        return "rollover";
    case Phase::Cleanup:
        return "cleanup";
    }
    return "prepare";
}

std::optional<Phase> phaseFromString(std::string_view text) {
    for (Phase p : {Phase::Update, Phase::Prepare, Phase::Rollover, Phase::Cleanup}) {
        if (toString(p) == text) {
            return p;
        }
    }
    return std::nullopt;
}

Settings settings(const json::object& doc) {
    Settings s;
    s.statedir = document::sectionKey(doc, "cdm", "DEFAULT", "statedir").value_or(s.statedir);
    if (s.statedir.empty()) {
        throw Error(Exit::Config, "[cdm] statedir is empty");
    }
    s.margin = duration(doc, "cdm", "DEFAULT", "margin", "60", "[cdm] margin");
    s.minwait = duration(doc, "cdm", "DEFAULT", "minwait", "0", "[cdm] minwait");
    s.postwait = duration(doc, "cdm", "DEFAULT", "postwait", "0", "[cdm] postwait");
    return s;
}

std::string statePath(const Settings& settings) {
    std::string dir = settings.statedir;
    while (dir.size() > 1 && dir.back() == '/') {
        dir.pop_back();
    }
    return dir + "/state.json";
}

std::string utcTime(std::int64_t unixTime) {
    return timefmt::utcTime(unixTime);
}

json::object emptyState() {
    return json::object{
        {"cdm_state", stateVersion},
        {"cycle", json::object{{"next", "prepare"},
                               {"due", 0},
                               {"why", "no cycle has run yet"},
                               {"started", 0},
                               {"number", 1}}},
        {"material", json::object{}},
        {"mtasts", json::object{}},
        {"runs", json::array{}},
    };
}

StateFile load(const std::string& path) {
    StateFile file;
    file.path = path;
    file.state = emptyState();
    std::string content;
    try {
        content = fsutil::readFile(path, stateCap);
    } catch (const Error& e) {
        if (e.code() == Exit::NoInput && !std::filesystem::exists(path)) {
            return file;
        }
        throw;
    }
    file.exists = true;
    boost::system::error_code ec;
    json::value parsed = json::parse(content, ec);
    if (ec) {
        throw Error(Exit::DataErr,
                    "not a cdm state file: not JSON (" + ec.message() + "); left as it is",
                    Location{path, 0, {}});
    }
    if (!parsed.is_object()) {
        throw Error(Exit::DataErr, "not a cdm state file: not a JSON object; left as it is",
                    Location{path, 0, {}});
    }
    auto& object = parsed.as_object();
    if (object.if_contains("cdm_state") == nullptr) {
        if (object.if_contains("substate") != nullptr || object.if_contains("opstate") != nullptr) {
            log::warn(path + " is cryptdomainmgr's own state; starting at prepare (it is kept as " +
                      path + ".cryptdomainmgr when cdm first writes its state)");
            file.foreign = true;
            return file;
        }
        throw Error(Exit::DataErr, "not a cdm state file (no \"cdm_state\"); left as it is",
                    Location{path, 0, {}});
    }
    validate(object, path);
    file.state = std::move(object);
    return file;
}

void save(StateFile& file) {
    const auto parent = std::filesystem::path(file.path).parent_path();
    if (!parent.empty()) {
        fsutil::ensureDirectory(parent.string(), 0700);
    }
    if (file.foreign) {
        // A hard link keeps the old file under its new name while the rename below replaces
        // the old name, so a crash in between leaves both names on cryptdomainmgr's file and
        // the next run does this again.
        const std::string aside = file.path + ".cryptdomainmgr";
        if (::link(file.path.c_str(), aside.c_str()) != 0 && errno != EEXIST) {
            const int err = errno;
            if (std::rename(file.path.c_str(), aside.c_str()) != 0) {
                throw Error(err == EACCES || err == EPERM ? Exit::NoPerm : Exit::CantCreat,
                            "unable to move cryptdomainmgr's state aside to " + aside + ": " +
                                std::strerror(err),
                            Location{file.path, 0, {}});
            }
        }
        log::info("moved cryptdomainmgr's state aside: " + aside);
    }
    fault::point("state.before-write");
    fsutil::writeFileAtomic(file.path, document::serialize(file.state), 0600);
    fault::point("state.after-write");
    file.foreign = false;
    file.exists = true;
}

Due next(const json::object& state, std::time_t now) {
    Due d;
    d.phase = cyclePhase(state);
    d.due = cycleDue(state);
    d.wait = std::max<std::int64_t>(0, d.due - static_cast<std::int64_t>(now));
    const auto* cycle = objectAt(state, "cycle");
    d.why = cycle != nullptr ? text(cycle->if_contains("why")) : "";
    return d;
}

std::string waitMessage(const Due& due) {
    return std::string(toString(due.phase)) + " is due in " + seconds(due.wait) + " (at " +
           utcTime(due.due) + ")" + (due.why.empty() ? "" : ": " + due.why);
}

json::object toJson(const Due& due) {
    return json::object{
        {"phase", toString(due.phase)}, {"due", due.due}, {"wait", due.wait}, {"why", due.why}};
}

std::string missingFor(const json::object& state, Phase phase, std::time_t now) {
    const Due due = next(state, now);
    switch (phase) {
    case Phase::Update:
        return {};
    case Phase::Prepare:
        if (due.phase == Phase::Cleanup) {
            return "the last cycle's cleanup is due first (" +
                   (due.wait > 0 ? "at " + utcTime(due.due) : std::string("now")) + ")";
        }
        if (due.phase == Phase::Rollover) {
            // A rollover that deployed and did not complete (a reload failed): a service may
            // still serve what its records vouch for; a new prepare would replace them.
            const auto* run = lastRun(state, Phase::Rollover, atOf(state, "prepare"));
            const auto* ok = run != nullptr ? run->if_contains("ok") : nullptr;
            if (ok != nullptr && ok->is_bool() && !ok->as_bool()) {
                return "the rollover at " + utcTime(integer(run->if_contains("at"))) +
                       " did not complete: run it again first";
            }
        }
        return {};
    case Phase::Rollover:
        if (due.phase == Phase::Prepare) {
            std::string text =
                objectAt(state, "prepare") == nullptr && objectAt(state, "cleanup") == nullptr
                    ? "not prepared yet"
                    : "not prepared since the last cleanup";
            if (const auto* run = lastRun(state, Phase::Prepare, atOf(state, "cleanup"))) {
                const auto* ok = run->if_contains("ok");
                if (ok != nullptr && ok->is_bool() && !ok->as_bool()) {
                    std::string missing;
                    if (const auto* m = run->if_contains("missing");
                        m != nullptr && m->is_array()) {
                        for (const auto& one : m->as_array()) {
                            missing += (missing.empty() ? "" : "; ") +
                                       std::string(one.is_string() ? one.as_string() : "");
                        }
                    }
                    text += ": the last prepare at " + utcTime(integer(run->if_contains("at"))) +
                            " was incomplete (" +
                            (missing.empty() ? "records not verified" : missing) + ")";
                } else {
                    text += ": " + due.why;
                }
            }
            return text;
        }
        if (due.phase == Phase::Cleanup) {
            return "this cycle's rollover was done at " + utcTime(atOf(state, "rollover")) +
                   "; cleanup is next";
        }
        return due.wait > 0 ? waitMessage(due) : std::string{};
    case Phase::Cleanup:
        if (due.phase == Phase::Prepare) {
            return "no rollover since the last cleanup (prepare is next)";
        }
        if (due.phase == Phase::Rollover) {
            return "not rolled over since the prepare at " + utcTime(atOf(state, "prepare")) +
                   " (rollover is next)";
        }
        return due.wait > 0 ? waitMessage(due) : std::string{};
    }
    return {};
}

bool begin(json::object& doc, const json::object& state, Phase phase, std::time_t now, bool force) {
    const std::string missing = missingFor(state, phase, now);
    const bool forced = !missing.empty();
    if (forced) {
        if (!force) {
            throw Error(Exit::TempFail,
                        std::string(toString(phase)) + " may not run now: " + missing);
        }
        log::warn("forced: " + std::string(toString(phase)) + " runs although " + missing);
    }
    if (const auto* material = objectAt(state, "material")) {
        doc["material"] = *material;
    }
    doc["phase"] = toString(phase);
    if (phase != Phase::Update) {
        doc["records"] = json::array{};
        doc["files"] = json::array{};
    }
    const auto* cycle = objectAt(state, "cycle");
    // A rollover that deployed and then failed (a reload, say) has nothing left to deploy
    // when it runs again: "retry" tells cdm-reload to reload what the phase serves anyway.
    bool retry = false;
    if (const auto* runs = state.if_contains("runs"); runs != nullptr && runs->is_array()) {
        for (auto it = runs->as_array().rbegin(); it != runs->as_array().rend(); ++it) {
            if (it->is_object() && text(it->as_object().if_contains("phase")) == toString(phase)) {
                const auto* ok = it->as_object().if_contains("ok");
                retry = ok != nullptr && ok->is_bool() && !ok->as_bool();
                break;
            }
        }
    }
    document::report(doc, "cdm-phase", "begin",
                     {{"phase", toString(phase)},
                      {"forced", forced},
                      {"retry", retry},
                      {"cycle", cycle != nullptr ? integer(cycle->if_contains("number"), 1) : 1}});
    return forced;
}

Failed parseFailed(std::string_view text) {
    const std::size_t colon = text.rfind(':');
    const std::string code =
        colon == std::string_view::npos ? "" : std::string(text.substr(colon + 1));
    if (colon == 0 || colon == std::string_view::npos || code.empty() || code.size() > 3 ||
        code.find_first_not_of("0123456789") != std::string::npos || std::stoi(code) == 0 ||
        std::stoi(code) > 255) {
        throw Error(Exit::Usage, "--failed takes PROGRAM:EXIT with EXIT 1 to 255, not '" +
                                     std::string(text) + "'");
    }
    return Failed{std::string(text.substr(0, colon)), std::stoi(code)};
}

CommitResult commit(json::object& state, json::object& doc, const Settings& settings,
                    std::time_t now, const std::optional<Failed>& failed) {
    const auto* phaseValue = doc.if_contains("phase");
    const auto phase = phaseFromString(text(phaseValue));
    if (!phase) {
        throw Error(Exit::DataErr,
                    "no phase to commit: \"phase\" is '" + text(phaseValue) +
                        "', not update, prepare, rollover or cleanup (run cdm-phase begin first)",
                    Location{"<stdin>", 0, "phase"});
    }
    const auto t = static_cast<std::int64_t>(now);
    CommitResult result;
    result.phase = *phase;
    const std::string name(toString(*phase));

    const std::vector<std::string> stagedBefore = stagedOf(objectAt(state, "material"));
    // What is on disk now, whatever else went wrong: a staged certificate is never lost.
    if (const auto* material = objectAt(doc, "material")) {
        state["material"] = *material;
    }
    Verdict verdict = judge(doc, *phase, failed);
    result.missing = verdict.missing;
    result.complete = verdict.missing.empty();
    result.exit = failed ? failed->exit : verdict.hard ? 69 : result.complete ? 0 : 75;

    // cycleOf() is looked up at each use: inserting members into `state` may move it.
    const Phase before = cyclePhase(state);
    if (*phase == Phase::Update) {
        state["update"] = json::object{{"at", t}, {"ok", result.complete}};
        // The policy is what the zones now announce once DNS took the update, even when
        // something else failed (an address not detected): else a dropped MX would be kept
        // in the policy, its time moving on, for as long as that failure lasts.
        if (result.complete || verdict.dnsOk) {
            if (const auto* s = objectAt(doc, "state");
                s != nullptr && objectAt(*s, "mtasts") != nullptr) {
                state["mtasts"] = *objectAt(*s, "mtasts");
            }
        }
    } else if (!result.complete && *phase == Phase::Prepare) {
        // Records published or material staged that were not verified: a rollover due from an
        // earlier prepare must not deploy them. The largest TTLs seen are kept for the wait
        // the next complete prepare starts (a TTL lowered in between must not shorten it).
        const bool newStaged = stagedOf(objectAt(doc, "material")) != stagedBefore;
        if (before == Phase::Rollover && (verdict.changed || newStaged)) {
            state.erase("prepare");
            cycleOf(state)["next"] = "prepare";
            cycleOf(state)["due"] = 0;
            cycleOf(state)["why"] = "the prepare at " + utcTime(t) +
                                    " published or staged what was not verified yet";
        }
        json::object pending = objectAt(state, "pending_ttl") != nullptr ? *objectAt(state, "pending_ttl")
                                                                        : json::object{};
        pending["max_ttl"] = std::max(integer(pending.if_contains("max_ttl")), verdict.maxTtl);
        pending["negative_ttl"] = std::max(integer(pending.if_contains("negative_ttl")), verdict.negativeTtl);
        state["pending_ttl"] = std::move(pending);
    } else if (result.complete && *phase == Phase::Prepare) {
        const bool hasNext = hasNextMaterial(doc);
        const auto* kept = objectAt(state, "prepare");
        const bool sameStaged = stagedOf(objectAt(doc, "material")) == stagedBefore;
        if (const auto* pending = objectAt(state, "pending_ttl")) {
            verdict.maxTtl = std::max(verdict.maxTtl, integer(pending->if_contains("max_ttl")));
            verdict.negativeTtl = std::max(verdict.negativeTtl, integer(pending->if_contains("negative_ttl")));
        }
        state.erase("pending_ttl");
        if (hasNext && before == Phase::Rollover && !verdict.changed && sameStaged && kept != nullptr &&
            integer(kept->if_contains("verified_at")) != 0) {
            // Nothing new was published: the records served since the earlier verification are
            // the ones rollover needs, so the wait keeps its start.
            log::info("prepare changed no record: rollover stays due at " +
                      utcTime(cycleDue(state)));
        } else {
            json::array zones;
            for (const auto& z : verdict.zones) {
                zones.emplace_back(z);
            }
            state["prepare"] = json::object{{"at", t},
                                            {"verified_at", t},
                                            {"max_ttl", verdict.maxTtl},
                                            {"negative_ttl", verdict.negativeTtl},
                                            {"zones", std::move(zones)}};
            if (!hasNext) {
                cycleOf(state)["next"] = "prepare";
                cycleOf(state)["due"] = 0;
                cycleOf(state)["why"] = "nothing to roll over: the prepare at " + utcTime(t) +
                                        " staged no new material";
            } else {
                const std::int64_t ttl = std::max(verdict.maxTtl, verdict.negativeTtl);
                const std::int64_t dnsDue = t + ttl + settings.margin;
                const std::int64_t minDue = t + settings.minwait;
                std::string why = "DNS caches may hold the old records until then (max TTL " +
                                  seconds(verdict.maxTtl) + ", negative TTL " +
                                  seconds(verdict.negativeTtl) + ", margin " +
                                  seconds(settings.margin) + ", since verified at " + utcTime(t) +
                                  ")";
                if (minDue > dnsDue) {
                    why = "minwait is " + seconds(settings.minwait) + " after the prepare at " +
                          utcTime(t);
                }
                if (before != Phase::Rollover ||
                    integer(cycleOf(state).if_contains("started")) == 0) {
                    cycleOf(state)["started"] = t;
                }
                cycleOf(state)["next"] = "rollover";
                cycleOf(state)["due"] = std::max(dnsDue, minDue);
                cycleOf(state)["why"] = why;
            }
        }
    } else if (result.complete && *phase == Phase::Rollover) {
        state["rollover"] = json::object{{"at", t}};
        cycleOf(state)["next"] = "cleanup";
        cycleOf(state)["due"] = t + settings.margin;
        cycleOf(state)["why"] =
            "the margin of " + seconds(settings.margin) + " after the rollover at " + utcTime(t) +
            " lets reloaded services settle before the old records and material go";
    } else if (result.complete && *phase == Phase::Cleanup) {
        state["cleanup"] = json::object{{"at", t}};
        if (const auto pending = dkimPending(doc)) {
            cycleOf(state)["next"] = "cleanup";
            cycleOf(state)["due"] = pending->due;
            cycleOf(state)["why"] = pending->why;
        } else if (before == Phase::Cleanup) {
            const std::int64_t number = integer(cycleOf(state).if_contains("number"), 1);
            cycleOf(state)["next"] = "prepare";
            cycleOf(state)["due"] = 0;
            cycleOf(state)["why"] =
                "cycle " + std::to_string(number) + " ended with the cleanup at " + utcTime(t);
            cycleOf(state)["started"] = 0;
            cycleOf(state)["number"] = number + 1;
        }
    }

    json::object run{{"phase", name}, {"at", t}, {"ok", result.complete}, {"exit", result.exit}};
    if (forcedRun(doc)) {
        run["forced"] = true;
    }
    if (!result.missing.empty()) {
        json::array missing;
        for (const auto& m : result.missing) {
            missing.emplace_back(m);
        }
        run["missing"] = std::move(missing);
    }
    addRun(state, std::move(run));

    result.next = next(state, now);
    json::object fields{{"phase", name},
                        {"complete", result.complete},
                        {"next", toString(result.next.phase)},
                        {"due", result.next.due},
                        {"exit", result.exit}};
    if (!result.missing.empty()) {
        json::array missing;
        for (const auto& m : result.missing) {
            missing.emplace_back(m);
        }
        fields["missing"] = std::move(missing);
    }
    document::report(doc, "cdm-phase", "commit", std::move(fields));
    return result;
}

void postWait(std::int64_t total, bool progress) {
    if (total <= 0) {
        return;
    }
    log::info("Wait " + std::to_string(total) + " s after run!");
    for (std::int64_t left = total; left > 0; --left) {
        if (progress) {
            std::cerr << "\r    " << left << " s left " << std::flush;
        }
        std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    if (progress) {
        std::cerr << "\r              \r" << std::flush;
    }
}

namespace {

std::string generationText(std::string_view kind, const json::object& g) {
    if (kind == "cert") {
        std::string s = "serial " + text(g.if_contains("serial"), "?");
        if (const auto na = integer(g.if_contains("not_after")); na != 0) {
            s += ", not after " + utcTime(na);
        }
        return s;
    }
    if (kind == "dkim") {
        std::string s = "selector " + text(g.if_contains("selector"), "?");
        if (const auto r = integer(g.if_contains("retired")); r != 0) {
            s += ", retired " + utcTime(r);
        }
        if (const auto r = integer(g.if_contains("revoked")); r != 0) {
            s += ", revoked " + utcTime(r);
        }
        return s;
    }
    std::string s = text(g.if_contains("group"));
    if (s.empty()) {
        s = std::to_string(integer(g.if_contains("bits"))) + " bits";
    }
    if (const auto c = integer(g.if_contains("created")); c != 0) {
        s += ", made " + utcTime(c);
    }
    return s;
}

} // namespace

std::string statusText(const json::object& state, const std::string& path, std::time_t now) {
    const Due due = next(state, now);
    const auto* cycle = objectAt(state, "cycle");
    std::string out = "state: " + path + "\n";
    out +=
        "cycle: " + std::to_string(cycle != nullptr ? integer(cycle->if_contains("number"), 1) : 1);
    if (cycle != nullptr && integer(cycle->if_contains("started")) != 0) {
        out += ", started " + utcTime(integer(cycle->if_contains("started")));
    }
    out += "\nnext: " + std::string(toString(due.phase)) +
           (due.wait > 0 ? ", due in " + seconds(due.wait) + " (at " + utcTime(due.due) + ")"
                         : ", due now") +
           (due.why.empty() ? "" : "\n  " + due.why) + "\n";
    for (const char* p : {"update", "prepare", "rollover", "cleanup"}) {
        const auto* o = objectAt(state, p);
        if (o == nullptr) {
            continue;
        }
        out += std::string("last ") + p + ": " + utcTime(integer(o->if_contains("at")));
        if (const auto* ok = o->if_contains("ok"); ok != nullptr && ok->is_bool()) {
            out += ok->as_bool() ? ", ok" : ", incomplete";
        }
        if (std::string_view(p) == "prepare") {
            out += ", verified " + utcTime(integer(o->if_contains("verified_at"))) + ", max TTL " +
                   seconds(integer(o->if_contains("max_ttl"))) + ", negative TTL " +
                   seconds(integer(o->if_contains("negative_ttl")));
        }
        out += "\n";
    }
    if (const auto* material = objectAt(state, "material");
        material != nullptr && !material->empty()) {
        out += "material:\n";
        for (const char* kind : {"cert", "dkim", "dhparam"}) {
            const auto* sections = objectAt(*material, kind);
            if (sections == nullptr) {
                continue;
            }
            for (const auto& [name, value] : *sections) {
                out += std::string("  ") + kind + " " + std::string(name) + ":\n";
                const auto* m = objectAt(&value);
                for (const char* which : {"current", "next", "previous", "standby"}) {
                    const auto* g = m != nullptr ? objectAt(*m, which) : nullptr;
                    if (g != nullptr) {
                        out += std::string("    ") + which + ": " +
                               (std::string_view(which) == "standby"
                                    ? "key " + text(g->if_contains("spki_sha256"))
                                    : generationText(kind, *g)) +
                               "\n";
                    }
                }
            }
        }
    }
    if (const auto* mtasts = objectAt(state, "mtasts"); mtasts != nullptr && !mtasts->empty()) {
        out += "mta-sts:\n";
        for (const auto& [domain, value] : *mtasts) {
            const auto* s = objectAt(&value);
            if (s == nullptr) {
                continue;
            }
            out += "  " + std::string(domain) + ": id " + text(s->if_contains("id")) + ", since " +
                   utcTime(integer(s->if_contains("since"))) + "\n";
            if (const auto* r = s->if_contains("retained"); r != nullptr && r->is_array()) {
                for (const auto& e : r->as_array()) {
                    const auto* o = objectAt(&e);
                    if (o != nullptr) {
                        out += "    retained mx " + text(o->if_contains("mx")) + " until " +
                               utcTime(integer(o->if_contains("until"))) + "\n";
                    }
                }
            }
        }
    }
    if (const auto* runs = state.if_contains("runs");
        runs != nullptr && runs->is_array() && !runs->as_array().empty()) {
        out += "runs:\n";
        for (const auto& r : runs->as_array()) {
            const auto* o = objectAt(&r);
            if (o == nullptr) {
                continue;
            }
            const auto* ok = o->if_contains("ok");
            const auto* forced = o->if_contains("forced");
            out += "  " + utcTime(integer(o->if_contains("at"))) + " " +
                   text(o->if_contains("phase")) + " " +
                   (ok != nullptr && ok->is_bool() && ok->as_bool() ? "ok" : "incomplete") +
                   " (exit " + std::to_string(integer(o->if_contains("exit"))) + ")" +
                   (forced != nullptr && forced->is_bool() && forced->as_bool() ? " forced" : "") +
                   "\n";
            if (const auto* m = o->if_contains("missing"); m != nullptr && m->is_array()) {
                for (const auto& one : m->as_array()) {
                    out += "    missing: " + text(&one) + "\n";
                }
            }
        }
    }
    return out;
}

json::object statusJson(const json::object& state, const std::string& path, std::time_t now) {
    json::object out = state;
    out["path"] = path;
    out["due"] = toJson(next(state, now));
    return out;
}

} // namespace cdm::phase

// ---- The verbs of cdm-phase ----

namespace cdm::phase {

namespace {

namespace po = boost::program_options;

constexpr std::size_t documentCap = 64U << 20U;

std::time_t nowOf(const po::variables_map& vm) {
    if (vm.count("now") == 0U) {
        return std::time(nullptr);
    }
    const long long now = vm["now"].as<long long>();
    if (now < 0) {
        throw Error(Exit::Usage, "--now takes Unix seconds, not '" + std::to_string(now) + "'");
    }
    return static_cast<std::time_t>(now);
}

std::string formatOf(const cli::Common& common) {
    const std::string format = common.format.empty() ? "text" : common.format;
    cli::requireOneOf("format", format, {"text", "json"});
    return format;
}

json::object readDocument() {
    return document::parse(cli::readAll(std::cin, documentCap, "<stdin>"), "<stdin>");
}

// The state file path: --state, else <statedir>/state.json of the document on stdin. Verbs
// that need no document read none when --state is given.
struct Input {
    std::optional<json::object> doc;
    std::string path;
};
Input input(const po::variables_map& vm, bool needDocument) {
    Input in;
    if (vm.count("state") != 0U) {
        in.path = vm["state"].as<std::string>();
        if (in.path.empty()) {
            throw Error(Exit::Usage, "--state is empty");
        }
    }
    if (needDocument || in.path.empty()) {
        if (!needDocument && isatty(STDIN_FILENO) != 0) {
            throw Error(Exit::Usage, "give --state FILE or a cdm document on standard input");
        }
        in.doc = readDocument();
    }
    if (in.path.empty()) {
        in.path = statePath(settings(*in.doc));
    }
    return in;
}

void stateOptions(po::options_description& o) {
    o.add_options()("state", po::value<std::string>(),
                    "the state file (default: <statedir>/state.json)")(
        "now", po::value<long long>(), "the time to decide at, in Unix seconds (for tests)");
}

int runPath(const po::variables_map& vm, const cli::Common& common) {
    const Input in = input(vm, false);
    cli::writeOut(formatOf(common) == "json"
                      ? json::serialize(json::object{{"path", in.path}}) + "\n"
                      : in.path + "\n");
    return 0;
}

int runNext(const po::variables_map& vm, const cli::Common& common) {
    const std::string format = formatOf(common);
    const Input in = input(vm, false);
    const StateFile file = load(in.path);
    const Due due = next(file.state, nowOf(vm));
    const bool force = vm.count("force") != 0U;
    if (format == "json") {
        cli::writeOut(json::serialize(toJson(due)) + "\n");
    }
    if (due.wait > 0) {
        if (!force) {
            throw Error(Exit::TempFail, waitMessage(due));
        }
        log::warn("forced: the wait is overridden: " + waitMessage(due));
    }
    if (format == "text") {
        cli::writeOut(std::string(toString(due.phase)) + "\n");
    }
    return 0;
}

int runBegin(const po::variables_map& vm, const cli::Common&) {
    const std::string name = vm.count("phase") != 0U ? vm["phase"].as<std::string>() : "";
    cli::requireOneOf("phase", name, {"update", "prepare", "rollover", "cleanup"});
    Input in = input(vm, true);
    const StateFile file = load(in.path);
    begin(*in.doc, file.state, *phaseFromString(name), nowOf(vm), vm.count("force") != 0U);
    cli::writeOut(document::serialize(*in.doc));
    return 0;
}

int runMtasts(const po::variables_map& vm, const cli::Common&) {
    Input in = input(vm, true);
    const StateFile file = load(in.path);
    mtasts::run(*in.doc, file.state.if_contains("mtasts"), nowOf(vm));
    cli::writeOut(document::serialize(*in.doc));
    return 0;
}

int runCommit(const po::variables_map& vm, const cli::Common&) {
    std::optional<Failed> failed;
    if (vm.count("failed") != 0U) {
        failed = parseFailed(vm["failed"].as<std::string>());
    }
    Input in = input(vm, true);
    const Settings s = settings(*in.doc);
    StateFile file = load(in.path);
    const CommitResult result = commit(file.state, *in.doc, s, nowOf(vm), failed);
    save(file);
    cli::writeOut(document::serialize(*in.doc));
    const std::string name(toString(result.phase));
    if (!result.complete) {
        std::string missing;
        for (const auto& m : result.missing) {
            missing += (missing.empty() ? "" : "; ") + m;
        }
        throw Error(static_cast<Exit>(result.exit), name + " incomplete: " + missing);
    }
    if (result.phase != Phase::Update) {
        log::info(name + " complete; next: " +
                  (result.next.wait > 0 ? waitMessage(result.next)
                                        : std::string(toString(result.next.phase)) + " (due now)"));
        postWait(s.postwait, isatty(STDERR_FILENO) != 0);
    }
    return 0;
}

int runStatus(const po::variables_map& vm, const cli::Common& common) {
    const std::string format = formatOf(common);
    const Input in = input(vm, false);
    const StateFile file = load(in.path);
    const std::time_t now = nowOf(vm);
    cli::writeOut(format == "json" ? document::serialize(statusJson(file.state, in.path, now))
                                   : statusText(file.state, in.path, now));
    return 0;
}

void formatOption(po::options_description& o) {
    o.add_options()("format", po::value<std::string>(), "text (the default) | json");
}

} // namespace

const std::vector<cli::Verb>& verbs() {
    static const std::vector<cli::Verb> table{
        {"path", runPath, "path [--state FILE] < DOCUMENT",
         "Print the state file's path: <statedir>/state.json of the document's [cdm] section.\n"
         "The driver locks <path>.lock.",
         [](po::options_description& o) {
             stateOptions(o);
             formatOption(o);
         }},
        {"next", runNext,
         "next [--force] [--state FILE] [--now T] [--format text|json] [< DOCUMENT]",
         "Print the phase that is due: prepare, rollover or cleanup. When its wait is not over,\n"
         "say on standard error how long and why, print nothing, and exit 75; --force prints\n"
         "the phase anyway and says that the wait was overridden.",
         [](po::options_description& o) {
             stateOptions(o);
             formatOption(o);
             o.add_options()("force", "print the phase even when its wait is not over");
         }},
        {"begin", runBegin, "begin --phase P [--force] [--state FILE] [--now T] < DOCUMENT",
         "Check that phase P may run now (else exit 75 naming what is missing; --force runs it\n"
         "anyway and says so), then print the document with the material from the state file,\n"
         "\"phase\" set and, for every phase but update, no static records or files.",
         [](po::options_description& o) {
             stateOptions(o);
             o.add_options()("phase", po::value<std::string>(),
                             "update | prepare | rollover | cleanup")(
                 "force", "run the phase even when it is not due");
         }},
        {"mtasts", runMtasts, "mtasts [--state FILE] [--now T] < DOCUMENT",
         "The MTA-STS step of update: keep MX hosts dropped from a policy in it until senders'\n"
         "cached copies of the old policy expire, write each policy file that changed, and set\n"
         "the _mta-sts record's id to match (RFC 8461). Run it before cdm-dns-apply.",
         stateOptions},
        {"commit", runCommit, "commit [--failed PROGRAM:EXIT] [--state FILE] [--now T] < DOCUMENT",
         "The end of every run: store the material in the state file, and when the phase's\n"
         "work is complete (nothing failed, every zone applied and verified) move the cycle on;\n"
         "else say what is missing and exit with --failed's code, 75 or 69. Prints the document.",
         [](po::options_description& o) {
             stateOptions(o);
             o.add_options()("failed", po::value<std::string>(),
                             "PROGRAM:EXIT: a step of this run failed");
         }},
        {"status", runStatus, "status [--state FILE] [--now T] [--format text|json] [< DOCUMENT]",
         "Describe the state: the cycle, what is due and when, the material of each section,\n"
         "the MTA-STS policies and the last runs.",
         [](po::options_description& o) {
             stateOptions(o);
             formatOption(o);
         }},
    };
    return table;
}

int dispatch(const std::vector<cli::Verb>& table, int argc, const char* const* argv) {
    return cli::dispatch(
        {"cdm-phase", "",
         "The rollover state machine of cdm: which phase is due, whether its wait is over,\n"
         "and the state file that carries material between runs."},
        table, argc, argv);
}

} // namespace cdm::phase
