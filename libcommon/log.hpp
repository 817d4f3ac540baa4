#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

// Log lines on stderr in the format of cryptdomainmgr's logger, so that scripts and eyes
// used to it keep working:
//   [2019-02-03 16:07:24,144]    INFO      add (new) A for a.de : 1.2.3.4
// The level comes from LOGLEVEL (DEBUG, INFO, WARN or WARNING, ERROR, CRITICAL; default INFO)
// and is moved by -v (more) and -q (less). Fatal errors are not logged here: the CLI layer
// prints them as "cdm-tool: file:line: message".

namespace cdm::log {

enum class Level { Debug = 10, Info = 20, Warning = 30, Error = 40, Critical = 50 };

void setLevel(Level level);
Level level();
bool enabled(Level level);

// Parse a LOGLEVEL value; nullopt-like fallback: returns `fallback` for an unknown name.
Level parseLevel(std::string_view text, Level fallback = Level::Info);
// Apply LOGLEVEL from the environment, then `verbosity` steps (+1 per -v, -1 per -q).
void configure(int verbosity);

// "[2019-02-03 16:07:24,144]    INFO      message" for a given time (local time zone).
std::string formatLine(std::chrono::system_clock::time_point when, Level level,
                       std::string_view message);

void write(Level level, std::string_view message);
inline void debug(std::string_view m) { write(Level::Debug, m); }
inline void info(std::string_view m) { write(Level::Info, m); }
inline void warn(std::string_view m) { write(Level::Warning, m); }
inline void error(std::string_view m) { write(Level::Error, m); }

// Where lines go; stderr by default. Tests capture lines through this.
using Sink = std::function<void(std::string_view line)>;
void setSink(Sink sink);

// True for keys whose values are secrets: passwd, password, passwort, secret, apikey,
// api_key, api-key, hmac_key and token, alone or after '_' or '-' ("tsig_secret",
// "eab_hmac_key"). Keys with a '.' are record keys (txt.token), never secrets.
bool isSecretKey(std::string_view key);
// `value`, or "********" when `key` names a secret.
std::string redact(std::string_view key, std::string_view value);

} // namespace cdm::log
