#pragma once

#include <cstddef>
#include <initializer_list>
#include <functional>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include <boost/program_options.hpp>

// The command-line layer every cdm program shares: --help, --version, -v/-q, --format,
// reading stdin with a size cap, one checked write of the result, and turning errors into
// "cdm-tool: location: message" on stderr plus a sysexits code.

namespace cdm::cli {

namespace po = boost::program_options;

struct Program {
    std::string name;        // "cdm-config"
    std::string usage;       // "[options] [file ...]"
    std::string description; // one paragraph for --help
};

// What the shared options found.
struct Common {
    int verbosity = 0; // +1 per -v, -1 per -q
    std::string format;
};

// The body of a program: it gets the parsed options and returns an exit code.
using Body = std::function<int(const po::variables_map& vm, const Common& common)>;

// Parse argv with `options` (to which the shared ones are added) and `positional`, handle
// --help and --version, configure logging, then call `body`. Every cdm::Error becomes its
// message and exit code, a bad option exit 64 with a usage line, and anything else exit 70.
// `hidden` options are parsed but not listed by --help (the operands behind `positional`).
int run(const Program& program, int argc, const char* const* argv, po::options_description options,
        const po::positional_options_description& positional, const Body& body,
        const po::options_description& hidden = po::options_description());

// Check that `value` of option `name` is one of `allowed`; throws Error(Exit::Usage).
void requireOneOf(std::string_view name, const std::string& value,
                  std::initializer_list<std::string_view> allowed);

// The --version text; with `verbose`, also the library versions in use.
std::string versionText(std::string_view program, bool verbose);

// All of `in`, at most `cap` bytes; throws Error(Exit::DataErr) past the cap and
// Error(Exit::IoErr) on a read error. `sourceName` names the input in messages.
std::string readAll(std::istream& in, std::size_t cap, const std::string& sourceName);

// Write `text` to stdout once and flush; throws Error(Exit::IoErr) when that fails.
void writeOut(std::string_view text);

// One verb of a multi-verb program (cdm-dkim generate, cdm-cert phase ...). `options` adds
// the verb's options; `handler` runs it with them parsed.
struct Verb {
    std::string_view name;
    Body handler;
    std::string_view synopsis; // "generate --domain D --algorithm A --key-out FILE [...]"
    std::string_view help;     // one paragraph for --help
    std::function<void(po::options_description&)> options;
};

// Run a multi-verb program: argv[1] names the verb (after any -v/-q flags), whose options
// are then parsed by run(). `PROGRAM --help` prints "usage: PROGRAM VERB|VERB [options]",
// then `program.description` followed by " Commands:" and each verb's synopsis and help;
// `PROGRAM VERB --help` the verb's options; `--version` works without a verb. No verb or an
// unknown one exits 64 with the usage line. `program.usage` is not used. Returns the exit
// code.
int dispatch(const Program& program, const std::vector<Verb>& table, int argc,
             const char* const* argv);

// Split the -v/-q flags (also -vv, --verbose, --quiet) out of argv: they may repeat, which
// program_options does not allow. Returns the remaining arguments.
std::vector<std::string> takeVerbosity(int argc, const char* const* argv, int& verbosity);

} // namespace cdm::cli
