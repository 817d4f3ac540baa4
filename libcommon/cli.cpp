#include "libcommon/cli.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>

#include <boost/version.hpp>
#include <curl/curl.h>
#include <ldns/ldns.h>
#include <openssl/crypto.h>

#include "cdm_version.hpp"
#include "libcommon/error.hpp"
#include "libcommon/log.hpp"

namespace cdm::cli {

namespace {

// A verb name in a message: quoted, cut short, unprintable bytes shown as '?'.
std::string quoteVerb(std::string_view text) {
    constexpr std::size_t limit = 40;
    std::string out = "'";
    for (char c : text.substr(0, limit)) {
        out += std::isprint(static_cast<unsigned char>(c)) != 0 ? c : '?';
    }
    return out + (text.size() > limit ? "...'" : "'");
}

} // namespace

std::vector<std::string> takeVerbosity(int argc, const char* const* argv, int& verbosity) {
    std::vector<std::string> rest;
    bool options = true;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (options && arg == "--") {
            options = false;
        }
        if (options && (arg == "--verbose" || arg == "--quiet")) {
            verbosity += arg == "--verbose" ? 1 : -1;
            continue;
        }
        if (options && arg.size() >= 2 && arg[0] == '-' && arg[1] != '-' &&
            arg.find_first_not_of(arg[1], 1) == std::string::npos &&
            (arg[1] == 'v' || arg[1] == 'q')) {
            const int n = static_cast<int>(arg.size()) - 1;
            verbosity += arg[1] == 'v' ? n : -n;
            continue;
        }
        rest.push_back(arg);
    }
    return rest;
}

std::string versionText(std::string_view program, bool verbose) {
    std::string text = std::string(program) + " (cdm) " + CDM_VERSION + "\n";
    if (verbose) {
        text += "OpenSSL: " + std::string(OpenSSL_version(OPENSSL_VERSION)) + "\n";
        text += "ldns: " + std::string(ldns_version()) + "\n";
        text += "libcurl: " + std::string(curl_version()) + "\n";
        text += "Boost: " + std::to_string(BOOST_VERSION / 100000) + "." +
                std::to_string(BOOST_VERSION / 100 % 1000) + "." +
                std::to_string(BOOST_VERSION % 100) + "\n";
    }
    return text;
}

std::string readAll(std::istream& in, std::size_t cap, const std::string& sourceName) {
    std::string out;
    std::array<char, 65536> buffer{};
    while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        out.append(buffer.data(), static_cast<std::size_t>(in.gcount()));
        if (out.size() > cap) {
            throw Error(Exit::DataErr,
                        "input larger than " + std::to_string(cap) + " bytes", Location{sourceName, 0, {}});
        }
    }
    if (in.bad()) {
        throw Error(Exit::IoErr, std::string("unable to read: ") + std::strerror(errno),
                    Location{sourceName, 0, {}});
    }
    return out;
}

void writeOut(std::string_view text) {
    std::cout.write(text.data(), static_cast<std::streamsize>(text.size()));
    std::cout.flush();
    if (!std::cout || std::fflush(stdout) != 0) {
        throw Error(Exit::IoErr, std::string("unable to write to standard output: ") +
                                     std::strerror(errno));
    }
}

void requireOneOf(std::string_view name, const std::string& value,
                  std::initializer_list<std::string_view> allowed) {
    std::string list;
    for (auto a : allowed) {
        if (a == value) {
            return;
        }
        list += (list.empty() ? "" : " or ") + std::string(a);
    }
    throw Error(Exit::Usage, "--" + std::string(name) + " takes " + list + ", not '" + value + "'");
}

