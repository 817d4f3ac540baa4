#include "libcommon/dnsapply.hpp"

#include <algorithm>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "libcommon/cli.hpp"
#include "libcommon/config.hpp"
#include "libcommon/dnsplan.hpp"
#include "libcommon/dnsverify.hpp"
#include "libcommon/document.hpp"
#include "libcommon/error.hpp"
#include "libcommon/fsutil.hpp"
#include "libcommon/log.hpp"
#include "libcommon/name.hpp"
#include "libcommon/provider.hpp"
#include "libcommon/spf.hpp"

namespace cdm::dnsapply {

namespace json = boost::json;
using document::DesiredRecord;
using document::Op;

namespace {

constexpr std::size_t inputCap = 256U << 20U;
constexpr const char* program = "cdm-dns-apply";

// The keys that say how a zone is reached; two sections that share a zone must agree on them.
const std::vector<std::string>& accessKeys() {
    static const std::vector<std::string> keys = {"handler", "server", "port", "keyfile", "key", "api_url", "url",
                                                  "server_id", "zonefile", "user", "reload"};
    return keys;
}

std::string trim(std::string_view s) {
    const auto b = s.find_first_not_of(" \t\r");
    const auto e = s.find_last_not_of(" \t\r");
    return b == std::string_view::npos ? std::string() : std::string(s.substr(b, e - b + 1));
}

bool isNumber(const std::string& s) {
    return !s.empty() && s.size() <= 10 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

std::string upper(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return s;
}

// A zone-file line without data (`NAME [TTL] [IN] TYPE` or data `none`) deletes the RRset.
std::optional<DesiredRecord> deletionLine(const std::string& line, const std::string& origin) {
    std::istringstream in(line);
    std::vector<std::string> tokens;
    for (std::string t; in >> t;) {
        if (t.front() == ';') {
            break;
        }
        tokens.push_back(t);
    }
    if (tokens.size() < 2) {
        return std::nullopt;
    }
    std::size_t i = 1;
    std::uint32_t ttl = 600;
    while (i < tokens.size() && (isNumber(tokens[i]) || upper(tokens[i]) == "IN")) {
        if (isNumber(tokens[i])) {
            ttl = static_cast<std::uint32_t>(std::stoul(tokens[i]));
        }
        ++i;
    }
    if (i >= tokens.size()) {
        return std::nullopt;
    }
    const auto type = record::typeFromString(tokens[i]);
    const bool noData = i + 1 == tokens.size() || (i + 2 == tokens.size() && tokens[i + 1] == "none");
    if (!type || !noData) {
        return std::nullopt;
    }
    DesiredRecord d;
    d.name = name::normalize(tokens[0], origin);
    d.type = *type;
    d.ttl = ttl;
    d.op = Op::None;
    d.scope.name = d.name;
    d.scope.type = d.type;
    return d;
}

std::string zoneOfName(const std::string& n, const Request& request, const provider::Settings& settings,
                       std::map<std::string, std::string>& cache) {
    if (request.zone) {
        return name::normalize(*request.zone);
    }
    if (const auto z = settings.get("zone"); z && !z->empty()) {
        return name::normalize(*z);
    }
    const auto it = cache.find(n);
    if (it != cache.end()) {
        return it->second;
    }
    const std::string zone = name::normalize(resolve::zoneOf(request.resolver, n));
    cache[n] = zone;
    return zone;
}

struct ZoneJob {
    std::string zone;
    provider::Settings settings;
    std::vector<DesiredRecord> records;
    std::unique_ptr<provider::Provider> provider;
};

std::string describe(const provider::Settings& s) {
    std::string out = s.handler.empty() ? "(no handler)" : s.handler;
    for (const auto& k : accessKeys()) {
        if (k != "handler") {
            if (const auto v = s.get(k)) {
                out += " " + k + "=" + *v;
            }
        }
    }
    return out;
}

// Count the DNS lookups of each SPF record about to be published (RFC 7208 §4.6.4); the
// document's records count as published, so an include target added in the same run is found.
void checkSpf(const dnsplan::Plan& plan, const Request& request, const std::vector<record::Record>& pending) {
    for (const auto& e : plan.entries) {
        if (e.rr.type != record::Type::TXT ||
            (e.action != dnsplan::Entry::Action::AddNew && e.action != dnsplan::Entry::Action::Update)) {
            continue;
        }
        std::string text;
        try {
            text = record::txtText(e.rr.data);
        } catch (const Error&) {
            continue;
        }
        if (!spf::isSpf(text)) {
            continue;
        }
        const spf::Count count = spf::count(text, e.rr.name, request.resolver, pending);
        for (const auto& n : count.notes) {
            log::debug("SPF record at '" + e.rr.name + "': " + n);
        }
        const auto lines = spf::warnings(count, e.rr.name);
        for (const auto& l : lines) {
            log::warn(l);
        }
        if (request.strict && count.permerror() && !lines.empty()) {
            throw Error(Exit::DataErr, lines.front() + "; nothing published (--strict)", Location{e.source, 0, ""});
        }
    }
}

dnsverify::Result verifyZone(const ZoneJob& job, const dnsplan::Plan& plan, const provider::ZoneContents& contents,
                             std::uint32_t serial, const Request& request) {
    dnsverify::Request v;
    v.zone = job.zone;
    v.minSerial = serial;
    v.servers = request.verifyServers;
    v.port = request.nsPort;
    v.resolver = request.resolver;
    v.trustAnchorFile = request.trustAnchorFile;
    v.viaResolver = request.viaResolver;
    v.timeout = request.verifyTimeout;
    // Every RRset the document speaks of, as it now should be: the changed ones, and the
    // ones already right (the phase logic wants proof of those too).
    std::set<provider::RRsetKey> done;
    for (const auto& c : plan.change.rrsets) {
        dnsverify::Expect e{c.key, c.after, 0};
        for (const auto& b : c.before) {
            e.oldTtl = std::max(e.oldTtl, b.ttl);
        }
        v.expect.push_back(std::move(e));
        done.insert(c.key);
    }
    std::map<provider::RRsetKey, std::vector<record::Record>> now;
    for (const auto& rr : contents.records) {
        now[{rr.name, rr.type}].push_back(rr);
    }
    for (const auto& e : plan.entries) {
        const provider::RRsetKey key{e.rr.name, e.rr.type};
        if (e.action == dnsplan::Entry::Action::Skip || done.count(key) != 0U) {
            continue;
        }
        done.insert(key);
        v.expect.push_back(dnsverify::Expect{key, now[key], 0});
    }
    if (request.progress) {
        v.progress = [](const std::string& waitingFor, std::chrono::milliseconds left) {
            std::cerr << "\r\033[K" << program << ": waiting " << std::chrono::duration_cast<std::chrono::seconds>(left).count()
                      << " s more for " << waitingFor << std::flush;
        };
    }
    auto result = dnsverify::verify(v);
    if (request.progress) {
        std::cerr << "\r\033[K" << std::flush;
    }
    return result;
}

} // namespace

std::string readInput(const std::string& file) {
    if (file == "-") {
        return cli::readAll(std::cin, inputCap, "<stdin>");
    }
    return fsutil::readFile(file, inputCap);
}

json::object parseInput(const std::string& text, const std::string& sourceName) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && text[first] == '{') {
        return document::parse(text, sourceName);
    }
    json::object doc = document::empty();
    std::vector<json::object> records;
    std::istringstream in(text);
    unsigned lineNo = 0;
    for (std::string line; std::getline(in, line);) {
        ++lineNo;
        const std::string t = trim(line);
        if (t.empty() || t.front() == ';' || t.front() == '#') {
            continue;
        }
        try {
            if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
                throw Error(Exit::DataErr, "no owner name in the first column");
            }
            DesiredRecord d;
            if (auto del = deletionLine(line, "")) {
                d = std::move(*del);
            } else {
                const record::Record rr = record::Record::parseLine(line, "", 600);
                d.name = rr.name;
                d.type = rr.type;
                d.ttl = rr.ttl;
                d.data = rr.data;
                d.scope.name = rr.name;
                d.scope.type = rr.type;
            }
            d.source = sourceName + ":" + std::to_string(lineNo);
            records.push_back(document::toJson(d));
        } catch (const Error& e) {
            throw Error(e.code(), e.message(), Location{sourceName, lineNo, ""});
        }
    }
    document::appendRecords(doc, std::move(records));
    return doc;
}

