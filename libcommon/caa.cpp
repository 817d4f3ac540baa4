#include "libcommon/caa.hpp"

#include <algorithm>
#include <cctype>
#include <map>

#include "libcommon/acme.hpp"
#include "libcommon/document.hpp"
#include "libcommon/log.hpp"
#include "libcommon/name.hpp"
#include "libcommon/record.hpp"

namespace cdm::caa {

namespace json = boost::json;
namespace po = boost::program_options;

namespace {

constexpr std::string_view letsEncrypt = "https://acme-v02.api.letsencrypt.org/directory";

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// RFC 8659 §4.2: issuer-domain-name = label *("." label), label = (ALPHA / DIGIT) *(*("-") (ALPHA /
// DIGIT)).
bool isLabel(std::string_view label) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
        return false;
    }
    return std::all_of(label.begin(), label.end(),
                       [](unsigned char c) { return std::isalnum(c) != 0 || c == '-'; });
}

bool isIssuerDomainName(std::string_view name) {
    if (name.empty() || name.size() > 253) {
        return false;
    }
    std::size_t start = 0;
    while (true) {
        const auto dot = name.find('.', start);
        if (!isLabel(name.substr(start, dot == std::string_view::npos ? std::string_view::npos
                                                                      : dot - start))) {
            return false;
        }
        if (dot == std::string_view::npos) {
            return true;
        }
        start = dot + 1;
    }
}

// RFC 8659 §4.2: value = *(%x21-3A / %x3C-7E): printable ASCII without space and ';'.
// '"' is refused too: it would end the quoted CAA value in presentation form.
bool isParameterValue(std::string_view value) {
    return !value.empty() && std::all_of(value.begin(), value.end(), [](unsigned char c) {
        return c >= 0x21 && c <= 0x7e && c != ';' && c != '"';
    });
}

using document::locationOf;

// The CAA data for one CA; `certName` "" is the verb (no config to point at).
std::vector<std::string> dataFor(const CaFacts& facts, const std::string& certName,
                                 const Location& where) {
    if (facts.caaIdentities.empty()) {
        const std::string ca = facts.directoryUrl.empty() ? "" : " '" + facts.directoryUrl + "'";
        throw Error(Exit::Config,
                    certName.empty()
                        ? "the CA" + ca +
                              " names no CAA identity (its directory has no meta.caaIdentities)"
                        : "caa = auto: the CA" + ca + " of cert:" + certName +
                              " names no CAA identity (its directory has no meta.caaIdentities); "
                              "write the CAA value instead of 'auto'",
                    where);
    }
    std::string accountUri;
    std::vector<std::string> methods;
    for (const Pin pin : facts.pins) {
        if (pin == Pin::AccountUri) {
            if (facts.accountUrl.empty()) {
                throw Error(Exit::Config,
                            "caapin accounturi of cert:" + certName +
                                " needs the ACME account's URL, which is not known",
                            where);
            }
            accountUri = facts.accountUrl;
        } else {
            if (facts.challenge.empty()) {
                throw Error(Exit::Config,
                            "caapin validationmethods of cert:" + certName +
                                " needs a challenge type",
                            where);
            }
            methods = {facts.challenge};
        }
    }
    std::vector<std::string> out;
    for (const auto& identity : facts.caaIdentities) {
        std::string data = recordData(identity, accountUri, methods);
        try {
            data = record::canonical(record::Type::CAA, data);
        } catch (const Error& e) {
            throw Error(Exit::DataErr, e.message(), where);
        }
        if (std::find(out.begin(), out.end(), data) == out.end()) {
            out.push_back(std::move(data));
        }
    }
    return out;
}

} // namespace

std::string_view toString(Pin pin) {
    return pin == Pin::AccountUri ? "accounturi" : "validationmethods";
}

