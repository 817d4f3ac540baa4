// The pipeline document as programs read it from standard input (libcommon/document), and
// cdm-dns-apply's input, which is that document or zone-file lines.

#include <string>

#include "libcommon/dnsapply.hpp"
#include "libcommon/document.hpp"
#include "libcommon/error.hpp"
#include "libcommon/phase.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace {

using namespace cdm;
namespace json = boost::json;

// What the programs ask of a document: its records (each also through its JSON form and
// back), zone text, the sections' keys, material, a report entry, and the text written out,
// which must read back as the same document.
void accessors(json::object doc) {
    const auto records = document::records(doc, "<stdin>");
    for (std::size_t i = 0; i < records.size(); ++i) {
        const auto again =
            document::recordFromJson(document::toJson(records[i]), "records[" + std::to_string(i) + "]");
        fuzz::require(document::toJson(again) == document::toJson(records[i]),
                      "a record reads back from its JSON form");
    }
    document::toZoneText(records);
    for (const char* type : {"cdm", "domain", "cert", "dkim", "dhparam", "service"}) {
        const auto* config = doc.if_contains("config");
        const auto* byType = config != nullptr && config->is_object()
                                 ? config->as_object().if_contains(type)
                                 : nullptr;
        if (byType == nullptr || !byType->is_object()) {
            continue;
        }
        for (const auto& section : byType->as_object()) {
            const std::string name(section.key());
            if (const auto* keys = document::sectionKeys(doc, type, name)) {
                for (const auto& key : *keys) {
                    document::sectionKey(doc, type, name, key.key());
                    document::keyLocation(doc, type, name, key.key());
                }
            }
        }
    }
    try {
        phase::settings(doc);
    } catch (const Error&) {
    }
    document::material(doc, "cert", "main");
    document::material(doc, "dkim");
    document::report(doc, "cdm-fuzz", "read", {{"records", records.size()}});
    const std::string out = document::serialize(doc);
    fuzz::require(document::serialize(document::parse(out, "<out>")) == out,
                  "the serialised document reads back as itself");
}

} // namespace

CDM_FUZZ_TARGET(document) {
    cdm::fuzz::quiet();
    const std::string text(cdm::fuzz::text(data, size));
    try {
        accessors(cdm::document::parse(text, "<stdin>"));
    } catch (const cdm::Error&) {
    }
    try {
        accessors(cdm::dnsapply::parseInput(text, "<stdin>"));
    } catch (const cdm::Error&) {
    }
    return 0;
}
