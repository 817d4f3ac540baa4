#include "libcommon/faultpoint.hpp"

#include <charconv>

#ifdef CDM_FAULT_POINTS
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <string>
#include <unistd.h>
#endif

namespace cdm::fault {

std::optional<Target> parseTarget(std::string_view spec) {
    Target t{spec, 1};
    const auto colon = spec.rfind(':');
    if (colon != std::string_view::npos) {
        const std::string_view count = spec.substr(colon + 1);
        t.name = spec.substr(0, colon);
        if (count.empty() || count.size() > 6) {
            return std::nullopt;
        }
        const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), t.pass);
        if (ec != std::errc() || end != count.data() + count.size() || t.pass == 0) {
            return std::nullopt;
        }
    }
    if (t.name.empty()) {
        return std::nullopt;
    }
    return t;
}

bool shouldDie(std::string_view spec, std::string_view name, std::size_t reached) {
    const auto t = parseTarget(spec);
    return t && t->name == name && t->pass == reached;
}

#ifdef CDM_FAULT_POINTS

namespace {

// Plain write(2) on every path: this code runs right before a SIGKILL, and nothing buffered
// would ever reach the file.
void writeAll(int fd, std::string_view text) {
    while (!text.empty()) {
        const ssize_t n = ::write(fd, text.data(), text.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        text.remove_prefix(static_cast<std::size_t>(n));
    }
}

// One line per pass, in one write() to an O_APPEND file: the programs of a driver run (and
// their threads) append to the same trace without tearing each other's lines.
void trace(const char* file, std::string_view name) {
    const int fd = ::open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        return;
    }
    std::string line(name);
    line += ' ';
    line += program_invocation_short_name;
    line += '\n';
    writeAll(fd, line);
    ::close(fd);
}

} // namespace

void point(std::string_view name) {
    const char* at = std::getenv("CDM_FAULT_AT");
    const char* traceFile = std::getenv("CDM_FAULT_TRACE");
    if (at == nullptr && traceFile == nullptr) {
        return;
    }
    static std::mutex mutex;
    static std::map<std::string, std::size_t, std::less<>> passes;
    std::size_t reached = 0;
    {
        const std::lock_guard<std::mutex> lock(mutex);
        auto it = passes.find(name);
        if (it == passes.end()) {
            it = passes.emplace(std::string(name), 0).first;
        }
        reached = ++it->second;
    }
    if (traceFile != nullptr && *traceFile != '\0') {
        trace(traceFile, name);
    }
    if (at == nullptr || *at == '\0') {
        return;
    }
    if (!parseTarget(at)) {
        // A test that names no step would never see the kill it waits for: say why.
        static std::once_flag warned;
        std::call_once(warned, [at] {
            writeAll(STDERR_FILENO, std::string("cdm: CDM_FAULT_AT '") + at +
                                        "' is not NAME or NAME:N, ignoring it\n");
        });
        return;
    }
    if (!shouldDie(at, name, reached)) {
        return;
    }
    writeAll(STDERR_FILENO, "cdm: fault point " + std::string(name) + " reached: killed\n");
    ::kill(::getpid(), SIGKILL);
    std::_Exit(128 + SIGKILL); // not reached: SIGKILL cannot be caught
}

#endif

} // namespace cdm::fault