std::uint16_t parsePort(unsigned port) {
    if (port == 0 || port > 65535) {
        throw Error(Exit::Usage, "port " + std::to_string(port) + " is not from 1 to 65535");
    }
    return static_cast<std::uint16_t>(port);
}

std::string toText(const Result& result) {
    std::string out;
    const auto* report = result.document.if_contains("report");
    if (report == nullptr || !report->is_array()) {
        return out;
    }
    for (const auto& entry : report->as_array()) {
        if (!entry.is_object()) {
            continue;
        }
        const auto& o = entry.as_object();
        const auto* p = o.if_contains("program");
        if (p == nullptr || !p->is_string() || p->as_string() != program) {
            continue;
        }
        if (const auto* lines = o.if_contains("log"); lines && lines->is_array()) {
            for (const auto& l : lines->as_array()) {
                if (l.is_string()) {
                    out += std::string(l.as_string()) + "\n";
                }
            }
        }
    }
    return out;
}

void applyConfig(Request& request, const json::object& document) {
    const auto key = [&](const char* name) { return document::sectionKey(document, "cdm", "DEFAULT", name); };
    const auto servers = [&](const char* name) {
        std::vector<resolve::Server> out;
        for (const auto& item : config::listItems(*key(name))) {
            try {
                out.push_back(resolve::parseServer(item));
            } catch (const Error& e) {
                throw Error(Exit::Config, std::string(name) + ": " + e.message(),
                            document::keyLocation(document, "cdm", "DEFAULT", name));
            }
        }
        return out;
    };
    const auto number = [&](const char* name, unsigned long max) {
        const std::string v = *key(name);
        if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos ||
            std::stoul(v) == 0 || std::stoul(v) > max) {
            throw Error(Exit::Config, std::string(name) + " '" + v + "' is not a number from 1 to " + std::to_string(max),
                        document::keyLocation(document, "cdm", "DEFAULT", name));
        }
        return std::stoul(v);
    };
    if (request.resolver.servers.empty() && key("resolver")) {
        request.resolver.servers = servers("resolver");
    }
    if (request.verifyServers.empty() && key("verifyserver")) {
        request.verifyServers = servers("verifyserver");
    }
    if (request.trustAnchorFile.empty() && key("trustanchor") && !key("trustanchor")->empty()) {
        request.trustAnchorFile = *key("trustanchor");
    }
    if (request.resolver.trustAnchorFile.empty()) {
        request.resolver.trustAnchorFile = request.trustAnchorFile;
    }
    if (!request.nsPortGiven && key("nsport")) {
        request.nsPort = static_cast<std::uint16_t>(number("nsport", 65535));
    }
    if (!request.verifyTimeoutGiven && key("dnstimeout")) {
        request.verifyTimeout = std::chrono::seconds(number("dnstimeout", 86400));
    }
}

