// DNS answers as ldns hands them over: the message in wire form, read as resolve::query()
// reads it (then judged as cdm-dkim test and cdm-tlsa check judge what they find) and as the
// RFC 2136 provider reads the answer to a query or an UPDATE.

#include <array>
#include <string>
#include <vector>

#include "libcommon/dkim.hpp"
#include "libcommon/error.hpp"
#include "libcommon/keys.hpp"
#include "libcommon/ldns_ptr.hpp"
#include "libcommon/provider/rfc2136.hpp"
#include "libcommon/resolve.hpp"
#include "libcommon/tlsacheck.hpp"
#include "libcommon/x509.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace {

using namespace cdm;

struct Fixed {
    std::vector<std::uint8_t> dkimKey;
    std::vector<x509::Certificate> chain;
};

const Fixed& fixed() {
    static const Fixed f = [] {
        Fixed out;
        out.dkimKey = keys::publicKeyDerFromData(fuzz::testData("tests/fuzz/data/dkim-ed25519.pub"),
                                                 "dkim-ed25519.pub");
        out.chain = x509::parseChain(fuzz::testData("tests/unit/data/tlsa/fullchain.pem"),
                                     "fullchain.pem");
        return out;
    }();
    return f;
}

// The question's name, as the answer repeats it; "example.test." when it has none.
std::string questionName(std::span<const std::uint8_t> wire) {
    ldns_pkt* raw = nullptr;
    if (ldns_wire2pkt(&raw, wire.data(), wire.size()) != LDNS_STATUS_OK || raw == nullptr) {
        return "example.test.";
    }
    const ldnsp::Pkt pkt(raw);
    const ldns_rr_list* question = ldns_pkt_question(pkt.get());
    if (question == nullptr || ldns_rr_list_rr_count(question) == 0) {
        return "example.test.";
    }
    const ldns_rdf* owner = ldns_rr_owner(ldns_rr_list_rr(question, 0));
    char* text = owner != nullptr ? ldns_rdf2str(owner) : nullptr;
    std::string out = text != nullptr ? text : "example.test.";
    LDNS_FREE(text);
    return out;
}

constexpr std::array askedTypes{record::Type::A,   record::Type::AAAA, record::Type::NS,
                                record::Type::SOA, record::Type::MX,   record::Type::TXT,
                                record::Type::TLSA, record::Type::CAA, record::Type::CNAME};

void asResolverAnswer(std::span<const std::uint8_t> wire) {
    const std::string name = questionName(wire);
    for (const auto type : askedTypes) {
        resolve::Answer answer;
        try {
            answer = resolve::readAnswer(wire, name, type);
        } catch (const Error&) {
            continue;
        }
        for (const auto& r : answer.records) {
            fuzz::require(r.type == type, "an answer holds records of the asked type only");
        }
        if (type == record::Type::TXT) {
            try {
                dkim::judgeAnswer(name, answer, fixed().dkimKey, "dkim-ed25519.pub");
            } catch (const Error&) {
            }
        }
        if (type == record::Type::TLSA) {
            for (const auto& r : answer.records) {
                // A CA file that does not exist: PKIX usages fail fast instead of loading
                // the system's store on every input.
                tlsacheck::judge(r.data, fixed().chain, "www.example.test", "/nonexistent/ca.pem");
            }
        }
    }
}

} // namespace

CDM_FUZZ_TARGET(dns) {
    cdm::fuzz::quiet();
    const std::span<const std::uint8_t> wire(data, size);
    asResolverAnswer(wire);
    try {
        cdm::provider::rfc2136::parseAnswer(std::vector<std::uint8_t>(data, data + size));
    } catch (const cdm::Error&) {
    }
    return 0;
}
