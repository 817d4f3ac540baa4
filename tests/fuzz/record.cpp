// Records in presentation form (libcommon/record) and master files as the zonefile provider
// reads them (libcommon/provider/zonefile).

#include <array>

#include "libcommon/error.hpp"
#include "libcommon/provider/zonefile.hpp"
#include "libcommon/record.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace {

using namespace cdm;

constexpr std::array allTypes{record::Type::A,    record::Type::NS,  record::Type::CNAME,
                              record::Type::SOA,  record::Type::MX,  record::Type::TXT,
                              record::Type::AAAA, record::Type::SRV, record::Type::TLSA,
                              record::Type::CAA};

// RDATA of every type: the canonical form reads back as itself, with the same wire form.
void rdata(std::string_view text) {
    for (const auto type : allTypes) {
        std::string canonical;
        try {
            canonical = record::canonical(type, text, "example.test.");
        } catch (const Error&) {
            continue;
        }
        fuzz::require(record::canonical(type, canonical, "example.test.") == canonical,
                      "canonical() of canonical data is the same data");
        fuzz::require(record::toWire(type, text, "example.test.") ==
                          record::toWire(type, canonical, "example.test."),
                      "data and its canonical form have one wire form");
        fuzz::require(record::equalData(type, canonical, canonical), "equalData() is reflexive");
    }
    try {
        const std::string joined = record::txtText(text);
        record::txtStrings(text);
        fuzz::require(record::txtText(record::canonical(record::Type::TXT, text)) == joined,
                      "TXT text survives canonical()");
    } catch (const Error&) {
    }
    fuzz::require(record::txtText(record::txtFromText(text)) == text,
                  "txtText(txtFromText(x)) == x");
}

// One zone line, read back from its printed form.
void line(std::string_view text) {
    const record::Record r = record::Record::parseLine(text, "example.test.", 600);
    const record::Record again = record::Record::parseLine(r.toZoneLine());
    fuzz::require(again.sameRecord(r) && again.ttl == r.ttl && again.data == r.data,
                  "parseLine(toZoneLine()) gives the same record");
}

// A master file; $INCLUDE reads nothing.
void masterFile(std::string_view text) {
    provider::zonefile::Options options;
    options.file = "db.example.test";
    options.zone = "example.test.";
    options.origin = "example.test.";
    options.load = [](const std::string& path) -> std::string {
        throw Error(Exit::NoInput, "no $INCLUDE in the fuzz target", Location{path, 0, {}});
    };
    const auto zone = provider::zonefile::parse(text, options);
    zone.contents("example.test.");
    provider::zonefile::parseTtl(text);
}

} // namespace

CDM_FUZZ_TARGET(record) {
    cdm::fuzz::quiet();
    const std::string_view text = cdm::fuzz::text(data, size);
    rdata(text);
    try {
        line(text);
    } catch (const cdm::Error&) {
    }
    try {
        masterFile(text);
    } catch (const cdm::Error&) {
    }
    return 0;
}
