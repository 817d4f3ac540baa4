#include "libcommon/error.hpp"

namespace cdm {

std::string Location::toString() const {
    std::string out = file;
    if (line != 0) {
        out += ':' + std::to_string(line);
    } else if (!path.empty()) {
        out += (out.empty() ? "" : ":") + path;
    }
    return out;
}

static std::string composeWhat(const Location& where, const std::string& message) {
    const std::string loc = where.toString();
    return loc.empty() ? message : loc + ": " + message;
}

Error::Error(Exit code, std::string message, Location where)
    : std::runtime_error(composeWhat(where, message)), code_(code), where_(std::move(where)),
      message_(std::move(message)) {}

} // namespace cdm
