#include "libcommon/command.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>

extern char** environ;

namespace cdm::command {

namespace {

bool isBlank(char c) {
    return c == ' ' || c == '\t' || c == '\n';
}

// Characters that make a word worth quoting in a log line, so that it can be pasted into a
// shell and mean the same words there.
bool needsQuoting(std::string_view word) {
    if (word.empty()) {
        return true;
    }
    for (const char c : word) {
        if (isBlank(c) || std::strchr("'\"\\;|&<>$`*?[]#~(){}!", c) != nullptr ||
            static_cast<unsigned char>(c) < 0x20) {
            return true;
        }
    }
    return false;
}

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) {
            reset();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    ~Fd() { reset(); }
    int get() const { return fd_; }
    bool open() const { return fd_ >= 0; }
    void reset() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

private:
    int fd_ = -1;
};

struct FileActions {
    posix_spawn_file_actions_t actions{};
    FileActions() { posix_spawn_file_actions_init(&actions); }
    FileActions(const FileActions&) = delete;
    FileActions& operator=(const FileActions&) = delete;
    ~FileActions() { posix_spawn_file_actions_destroy(&actions); }
};

struct SpawnAttr {
    posix_spawnattr_t attr{};
    SpawnAttr() { posix_spawnattr_init(&attr); }
    SpawnAttr(const SpawnAttr&) = delete;
    SpawnAttr& operator=(const SpawnAttr&) = delete;
    ~SpawnAttr() { posix_spawnattr_destroy(&attr); }
};

[[noreturn]] void systemError(const std::string& what, int err) {
    throw Error(Exit::Software, "unable to " + what + ": " + std::strerror(err));
}

std::pair<Fd, Fd> makePipe() {
    std::array<int, 2> fds{};
    if (::pipe2(fds.data(), O_CLOEXEC) != 0) {
        systemError("create a pipe", errno);
    }
    Fd readEnd(fds[0]);
    Fd writeEnd(fds[1]);
    if (::fcntl(readEnd.get(), F_SETFL, O_NONBLOCK) != 0) {
        systemError("make a pipe non-blocking", errno);
    }
    return {std::move(readEnd), std::move(writeEnd)};
}

// One captured stream: read what is there now, keep up to the limit, close on EOF.
struct Capture {
    Fd fd;
    std::string* into = nullptr;
    std::size_t limit = 0;
    bool* truncated = nullptr;

    void readAvailable() {
        std::array<char, 8192> buffer{};
        while (fd.open()) {
            const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
            if (n > 0) {
                const auto got = static_cast<std::size_t>(n);
                const std::size_t room = limit > into->size() ? limit - into->size() : 0;
                into->append(buffer.data(), std::min(room, got));
                if (got > room) {
                    *truncated = true;
                }
            } else if (n == 0) {
                fd.reset();
            } else if (errno == EINTR) {
                continue;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            } else {
                fd.reset();
            }
        }
    }
};

// A pidfd lets poll() wake up when the child exits even while a grandchild keeps the pipes
// open; without one (kernel < 5.3) the loop wakes every 20 ms to ask waitpid().
Fd openPidfd(pid_t pid) {
#ifdef SYS_pidfd_open
    const long fd = ::syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        return Fd(static_cast<int>(fd));
    }
#else
    (void)pid;
#endif
    return Fd();
}

void signalGroup(pid_t pid, int sig) {
    // The child leads its own process group; a program that already set up another group
    // still gets the signal itself.
    if (::kill(-pid, sig) != 0) {
        ::kill(pid, sig);
    }
}

} // namespace

std::vector<std::string> splitWords(std::string_view text, const Location& where) {
    std::vector<std::string> words;
    std::string word;
    bool inWord = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (isBlank(c)) {
            if (inWord) {
                words.push_back(std::move(word));
                word.clear();
                inWord = false;
            }
            continue;
        }
        if (c == '\\') {
            if (i + 1 >= text.size()) {
                throw Error(Exit::Config, "command '" + std::string(text) + "' ends in a backslash",
                            where);
            }
            ++i;
            if (text[i] == '\n') {
                continue; // a line continuation, as in sh
            }
            word += text[i];
            inWord = true;
            continue;
        }
        if (c == '\'') {
            const std::size_t end = text.find('\'', i + 1);
            if (end == std::string_view::npos) {
                throw Error(Exit::Config,
                            "command '" + std::string(text) + "' has an unterminated ' quote",
                            where);
            }
            word.append(text.substr(i + 1, end - i - 1));
            inWord = true;
            i = end;
            continue;
        }
        if (c == '"') {
            std::size_t j = i + 1;
            for (; j < text.size() && text[j] != '"'; ++j) {
                // Inside "...", sh gives the backslash a meaning only before these; there is
                // no expansion here, but "\$" still reads as '$' as a user expects from sh.
                if (text[j] == '\\' && j + 1 < text.size() &&
                    std::strchr("$`\"\\\n", text[j + 1]) != nullptr) {
                    ++j;
                    if (text[j] != '\n') {
                        word += text[j];
                    }
                    continue;
                }
                word += text[j];
            }
            if (j >= text.size()) {
                throw Error(Exit::Config,
                            "command '" + std::string(text) + "' has an unterminated \" quote",
                            where);
            }
            inWord = true;
            i = j;
            continue;
        }
        word += c;
        inWord = true;
    }
    if (inWord) {
        words.push_back(std::move(word));
    }
    if (words.empty()) {
        throw Error(Exit::Config, "empty command", where);
    }
    return words;
}

