#include "libcommon/cert.hpp"

#include <ctime>
#include <iostream>
#include <string>
#include <unistd.h>

#include "libcommon/caa.hpp"
#include "libcommon/certissue.hpp"
#include "libcommon/certphase.hpp"
#include "libcommon/dhparam.hpp"
#include "libcommon/document.hpp"
#include "libcommon/error.hpp"

namespace cdm::cert {

namespace po = boost::program_options;

namespace {

std::vector<std::string> strings(const po::variables_map& vm, const char* name) {
    return vm.count(name) != 0U ? vm[name].as<std::vector<std::string>>()
                                : std::vector<std::string>{};
}

std::string string(const po::variables_map& vm, const char* name) {
    return vm.count(name) != 0U ? vm[name].as<std::string>() : std::string{};
}

std::time_t nowOf(const po::variables_map& vm) {
    return vm.count("now") != 0U ? static_cast<std::time_t>(vm["now"].as<long long>())
                                 : std::time(nullptr);
}

// --renewbefore DAYS: 1 to 3650.
std::int64_t days(const std::string& text, const char* option) {
    if (text.empty() || text.size() > 4 ||
        text.find_first_not_of("0123456789") != std::string::npos || std::stol(text) == 0 ||
        std::stol(text) > 3650) {
        throw Error(Exit::Usage,
                    std::string("--") + option + " takes 1 to 3650 days, not '" + text + "'");
    }
    return std::stol(text);
}

void addCaOptions(po::options_description& o) {
    o.add_options()("ca", po::value<std::string>(), "ACME directory URL (over every [cert] ca)")(
        "cabundle", po::value<std::string>(), "PEM file of the CA's HTTPS roots (Pebble's)");
}

int runPhase(const po::variables_map& vm, const cli::Common&) {
    std::string phase = string(vm, "phase");
    if (!phase.empty()) {
        cli::requireOneOf("phase", phase, {"update", "prepare", "rollover", "cleanup"});
    }
    certphase::Options options;
    options.dns = dnsRequest(vm);
    auto doc = document::parse(cli::readAll(std::cin, 64U << 20U, "<stdin>"), "<stdin>");
    if (phase.empty()) {
        const auto* p = doc.if_contains("phase");
        phase = p != nullptr && p->is_string() ? std::string(p->as_string()) : "";
    }
    if (phase.empty()) {
        throw Error(Exit::Usage, "no phase: give --phase or a document with \"phase\"");
    }
    cli::requireOneOf("phase", phase, {"update", "prepare", "rollover", "cleanup"});
    options.phase = phase;
    options.now = nowOf(vm);
    for (const auto& n : strings(vm, "force")) {
        options.force.insert(n);
    }
    for (const auto& n : strings(vm, "roll-key")) {
        options.rollKey.insert(n);
    }
    for (const auto& n : strings(vm, "compromised")) {
        options.compromised.insert(n);
    }
    options.dnsTimeoutSet = !vm["dns-timeout"].defaulted();
    options.ca = string(vm, "ca");
    options.cabundle = string(vm, "cabundle");
    auto summary = certphase::run(doc, options);
    if (phase != "update") {
        try {
            dhparam::run(doc, phase, options.now);
        } catch (const Error& e) {
            // What the certificate part did stands, and is recorded in the document below.
            if (!summary.failure) {
                summary.failure = e;
            }
        } catch (...) {
            certphase::undo(summary);
            throw;
        }
    }
    // Written also after a failure (as cdm-dns-apply does): it records what did succeed.
    cli::writeOut(document::serialize(doc));
    if (summary.failure) {
        throw *summary.failure;
    }
    return 0;
}

int runStatus(const po::variables_map& vm, const cli::Common& common) {
    const std::string format = common.format.empty() ? "text" : common.format;
    cli::requireOneOf("format", format, {"text", "json"});
    certphase::StatusRequest request;
    request.certs = strings(vm, "cert");
    if (request.certs.empty()) {
        throw Error(Exit::Usage, "give at least one --cert FILE");
    }
    if (vm.count("renewbefore") != 0U) {
        request.renewBeforeDays = days(vm["renewbefore"].as<std::string>(), "renewbefore");
    }
    request.ca = string(vm, "ca");
    request.cabundle = string(vm, "cabundle");
    if (request.ca.empty() && !request.cabundle.empty()) {
        throw Error(Exit::Usage, "--cabundle needs --ca");
    }
    request.now = nowOf(vm);
    const auto entries = certphase::status(request);
    bool due = false;
    std::string out;
    boost::json::array list;
    for (const auto& e : entries) {
        due = due || e.due;
        out += certphase::toText(e, request.now);
        list.push_back(certphase::toJson(e));
    }
    if (format == "json") {
        out = boost::json::serialize(boost::json::object{{"certificates", list}, {"due", due}}) +
              "\n";
    }
    cli::writeOut(out);
    return due ? 0 : 1;
}

} // namespace

void dnsOptions(po::options_description& o) {
    o.add_options()("resolver", po::value<std::vector<std::string>>()->composing(),
                    "ADDR[:PORT]: the resolver for SOA, NS and address lookups")(
        "trust-anchor", po::value<std::string>(), "DS or DNSKEY records: validate with DNSSEC")(
        "verify-server", po::value<std::vector<std::string>>()->composing(),
        "ADDR[:PORT]: check dns-01 records at these servers instead of the NS set")(
        "ns-port", po::value<unsigned>()->default_value(53), "the port of the NS set's servers")(
        "dns-timeout", po::value<unsigned>()->default_value(300),
        "seconds to wait until every server serves the dns-01 records")(
        "set", po::value<std::vector<std::string>>()->composing(),
        "KEY=VALUE: a DNS provider key, as in a [domain] section")(
        "handler", po::value<std::string>(), "the DNS provider for every zone")(
        "zone", po::value<std::string>(), "every challenge record is in this zone");
}

dnsapply::Request dnsRequest(const po::variables_map& vm) {
    dnsapply::Request request;
    for (const auto& r : strings(vm, "resolver")) {
        request.resolver.servers.push_back(resolve::parseServer(r));
    }
    for (const auto& r : strings(vm, "verify-server")) {
        request.verifyServers.push_back(resolve::parseServer(r));
    }
    request.trustAnchorFile = string(vm, "trust-anchor");
    request.resolver.trustAnchorFile = request.trustAnchorFile;
    if (vm.count("ns-port") != 0U) {
        request.nsPort = dnsapply::parsePort(vm["ns-port"].as<unsigned>());
        request.nsPortGiven = !vm["ns-port"].defaulted();
    }
    if (vm.count("dns-timeout") != 0U) {
        const unsigned t = vm["dns-timeout"].as<unsigned>();
        if (t == 0 || t > 86400) {
            throw Error(Exit::Usage,
                        "--dns-timeout takes 1 to 86400 seconds, not '" + std::to_string(t) + "'");
        }
        request.verifyTimeout = std::chrono::seconds(t);
    }
    request.settings = strings(vm, "set");
    if (vm.count("handler") != 0U) {
        request.handler = vm["handler"].as<std::string>();
    }
    if (vm.count("zone") != 0U) {
        request.zone = vm["zone"].as<std::string>();
    }
    request.verify = true;
    request.progress = isatty(STDERR_FILENO) != 0;
    return request;
}

const std::vector<cli::Verb>& verbs() {
    static const std::vector<cli::Verb> table{
        {"phase", runPhase,
         "phase [--phase update|prepare|rollover|cleanup] [--now SECONDS] [--force NAME]... "
         "[options] < DOCUMENT",
         "Read a cdm document on standard input and do the certificate part of its phase (the\n"
         "document's \"phase\", or --phase): update fills 'caa = auto' records from the CA;\n"
         "prepare issues every linked [cert:NAME] that is due into the state directory\n"
         "(material .next); rollover deploys it to <destination>/<domain>/ with atomically\n"
         "replaced symlinks; cleanup removes what cdm made and no longer uses. DH parameters\n"
         "([dhparam:NAME]) follow the same phases. Prints the document.",
         [](po::options_description& o) {
             o.add_options()("phase", po::value<std::string>(),
                             "update | prepare | rollover | cleanup")(
                 "now", po::value<long long>(), "the time to decide at, in Unix seconds")(
                 "force", po::value<std::vector<std::string>>()->composing(),
                 "NAME: renew [cert:NAME] now (repeatable)")(
                 "roll-key", po::value<std::vector<std::string>>()->composing(),
                 "NAME: renew now with the standby key (repeatable)")(
                 "compromised", po::value<std::vector<std::string>>()->composing(),
                 "NAME: the key is compromised: renew now with the standby or a new key");
             addCaOptions(o);
             dnsOptions(o);
         }},
        {"issue", certissue::run,
         "issue -d NAME [-d NAME]... --out DIR [--ca URL] [--challenge dns-01|http-01] [options]",
         "Issue one certificate from the command line, without a configuration or the phases:\n"
         "the account (found again or created), the key (--key: reused when it exists), the\n"
         "order and its challenges, then DIR/{privkey,cert,chain,fullchain}.pem written\n"
         "atomically (privkey 0600) and a document with a report entry on standard output.",
         certissue::options},
        {"status", runStatus,
         "status --cert FILE... [--renewbefore DAYS] [--ca URL [--cabundle FILE]] [--now SECONDS]",
         "Say for each certificate its names, expiry, lifetime, when it is due for renewal and\n"
         "why (the CA's ARI window with --ca, when the CA offers one). Exit 0 when any is due,\n"
         "1 when none is, so that 'cdm-cert status ... && renew' works in cron.",
         [](po::options_description& o) {
             o.add_options()("cert", po::value<std::vector<std::string>>()->composing(),
                             "a certificate file, PEM (the first certificate is the leaf)")(
                 "renewbefore", po::value<std::string>(),
                 "DAYS before expiry (default: min(30 days, a third of the lifetime))")(
                 "now", po::value<long long>(), "the time to judge at, in Unix seconds")(
                 "format", po::value<std::string>(), "text (the default) | json");
             addCaOptions(o);
         }},
        {"dhparam", dhparam::runVerb,
         "dhparam (--bits N | --group ffdheN) --out FILE [--format json|text]",
         "Generate DH parameters (or take an RFC 7919 group), check them and write FILE\n"
         "atomically (0644).",
         dhparam::verbOptions},
        {"caa", caa::runVerb,
         "caa --ca URL [--cabundle F] [--account-key F [--email E]] [--pin LIST] [--challenge C] "
         "--domain NAME",
         "Print the CAA records the CA asks for (its directory's meta.caaIdentities), optionally\n"
         "pinned to this account (accounturi) and challenge (validationmethods), RFC 8657.",
         caa::verbOptions},
    };
    return table;
}

int dispatch(const std::vector<cli::Verb>& table, int argc, const char* const* argv) {
    return cli::dispatch(
        {"cdm-cert", "",
         "Certificates through ACME (RFC 8555) in cdm's phases, and DH parameters."},
        table, argc, argv);
}

} // namespace cdm::cert