Result run(Request request) {
    Result result;
    result.document = parseInput(request.input, request.sourceName);
    json::object& doc = result.document;
    applyConfig(request, doc);
    const std::vector<DesiredRecord> records = document::records(doc, request.sourceName);

    // Everything that can be wrong with the input is found before anything changes.
    std::map<std::string, std::string> overrides;
    for (const auto& kv : request.settings) {
        const auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) {
            throw Error(Exit::Usage, "--set '" + kv + "' is not KEY=VALUE");
        }
        const std::string key = kv.substr(0, eq);
        if (log::isSecretKey(key)) {
            throw Error(Exit::Usage, "secrets are never taken from the command line: use --set " + key + "_file=PATH");
        }
        overrides[key] = kv.substr(eq + 1);
    }
    std::map<std::string, provider::Settings> settingsBySection;
    const auto settingsFor = [&](const DesiredRecord& d) -> const provider::Settings& {
        auto it = settingsBySection.find(d.section);
        if (it != settingsBySection.end()) {
            return it->second;
        }
        provider::Settings s;
        bool inConfig = false;
        if (!d.section.empty()) {
            if (const auto* cfg = doc.if_contains("config"); cfg && cfg->is_object()) {
                if (const auto* dom = cfg->as_object().if_contains("domain"); dom && dom->is_object()) {
                    inConfig = dom->as_object().contains(d.section);
                }
            }
        }
        if (inConfig) {
            s = provider::Settings::fromDocument(doc, d.section);
        } else {
            s.section = d.section.empty() ? "the command line" : "[domain:" + d.section + "]";
        }
        for (const auto& [k, v] : overrides) {
            s.keys[k] = v;
            s.where[k] = "--set " + k;
        }
        if (request.handler) {
            s.keys["handler"] = *request.handler;
            s.where["handler"] = "--handler";
        }
        s.handler = provider::canonicalHandler(s.get("handler").value_or(""));
        s.resolver = request.resolver;
        return settingsBySection.emplace(d.section, std::move(s)).first->second;
    };

    std::map<std::string, std::string> zoneCache;
    std::map<std::string, ZoneJob> jobs;
    std::vector<std::string> order;
    for (const auto& d : records) {
        const provider::Settings& s = settingsFor(d);
        const std::string zone = zoneOfName(name::normalize(d.name), request, s, zoneCache);
        if (!name::isSubdomain(d.name, zone)) {
            throw Error(Exit::DataErr, "'" + d.name + "' is not in zone '" + zone + "'", Location{d.source, 0, ""});
        }
        auto it = jobs.find(zone);
        if (it == jobs.end()) {
            it = jobs.emplace(zone, ZoneJob{zone, s, {}, nullptr}).first;
            order.push_back(zone);
        } else if (describe(it->second.settings) != describe(s)) {
            throw Error(Exit::Config,
                        "zone '" + zone + "' is reached two ways: " + it->second.settings.section + " (" +
                            describe(it->second.settings) + ") and " + s.section + " (" + describe(s) + ")");
        }
        it->second.records.push_back(d);
    }
    for (auto& zone : order) {
        ZoneJob& job = jobs.at(zone);
        job.provider = provider::make(job.settings);
    }

    // What every zone holds and what it must change, before anything changes: an SPF record
    // refused with --strict then stops the whole run.
    std::vector<record::Record> pending;
    for (const auto& d : records) {
        if (d.data && (d.op == Op::Replace || d.op == Op::Add)) {
            pending.push_back(record::Record{name::normalize(d.name), d.type, d.ttl, *d.data});
        }
    }
    struct Planned {
        provider::ZoneContents contents;
        dnsplan::Plan plan;
        std::optional<Error> error;
    };
    std::map<std::string, Planned> planned;
    for (const auto& zone : order) {
        ZoneJob& job = jobs.at(zone);
        Planned& p = planned[zone];
        try {
            p.contents = job.provider->read(zone, dnsplan::wanted(job.records));
            if (!p.contents.complete && dnsplan::needsWholeZone(job.records)) {
                log::warn("zone '" + zone + "' could not be read whole (no zone transfer): scopes with '*' " +
                          "labels see only the names the document names");
            }
            p.plan = dnsplan::compute(zone, job.records, p.contents);
        } catch (const Error& e) {
            if (e.code() == Exit::DataErr) {
                throw; // the input is wrong: change nothing anywhere
            }
            p.error = e;
        }
    }
    for (const auto& zone : order) {
        if (!planned[zone].error) {
            checkSpf(planned[zone].plan, request, pending);
        }
    }

    std::optional<Error> failure;
    // Every zone is changed first, then verified: the secondaries transfer the zones while
    // the first ones are checked, instead of one zone's wait after another's. The reports
    // keep the zones' order.
    std::vector<json::object> entries;
    std::vector<std::uint32_t> toVerify; // the new serial of each zone in `order`
    std::vector<bool> verifyZones;
    std::vector<std::optional<Error>> zoneFailure(order.size());
    for (const auto& zone : order) {
        ZoneJob& job = jobs.at(zone);
        Planned& p = planned[zone];
        json::object& entry = entries.emplace_back(
            json::object{{"zone", zone}, {"handler", job.settings.handler}, {"dry_run", request.dryRun}});
        toVerify.push_back(0);
        verifyZones.push_back(false);
        json::array changes;
        json::array lines;
        try {
            if (p.error) {
                throw *p.error;
            }
            provider::ZoneContents& contents = p.contents;
            dnsplan::Plan& plan = p.plan;
            provider::Applied applied;
            applied.serial = contents.serial;
            std::mt19937 jitter{std::random_device{}()};
            for (unsigned attempt = 0; !request.dryRun && !plan.empty(); ++attempt) {
                try {
                    applied = job.provider->apply(plan.change);
                    break;
                } catch (const provider::RaceLost& lost) {
                    if (attempt + 1 >= request.raceRetries) {
                        throw Error(Exit::TempFail, "zone '" + zone + "' kept changing while cdm changed it (" +
                                                        lost.message() + "); tried " + std::to_string(attempt + 1) +
                                                        " times");
                    }
                    log::warn("zone '" + zone + "' changed since it was read (" + lost.message() +
                              "); reading it again");
                    std::this_thread::sleep_for(std::chrono::milliseconds(
                        std::uniform_int_distribution<int>(50, 250)(jitter) * static_cast<int>(attempt + 1)));
                    contents = job.provider->read(zone, dnsplan::wanted(job.records));
                    plan = dnsplan::compute(zone, job.records, contents);
                }
            }
            for (const auto& w : plan.warnings) {
                log::warn(w);
            }
            for (const auto& e : plan.entries) {
                const std::string line = (request.dryRun ? "would " : "") + dnsplan::logLine(e);
                log::info(line);
                lines.emplace_back(line);
                changes.emplace_back(dnsplan::toJson(e, zone));
            }
            if (plan.empty()) {
                log::info("zone " + zone + ": nothing to change");
            }
            entry["changed"] = !request.dryRun && !plan.empty();
            entry["messages"] = applied.messages;
            if (applied.serial != 0) {
                entry["serial"] = applied.serial;
            }
            entry["records"] = std::move(changes);
            entry["log"] = std::move(lines);
            if (request.verify && !request.dryRun) {
                toVerify.back() = applied.serial;
                verifyZones.back() = true;
            }
        } catch (const Error& e) {
            // Other zones still get their change; the first failure decides the exit code.
            entry["error"] = e.what();
            entry["exit"] = static_cast<int>(e.code());
            entry["records"] = std::move(changes);
            entry["log"] = std::move(lines);
            zoneFailure[entries.size() - 1] = e;
            if (order.size() > 1) {
                log::error("zone " + zone + ": " + e.what());
            }
        }
    }
    for (std::size_t i = 0; i < order.size(); ++i) {
        if (!verifyZones[i]) {
            continue;
        }
        const std::string& zone = order[i];
        json::object& entry = entries[i];
        try {
            const auto v = verifyZone(jobs.at(zone), planned[zone].plan, planned[zone].contents, toVerify[i],
                                      request);
            entry["verify"] = dnsverify::toJson(v);
            for (const auto& n : v.notes) {
                log::warn("zone " + zone + ": " + n);
            }
            if (!v.ok) {
                std::string why;
                for (const auto& problem : v.problems) {
                    why += (why.empty() ? "" : "; ") + problem;
                }
                zoneFailure[i] = Error(Exit::TempFail, "zone '" + zone + "' is not served everywhere yet: " + why);
            } else {
                log::info("zone " + zone + ": verified at " + std::to_string(v.servers.size()) +
                          " server addresses (largest TTL " + std::to_string(v.maxTtl) + " s, negative TTL " +
                          std::to_string(v.negativeTtl) + " s)");
            }
        } catch (const Error& e) {
            entry["error"] = e.what();
            entry["exit"] = static_cast<int>(e.code());
            zoneFailure[i] = e;
            if (order.size() > 1) {
                log::error("zone " + zone + ": " + e.what());
            }
        }
    }
    // The first failure in the zones' order decides the exit code, as when each zone was
    // verified right after its change.
    for (const auto& f : zoneFailure) {
        if (f && !failure) {
            failure = f;
        }
    }
    for (auto& entry : entries) {
        document::report(doc, program, request.dryRun ? "plan" : "apply", std::move(entry));
    }
    if (failure) {
        result.failure = failure;
        result.exit = static_cast<int>(failure->code());
    }
    return result;
}

} // namespace cdm::dnsapply