std::string toText(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& word : argv) {
        if (!out.empty()) {
            out += ' ';
        }
        if (!needsQuoting(word)) {
            out += word;
            continue;
        }
        out += '\'';
        for (const char c : word) {
            if (c == '\'') {
                out += "'\\''";
            } else {
                out += c;
            }
        }
        out += '\'';
    }
    return out;
}

std::string Result::describe() const {
    std::string text;
    if (timedOut) {
        text = "timed out, ";
    }
    if (signal != 0) {
        const char* abbrev = ::sigabbrev_np(signal);
        text += "killed by signal " + std::to_string(signal) +
                (abbrev != nullptr ? " (" + std::string(abbrev) + ")" : std::string());
    } else if (status >= 0) {
        text += "exit status " + std::to_string(status);
    } else {
        text += "no exit status";
    }
    return text;
}

Result run(const std::vector<std::string>& argv, const Options& options) {
    if (argv.empty() || argv.front().empty()) {
        throw Error(Exit::Usage, "no program to run");
    }
    auto [outRead, outWrite] = makePipe();
    auto [errRead, errWrite] = makePipe();

    FileActions actions;
    posix_spawn_file_actions_addopen(&actions.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions.actions, outWrite.get(), STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions.actions, errWrite.get(), STDERR_FILENO);
    // Descriptors this process holds without close-on-exec (a caller's fd 3, a lock file)
    // must not live on in a daemon the program starts: it would keep them open for ever.
    posix_spawn_file_actions_addclosefrom_np(&actions.actions, STDERR_FILENO + 1);

    // Signals this process ignores or blocks must not stay ignored or blocked in the program
    // (an ignored SIGPIPE or SIGTERM would change how it behaves and how it can be stopped).
    SpawnAttr attr;
    sigset_t none;
    sigemptyset(&none);
    sigset_t all;
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&attr.attr, &none);
    posix_spawnattr_setsigdefault(&attr.attr, &all);
    posix_spawnattr_setpgroup(&attr.attr, 0);
    posix_spawnattr_setflags(&attr.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                             POSIX_SPAWN_SETPGROUP);

    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    std::vector<char*> env;
    char** envp = environ;
    if (options.environment) {
        env.reserve(options.environment->size() + 1);
        for (const auto& e : *options.environment) {
            env.push_back(const_cast<char*>(e.c_str()));
        }
        env.push_back(nullptr);
        envp = env.data();
    }

    pid_t pid = -1;
    const int spawnError =
        ::posix_spawnp(&pid, args[0], &actions.actions, &attr.attr, args.data(), envp);
    if (spawnError != 0) {
        throw Error(Exit::Unavailable,
                    "unable to run '" + argv.front() + "': " + std::strerror(spawnError));
    }
    outWrite.reset();
    errWrite.reset();

    Result result;
    Capture captures[2] = {
        {std::move(outRead), &result.out, options.outputLimit, &result.truncated},
        {std::move(errRead), &result.err, options.outputLimit, &result.truncated}};
    const Fd pidfd = openPidfd(pid);
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + options.timeout;
    std::optional<Clock::time_point> killAt;
    int waitStatus = 0;
    bool reaped = false;

    while (!reaped) {
        const auto now = Clock::now();
        if (!killAt && now >= deadline) {
            result.timedOut = true;
            signalGroup(pid, SIGTERM);
            killAt = now + options.killAfter;
        } else if (killAt && now >= *killAt) {
            signalGroup(pid, SIGKILL);
            while (::waitpid(pid, &waitStatus, 0) < 0) {
                if (errno != EINTR) {
                    systemError("wait for '" + argv.front() + "'", errno);
                }
            }
            reaped = true;
            break;
        }
        const auto until = killAt ? *killAt : deadline;
        auto wait =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count() + 1;
        if (!pidfd.open()) {
            wait = std::min<long long>(wait, 20);
        }
        std::array<pollfd, 3> fds{};
        nfds_t count = 0;
        for (const auto& c : captures) {
            if (c.fd.open()) {
                fds[count++] = pollfd{c.fd.get(), POLLIN, 0};
            }
        }
        if (pidfd.open()) {
            fds[count++] = pollfd{pidfd.get(), POLLIN, 0};
        }
        if (::poll(fds.data(), count, static_cast<int>(std::max<long long>(wait, 0))) < 0 &&
            errno != EINTR) {
            systemError("wait for output of '" + argv.front() + "'", errno);
        }
        for (auto& c : captures) {
            c.readAvailable();
        }
        const pid_t got = ::waitpid(pid, &waitStatus, WNOHANG);
        if (got == pid) {
            reaped = true;
        } else if (got < 0 && errno != EINTR) {
            systemError("wait for '" + argv.front() + "'", errno);
        }
    }
    // What the program wrote before it exited is in the pipes now; a daemon it started may
    // hold them open for ever, so read what is there and do not wait for end of file.
    for (auto& c : captures) {
        c.readAvailable();
    }
    if (WIFEXITED(waitStatus)) {
        result.status = WEXITSTATUS(waitStatus);
    } else if (WIFSIGNALED(waitStatus)) {
        result.signal = WTERMSIG(waitStatus);
    }
    return result;
}

} // namespace cdm::command
