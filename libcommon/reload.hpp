#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "libcommon/command.hpp"
#include "libcommon/error.hpp"

// cdm-reload's job: after a rollover deployed new material, test each service's
// configuration and then reload (or start, or restart) the services that use that material.
// Every command runs without a shell (libcommon/command.hpp).

namespace cdm::reload {

enum class Handler { Apache2, Nginx, Postfix, Dovecot, Rspamd, Command };
std::string_view toString(Handler handler);
// "auto" is not accepted here (the caller puts the section name in its place). Throws
// Error(Exit::Config) at `where` for traefik ("not supported, use handler = command") and for
// a name that is no handler.
Handler handlerFromString(std::string_view name, const Location& where);

// When to restart instead of reload: never, always, or when the reload fails (rspamd's
// default: older rspamd did not take a reload).
enum class Restart { No, Yes, Auto };

// The [cert:X], [dkim:X] and [dhparam:X] sections a service waits for.
struct Waits {
    std::vector<std::string> cert;
    std::vector<std::string> dkim;
    std::vector<std::string> dhparam;
    bool empty() const { return cert.empty() && dkim.empty() && dhparam.empty(); }
};

// One service, every key resolved to what will be run.
struct Service {
    std::string name;
    Handler handler = Handler::Command;
    Location where; // its section header, if known
    Waits waits;
    std::optional<std::vector<std::string>> test; // nullopt: `testcommand = none`
    // How to reload, the first that is set: `reloadcommand`; `pidfile` + `signal`; `unit`.
    std::vector<std::string> reloadCommand;
    std::string pidfile;
    int signal = 0; // SIGHUP unless `signal` says otherwise
    std::string unit;
    // Whether it runs: `statuscommand`, and the process a `pidfile` names; without either,
    // `systemctl is-active --quiet UNIT` when the unit reloads it, else it is taken as running.
    std::optional<std::vector<std::string>> statusCommand;
    std::vector<std::string> startCommand;   // `startcommand`, else `systemctl start UNIT`
    std::vector<std::string> restartCommand; // `restartcommand`, else `systemctl restart UNIT`
    Restart restart = Restart::No;
    std::chrono::seconds timeout{60};
};

// A key of a service as the configuration gave it: its value and where it was set.
struct Setting {
    std::string value;
    Location where;
};
using Settings = std::map<std::string, Setting>;

// A service from its keys (handler, testcommand, reloadcommand, pidfile, signal, unit,
// statuscommand, startcommand, restartcommand, restart, timeout); `waits` is left empty.
// Throws Error(Exit::Config) at the key's location for a bad value (an unknown handler or
// signal, a command with an unterminated quote, a timeout that is no duration).
Service serviceFromSettings(const std::string& name, const Settings& settings,
                            const Location& where = {});

// The services of a document (config.service, in config order; only those named in `only`
// when it is not empty), with what each waits for: the `cert`, `dkim` and `dhparam` keys
// (NAME, ... | auto | none) for the kinds in `depends` (the handler's default: cert and
// dhparam for web and mail servers, dkim for rspamd, all three for command) and for every
// kind whose key is written. `auto` is every section of that kind linked by the service's
// `domain` list (auto: every [domain:X]); dhparam auto is every [dhparam:X].
// Throws Error(Exit::Config) for a key naming a section or domain that does not exist, or a
// bad value; Error(Exit::Usage) for a name in `only` that is no service.
std::vector<Service> services(const boost::json::object& doc,
                              const std::vector<std::string>& only = {});

// What to do with a service in this run, decided from the document's report.
struct Decision {
    enum class Action { Reload, Skip, Hold };
    Action action = Action::Skip;
    std::string reason;
};

// Reload when a section the service waits for was deployed in this run (cdm-cert "deployed"
// with "cert", cdm-cert "dhparam" with action "deployed", cdm-dkim "deployed" with "dkim"),
// or with `all`, or when cdm-phase's "begin" entry says "retry" (the phase's last run
// deployed and did not complete) and the service waits for something; hold when one of them
// failed in this run (any "failed" entry naming it); skip otherwise.
Decision decide(const Service& service, const boost::json::array& report, bool all);

// What happened to one service.
struct Outcome {
    std::string event; // reloaded, restarted, started, test-failed, failed, dry-run
    std::string reason;
    std::string output;                // the failing command's output, shortened
    std::vector<std::string> commands; // for dry-run: what would run
};

// Test the service's configuration, then start it when it is not running, else reload it
// (restart as its `restart` key says). With `dryRun`, run nothing and list the commands.
// Never throws for a failing service: that is the outcome. "test-failed" means the test ran
// and rejected the configuration; a test (or any other command) whose program could not be
// started at all is "failed", and the reason says so ("unable to run 'nginx': No such file
// or directory (program 'nginx' not found on PATH; cron's PATH may lack /usr/sbin ...)").
Outcome apply(const Service& service, bool dryRun);

struct Request {
    boost::json::object document;
    std::vector<std::string> only; // --service
    bool all = false;
    bool dryRun = false;
};

struct Result {
    boost::json::object document; // with one report entry per service
    std::optional<Error> failure; // Exit::Config when a test failed, else Exit::Unavailable
};

// Decide and apply for every service of the document, in order; a failing service does
// not stop the others. Throws only for a bad document or configuration (nothing was run).
Result run(Request request);

// cdm-reload --handler: one service from command-line flags instead of a document.
struct StandaloneFlag {
    std::string_view option; // without "--": "test-command"
    std::string_view key;    // the [service] key it stands for: "testcommand"
};
// Every flag runStandalone() takes, "handler" first, in the order --help lists them.
std::span<const StandaloneFlag> standaloneFlags();

// Test and reload the one service that `flags` describes (option name as standaloneFlags()
// spells it -> value; a bad value is reported at "--OPTION"); the service is named after its
// handler. Returns the outcome when the service was reloaded, restarted, started, or (with
// `dryRun`) only listed. Throws Error(Exit::Usage) without "handler" or for an option that
// is no standalone flag; Error(Exit::Config) for a bad value or when the configuration test
// ran and failed; Error(Exit::Unavailable) when the service failed otherwise (a command
// failed, timed out or could not be started), with the outcome's reason as the message.
Outcome runStandalone(const std::map<std::string, std::string>& flags, bool dryRun);

} // namespace cdm::reload
