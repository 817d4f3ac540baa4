#pragma once

// Exit codes of every cdm program: the sysexits(3) values, declared once.
// Each man page lists the subset its program returns, with its meaning there.

namespace cdm {

enum class Exit : int {
    Ok = 0,
    Usage = 64,       // EX_USAGE: bad command line
    DataErr = 65,     // EX_DATAERR: malformed input data (a record, a document)
    NoInput = 66,     // EX_NOINPUT: an input file is missing or unreadable
    Unavailable = 69, // EX_UNAVAILABLE: a service (DNS, ACME, API) refused or is down
    Software = 70,    // EX_SOFTWARE: an internal error; a bug in cdm
    CantCreat = 73,   // EX_CANTCREAT: an output file cannot be created
    IoErr = 74,       // EX_IOERR: reading or writing failed
    TempFail = 75,    // EX_TEMPFAIL: try again later (a wait is not over)
    NoPerm = 77,      // EX_NOPERM: permission denied
    Config = 78,      // EX_CONFIG: the configuration is wrong
};

constexpr int toInt(Exit e) { return static_cast<int>(e); }

} // namespace cdm
