#include "libcommon/reload.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "libcommon/config.hpp"
#include "libcommon/dkimphase.hpp"
#include "libcommon/document.hpp"
#include "libcommon/faultpoint.hpp"
#include "libcommon/log.hpp"

namespace cdm::reload {

namespace json = boost::json;

namespace {

constexpr std::size_t reportOutputLimit = 4000;

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string trim(std::string_view s) {
    const auto begin = s.find_first_not_of(" \t\r\n");
    if (begin == std::string_view::npos) {
        return {};
    }
    const auto end = s.find_last_not_of(" \t\r\n");
    return std::string(s.substr(begin, end - begin + 1));
}

void addUnique(std::vector<std::string>& list, const std::string& item) {
    if (std::find(list.begin(), list.end(), item) == list.end()) {
        list.push_back(item);
    }
}

std::string label(const std::string& service) {
    return "[service:" + service + "]";
}

const Setting* find(const Settings& settings, const std::string& key) {
    const auto it = settings.find(key);
    return it != settings.end() ? &it->second : nullptr;
}

std::vector<std::string> words(const Setting& s) {
    return command::splitWords(s.value, s.where);
}

int parseSignal(const Setting& s, const std::string& service) {
    std::string name = s.value;
    for (auto& c : name) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    if (name.rfind("SIG", 0) == 0) {
        name.erase(0, 3);
    }
    if (!name.empty() && std::all_of(name.begin(), name.end(),
                                     [](unsigned char c) { return std::isdigit(c) != 0; })) {
        const int number = std::stoi(name.substr(0, 3));
        if (number > 0 && number < NSIG) {
            return number;
        }
    }
    for (int sig = 1; sig < NSIG; ++sig) {
        const char* abbrev = ::sigabbrev_np(sig);
        if (abbrev != nullptr && name == abbrev) {
            return sig;
        }
    }
    throw Error(Exit::Config,
                label(service) + " signal '" + s.value + "' is not a signal name or number",
                s.where);
}

std::string defaultUnit(Handler h) {
    return h == Handler::Command ? std::string() : std::string(toString(h));
}

std::optional<std::vector<std::string>> defaultTest(Handler h) {
    switch (h) {
    case Handler::Apache2:
        return std::vector<std::string>{"apache2ctl", "-t"};
    case Handler::Nginx:
        return std::vector<std::string>{"nginx", "-t", "-q"};
    case Handler::Postfix:
        return std::vector<std::string>{"postfix", "check"};
    case Handler::Dovecot:
        return std::vector<std::string>{"doveconf", "-n"};
    case Handler::Rspamd:
        return std::vector<std::string>{"rspamadm", "configtest"};
    case Handler::Command:
        break;
    }
    return std::nullopt;
}

// ---- reading the document ------------------------------------------------------------

const json::object* objectAt(const json::value* v) {
    return v != nullptr && v->is_object() ? &v->as_object() : nullptr;
}

const json::object* configOf(const json::object& doc, std::string_view kind) {
    const auto* config = objectAt(doc.if_contains("config"));
    return config != nullptr ? objectAt(config->if_contains(kind)) : nullptr;
}

// Named sections of a kind in config order (without DEFAULT).
std::vector<std::string> sectionNames(const json::object& doc, std::string_view kind) {
    std::vector<std::string> out;
    if (const auto* sections = configOf(doc, kind)) {
        for (const auto& [name, value] : *sections) {
            if (name != "DEFAULT" && value.is_object()) {
                out.emplace_back(name);
            }
        }
    }
    return out;
}

Settings settingsOf(const std::string& service, const json::object& section) {
    Settings out;
    const auto* keys = objectAt(section.if_contains("keys"));
    const auto* where = objectAt(section.if_contains("where"));
    if (keys == nullptr) {
        return out;
    }
    for (const auto& [key, value] : *keys) {
        Setting s;
        if (where != nullptr) {
            if (const auto* w = where->if_contains(key); w != nullptr && w->is_string()) {
                s.where = document::locationOf(std::string(w->as_string()));
                if (w->as_string() == "built-in") {
                    // Marks a handler default: written() tells it from a key the admin set.
                    s.where.path = "built-in";
                }
            }
        }
        if (value.is_string()) {
            s.value = std::string(value.as_string());
        } else if (value.is_object() && value.as_object().contains("secret")) {
            // A value made from a secret never goes on a command line or into a log.
            s.value.clear();
            s.where.path = "secret";
        } else {
            throw Error(Exit::DataErr, "config.service." + service + ".keys." + std::string(key) +
                                           " is not a string");
        }
        out.emplace(std::string(key), std::move(s));
    }
    return out;
}

bool written(const Setting* s) {
    return s != nullptr && s->where.path != "built-in";
}

// The sections of `kind` that the domains link: [domain:X] cert = ..., dkim = auto:NAME.
std::vector<std::string> linkedBy(const json::object& doc, const std::vector<std::string>& domains,
                                  std::string_view kind) {
    std::vector<std::string> out;
    const auto* all = configOf(doc, "domain");
    for (const auto& d : domains) {
        const auto* section = all != nullptr ? objectAt(all->if_contains(d)) : nullptr;
        if (section == nullptr) {
            continue;
        }
        if (kind == "cert") {
            if (const auto* certs = section->if_contains("certs");
                certs != nullptr && certs->is_array()) {
                for (const auto& c : certs->as_array()) {
                    if (c.is_string()) {
                        addUnique(out, std::string(c.as_string()));
                    }
                }
            }
        } else if (const auto* dkim = section->if_contains("dkim");
                   dkim != nullptr && dkim->is_array()) {
            for (const auto& entry : dkim->as_array()) {
                const auto* e = objectAt(&entry);
                if (e == nullptr) {
                    continue;
                }
                const auto* key = e->if_contains("key");
                const auto* op = e->if_contains("op");
                const bool withdrawn =
                    op != nullptr && op->is_string() && op->as_string() == "none";
                if (key != nullptr && key->is_string() && !withdrawn) {
                    addUnique(out, std::string(key->as_string()));
                }
            }
        }
    }
    return out;
}

std::vector<std::string> serviceDomains(const json::object& doc, const std::string& service,
                                        const Settings& settings) {
    const std::vector<std::string> all = sectionNames(doc, "domain");
    const Setting* s = find(settings, "domain");
    if (s == nullptr || lower(trim(s->value)) == "auto") {
        return all;
    }
    std::vector<std::string> out;
    for (const auto& item : config::listItems(s->value)) {
        if (lower(item) == "auto") {
            for (const auto& d : all) {
                addUnique(out, d);
            }
            continue;
        }
        std::string wanted = lower(item);
        if (!wanted.empty() && wanted.back() == '.') {
            wanted.pop_back();
        }
        const auto it = std::find_if(all.begin(), all.end(), [&](const std::string& d) {
            std::string name = lower(d);
            if (!name.empty() && name.back() == '.') {
                name.pop_back();
            }
            return name == wanted;
        });
        if (it == all.end()) {
            throw Error(Exit::Config,
                        label(service) + " domain '" + item + "': no [domain:" + item + "] section",
                        s->where);
        }
        addUnique(out, *it);
    }
    return out;
}

std::vector<std::string> defaultDepends(Handler h) {
    switch (h) {
    case Handler::Rspamd:
        return {"dkim"};
    case Handler::Command:
        return {"cert", "dkim", "dhparam"};
    default:
        return {"cert", "dhparam"};
    }
}

Waits waitsOf(const json::object& doc, const std::string& service, Handler handler,
              const Settings& settings) {
    std::vector<std::string> depends = defaultDepends(handler);
    if (const Setting* d = find(settings, "depends")) {
        depends.clear();
        for (const auto& item : config::listItems(d->value)) {
            const std::string kind = lower(item);
            if (kind == "none") {
                continue;
            }
            if (kind != "cert" && kind != "dkim" && kind != "dhparam") {
                throw Error(Exit::Config,
                            label(service) + " depends '" + item +
                                "' is not one of cert, dkim, dhparam",
                            d->where);
            }
            addUnique(depends, kind);
        }
    }
    const std::vector<std::string> domains = serviceDomains(doc, service, settings);
    Waits waits;
    for (const char* kind : {"cert", "dkim", "dhparam"}) {
        const Setting* s = find(settings, kind);
        const bool wanted = std::find(depends.begin(), depends.end(), kind) != depends.end();
        if (!wanted && !written(s)) {
            continue;
        }
        const std::string value = s != nullptr ? trim(s->value) : std::string("auto");
        std::vector<std::string>& into = std::string_view(kind) == "cert"   ? waits.cert
                                         : std::string_view(kind) == "dkim" ? waits.dkim
                                                                            : waits.dhparam;
        const std::vector<std::string> sections = sectionNames(doc, kind);
        for (const auto& item : config::listItems(value)) {
            if (lower(item) == "none") {
                continue;
            }
            if (lower(item) == "auto") {
                const auto linked =
                    std::string_view(kind) == "dhparam" ? sections : linkedBy(doc, domains, kind);
                for (const auto& name : linked) {
                    addUnique(into, name);
                }
                continue;
            }
            if (std::find(sections.begin(), sections.end(), item) == sections.end()) {
                throw Error(Exit::Config,
                            label(service) + " " + kind + " '" + item + "': no [" + kind + ":" +
                                item + "] section",
                            s != nullptr ? s->where : Location{});
            }
            addUnique(into, item);
        }
    }
    return waits;
}

// ---- running ---------------------------------------------------------------------------

struct Step {
    bool ok = false;
    bool started = true; // false: the program could not be run at all (not found, say)
    std::string error;   // "nginx -t -q: exit status 1"
    std::string output;  // stdout then stderr
};

// Why a program could not be started. The usual cause is cron: its PATH is /usr/bin:/bin, so
// "nginx" or "postfix" in /usr/sbin is not found although it works from a login shell.
std::string notStarted(const std::string& program, const Error& e) {
    const std::string enoent = std::strerror(ENOENT);
    const std::string& m = e.message();
    if (m.size() < enoent.size() ||
        m.compare(m.size() - enoent.size(), enoent.size(), enoent) != 0) {
        return m;
    }
    if (program.find('/') != std::string::npos) {
        return m + " (program '" + program + "' not found)";
    }
    return m + " (program '" + program +
           "' not found on PATH; cron's PATH may lack /usr/sbin: give its full path or set PATH)";
}

std::string shorten(std::string text) {
    if (text.size() > reportOutputLimit) {
        text = "..." + text.substr(text.size() - reportOutputLimit);
    }
    return text;
}

void logOutput(std::string_view text, log::Level level) {
    std::istringstream lines{std::string(text)};
    std::string line;
    while (std::getline(lines, line)) {
        log::write(level, "    " + line);
    }
}

Step runLogged(const std::vector<std::string>& argv, std::chrono::seconds timeout,
               bool quietOutput = false) {
    log::info("RUN CMD: " + command::toText(argv));
    Step step;
    command::Options options;
    options.timeout = timeout;
    try {
        const command::Result r = command::run(argv, options);
        step.output = r.out + r.err;
        step.ok = r.ok();
        logOutput(step.output, quietOutput && step.ok ? log::Level::Debug : log::Level::Info);
        if (!step.ok) {
            step.error = command::toText(argv) + ": " + r.describe();
            if (r.timedOut) {
                step.error += " after " + std::to_string(timeout.count()) + " s";
            }
        }
    } catch (const Error& e) {
        // command::run throws Unavailable only when the program could not be started.
        step.started = e.code() != Exit::Unavailable;
        step.error = step.started ? e.message() : notStarted(argv.front(), e);
    }
    return step;
}

std::optional<long> readPid(const std::string& file, std::string& why) {
    std::ifstream in(file);
    if (!in) {
        why = "unable to read pid file '" + file + "': " + std::strerror(errno);
        return std::nullopt;
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    text = trim(text);
    if (text.empty()) {
        // nginx -t leaves an empty pid file behind when nginx does not run.
        why = "pid file '" + file + "' is empty";
        return std::nullopt;
    }
    if (text.size() > 9 || !std::all_of(text.begin(), text.end(),
                                        [](unsigned char c) { return std::isdigit(c) != 0; })) {
        why = "pid file '" + file + "' does not hold a process id";
        return std::nullopt;
    }
    const long pid = std::stol(text);
    if (pid <= 1) {
        why = "pid file '" + file + "' names process " + text;
        return std::nullopt;
    }
    std::error_code ec;
    if (!std::filesystem::exists("/proc/" + text, ec)) {
        why = "process " + text + " of pid file '" + file + "' is not running";
        return std::nullopt;
    }
    return pid;
}

std::vector<std::string> systemctl(const char* verb, const std::string& unit) {
    return {"systemctl", verb, unit};
}

} // namespace

std::string_view toString(Handler handler) {
    switch (handler) {
    case Handler::Apache2:
        return "apache2";
    case Handler::Nginx:
        return "nginx";
    case Handler::Postfix:
        return "postfix";
    case Handler::Dovecot:
        return "dovecot";
    case Handler::Rspamd:
        return "rspamd";
    case Handler::Command:
        return "command";
    }
    return "?";
}

Handler handlerFromString(std::string_view name, const Location& where) {
    for (const Handler h : {Handler::Apache2, Handler::Nginx, Handler::Postfix, Handler::Dovecot,
                            Handler::Rspamd, Handler::Command}) {
        if (name == toString(h)) {
            return h;
        }
    }
    if (name == "traefik") {
        // The original copied certificates into a traefik container found through the Docker
        // API; cdm leaves that to a command.
        throw Error(Exit::Config, "handler 'traefik' is not supported, use handler = command",
                    where);
    }
    throw Error(Exit::Config,
                "handler '" + std::string(name) +
                    "' is not one of apache2, nginx, postfix, dovecot, rspamd, command",
                where);
}

Service serviceFromSettings(const std::string& name, const Settings& settings,
                            const Location& where) {
    Service s;
    s.name = name;
    s.where = where;
    for (const char* key :
         {"handler", "testcommand", "reloadcommand", "pidfile", "signal", "unit", "statuscommand",
          "startcommand", "restartcommand", "restart", "timeout"}) {
        if (const Setting* v = find(settings, key); v != nullptr && v->where.path == "secret") {
            throw Error(Exit::Config,
                        label(name) + " " + key +
                            " is made from a secret; commands never carry secrets",
                        where);
        }
    }
    const Setting* handler = find(settings, "handler");
    const std::string handlerName =
        handler == nullptr || trim(handler->value).empty() || trim(handler->value) == "auto"
            ? name
            : trim(handler->value);
    s.handler = handlerFromString(handlerName, handler != nullptr ? handler->where : where);

    const auto isNone = [](const Setting* v) {
        return v != nullptr && lower(trim(v->value)) == "none";
    };
    if (const Setting* t = find(settings, "testcommand"); isNone(t)) {
        s.test.reset();
    } else if (t != nullptr && !trim(t->value).empty()) {
        s.test = words(*t);
    } else {
        s.test = defaultTest(s.handler);
    }
    if (const Setting* r = find(settings, "reloadcommand");
        r != nullptr && !trim(r->value).empty()) {
        s.reloadCommand = words(*r);
    }
    if (const Setting* p = find(settings, "pidfile"); p != nullptr) {
        s.pidfile = trim(p->value);
    }
    s.signal = SIGHUP;
    if (const Setting* sig = find(settings, "signal");
        sig != nullptr && !trim(sig->value).empty()) {
        s.signal = parseSignal(*sig, name);
    }
    const Setting* unit = find(settings, "unit");
    s.unit =
        unit != nullptr && !trim(unit->value).empty() ? trim(unit->value) : defaultUnit(s.handler);
    if (const Setting* st = find(settings, "statuscommand"); isNone(st)) {
        s.statusCommand.reset();
    } else if (st != nullptr && !trim(st->value).empty()) {
        s.statusCommand = words(*st);
    } else if (s.reloadCommand.empty() && s.pidfile.empty() && !s.unit.empty()) {
        s.statusCommand = std::vector<std::string>{"systemctl", "is-active", "--quiet", s.unit};
    }
    if (const Setting* st = find(settings, "startcommand");
        st != nullptr && !trim(st->value).empty()) {
        s.startCommand = words(*st);
    } else if (!s.unit.empty()) {
        s.startCommand = systemctl("start", s.unit);
    }
    if (const Setting* rs = find(settings, "restartcommand");
        rs != nullptr && !trim(rs->value).empty()) {
        s.restartCommand = words(*rs);
    } else if (!s.unit.empty()) {
        s.restartCommand = systemctl("restart", s.unit);
    }
    s.restart = s.handler == Handler::Rspamd ? Restart::Auto : Restart::No;
    if (const Setting* r = find(settings, "restart"); r != nullptr && !trim(r->value).empty()) {
        const std::string v = lower(trim(r->value));
        if (v == "yes" || v == "true" || v == "1") {
            s.restart = Restart::Yes;
        } else if (v == "no" || v == "false" || v == "0") {
            s.restart = Restart::No;
        } else if (v == "auto") {
            s.restart = Restart::Auto;
        } else {
            throw Error(Exit::Config,
                        label(name) + " restart '" + r->value + "' is not yes, no or auto",
                        r->where);
        }
    }
    if (const Setting* t = find(settings, "timeout"); t != nullptr && !trim(t->value).empty()) {
        const std::int64_t seconds =
            dkimphase::parseDuration(trim(t->value), label(name) + " timeout");
        if (seconds <= 0) {
            throw Error(Exit::Config, label(name) + " timeout must be at least 1 second", t->where);
        }
        s.timeout = std::chrono::seconds(seconds);
    }
    if (s.reloadCommand.empty() && s.pidfile.empty() && s.unit.empty() &&
        s.restartCommand.empty()) {
        throw Error(Exit::Config,
                    label(name) +
                        " handler command needs reloadcommand, pidfile, unit or restartcommand",
                    where);
    }
    return s;
}

std::vector<Service> services(const json::object& doc, const std::vector<std::string>& only) {
    std::vector<Service> out;
    const auto* all = configOf(doc, "service");
    for (const auto& wanted : only) {
        if (all == nullptr || wanted == "DEFAULT" ||
            objectAt(all->if_contains(wanted)) == nullptr) {
            throw Error(Exit::Usage,
                        "--service '" + wanted + "': no [service:" + wanted + "] section");
        }
    }
    if (all == nullptr) {
        return out;
    }
    for (const auto& [key, value] : *all) {
        const std::string name(key);
        const auto* section = objectAt(&value);
        if (name == "DEFAULT" || section == nullptr ||
            (!only.empty() && std::find(only.begin(), only.end(), name) == only.end())) {
            continue;
        }
        Location where;
        if (const auto* src = section->if_contains("source"); src != nullptr && src->is_string()) {
            where = document::locationOf(std::string(src->as_string()));
        }
        const Settings settings = settingsOf(name, *section);
        Service s = serviceFromSettings(name, settings, where);
        s.waits = waitsOf(doc, name, s.handler, settings);
        out.push_back(std::move(s));
    }
    return out;
}

namespace {

std::string textOf(const json::object& e, std::string_view key) {
    const auto* v = e.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// The material sections a report entry of cdm-cert or cdm-dkim is about, as (kind, name).
std::vector<std::pair<std::string, std::string>> sectionsNamedBy(const json::object& e) {
    const auto field = [&](std::string_view key) { return textOf(e, key); };
    std::vector<std::pair<std::string, std::string>> about;
    if (field("program") == "cdm-cert") {
        if (!field("cert").empty()) {
            about.emplace_back("cert", field("cert"));
        } else if (field("event") == "dhparam" || field("event") == "failed") {
            // dhparam entries name their section in "name"; a failed one may also use "dhparam".
            const std::string name = !field("dhparam").empty() ? field("dhparam") : field("name");
            if (!name.empty()) {
                about.emplace_back("dhparam", name);
            }
        }
    } else if (field("program") == "cdm-dkim") {
        const std::string name = !field("dkim").empty() ? field("dkim") : field("name");
        if (!name.empty()) {
            about.emplace_back("dkim", name);
        }
    }
    return about;
}

bool isDeployment(const json::object& e) {
    const std::string event = textOf(e, "event");
    return event == "deployed" || (event == "dhparam" && textOf(e, "action") == "deployed");
}

bool isFailure(const json::object& e) {
    const std::string event = textOf(e, "event");
    return event == "failed" || (event == "dhparam" && textOf(e, "action") == "failed");
}

} // namespace

Decision decide(const Service& service, const json::array& report, bool all) {
    std::vector<std::string> deployed;
    std::vector<std::string> failed;
    const auto waitsFor = [&](std::string_view kind, std::string_view name) {
        const auto& list = kind == "cert"   ? service.waits.cert
                           : kind == "dkim" ? service.waits.dkim
                                            : service.waits.dhparam;
        return std::find(list.begin(), list.end(), name) != list.end();
    };
    for (const auto& entry : report) {
        const auto* e = objectAt(&entry);
        if (e == nullptr) {
            continue;
        }
        for (const auto& [kind, name] : sectionsNamedBy(*e)) {
            if (!waitsFor(kind, name)) {
                continue;
            }
            const std::string id = kind + ":" + name;
            if (isFailure(*e)) {
                addUnique(failed, id);
            } else if (isDeployment(*e)) {
                addUnique(deployed, id);
            }
        }
    }
    const auto join = [](const std::vector<std::string>& list) {
        std::string out;
        for (const auto& s : list) {
            out += (out.empty() ? "" : ", ") + s;
        }
        return out;
    };
    if (!failed.empty()) {
        return {Decision::Action::Hold, join(failed) + " failed in this run"};
    }
    if (!deployed.empty()) {
        return {Decision::Action::Reload, join(deployed) + " deployed"};
    }
    if (all) {
        return {Decision::Action::Reload, "--all"};
    }
    // An earlier run of this phase deployed and did not complete (a reload failed, say): what
    // it deployed is on disk, unreloaded, and this run finds nothing left to deploy.
    const bool retry = std::any_of(report.begin(), report.end(), [](const json::value& entry) {
        const auto* e = objectAt(&entry);
        const auto* program = e != nullptr ? e->if_contains("program") : nullptr;
        const auto* event = e != nullptr ? e->if_contains("event") : nullptr;
        const auto* flag = e != nullptr ? e->if_contains("retry") : nullptr;
        return program != nullptr && *program == "cdm-phase" && event != nullptr && *event == "begin" &&
               flag != nullptr && flag->is_bool() && flag->as_bool();
    });
    if (retry && !service.waits.empty()) {
        return {Decision::Action::Reload, "the last run of this phase did not complete"};
    }
    return {Decision::Action::Skip,
            service.waits.empty() ? "it waits for no section" : "nothing it uses changed"};
}

Outcome apply(const Service& s, bool dryRun) {
    Outcome o;
    const std::string who = label(s.name);
    const bool quietTest = s.handler == Handler::Dovecot && s.test && s.test->front() == "doveconf";
    if (dryRun) {
        o.event = "dry-run";
        if (s.test) {
            o.commands.push_back(command::toText(*s.test));
        }
        if (s.restart == Restart::Yes) {
            o.commands.push_back(command::toText(s.restartCommand));
        } else if (!s.reloadCommand.empty()) {
            o.commands.push_back(command::toText(s.reloadCommand));
        } else if (!s.pidfile.empty()) {
            o.commands.push_back("kill -" + std::string(::sigabbrev_np(s.signal)) + " $(cat " +
                                 s.pidfile + ")");
        } else {
            o.commands.push_back(command::toText(systemctl("reload", s.unit)));
        }
        o.reason = "would run: ";
        for (std::size_t i = 0; i < o.commands.size(); ++i) {
            o.reason += (i == 0 ? "" : "; ") + o.commands[i];
        }
        log::info(who + " " + o.reason);
        return o;
    }

    if (s.test) {
        const Step test = runLogged(*s.test, s.timeout, quietTest);
        if (!test.started) {
            // Nothing was tested: that says nothing about the configuration (not 78), the
            // run failed (69).
            o.event = "failed";
            o.reason = "configuration test could not run: " + test.error + "; not reloaded";
            log::error(who + " " + o.reason);
            return o;
        }
        if (!test.ok) {
            o.event = "test-failed";
            o.reason = "configuration test failed: " + test.error + "; not reloaded";
            o.output = shorten(test.output);
            log::error(who + " " + o.reason);
            return o;
        }
        fault::point("reload.after-test");
    }

    const auto restartIt = [&](const std::string& why) {
        if (s.restartCommand.empty()) {
            o.event = "failed";
            o.reason = why + (why.empty() ? "" : "; ") + "no restartcommand or unit to restart it";
            return;
        }
        const Step restart = runLogged(s.restartCommand, s.timeout);
        if (restart.ok) {
            o.event = "restarted";
            o.reason = why.empty() ? "restart = yes" : why + "; restarted";
        } else {
            o.event = "failed";
            o.reason = (why.empty() ? "" : why + "; ") + "restart failed: " + restart.error;
            o.output = shorten(restart.output);
        }
    };

    // Not running: start it; a fresh start reads the new material anyway.
    std::string notRunning;
    std::optional<long> pid;
    if (s.statusCommand) {
        const Step status = runLogged(*s.statusCommand, s.timeout);
        if (!status.ok) {
            notRunning = "not running (" + status.error + ")";
        }
    }
    if (notRunning.empty() && !s.pidfile.empty()) {
        std::string why;
        pid = readPid(s.pidfile, why);
        if (!pid) {
            notRunning = why;
        }
    }
    if (!notRunning.empty()) {
        log::info(who + " " + notRunning + ", starting it");
        if (s.startCommand.empty()) {
            o.event = "failed";
            o.reason = notRunning + "; no startcommand or unit to start it";
        } else {
            const Step start = runLogged(s.startCommand, s.timeout);
            o.event = start.ok ? "started" : "failed";
            o.reason = notRunning + (start.ok ? "; started" : "; start failed: " + start.error);
            if (!start.ok) {
                o.output = shorten(start.output);
            }
        }
    } else if (s.restart == Restart::Yes) {
        restartIt("");
    } else {
        Step reload;
        if (!s.reloadCommand.empty()) {
            reload = runLogged(s.reloadCommand, s.timeout);
        } else if (pid) {
            const std::string sigName =
                ::sigabbrev_np(s.signal) != nullptr ? ::sigabbrev_np(s.signal) : "?";
            log::info("RUN CMD: kill -" + sigName + " " + std::to_string(*pid) + " (from " +
                      s.pidfile + ")");
            if (::kill(static_cast<pid_t>(*pid), s.signal) == 0) {
                reload.ok = true;
            } else {
                reload.error = "unable to send SIG" + sigName + " to process " +
                               std::to_string(*pid) + ": " + std::strerror(errno);
            }
        } else {
            reload = runLogged(systemctl("reload", s.unit), s.timeout);
        }
        if (reload.ok) {
            o.event = "reloaded";
            o.reason = "reloaded";
        } else if (s.restart == Restart::Auto) {
            log::warn(who + " reload failed: " + reload.error + ", restarting");
            restartIt("reload failed: " + reload.error);
        } else {
            o.event = "failed";
            o.reason = "reload failed: " + reload.error;
            o.output = shorten(reload.output);
        }
    }
    if (o.event == "failed") {
        log::error(who + " " + o.reason);
    } else {
        log::info(who + " " + o.event);
    }
    return o;
}

Result run(Request request) {
    Result result;
    result.document = std::move(request.document);
    json::object& doc = result.document;
    const std::vector<Service> list = services(doc, request.only);
    json::array report;
    if (const auto* r = doc.if_contains("report"); r != nullptr && r->is_array()) {
        report = r->as_array();
    }
    std::vector<std::string> testFailed;
    std::vector<std::string> notReloaded;
    if (request.only.empty()) {
        // Material deployed that no service waits for stays unused until something reloads
        // the service holding the old one in memory; cleanup then removes the old records.
        for (const auto& entry : report) {
            const auto* e = objectAt(&entry);
            if (e == nullptr || !isDeployment(*e)) {
                continue;
            }
            for (const auto& named : sectionsNamedBy(*e)) {
                // Plain names: clang 14 cannot capture a structured binding in a lambda.
                const std::string& kind = named.first;
                const std::string& name = named.second;
                const bool served = std::any_of(list.begin(), list.end(), [&](const Service& s) {
                    const auto& w = kind == "cert" ? s.waits.cert : kind == "dkim" ? s.waits.dkim : s.waits.dhparam;
                    return std::find(w.begin(), w.end(), name) != w.end();
                });
                if (!served) {
                    log::warn("[" + kind + ":" + name + "] was deployed, but no [service] section waits for it: " +
                              "reload what uses it before cleanup removes the old records (or add a [service] with " +
                              kind + " = " + name + ")");
                    document::report(doc, "cdm-reload", "unserved", {{kind, name}});
                }
            }
        }
    }
    bool appliedOne = false; // a service was reloaded (or restarted, or started) in this run
    for (const Service& s : list) {
        if (appliedOne) {
            fault::point("reload.between-services");
        }
        const Decision d = decide(s, report, request.all);
        json::object fields{{"service", s.name}, {"handler", toString(s.handler)}};
        const auto toArray = [](const std::vector<std::string>& v) {
            json::array a;
            for (const auto& x : v) {
                a.emplace_back(x);
            }
            return a;
        };
        fields["waits"] = json::object{{"cert", toArray(s.waits.cert)},
                                       {"dkim", toArray(s.waits.dkim)},
                                       {"dhparam", toArray(s.waits.dhparam)}};
        std::string event;
        if (d.action == Decision::Action::Skip) {
            event = "skipped";
            fields["reason"] = d.reason;
            log::info(label(s.name) + " skipped: " + d.reason);
        } else if (d.action == Decision::Action::Hold) {
            event = "held";
            fields["reason"] = d.reason + "; not reloaded";
            log::error(label(s.name) + " held: " + d.reason + "; not reloaded");
            notReloaded.push_back(s.name);
        } else {
            log::info(label(s.name) + " " + d.reason +
                      (request.dryRun ? ": dry run" : ": test and reload"));
            Outcome o = apply(s, request.dryRun);
            appliedOne = appliedOne || o.event == "reloaded" || o.event == "restarted" ||
                         o.event == "started";
            event = o.event;
            fields["reason"] = d.reason + ": " + o.reason;
            if (!o.output.empty()) {
                fields["output"] = o.output;
            }
            if (request.dryRun) {
                fields["commands"] = toArray(o.commands);
            }
            if (o.event == "test-failed") {
                testFailed.push_back(s.name);
            } else if (o.event == "failed") {
                notReloaded.push_back(s.name);
            }
        }
        document::report(doc, "cdm-reload", event, std::move(fields));
    }
    const auto names = [](const std::vector<std::string>& v) {
        std::string out;
        for (const auto& n : v) {
            out += (out.empty() ? "" : ", ") + n;
        }
        return out;
    };
    if (!testFailed.empty()) {
        result.failure = Error(
            Exit::Config, "configuration test failed for " + names(testFailed) +
                              (notReloaded.empty() ? "" : "; not reloaded: " + names(notReloaded)));
    } else if (!notReloaded.empty()) {
        result.failure = Error(Exit::Unavailable, "not reloaded: " + names(notReloaded));
    }
    return result;
}

std::span<const StandaloneFlag> standaloneFlags() {
    static constexpr StandaloneFlag flags[] = {
        {"handler", "handler"},
        {"test-command", "testcommand"},
        {"reload-command", "reloadcommand"},
        {"pidfile", "pidfile"},
        {"signal", "signal"},
        {"unit", "unit"},
        {"status-command", "statuscommand"},
        {"start-command", "startcommand"},
        {"restart-command", "restartcommand"},
        {"restart", "restart"},
        {"timeout", "timeout"},
    };
    return flags;
}

Outcome runStandalone(const std::map<std::string, std::string>& flags, bool dryRun) {
    Settings settings;
    for (const auto& flag : flags) {
        // Plain names: clang 14 cannot capture a structured binding in a lambda.
        const std::string& option = flag.first;
        const std::string& value = flag.second;
        const auto known = standaloneFlags();
        const auto it = std::find_if(known.begin(), known.end(),
                                     [&](const StandaloneFlag& f) { return f.option == option; });
        if (it == known.end()) {
            throw Error(Exit::Usage, "--" + option + " is not a standalone flag");
        }
        settings[std::string(it->key)] = {value, Location{"", 0, "--" + option}};
    }
    const auto handler = flags.find("handler");
    if (handler == flags.end()) {
        throw Error(Exit::Usage, "standalone needs --handler");
    }
    const Service service = serviceFromSettings(handler->second, settings);
    Outcome outcome = apply(service, dryRun);
    if (outcome.event == "test-failed") {
        throw Error(Exit::Config, outcome.reason);
    }
    if (outcome.event == "failed") {
        throw Error(Exit::Unavailable, outcome.reason);
    }
    return outcome;
}

} // namespace cdm::reload
