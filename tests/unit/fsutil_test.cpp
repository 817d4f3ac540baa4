// Tests of libcommon/fsutil: atomic replacement, private directories, capped reads.

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/test_util.hpp"
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "libcommon/error.hpp"
#include "libcommon/fsutil.hpp"

using cdm::Error;
using cdm::Exit;
using testing::HasSubstr;
namespace fs = std::filesystem;
namespace fsutil = cdm::fsutil;

namespace {

class FsutilTest : public testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "cdm-fsutil-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        oldMask_ = ::umask(022);
    }
    void TearDown() override {
        ::umask(oldMask_);
        fs::remove_all(dir_);
    }
    std::string path(const std::string& name) const { return dir_ + "/" + name; }
    static mode_t modeOf(const std::string& p) {
        struct stat st {};
        EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
        return st.st_mode & 07777;
    }
    static std::string contentOf(const std::string& p) {
        std::ifstream in(p, std::ios::binary);
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }
    // Every name in the directory, to show that no temporary file is left behind.
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& e : fs::directory_iterator(dir_)) {
            out.push_back(e.path().filename().string());
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    std::string dir_;
    mode_t oldMask_ = 0;
};

using cdm::test::codeOf;

} // namespace

TEST_F(FsutilTest, EnsureDirectoryCreatesEveryLevelWithTheMode) {
    struct Case {
        const char* desc;
        const char* sub;
        mode_t umask;
        mode_t mode;
    };
    const Case cases[] = {
        {"one level, default 0700 under umask 022", "a", 022, 0700},
        {"three levels under umask 0", "b/c/d", 0, 0700},
        {"0750 asked, umask 077 does not narrow it", "e/f", 077, 0750},
        {"trailing slash", "g/h/", 022, 0700},
    };
    for (const auto& c : cases) {
        ::umask(c.umask);
        fsutil::ensureDirectory(path(c.sub), c.mode);
        std::string walk = dir_;
        for (const auto& part : fs::path(c.sub)) {
            if (part.empty()) {
                continue;
            }
            walk += "/" + part.string();
            EXPECT_TRUE(fs::is_directory(walk)) << c.desc << ": " << walk;
            EXPECT_EQ(modeOf(walk), c.mode) << c.desc << ": " << walk;
        }
    }
}

TEST_F(FsutilTest, EnsureDirectoryLeavesAnExistingDirectoryAlone) {
    ASSERT_EQ(::mkdir(path("open").c_str(), 0755), 0);
    fsutil::ensureDirectory(path("open"));
    EXPECT_EQ(modeOf(path("open")), 0755U);
    fsutil::ensureDirectory(path("open/inner"));
    EXPECT_EQ(modeOf(path("open/inner")), 0700U);
    EXPECT_EQ(modeOf(path("open")), 0755U);
}

TEST_F(FsutilTest, EnsureDirectoryRefusesAFileInThePath) {
    fsutil::writeFileAtomic(path("file"), "x", 0600);
    std::string message;
    EXPECT_EQ(codeOf([&] { fsutil::ensureDirectory(path("file/sub")); }, &message),
              Exit::CantCreat);
    EXPECT_THAT(message, HasSubstr("exists and is not a directory"));
}

TEST_F(FsutilTest, WriteFileAtomicSetsTheExactModeAndLeavesNoTemporaryFile) {
    struct Case {
        const char* desc;
        mode_t umask;
        mode_t mode;
        std::string content;
    };
    const Case cases[] = {
        {"private file under umask 0", 0, 0600, "secret\n"},
        {"0644 under umask 077", 077, 0644, "public\n"},
        {"empty content", 022, 0600, ""},
        {"binary content with NUL", 022, 0640, std::string("a\0b", 3)},
    };
    int n = 0;
    for (const auto& c : cases) {
        ::umask(c.umask);
        const std::string p = path("f" + std::to_string(n++));
        fsutil::writeFileAtomic(p, c.content, c.mode);
        EXPECT_EQ(modeOf(p), c.mode) << c.desc;
        EXPECT_EQ(contentOf(p), c.content) << c.desc;
    }
    EXPECT_EQ(names(), (std::vector<std::string>{"f0", "f1", "f2", "f3"}));
}

TEST_F(FsutilTest, WriteFileAtomicReplacesUnlessExclusive) {
    const std::string p = path("state.json");
    fsutil::writeFileAtomic(p, "old", 0600);
    fsutil::writeFileAtomic(p, "new", 0600);
    EXPECT_EQ(contentOf(p), "new");

    std::string message;
    EXPECT_EQ(codeOf([&] { fsutil::writeFileAtomic(p, "other", 0600, true); }, &message),
              Exit::CantCreat);
    EXPECT_THAT(message, HasSubstr(p + ": already exists, not overwriting it"));
    EXPECT_EQ(contentOf(p), "new");

    fsutil::writeFileAtomic(path("fresh"), "x", 0600, true);
    EXPECT_EQ(contentOf(path("fresh")), "x");
    EXPECT_EQ(names(), (std::vector<std::string>{"fresh", "state.json"}));
}

TEST_F(FsutilTest, WriteFileAtomicDoesNotFollowADanglingSymlinkWhenExclusive) {
    ASSERT_EQ(::symlink(path("elsewhere").c_str(), path("link").c_str()), 0);
    EXPECT_EQ(codeOf([&] { fsutil::writeFileAtomic(path("link"), "x", 0600, true); }),
              Exit::CantCreat);
    EXPECT_FALSE(fs::exists(path("elsewhere")));
}

