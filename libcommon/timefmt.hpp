#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <string>

// Times as cdm's messages and reports print them. Header-only and free of other cdm modules,
// so that modules on both sides of a dependency (phase uses mtasts) can share it without a
// cycle.

namespace cdm::timefmt {

// Unix seconds as UTC in RFC 3339 form, "2026-12-07T10:11:12Z". Never throws.
inline std::string utcTime(std::int64_t unixTime) {
    const auto t = static_cast<std::time_t>(unixTime);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::array<char, 32> buffer{};
    std::strftime(buffer.data(), buffer.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buffer.data();
}

} // namespace cdm::timefmt
