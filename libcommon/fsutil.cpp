#include "libcommon/fsutil.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <signal.h>
#include <random>
#include <sys/stat.h>
#include <unistd.h>

#include "libcommon/error.hpp"
#include "libcommon/faultpoint.hpp"

namespace cdm::fsutil {

namespace {

std::string systemError(std::string_view what, int err) {
    return "unable to " + std::string(what) + ": " + std::strerror(err);
}

// Closes a descriptor on every path; close() errors matter only after writing, where
// writeFileAtomic() closes by hand and checks.
class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    int get() const { return fd_; }
    int release() {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }

private:
    int fd_;
};

// Removes the temporary file unless the rename went through.
class TempGuard {
public:
    explicit TempGuard(std::string path) : path_(std::move(path)) {}
    TempGuard(const TempGuard&) = delete;
    TempGuard& operator=(const TempGuard&) = delete;
    ~TempGuard() {
        if (!path_.empty()) {
            ::unlink(path_.c_str());
        }
    }
    void dismiss() { path_.clear(); }

private:
    std::string path_;
};

std::string parentOf(const std::string& path) {
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) {
        return ".";
    }
    if (slash == 0) {
        return "/";
    }
    return path.substr(0, slash);
}

std::string baseOf(const std::string& path) {
    const auto slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string sizeText(std::size_t bytes) {
    constexpr std::size_t kib = 1024;
    if (bytes >= kib * kib && bytes % (kib * kib) == 0) {
        return std::to_string(bytes / (kib * kib)) + " MiB";
    }
    if (bytes >= kib && bytes % kib == 0) {
        return std::to_string(bytes / kib) + " KiB";
    }
    return std::to_string(bytes) + " bytes";
}

// A name no other writer picks: the target's name, this process and a random part. O_EXCL
// makes a collision an EEXIST, and the caller then tries the next name.
std::string tempName(const std::string& path) {
    static std::atomic<unsigned> counter{0};
    static thread_local std::mt19937_64 random{std::random_device{}()};
    return parentOf(path) + "/." + baseOf(path) + ".tmp." + std::to_string(::getpid()) + "." +
           std::to_string(counter++) + "." + std::to_string(random() % 1000000000U);
}

// The process that made `name`, when it is a temporary name tempName() gives:
// ".<target>.tmp.<pid>.<counter>.<random>".
std::optional<pid_t> temporaryOwner(std::string_view name) {
    std::array<std::string_view, 3> numbers;
    for (auto it = numbers.rbegin(); it != numbers.rend(); ++it) {
        const auto dot = name.rfind('.');
        if (dot == std::string_view::npos) {
            return std::nullopt;
        }
        *it = name.substr(dot + 1);
        name = name.substr(0, dot);
        if (it->empty() || it->size() > 20 ||
            it->find_first_not_of("0123456789") != std::string_view::npos) {
            return std::nullopt;
        }
    }
    if (name.size() < 6 || name.front() != '.' || !name.ends_with(".tmp")) {
        return std::nullopt;
    }
    if (numbers[0].size() > 9) {
        return std::nullopt;
    }
    return static_cast<pid_t>(std::stol(std::string(numbers[0])));
}

// A writer killed between making its temporary file and the rename (SIGKILL, a power loss)
// leaves the file behind: the next write into the directory removes those whose process is
// gone. A live writer's file (kill() finds its process) is never touched.
void removeStaleTemporaries(const std::string& dir) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        const auto owner = temporaryOwner(e.path().filename().string());
        if (owner && *owner != ::getpid() && ::kill(*owner, 0) != 0 && errno == ESRCH &&
            e.is_regular_file(ec)) {
            std::filesystem::remove(e.path(), ec);
        }
    }
}

void fsyncDirectory(const std::string& dir, const std::string& target) {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0 || ::fsync(fd.get()) != 0) {
        throw Error(Exit::IoErr, systemError("sync directory '" + dir + "'", errno),
                    Location{target, 0, {}});
    }
}

// Read from `fd` until `room` bytes are in `out` or the file ends; returns the count.
std::size_t readInto(int fd, char* out, std::size_t room, const std::string& path) {
    std::size_t got = 0;
    while (got < room) {
        const ssize_t n = ::read(fd, out + got, room - got);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw Error(Exit::IoErr, systemError("read", errno), Location{path, 0, {}});
        }
        if (n == 0) {
            break;
        }
        got += static_cast<std::size_t>(n);
    }
    return got;
}

int openForReading(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (fd.get() < 0) {
        throw Error(Exit::NoInput, systemError("open", errno), Location{path, 0, {}});
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        throw Error(Exit::IoErr, systemError("stat", errno), Location{path, 0, {}});
    }
    if (S_ISDIR(st.st_mode)) {
        throw Error(Exit::NoInput, "is a directory, not a file", Location{path, 0, {}});
    }
    return fd.release();
}

} // namespace

