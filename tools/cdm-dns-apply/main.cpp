// cdm-dns-apply: make DNS zones hold the document's records, through a provider, and prove
// that every authoritative server serves them (cdm-dns-apply(1)).

#include <iostream>

#include <unistd.h>

#include "libcommon/cli.hpp"
#include "libcommon/dnsapply.hpp"
#include "libcommon/document.hpp"

namespace po = boost::program_options;

int main(int argc, char** argv) {
    const cdm::cli::Program program{
        "cdm-dns-apply",
        "[options] [file]",
        "Read a cdm document (or zone-file lines) from FILE or standard input, change each\n"
        "zone through its provider so that it holds the desired records, and write the\n"
        "document with a report of every add, delete and keep. The zone of a name is found\n"
        "from its SOA in the DNS. --verify waits until every authoritative server serves\n"
        "the change."};
    po::options_description options("Options");
    options.add_options()
        ("dry-run,n", "print the plan, change nothing")
        ("verify", "wait until every authoritative server serves the change")
        ("strict", "an SPF record over the RFC 7208 lookup limits is an error")
        ("zone", po::value<std::string>(), "every record is in this zone (no SOA lookup)")
        ("handler", po::value<std::string>(), "rfc2136 | powerdns | inwx | zonefile, for every zone")
        ("set", po::value<std::vector<std::string>>()->composing(),
         "KEY=VALUE: a provider key, as in a [domain] section (secrets only as KEY_file=PATH)")
        ("resolver", po::value<std::vector<std::string>>()->composing(),
         "ADDR[:PORT]: the resolver for SOA, NS and address lookups (default: resolv.conf)")
        ("trust-anchor", po::value<std::string>(), "DS or DNSKEY records: validate answers with DNSSEC")
        ("verify-server", po::value<std::vector<std::string>>()->composing(),
         "ADDR[:PORT]: verify at these servers instead of the zone's NS set")
        ("ns-port", po::value<unsigned>()->default_value(53), "the port of the NS set's servers")
        ("verify-via-resolver", "verify through --resolver only (weaker: it may answer from cache)")
        ("timeout", po::value<unsigned>()->default_value(300), "seconds --verify waits at most")
        ("format", po::value<std::string>()->default_value("json"),
         "json (the document with its report) | text (the log lines only)");
    po::options_description operands;
    operands.add_options()("file", po::value<std::string>(), "");
    po::positional_options_description positional;
    positional.add("file", 1);

    return cdm::cli::run(program, argc, argv, options, positional,
                         [](const po::variables_map& vm, const cdm::cli::Common& common) {
        cdm::cli::requireOneOf("format", common.format, {"json", "text"});
        const auto strings = [&](const char* name) {
            return vm.count(name) != 0U ? vm[name].as<std::vector<std::string>>() : std::vector<std::string>{};
        };
        cdm::dnsapply::Request request;
        const std::string file = vm.count("file") != 0U ? vm["file"].as<std::string>() : "-";
        request.sourceName = file == "-" ? "<stdin>" : file;
        request.input = cdm::dnsapply::readInput(file);
        if (vm.count("zone") != 0U) {
            request.zone = vm["zone"].as<std::string>();
        }
        if (vm.count("handler") != 0U) {
            request.handler = vm["handler"].as<std::string>();
        }
        request.settings = strings("set");
        request.dryRun = vm.count("dry-run") != 0U;
        request.verify = vm.count("verify") != 0U;
        request.strict = vm.count("strict") != 0U;
        request.viaResolver = vm.count("verify-via-resolver") != 0U;
        for (const auto& r : strings("resolver")) {
            request.resolver.servers.push_back(cdm::resolve::parseServer(r));
        }
        for (const auto& r : strings("verify-server")) {
            request.verifyServers.push_back(cdm::resolve::parseServer(r));
        }
        if (vm.count("trust-anchor") != 0U) {
            request.trustAnchorFile = vm["trust-anchor"].as<std::string>();
        }
        request.nsPort = cdm::dnsapply::parsePort(vm["ns-port"].as<unsigned>());
        request.nsPortGiven = !vm["ns-port"].defaulted();
        request.verifyTimeout = std::chrono::seconds(vm["timeout"].as<unsigned>());
        request.verifyTimeoutGiven = !vm["timeout"].defaulted();
        request.progress = isatty(STDERR_FILENO) != 0;
        const auto result = cdm::dnsapply::run(std::move(request));
        cdm::cli::writeOut(common.format == "text" ? cdm::dnsapply::toText(result)
                                                   : cdm::document::serialize(result.document));
        if (result.failure) {
            throw *result.failure;
        }
        return 0;
    }, operands);
}
