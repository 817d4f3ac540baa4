#include "libcommon/log.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>

namespace cdm::log {

namespace {

Level g_level = Level::Info;
Sink g_sink;

std::string_view levelName(Level level) {
    switch (level) {
    case Level::Debug:
        return "DEBUG";
    case Level::Info:
        return "INFO";
    case Level::Warning:
        return "WARNING";
    case Level::Error:
        return "ERROR";
    case Level::Critical:
        return "CRITICAL";
    }
    return "INFO";
}

bool endsWith(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

} // namespace

void setLevel(Level level) { g_level = level; }
Level level() { return g_level; }
bool enabled(Level level) { return static_cast<int>(level) >= static_cast<int>(g_level); }

Level parseLevel(std::string_view text, Level fallback) {
    std::string upper;
    for (char c : text) {
        upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    if (upper == "DEBUG") {
        return Level::Debug;
    }
    if (upper == "INFO") {
        return Level::Info;
    }
    if (upper == "WARN" || upper == "WARNING") {
        return Level::Warning;
    }
    if (upper == "ERROR") {
        return Level::Error;
    }
    if (upper == "CRITICAL") {
        return Level::Critical;
    }
    return fallback;
}

void configure(int verbosity) {
    Level base = Level::Info;
    if (const char* env = std::getenv("LOGLEVEL"); env != nullptr) {
        base = parseLevel(env, Level::Info);
    }
    int value = static_cast<int>(base) - 10 * verbosity;
    value = std::max(10, std::min(50, value));
    g_level = static_cast<Level>(value);
}

std::string formatLine(std::chrono::system_clock::time_point when, Level level,
                       std::string_view message) {
    const auto seconds = std::chrono::system_clock::to_time_t(when);
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                            when.time_since_epoch())
                            .count() %
                        1000;
    std::tm local{};
    localtime_r(&seconds, &local);
    std::array<char, 32> stamp{};
    std::strftime(stamp.data(), stamp.size(), "%Y-%m-%d %H:%M:%S", &local);
    std::array<char, 8> ms{};
    std::snprintf(ms.data(), ms.size(), ",%03d", static_cast<int>(millis));

    // Python's "%(levelname)-9s %(message)s": the name left-aligned in 9 columns, a space.
    std::string name(levelName(level));
    name.resize(std::max<std::size_t>(name.size(), 9), ' ');
    std::string line = "[";
    line += stamp.data();
    line += ms.data();
    line += "]    ";
    line += name;
    line += ' ';
    line += message;
    return line;
}

void write(Level level, std::string_view message) {
    if (!enabled(level)) {
        return;
    }
    const std::string line = formatLine(std::chrono::system_clock::now(), level, message);
    if (g_sink) {
        g_sink(line);
        return;
    }
    std::cerr << line << '\n';
    std::cerr.flush();
}

void setSink(Sink sink) { g_sink = std::move(sink); }

bool isSecretKey(std::string_view key) {
    std::string lower;
    for (char c : key) {
        lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (lower.find('.') != std::string::npos) {
        return false; // a record key such as txt._secret, never a credential
    }
    static constexpr std::array<std::string_view, 9> names = {
        "passwd", "password", "passwort", "secret", "apikey", "api_key", "api-key", "hmac_key", "token"};
    for (auto name : names) {
        // The whole key, or a suffix after '_' or '-' ("tsig_secret", "eab_hmac_key"); not
        // "txt.token", which is a record key.
        if (lower == name) {
            return true;
        }
        if (endsWith(lower, name) && lower.size() > name.size()) {
            const char before = lower[lower.size() - name.size() - 1];
            if (before == '_' || before == '-') {
                return true;
            }
        }
    }
    return false;
}

std::string redact(std::string_view key, std::string_view value) {
    return isSecretKey(key) ? std::string("********") : std::string(value);
}

} // namespace cdm::log
