// cdm-tlsa: TLSA records from certificates, keys or requests, and checks of live servers
// against their published records (cdm-tlsa(1)).

#include <iostream>

#include "libcommon/cli.hpp"
#include "libcommon/tlsa.hpp"
#include "libcommon/tlsacheck.hpp"

namespace po = boost::program_options;

namespace {

int create(const po::variables_map& vm, const std::string& format, const std::vector<std::string>& usages,
           const std::vector<std::string>& selectors, const std::vector<std::string>& matchings) {
    const auto text = [&](const char* name) { return vm.count(name) != 0U ? vm[name].as<std::string>() : std::string(); };
    cdm::cli::requireOneOf("format", format, {"zone", "json", "rdata"});
    if (text("cert").empty() && text("key").empty() && text("csr").empty()) {
        auto doc = cdm::document::parse(cdm::cli::readAll(std::cin, 64U << 20U, "<stdin>"), "<stdin>");
        cdm::tlsa::addRecords(doc);
        cdm::cli::writeOut(cdm::document::serialize(doc));
        return 0;
    }
    cdm::tlsa::Request request{text("cert"), text("key"), text("csr"), {}, std::nullopt, text("proto"), text("host"),
                               vm["ca-depth"].as<unsigned>(), vm["ttl"].as<std::uint32_t>()};
    request.params = vm.count("params") != 0U ? cdm::tlsa::parseParams(text("params"))
                                              : cdm::tlsa::pairParams(usages, selectors, matchings);
    if (vm.count("port") != 0U) {
        request.port = vm["port"].as<unsigned>();
    }
    const auto records = cdm::tlsa::fromRequest(request);
    cdm::cli::writeOut(format == "json"    ? cdm::tlsa::toDocumentText(records)
                       : format == "rdata" ? cdm::tlsa::toRdataText(records)
                                           : cdm::document::toZoneText(records));
    return 0;
}

int check(const po::variables_map& vm, const std::string& format, const std::vector<std::string>& args) {
    cdm::cli::requireOneOf("format", format, {"table", "json"});
    if (args.size() != 3) {
        throw cdm::Error(cdm::Exit::Usage, "check takes HOST and PORT");
    }
    cdm::tlsacheck::Request request;
    request.host = args[1];
    request.port = cdm::tlsa::parsePort(args[2]);
    request.proto = vm["proto"].as<std::string>();
    request.starttls = cdm::tlsclient::parseStartTls(vm["starttls"].as<std::string>());
    for (const auto& r : vm["resolver"].as<std::vector<std::string>>()) {
        request.dns.servers.push_back(cdm::resolve::parseServer(r));
    }
    request.dns.trustAnchorFile = vm.count("trust-anchor") != 0U ? vm["trust-anchor"].as<std::string>() : "";
    request.addresses = vm["address"].as<std::vector<std::string>>();
    request.caFile = vm.count("ca-file") != 0U ? vm["ca-file"].as<std::string>() : "";
    request.timeout = std::chrono::milliseconds(vm["timeout"].as<unsigned>() * 1000U);
    const auto report = cdm::tlsacheck::check(request);
    cdm::cli::writeOut(format == "json" ? boost::json::serialize(cdm::tlsacheck::toJson(report)) + "\n"
                                        : cdm::tlsacheck::toTable(report));
    if (cdm::tlsacheck::unreachable(report)) {
        return cdm::toInt(cdm::Exit::Unavailable);
    }
    return report.ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    const cdm::cli::Program program{
        "cdm-tlsa",
        "[--cert FILE | --key FILE | --csr FILE] --host NAME [--port N] [options]\n"
        "       cdm-tlsa check HOST PORT [--starttls PROTO] [--resolver ADDR] [--trust-anchor FILE]",
        "Print TLSA records (RFC 6698) for a certificate chain, a public or private key, or a\n"
        "certificate request. Without --cert, --key or --csr, read a cdm document on standard\n"
        "input and add the TLSA records its configuration asks for, then print it.\n"
        "'check' connects to a server and judges its certificates against the DNSSEC-secured\n"
        "TLSA records (RFC 7671); exit 0 only when a usable record matches everywhere."};
    std::vector<std::string> usages;
    std::vector<std::string> selectors;
    std::vector<std::string> matchings;
    po::options_description options("Options");
    options.add_options()("cert", po::value<std::string>(), "certificate or full chain, PEM or DER")(
        "key", po::value<std::string>(), "public or private key (selector 1, usage 1 or 3)")(
        "csr", po::value<std::string>(), "certificate signing request (selector 1, usage 1 or 3)")(
        "host", po::value<std::string>(), "host name of the service")(
        "port", po::value<unsigned>(), "port; without it the owner is *._PROTO.HOST.")(
        "proto", po::value<std::string>()->default_value("tcp"), "protocol label")(
        "usage", po::value(&usages)->composing(), "0-3 or PKIX-TA, PKIX-EE, DANE-TA, DANE-EE (repeatable)")(
        "selector", po::value(&selectors)->composing(), "0-1 or CERT, SPKI (repeatable)")(
        "matching", po::value(&matchings)->composing(), "0-2 or FULL, SHA2-256, SHA2-512 (repeatable)")(
        "params", po::value<std::string>(), "short form: 3:1:1,2:0:1")(
        "ca-depth", po::value<unsigned>()->default_value(0), "usage 0/2: chain position of the CA (0: the leaf's issuer)")(
        "ttl", po::value<std::uint32_t>()->default_value(3600), "TTL of the records")(
        "format", po::value<std::string>(), "zone | json | rdata; check: table | json");
    po::options_description checking("Options of check");
    checking.add_options()("starttls", po::value<std::string>()->default_value("none"),
                           "smtp | submission | lmtp | imap | pop3 | xmpp")(
        "resolver", po::value<std::vector<std::string>>()->default_value({}, "system")->composing(),
        "validating resolver ADDR[:PORT] (repeatable)")(
        "trust-anchor", po::value<std::string>(), "DS/DNSKEY file: validate with ldns instead of trusting AD")(
        "address", po::value<std::vector<std::string>>()->default_value({}, "A/AAAA")->composing(),
        "connect to this address (repeatable)")(
        "ca-file", po::value<std::string>(), "PKIX trust for usage 0/1 (default: the system's)")(
        "timeout", po::value<unsigned>()->default_value(10), "seconds per connection");
    options.add(checking);
    po::options_description operands;
    operands.add_options()("args", po::value<std::vector<std::string>>()->composing(), "");
    po::positional_options_description positional;
    positional.add("args", -1);

    return cdm::cli::run(program, argc, argv, options, positional, [&](const po::variables_map& vm,
                                                                       const cdm::cli::Common& common) {
        const auto args = vm.count("args") != 0U ? vm["args"].as<std::vector<std::string>>() : std::vector<std::string>{};
        if (!args.empty() && args[0] == "check") {
            return check(vm, common.format.empty() ? "table" : common.format, args);
        }
        if (!args.empty()) {
            throw cdm::Error(cdm::Exit::Usage, "unknown verb '" + args[0] + "' (only 'check')");
        }
        return create(vm, common.format.empty() ? "zone" : common.format, usages, selectors, matchings);
    }, operands);
}
