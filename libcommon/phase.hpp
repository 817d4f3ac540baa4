#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "libcommon/cli.hpp"

// The rollover state machine and its state file (cdm-phase(1), DESIGN.md "Phases").
//
// A cycle is prepare -> rollover -> cleanup -> prepare ...; update runs beside it at any
// time and never moves it. prepare stages new material and publishes its records next to the
// old; once every authoritative server serves them (cdm-dns-apply --verify), rollover is due
// at verified_at + max(max TTL, negative TTL) + margin, and not before prepare + minwait:
// until then a resolver may still hold an answer without the new records. rollover deploys;
// cleanup is due a margin later and removes the old records and material, staying due while a
// retired DKIM selector is in its grace or revocation period.
//
// The state file is one JSON object (cdm-phase(1) FILES), replaced atomically by save(); a
// run that dies anywhere leaves the old or the new state, and running the same step again
// gives the same state. Every function takes the time `now` so tests drive the machine.

namespace cdm::phase {

// The version of the state file this build reads and writes.
inline constexpr int stateVersion = 1;
// How many run entries the state keeps.
inline constexpr std::size_t runsKept = 20;

enum class Phase { Update, Prepare, Rollover, Cleanup };
std::string_view toString(Phase phase);
std::optional<Phase> phaseFromString(std::string_view text);

// The [cdm] keys cdm-phase reads (cdm.conf(5)).
struct Settings {
    std::string statedir = "/var/lib/cdm";
    std::int64_t margin = 60;  // seconds added to every DNS wait
    std::int64_t minwait = 0;  // least time from prepare to rollover
    std::int64_t postwait = 0; // sleep after a complete prepare, rollover or cleanup
};
// The settings of a document (config.cdm.DEFAULT.keys; built-in values where absent).
// Durations accept 3600, 30m, 88h, 4d. Throws Error(Exit::Config) naming the key's
// file:line for a bad value.
Settings settings(const boost::json::object& doc);

// <statedir>/state.json.
std::string statePath(const Settings& settings);

// "2026-12-07T10:11:12Z".
std::string utcTime(std::int64_t unixTime);

// A state file as loaded.
struct StateFile {
    std::string path;
    boost::json::object state; // emptyState() when there was no file
    bool exists = false;
    bool foreign = false; // cryptdomainmgr's own state.json: moved aside by the first save()
};

// The state of a machine that never ran: next prepare, cycle 1.
boost::json::object emptyState();

// Load `path`. A missing file gives emptyState(). cryptdomainmgr's state.json (an object with
// "substate" or "opstate" and no "cdm_state") gives emptyState() with `foreign` set and a
// warning. Anything else that is not a state of this version throws Error(Exit::DataErr)
// naming the file (and the member), and changes nothing; an unreadable file throws
// Error(Exit::IoErr or Exit::NoPerm).
StateFile load(const std::string& path);

// Write `file.state` to `file.path` atomically (mode 0600; the directory made 0700). A foreign
// file is first renamed to <path>.cryptdomainmgr. Throws Error(Exit::CantCreat, Exit::IoErr
// or Exit::NoPerm).
void save(StateFile& file);

// Which phase is due and when.
struct Due {
    Phase phase = Phase::Prepare;
    std::int64_t due = 0;  // Unix seconds; 0 = now
    std::int64_t wait = 0; // seconds left; 0 when due
    std::string why;
};
Due next(const boost::json::object& state, std::time_t now);
// "rollover is due in 53 s (at 2026-12-07T10:11:12Z): <why>".
std::string waitMessage(const Due& due);
// {"phase", "due", "wait", "why"}.
boost::json::object toJson(const Due& due);

// Whether `phase` may begin now: empty when it may, else what is missing (in words).
std::string missingFor(const boost::json::object& state, Phase phase, std::time_t now);

// Begin a run of `phase` on `doc`: refuse with Error(Exit::TempFail) and the missing text
// unless `force` (then log "forced: ..."), then set doc.material from the state (the state's
// material wins), doc.phase, empty doc.records and doc.files for every phase but update (the
// static records belong to update) and report {"program":"cdm-phase","event":"begin",...},
// with "retry": true when the last run of this phase was incomplete (cdm-reload then reloads
// every service the phase serves: what was deployed before stays deployed, unreloaded).
// Returns whether the run is forced past a refusal.
bool begin(boost::json::object& doc, const boost::json::object& state, Phase phase, std::time_t now,
           bool force);

// A step of the run that failed, as the driver reports it: PROGRAM:EXIT.
struct Failed {
    std::string program;
    int exit = 0;
};
// Parse "cdm-cert:69"; throws Error(Exit::Usage).
Failed parseFailed(std::string_view text);

struct CommitResult {
    Phase phase = Phase::Update;
    bool complete = false;
    int exit = 0; // 0, the --failed code, 75 (DNS not verified yet) or 69
    std::vector<std::string> missing;
    Due next;
};

// The end of a run: store doc.material in `state` (always: it is what is on disk), decide
// whether the phase's work is complete (no report event failed/held/test-failed, no `failed`,
// and for update, prepare and cleanup every cdm-dns-apply zone applied and, with records,
// verified) and move the cycle on when it is (cdm-phase(1) describes each transition), then
// record the run. Reports {"program":"cdm-phase","event":"commit",...} in `doc`. The phase is
// doc.phase. Committing the same document at the same time again gives the same state.
// Throws Error(Exit::DataErr) for a document without a valid phase, Error(Exit::Config) for a
// bad [dkim:NAME] grace/revoked.
CommitResult commit(boost::json::object& state, boost::json::object& doc, const Settings& settings,
                    std::time_t now, const std::optional<Failed>& failed);

// Sleep `seconds`, logging "Wait T s after run!" as cryptdomainmgr did; with `progress`, a
// count-down on stderr that overwrites itself (for a terminal).
void postWait(std::int64_t seconds, bool progress);

// The state for people: cycle, what is due, material per section, MTA-STS, the last runs.
std::string statusText(const boost::json::object& state, const std::string& path, std::time_t now);
// The state with "path" and "due" (toJson(next())) added.
boost::json::object statusJson(const boost::json::object& state, const std::string& path,
                               std::time_t now);

// The verb table of cdm-phase: path, next, begin, mtasts, commit, status (cdm-phase(1)).
const std::vector<cli::Verb>& verbs();
// Run the program through cli::dispatch() as "cdm-phase". Returns the exit code.
int dispatch(const std::vector<cli::Verb>& table, int argc, const char* const* argv);

} // namespace cdm::phase
