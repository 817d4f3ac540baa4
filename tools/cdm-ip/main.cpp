// cdm-ip: fill the `ip4 = auto` / `ip6 = auto` placeholders of a cdm document with this
// host's addresses, or print one address (cdm-ip(1)).

#include <iostream>

#include "libcommon/cli.hpp"
#include "libcommon/document.hpp"
#include "libcommon/ipdetect.hpp"

namespace po = boost::program_options;
namespace ip = cdm::ipdetect;

namespace {

// Command-line mistakes are usage errors (64), the same text in a config file is 78.
template <typename F>
auto asUsage(const std::string& option, F&& f) {
    try {
        return f();
    } catch (const cdm::Error& e) {
        throw cdm::Error(cdm::Exit::Usage, "--" + option + ": " + e.message());
    }
}

std::optional<std::vector<ip::Source>> sources(const po::variables_map& vm, const std::string& option) {
    if (vm.count(option) == 0U) {
        return std::nullopt;
    }
    std::vector<ip::Source> out;
    for (const auto& list : vm[option].as<std::vector<std::string>>()) {
        for (auto& s : asUsage(option, [&] { return ip::parseSources(list); })) {
            out.push_back(std::move(s));
        }
    }
    return out;
}

} // namespace

int main(int argc, char** argv) {
    const cdm::cli::Program program{
        "cdm-ip",
        "[options] < document > document",
        "Read a cdm document on standard input, find this host's IPv4 and IPv6 address for\n"
        "every record that says 'auto' (ip4 = auto, ip6 = auto), and write the document with\n"
        "the addresses filled in. Each address is asked of its sources in order (the keys\n"
        "ip4detect and ip6detect: URLs, interface:NAME, command:PROGRAM) until one answers.\n"
        "When every source fails the record stays unfilled, so that cdm-dns-apply leaves\n"
        "the zone's addresses alone, and the exit status is 69. --print prints one address."};
    po::options_description options("Options");
    options.add_options()
        ("ip4-source", po::value<std::vector<std::string>>()->composing(),
         "SOURCE[,SOURCE...]: ask these for IPv4 instead of the configured ip4detect")
        ("ip6-source", po::value<std::vector<std::string>>()->composing(),
         "SOURCE[,SOURCE...]: ask these for IPv6 instead of the configured ip6detect")
        ("timeout", po::value<std::string>(), "seconds per source (1-300) instead of iptimeout (4)")
        ("cabundle", po::value<std::string>(), "PEM file of roots for https sources (default: the system's)")
        ("print", po::value<std::string>(), "4 | 6: print this host's address of that family, read no document");

    return cdm::cli::run(program, argc, argv, options, {},
                         [](const po::variables_map& vm, const cdm::cli::Common&) {
        ip::Request request;
        request.ip4Sources = sources(vm, "ip4-source");
        request.ip6Sources = sources(vm, "ip6-source");
        if (vm.count("timeout") != 0U) {
            request.timeout = asUsage("timeout", [&] { return ip::parseTimeout(vm["timeout"].as<std::string>()); });
        }
        if (vm.count("cabundle") != 0U) {
            request.caBundle = vm["cabundle"].as<std::string>();
        }
        if (vm.count("print") != 0U) {
            cdm::cli::requireOneOf("print", vm["print"].as<std::string>(), {"4", "6"});
            const auto family = *ip::familyFromString(vm["print"].as<std::string>());
            const auto& given = family == ip::Family::V4 ? request.ip4Sources : request.ip6Sources;
            const auto detection = ip::print(family, given ? *given : ip::defaultSources(family),
                                             request.timeout, request.caBundle);
            cdm::cli::writeOut(detection + "\n");
            return 0;
        }
        auto doc = cdm::document::parse(cdm::cli::readAll(std::cin, 64U << 20U, "<stdin>"), "<stdin>");
        const auto result = ip::fill(std::move(doc), request);
        cdm::cli::writeOut(cdm::document::serialize(result.document));
        if (result.failure) {
            throw *result.failure;
        }
        return 0;
    });
}
