#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/error.hpp"

// Running another program without a shell. A command string from the configuration
// ("nginx -t -q") is split into words the way sh splits them, but nothing is expanded or
// interpreted: `;`, `|`, `&`, `<`, `>`, `$`, `` ` ``, `*` and `~` are ordinary characters, so
// a value can never run a second command. The program is started with posix_spawnp (PATH
// lookup, no /bin/sh), its stdin is /dev/null, its stdout and stderr are captured, and no
// other descriptor of this process is passed on.

namespace cdm::command {

// The words of `text`: split at unquoted blanks (space, tab, newline); '...' keeps
// everything literally, "..." keeps everything but a backslash before $ ` " \ or newline
// (as in sh, which would otherwise expand them), and a backslash outside quotes makes the
// next character literal. Throws Error(Exit::Config) at
// `where` for an unterminated quote, a trailing backslash or a text without any word.
std::vector<std::string> splitWords(std::string_view text, const Location& where = {});

// `argv` as one line for logs, each word that splitWords would not read back unchanged
// quoted with '...': toText(splitWords(t)) reads back as the same words.
std::string toText(const std::vector<std::string>& argv);

struct Options {
    // After `timeout` the program's process group gets SIGTERM, and SIGKILL `killAfter` later
    // if it has not exited by then.
    std::chrono::milliseconds timeout = std::chrono::seconds(60);
    std::chrono::milliseconds killAfter = std::chrono::seconds(2);
    // Bytes kept of stdout and of stderr each; the rest is read and dropped.
    std::size_t outputLimit = 64 * 1024;
    // "NAME=VALUE" entries; nullopt inherits this process's environment.
    std::optional<std::vector<std::string>> environment;
};

// How a run ended. Exactly one of: exited (status), killed by a signal, timed out (then
// `signal` is the one that ended it, TERM or KILL).
struct Result {
    int status = -1; // the exit status when the program exited, else -1
    int signal = 0;  // the signal that ended it, else 0
    bool timedOut = false;
    std::string out;        // captured stdout (at most Options::outputLimit bytes)
    std::string err;        // captured stderr (likewise)
    bool truncated = false; // output beyond the limit was dropped

    // Exited with status 0 in time.
    bool ok() const { return !timedOut && signal == 0 && status == 0; }
    // "exit status 1", "killed by signal 9 (KILL)", "timed out after 5 s, killed by signal 15
    // (TERM)".
    std::string describe() const;
};

// Start argv[0] (found on PATH when it has no '/') with argv, wait until it exits or times
// out, and return how it ended. Output is read only while the program runs: a daemon it
// leaves behind holding the pipes does not keep run() waiting. The program runs in its own
// process group, so a timeout also ends the processes it started.
// Throws Error(Exit::Unavailable) when it cannot be started ("unable to run 'x': No such file
// or directory"), Error(Exit::Usage) for an empty argv, Error(Exit::Software) when a pipe or
// wait fails.
Result run(const std::vector<std::string>& argv, const Options& options = {});

} // namespace cdm::command
