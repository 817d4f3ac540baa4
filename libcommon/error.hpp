#pragma once

#include <stdexcept>
#include <string>

#include "libcommon/exit.hpp"

namespace cdm {

// Where in the input a problem is: "file:line", "<stdin>:records[3].data", or empty.
struct Location {
    std::string file;
    unsigned line = 0;
    std::string path; // a JSON path or a key name, used when there is no line

    // "file:line", "file:path", "file" or "" (whichever parts are known).
    std::string toString() const;
    bool empty() const { return file.empty() && path.empty(); }
};

// The one exception type thrown across libcommon modules. The command-line layer turns it
// into "cdm-tool: location: message" on stderr and the exit code it carries.
class Error : public std::runtime_error {
public:
    Error(Exit code, std::string message, Location where = {});

    Exit code() const { return code_; }
    const Location& where() const { return where_; }
    const std::string& message() const { return message_; }

private:
    Exit code_;
    Location where_;
    std::string message_;
};

} // namespace cdm