int run(const Program& program, int argc, const char* const* argv, po::options_description options,
        const po::positional_options_description& positional, const Body& body,
        const po::options_description& hidden) {
    const std::string usageLine = "usage: " + program.name + " " + program.usage;
    Common common;
    try {
        const std::vector<std::string> args = takeVerbosity(argc, argv, common.verbosity);
        po::options_description shared("Common options");
        shared.add_options()("help,h", "print this help and exit")(
            "version", "print the version and exit (with -v: also the libraries')")(
            "verbose,v", "log more (repeatable; LOGLEVEL sets the start)")(
            "quiet,q", "log less (repeatable)");
        po::options_description visible;
        visible.add(options).add(shared);
        po::options_description all;
        all.add(visible).add(hidden);
        po::variables_map vm;
        po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
        if (vm.count("help") != 0U) {
            std::ostringstream text;
            text << usageLine << "\n\n" << program.description << "\n\n" << visible << "\n";
            writeOut(text.str());
            return 0;
        }
        if (vm.count("version") != 0U) {
            writeOut(versionText(program.name, common.verbosity > 0));
            return 0;
        }
        po::notify(vm);
        log::configure(common.verbosity);
        if (vm.count("format") != 0U) {
            common.format = vm["format"].as<std::string>();
        }
        return body(vm, common);
    } catch (const po::error& e) {
        std::cerr << program.name << ": " << e.what() << "\n" << usageLine << "\n";
        return toInt(Exit::Usage);
    } catch (const Error& e) {
        std::cerr << program.name << ": " << e.what() << "\n";
        if (e.code() == Exit::Usage) {
            std::cerr << usageLine << "\n";
        }
        return toInt(e.code());
    } catch (const std::exception& e) {
        std::cerr << program.name << ": internal error: " << e.what() << "\n";
        return toInt(Exit::Software);
    }
}

int dispatch(const Program& info, const std::vector<Verb>& table, int argc,
             const char* const* argv) {
    const std::string& program = info.name;
    std::string names;
    for (const auto& v : table) {
        if (!names.empty()) {
            names += '|';
        }
        names += v.name;
    }
    const std::string usage = "usage: " + program + " " + names + " [options]";
    // -v and -q may come before the command, as in "cdm-dkim -v generate ...": the command
    // is the first other argument, and the flags move behind it for cli::run().
    std::vector<const char*> args(argv, argv + argc);
    std::size_t at = 1;
    for (int verbosity = 0; at < args.size(); ++at) {
        const char* one[] = {"", args[at]};
        if (!takeVerbosity(2, one, verbosity).empty()) {
            break;
        }
    }
    if (at < args.size() && at > 1) {
        std::rotate(args.begin() + 1, args.begin() + static_cast<std::ptrdiff_t>(at),
                    args.begin() + static_cast<std::ptrdiff_t>(at) + 1);
    }
    const std::string first = at < args.size() ? args[1] : "";
    try {
        if (first == "--help" || first == "-h") {
            std::ostringstream text;
            text << usage << "\n\n" << info.description << " Commands:\n";
            for (const auto& v : table) {
                text << "\n  " << program << " " << v.synopsis << "\n";
                std::istringstream help{std::string(v.help)};
                for (std::string line; std::getline(help, line);) {
                    text << "      " << line << "\n";
                }
            }
            text << "\n'" << program << " COMMAND --help' lists the options of a command.\n";
            writeOut(text.str());
            return 0;
        }
        if (first == "--version") {
            int verbosity = 0;
            takeVerbosity(argc, args.data(), verbosity);
            writeOut(versionText(program, verbosity > 0));
            return 0;
        }
    } catch (const Error& e) {
        std::cerr << program << ": " << e.what() << "\n";
        return toInt(e.code());
    }
    const auto verb =
        std::find_if(table.begin(), table.end(), [&](const Verb& v) { return v.name == first; });
    if (verb == table.end()) {
        std::cerr << program << ": "
                  << (first.empty() ? std::string("no command given")
                                    : "unknown command " + quoteVerb(first))
                  << "\n"
                  << usage << "\n";
        return toInt(Exit::Usage);
    }
    po::options_description options("Options");
    if (verb->options) {
        verb->options(options);
    }
    const Program p{program, std::string(verb->synopsis), std::string(verb->help)};
    return run(p, argc - 1, args.data() + 1, options, po::positional_options_description(),
               verb->handler);
}

} // namespace cdm::cli
