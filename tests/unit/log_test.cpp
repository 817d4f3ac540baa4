// Tests of libcommon/log: the original's log-line format, levels and secret redaction.

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libcommon/log.hpp"

using cdm::log::Level;

TEST(LogFormat, MatchesTheOriginalLine) {
    setenv("TZ", "UTC", 1);
    tzset();
    const auto when = std::chrono::system_clock::from_time_t(1549210044) + std::chrono::milliseconds(144);
    EXPECT_EQ(cdm::log::formatLine(when, Level::Info, "add (new) A for a.de : 1.2.3.4"),
              "[2019-02-03 16:07:24,144]    INFO      add (new) A for a.de : 1.2.3.4");
    EXPECT_EQ(cdm::log::formatLine(when, Level::Warning, "w"),
              "[2019-02-03 16:07:24,144]    WARNING   w");
    EXPECT_EQ(cdm::log::formatLine(when, Level::Critical, "c"),
              "[2019-02-03 16:07:24,144]    CRITICAL  c");
}

TEST(LogLevel, FromEnvironmentAndFlags) {
    struct Case {
        const char* desc;
        const char* env;
        int verbosity;
        Level expected;
    };
    const Case cases[] = {
        {"default", nullptr, 0, Level::Info},
        {"LOGLEVEL=DEBUG", "DEBUG", 0, Level::Debug},
        {"LOGLEVEL=WARN (the original's spelling)", "WARN", 0, Level::Warning},
        {"lower case", "error", 0, Level::Error},
        {"unknown falls back to INFO", "LOUD", 0, Level::Info},
        {"-v", nullptr, 1, Level::Debug},
        {"-q", nullptr, -1, Level::Warning},
        {"-qqq stops at CRITICAL", nullptr, -9, Level::Critical},
        {"LOGLEVEL=ERROR -v", "ERROR", 1, Level::Warning},
    };
    for (const auto& c : cases) {
        if (c.env != nullptr) {
            setenv("LOGLEVEL", c.env, 1);
        } else {
            unsetenv("LOGLEVEL");
        }
        cdm::log::configure(c.verbosity);
        EXPECT_EQ(cdm::log::level(), c.expected) << c.desc;
    }
    unsetenv("LOGLEVEL");
    cdm::log::configure(0);
}

TEST(LogSink, FiltersByLevel) {
    std::vector<std::string> lines;
    cdm::log::setSink([&](std::string_view l) { lines.emplace_back(l); });
    cdm::log::setLevel(Level::Warning);
    cdm::log::info("hidden");
    cdm::log::warn("shown");
    cdm::log::setSink(nullptr);
    cdm::log::setLevel(Level::Info);
    ASSERT_EQ(lines.size(), 1U);
    // "[YYYY-MM-DD HH:MM:SS,mmm]    WARNING   shown"
    EXPECT_THAT(lines[0], testing::MatchesRegex("\\[[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2},[0-9]{3}\\]    WARNING   shown"));
}

TEST(LogSecrets, KeysThatHoldSecrets) {
    for (const char* key : {"passwd", "password", "passwort", "secret", "tsig_secret", "apikey",
                            "api_key", "eab_hmac_key", "PASSWD"}) {
        EXPECT_TRUE(cdm::log::isSecretKey(key)) << key;
        EXPECT_EQ(cdm::log::redact(key, "hunter2"), "********") << key;
    }
    for (const char* key : {"user", "keyfile", "handler", "acme", "keysize", "txt.token",
                            "txt._secret", "secretary", "tokens"}) {
        EXPECT_FALSE(cdm::log::isSecretKey(key)) << key;
        EXPECT_EQ(cdm::log::redact(key, "v"), "v") << key;
    }
}