void ensureDirectory(const std::string& dir, mode_t mode) {
    if (dir.empty()) {
        return;
    }
    // Walk from the root down so that every missing level is made with `mode`.
    std::string prefix;
    std::size_t at = 0;
    while (at <= dir.size()) {
        const auto slash = dir.find('/', at);
        const std::size_t end = slash == std::string::npos ? dir.size() : slash;
        prefix = dir.substr(0, end);
        at = end + 1;
        if (prefix.empty() || prefix == "." || prefix == "..") {
            continue;
        }
        if (::mkdir(prefix.c_str(), mode) == 0) {
            // mkdir() applies the umask; the mode asked for is the mode wanted.
            if (::chmod(prefix.c_str(), mode) != 0) {
                throw Error(Exit::CantCreat, systemError("set the mode of '" + prefix + "'", errno),
                            Location{dir, 0, {}});
            }
            continue;
        }
        const int err = errno;
        struct stat st {};
        if (err == EEXIST && ::stat(prefix.c_str(), &st) == 0) {
            if (!S_ISDIR(st.st_mode)) {
                throw Error(Exit::CantCreat, "'" + prefix + "' exists and is not a directory",
                            Location{dir, 0, {}});
            }
            continue;
        }
        throw Error(err == EACCES ? Exit::NoPerm : Exit::CantCreat,
                    systemError("create directory '" + prefix + "'", err), Location{dir, 0, {}});
    }
}

void writeFileAtomic(const std::string& path, std::string_view content, mode_t mode,
                     bool exclusive) {
    const Location where{path, 0, {}};
    if (path.empty() || path.back() == '/') {
        throw Error(Exit::CantCreat, "not a file name", where);
    }
    if (exclusive && ::access(path.c_str(), F_OK) == 0) {
        throw Error(Exit::CantCreat, "already exists, not overwriting it", where);
    }
    const std::string dir = parentOf(path);
    removeStaleTemporaries(dir);

    std::string temp;
    int raw = -1;
    for (int attempt = 0; attempt < 16 && raw < 0; ++attempt) {
        temp = tempName(path);
        raw = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (raw < 0 && errno != EEXIST) {
            break;
        }
    }
    if (raw < 0) {
        throw Error(errno == EACCES ? Exit::NoPerm : Exit::CantCreat,
                    systemError("create a file in '" + dir + "'", errno), where);
    }
    TempGuard guard(temp);
    Fd fd(raw);
    // open() applies the umask; the file gets exactly `mode`, before any byte is in it.
    if (::fchmod(fd.get(), mode) != 0) {
        throw Error(Exit::CantCreat, systemError("set the mode", errno), where);
    }
    std::size_t done = 0;
    while (done < content.size()) {
        const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw Error(Exit::IoErr, systemError("write", errno), where);
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0) {
        throw Error(Exit::IoErr, systemError("sync", errno), where);
    }
    if (::close(fd.release()) != 0) {
        throw Error(Exit::IoErr, systemError("write", errno), where);
    }
    fault::point("file.before-rename");
    if (exclusive) {
        // link() fails with EEXIST where rename() would replace: a file that appeared since
        // the check above is still never overwritten.
        if (::link(temp.c_str(), path.c_str()) != 0) {
            const int err = errno;
            throw Error(Exit::CantCreat,
                        err == EEXIST ? "already exists, not overwriting it"
                                      : systemError("create", err),
                        where);
        }
        ::unlink(temp.c_str());
    } else if (::rename(temp.c_str(), path.c_str()) != 0) {
        throw Error(Exit::CantCreat, systemError("replace", errno), where);
    }
    guard.dismiss();
    fsyncDirectory(dir, path);
}

std::string readFile(const std::string& path, std::size_t cap) {
    Fd fd(openForReading(path));
    std::string out;
    std::array<char, 65536> chunk{};
    for (;;) {
        const std::size_t n = readInto(fd.get(), chunk.data(), chunk.size(), path);
        out.append(chunk.data(), n);
        if (out.size() > cap) {
            throw Error(Exit::DataErr, "larger than " + sizeText(cap), Location{path, 0, {}});
        }
        if (n < chunk.size()) {
            return out;
        }
    }
}

std::size_t readFileInto(const std::string& path, std::span<char> buffer) {
    Fd fd(openForReading(path));
    const std::size_t got = readInto(fd.get(), buffer.data(), buffer.size(), path);
    if (got == buffer.size()) {
        char extra = 0;
        if (readInto(fd.get(), &extra, 1, path) != 0) {
            throw Error(Exit::DataErr, "larger than " + sizeText(buffer.size()),
                        Location{path, 0, {}});
        }
    }
    return got;
}

bool isStampedPemName(std::string_view name) {
    const auto digits = [&](std::size_t from, std::size_t count) {
        return name.size() >= from + count &&
               std::all_of(name.begin() + static_cast<std::ptrdiff_t>(from),
                           name.begin() + static_cast<std::ptrdiff_t>(from + count),
                           [](char c) { return c >= '0' && c <= '9'; });
    };
    // YYYYmmdd T HHMMSS Z: 16 characters.
    if (!digits(0, 8) || name.size() < 16 || name[8] != 'T' || !digits(9, 6) || name[15] != 'Z') {
        return false;
    }
    std::string_view rest = name.substr(16);
    if (!rest.empty() && rest.front() == '-') {
        std::size_t n = 1;
        while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') {
            ++n;
        }
        if (n == 1) {
            return false;
        }
        rest.remove_prefix(n);
    }
    return rest == ".pem";
}

} // namespace cdm::fsutil