TEST_F(FsutilTest, WriteFileAtomicFailuresChangeNothing) {
    struct Case {
        const char* desc;
        std::string target;
        Exit code;
        const char* message;
    };
    const Case cases[] = {
        {"missing directory", path("no/such/dir/f"), Exit::CantCreat, "unable to create a file in"},
        {"empty name", "", Exit::CantCreat, "not a file name"},
        {"directory name", path("d/"), Exit::CantCreat, "not a file name"},
    };
    for (const auto& c : cases) {
        std::string message;
        EXPECT_EQ(codeOf([&] { fsutil::writeFileAtomic(c.target, "x", 0600); }, &message), c.code)
            << c.desc;
        EXPECT_THAT(message, HasSubstr(c.message)) << c.desc;
        EXPECT_TRUE(names().empty()) << c.desc;
    }
}

TEST_F(FsutilTest, WriteFileAtomicRemovesTheTemporaryFileWhenWritingFails) {
    // A file size limit makes write() fail with EFBIG half way through the content.
    struct sigaction ignore {};
    struct sigaction old {};
    ignore.sa_handler = SIG_IGN;
    ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &old), 0);
    rlimit saved{};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
    rlimit small = saved;
    small.rlim_cur = 1000;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    fsutil::writeFileAtomic(path("kept"), "old", 0600);
    std::string message;
    const Exit code = codeOf(
        [&] { fsutil::writeFileAtomic(path("kept"), std::string(5000, 'x'), 0600); }, &message);
    ::setrlimit(RLIMIT_FSIZE, &saved);
    ::sigaction(SIGXFSZ, &old, nullptr);
    EXPECT_EQ(code, Exit::IoErr);
    EXPECT_THAT(message, HasSubstr("unable to write: File too large"));
    EXPECT_EQ(contentOf(path("kept")), "old");
    EXPECT_EQ(names(), std::vector<std::string>{"kept"});
}

TEST_F(FsutilTest, ReadFileReadsUpToTheCap) {
    fsutil::writeFileAtomic(path("k"), std::string(1024, 'k'), 0600);
    fsutil::writeFileAtomic(path("big"), std::string(200000, 'b'), 0600);
    struct Case {
        const char* desc;
        std::string file;
        std::size_t cap;
        Exit code;
        const char* message;
    };
    const Case cases[] = {
        {"exactly the cap", path("k"), 1024, Exit::Ok, ""},
        {"one byte over the cap", path("k"), 1023, Exit::DataErr, "k: larger than 1023 bytes"},
        {"well over a KiB cap", path("big"), 64 * 1024, Exit::DataErr, "big: larger than 64 KiB"},
        {"missing", path("nope"), 10, Exit::NoInput,
         "nope: unable to open: No such file or directory"},
        {"a directory", dir_, 10, Exit::NoInput, "is a directory, not a file"},
    };
    for (const auto& c : cases) {
        std::string message;
        std::string got;
        EXPECT_EQ(codeOf([&] { got = fsutil::readFile(c.file, c.cap); }, &message), c.code)
            << c.desc;
        EXPECT_THAT(message, HasSubstr(c.message)) << c.desc;
        if (c.code == Exit::Ok) {
            EXPECT_EQ(got.size(), c.cap) << c.desc;
        }
    }
}

TEST_F(FsutilTest, ReadFileReadsFilesWhoseSizeIsUnknown) {
    // /proc files report size 0; the reader must not trust st_size.
    const std::string self = fsutil::readFile("/proc/self/status", 1 << 20);
    EXPECT_THAT(self, HasSubstr("Name:"));
}

TEST_F(FsutilTest, ReadFileIntoFillsTheCallersBuffer) {
    fsutil::writeFileAtomic(path("s"), "seed", 0600);
    std::array<char, 8> buffer{};
    EXPECT_EQ(fsutil::readFileInto(path("s"), buffer), 4U);
    EXPECT_EQ(std::string(buffer.data(), 4), "seed");

    std::array<char, 4> exact{};
    EXPECT_EQ(fsutil::readFileInto(path("s"), exact), 4U);

    std::array<char, 3> small{};
    std::string message;
    EXPECT_EQ(codeOf([&] { fsutil::readFileInto(path("s"), small); }, &message), Exit::DataErr);
    EXPECT_THAT(message, HasSubstr("larger than 3 bytes"));
}

TEST(FsutilStampedName, OnlyTheFormCdmStages) {
    using cdm::fsutil::isStampedPemName;
    EXPECT_TRUE(isStampedPemName("20261123T230933Z.pem"));
    EXPECT_TRUE(isStampedPemName("20261123T230933Z-2.pem"));
    EXPECT_TRUE(isStampedPemName("20261123T230933Z-17.pem"));
    EXPECT_FALSE(isStampedPemName("20261123T230933Z-.pem"));
    EXPECT_FALSE(isStampedPemName("20261123T230933Z.pem.bak"));
    EXPECT_FALSE(isStampedPemName("20261123T230933.pem"));
    EXPECT_FALSE(isStampedPemName("2026112xT230933Z.pem"));
    EXPECT_FALSE(isStampedPemName("20261123-230933Z.pem"));
    EXPECT_FALSE(isStampedPemName("my-own.pem"));
    EXPECT_FALSE(isStampedPemName("../20261123T230933Z.pem"));
    EXPECT_FALSE(isStampedPemName(""));
}
