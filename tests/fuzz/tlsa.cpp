// cdm-tlsa's input: certificate chains in PEM or DER (libcommon/x509), and bare keys, made
// into TLSA data of every usage, selector and matching type (libcommon/tlsa).

#include <string>
#include <vector>

#include "libcommon/error.hpp"
#include "libcommon/keys.hpp"
#include "libcommon/record.hpp"
#include "libcommon/tlsa.hpp"
#include "libcommon/x509.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace {

using namespace cdm;

// Every combination; the data made must be a TLSA record's data.
void allRecords(const tlsa::Source& source) {
    for (unsigned u = 0; u <= 3; ++u) {
        for (unsigned s = 0; s <= 1; ++s) {
            for (unsigned m = 0; m <= 2; ++m) {
                const tlsa::Params params{static_cast<tlsa::Usage>(u), static_cast<tlsa::Selector>(s),
                                          static_cast<tlsa::Matching>(m)};
                std::string data;
                try {
                    data = tlsa::rdata(source, params);
                } catch (const Error&) {
                    continue;
                }
                try {
                    record::canonical(record::Type::TLSA, data);
                } catch (const Error& e) {
                    fuzz::require(false, "tlsa::rdata() makes data record::canonical() reads");
                }
            }
        }
    }
}

void chain(std::string_view text) {
    tlsa::Source source;
    source.chain = x509::parseChain(text, "fuzz.pem");
    source.name = "fuzz.pem";
    fuzz::require(!source.chain.empty(), "parseChain() returns a certificate or throws");
    for (std::size_t i = 0; i < source.chain.size(); ++i) {
        x509::dnsNames(source.chain[i]);
        if (i + 1 < source.chain.size()) {
            x509::issued(source.chain[i + 1], source.chain[i]);
        }
    }
    allRecords(source);
}

void bareKey(std::string_view text) {
    tlsa::Source source;
    source.spki = keys::publicKeyDerFromData(text, "fuzz.key");
    source.name = "fuzz.key";
    allRecords(source);
}

} // namespace

CDM_FUZZ_TARGET(tlsa) {
    cdm::fuzz::quiet();
    const std::string_view text = cdm::fuzz::text(data, size);
    try {
        chain(text);
    } catch (const cdm::Error&) {
    }
    try {
        bareKey(text);
    } catch (const cdm::Error&) {
    }
    return 0;
}
