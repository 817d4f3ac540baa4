#pragma once

// Helpers shared by the GoogleTest files.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/error.hpp"
#include "libcommon/log.hpp"

namespace cdm::test {

// The exit code `f` throws with (Exit::Ok when it returns), and its message in `*message`.
inline Exit codeOf(const std::function<void()>& f, std::string* message = nullptr) {
    try {
        f();
    } catch (const Error& e) {
        if (message != nullptr) {
            *message = e.what();
        }
        return e.code();
    }
    return Exit::Ok;
}

// Captures the log lines written while it lives.
class LogCapture {
public:
    LogCapture() {
        log::setSink([this](std::string_view line) { lines.emplace_back(line); });
    }
    ~LogCapture() { log::setSink(nullptr); }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;

    std::string all() const {
        std::string s;
        for (const auto& l : lines) {
            s += l + "\n";
        }
        return s;
    }

    std::vector<std::string> lines;
};

} // namespace cdm::test