std::vector<Pin> parsePins(std::string_view text, const Location& where) {
    bool account = false;
    bool methods = false;
    std::string item;
    const auto take = [&]() {
        const std::string word = lower(item);
        item.clear();
        if (word.empty() || word == "none") {
            return;
        }
        if (word == "accounturi") {
            account = true;
        } else if (word == "validationmethods") {
            methods = true;
        } else {
            throw Error(Exit::Config,
                        "caa pin '" + word + "' is not accounturi or validationmethods", where);
        }
    };
    for (const char c : text) {
        if (c == ',' || std::isspace(static_cast<unsigned char>(c)) != 0) {
            take();
        } else {
            item += c;
        }
    }
    take();
    std::vector<Pin> pins;
    if (account) {
        pins.push_back(Pin::AccountUri);
    }
    if (methods) {
        pins.push_back(Pin::ValidationMethods);
    }
    return pins;
}

std::string recordData(std::string_view identity, std::string_view accountUri,
                       const std::vector<std::string>& validationMethods) {
    const std::string id = lower(identity);
    if (!isIssuerDomainName(id)) {
        throw Error(Exit::DataErr,
                    "CAA issuer '" + std::string(identity) + "' is not a domain name");
    }
    std::string value = id;
    if (!accountUri.empty()) {
        if (!isParameterValue(accountUri)) {
            throw Error(Exit::DataErr, "CAA accounturi '" + std::string(accountUri) +
                                           "' holds a blank, ';' or '\"'");
        }
        value += "; accounturi=" + std::string(accountUri);
    }
    if (!validationMethods.empty()) {
        std::string list;
        for (const auto& m : validationMethods) {
            // RFC 8657 §4: label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT)), e.g. dns-01.
            if (!isLabel(m)) {
                throw Error(Exit::DataErr,
                            "CAA validation method '" + m + "' is not a method name");
            }
            list += (list.empty() ? "" : ",") + m;
        }
        value += "; validationmethods=" + list;
    }
    return "0 issue \"" + value + "\"";
}

std::size_t fill(json::object& doc, const Lookup& lookup) {
    auto* records = doc.if_contains("records");
    if (records == nullptr || !records->is_array()) {
        return 0;
    }
    std::map<std::string, CaFacts> facts;
    json::array out;
    std::size_t replaced = 0;
    std::size_t index = 0;
    for (const auto& value : records->get_array()) {
        const std::string path = "records[" + std::to_string(index++) + "]";
        const auto* o = value.is_object() ? &value.get_object() : nullptr;
        const auto* placeholder = o != nullptr ? o->if_contains("auto") : nullptr;
        if (placeholder == nullptr || !placeholder->is_string() ||
            !placeholder->get_string().starts_with("caa:")) {
            out.push_back(value);
            continue;
        }
        const document::DesiredRecord r = document::recordFromJson(value, path);
        if (r.type != record::Type::CAA) {
            throw Error(Exit::DataErr,
                        "a 'caa:' placeholder on a " + std::string(record::toString(r.type)) +
                            " record",
                        Location{{}, 0, path});
        }
        const std::string certName = r.placeholder.substr(4);
        if (certName.empty()) {
            throw Error(Exit::DataErr, "placeholder 'caa:' names no cert section",
                        Location{{}, 0, path + ".auto"});
        }
        auto found = facts.find(certName);
        if (found == facts.end()) {
            found = facts.emplace(certName, lookup(certName)).first;
        }
        const Location where = r.source.empty() ? Location{{}, 0, path} : locationOf(r.source);
        for (auto& data : dataFor(found->second, certName, where)) {
            json::object filled = *o;
            filled["data"] = data;
            filled.erase("auto");
            out.push_back(std::move(filled));
        }
        ++replaced;
    }
    *records = std::move(out);
    return replaced;
}

void verbOptions(po::options_description& options) {
    options.add_options()("ca", po::value<std::string>()->default_value(std::string(letsEncrypt)),
                          "the ACME directory URL")(
        "cabundle", po::value<std::string>(),
        "PEM file of the CA's HTTPS roots (default: the system's)")(
        "account-key", po::value<std::string>(),
        "account key (for the accounturi pin; made when missing)")(
        "email", po::value<std::string>(),
        "contact when the account is created")("pin", po::value<std::string>()->default_value(""),
                                               "RFC 8657 parameters: accounturi,validationmethods")(
        "challenge", po::value<std::string>()->default_value("dns-01"),
        "validationmethods value: dns-01 or http-01")("domain", po::value<std::string>(),
                                                      "the name the records are for")(
        "ttl", po::value<std::uint32_t>()->default_value(3600),
        "TTL of the records")("format", po::value<std::string>()->default_value("json"),
                              "json (a cdm document) or zone (zone-file lines)");
}

