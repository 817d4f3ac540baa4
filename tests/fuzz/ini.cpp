// The INI reader and the record grammar of [domain:NAME] keys: what cdm-config does with a
// configuration file or --config-content.

#include "libcommon/config.hpp"
#include "libcommon/configdoc.hpp"
#include "libcommon/document.hpp"
#include "libcommon/domain.hpp"
#include "libcommon/error.hpp"
#include "libcommon/ini.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace {

using namespace cdm;

// The file path: readString, every value interpolated, the sections typed and resolved,
// every domain planned as cdm-config plans it.
void asFile(std::string_view text) {
    ini::Ini ini;
    ini.readString(text, "fuzz.conf");
    for (const auto* section : {&ini.defaults()}) {
        for (const auto& entry : section->entries) {
            try {
                ini.interpolate(*section, entry);
            } catch (const Error&) {
            }
        }
    }
    for (const auto& section : ini.sections()) {
        for (const auto& entry : section.entries) {
            try {
                ini.interpolate(section, entry);
            } catch (const Error&) {
            }
        }
    }
    const config::Config config = config::load(ini);
    for (const config::Section* section : config.named(config::SectionType::Domain)) {
        try {
            domain::plan(*section, config);
        } catch (const Error&) {
        }
    }
}

// The --config-content path, down to the whole document cdm-config prints.
void asContent(std::string_view text) {
    configdoc::Request request;
    request.content = std::string(text);
    const configdoc::Result result = configdoc::run(request);
    const std::string out = document::serialize(result.document);
    fuzz::require(!out.empty(), "cdm-config's document serialises");
}

} // namespace

CDM_FUZZ_TARGET(ini) {
    cdm::fuzz::quiet();
    const std::string_view text = cdm::fuzz::text(data, size);
    try {
        asFile(text);
    } catch (const cdm::Error&) {
    }
    try {
        asContent(text);
    } catch (const cdm::Error&) {
    }
    return 0;
}