int runVerb(const po::variables_map& vm, const cli::Common& common) {
    const std::string format = common.format.empty() ? "json" : common.format;
    cli::requireOneOf("format", format, {"json", "zone"});
    if (vm.count("domain") == 0U) {
        throw Error(Exit::Usage, "--domain NAME is required");
    }
    std::string domain;
    try {
        domain = name::normalize(vm["domain"].as<std::string>());
    } catch (const Error& e) {
        throw Error(Exit::Usage, "--domain: " + e.message());
    }
    std::vector<Pin> pins;
    try {
        pins = parsePins(vm["pin"].as<std::string>(), Location{"--pin", 0, {}});
    } catch (const Error& e) {
        throw Error(Exit::Usage, e.message());
    }
    const std::string challenge = vm["challenge"].as<std::string>();
    if (!acme::challengeTypeFromString(challenge)) {
        throw Error(Exit::Usage, "--challenge takes dns-01 or http-01, not '" + challenge + "'");
    }
    const bool wantAccount = std::find(pins.begin(), pins.end(), Pin::AccountUri) != pins.end();
    if (wantAccount && vm.count("account-key") == 0U) {
        throw Error(Exit::Usage, "--pin accounturi needs --account-key");
    }
    const std::uint32_t ttl = vm["ttl"].as<std::uint32_t>();

    acme::ClientOptions options;
    options.directoryUrl = vm["ca"].as<std::string>();
    if (vm.count("cabundle") != 0U) {
        options.caBundle = vm["cabundle"].as<std::string>();
    }
    acme::Client client(options);
    CaFacts facts;
    facts.directoryUrl = options.directoryUrl;
    facts.caaIdentities = client.directory().caaIdentities;
    facts.challenge = challenge;
    facts.pins = pins;
    if (wantAccount && !facts.caaIdentities.empty()) {
        acme::AccountRequest request;
        request.keyPath = vm["account-key"].as<std::string>();
        if (vm.count("email") != 0U) {
            request.contact = {"mailto:" + vm["email"].as<std::string>()};
        }
        facts.accountUrl = client.account(request).url;
    }
    const std::vector<std::string> data = dataFor(facts, "", Location{});

    std::vector<document::DesiredRecord> records;
    for (const auto& d : data) {
        document::DesiredRecord r;
        r.name = domain;
        r.type = record::Type::CAA;
        r.ttl = ttl;
        r.data = d;
        r.op = document::Op::Replace;
        // Only the issue records: issuewild and iodef records at the name stay.
        r.scope = document::Scope{domain, record::Type::CAA, {{"tag", "issue"}}, {}, {}};
        r.label = "CAA";
        records.push_back(std::move(r));
    }
    if (format == "zone") {
        cli::writeOut(document::toZoneText(records));
        return 0;
    }
    json::object doc = document::empty();
    std::vector<json::object> list;
    for (const auto& r : records) {
        list.push_back(document::toJson(r));
    }
    document::appendRecords(doc, std::move(list));
    json::array identities;
    for (const auto& i : facts.caaIdentities) {
        identities.emplace_back(i);
    }
    json::object fields{{"domain", domain},
                        {"ca", facts.directoryUrl},
                        {"caa_identities", std::move(identities)},
                        {"records", records.size()},
                        {"requests", client.requests()}};
    if (!facts.accountUrl.empty()) {
        fields["account"] = facts.accountUrl;
    }
    document::report(doc, "cdm-cert", "caa", std::move(fields));
    cli::writeOut(document::serialize(doc));
    return 0;
}

} // namespace cdm::caa
