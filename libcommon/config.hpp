#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/ini.hpp"

// Configuration sections of cryptdomainmgr, typed and with their defaults inherited.
//
// A section is `[type]` (the defaults of that type, called "DEFAULT" as in the original)
// or `[type:NAME]`. Each key of a named section is found in this order, first match wins:
//   [type:NAME]  <  [type]  <  [DEFAULT]  <  built-in defaults of its handler  <  of its type
// The original applied handler defaults *over* [type], so `[cert] keysize = 2048` was lost
// (reference §2.2); cdm inherits as a user expects.

namespace cdm::config {

enum class SectionType { Cdm, Domain, Cert, Dkim, Dhparam, Service };

std::string_view toString(SectionType type);
std::optional<SectionType> sectionTypeFromString(std::string_view text);

// One resolved key.
struct Value {
    std::string key;
    std::string value;  // interpolated
    Location where;     // where it was set; empty for a built-in default
    std::string origin; // "[cert:main]", "[cert]", "[DEFAULT]" or "built-in"
    bool fromSecret = false; // interpolated from a secret key: %(passwd)s

    // A secret by its key name (log::isSecretKey) or by what it was interpolated from.
    bool secret() const;
};

struct Section {
    SectionType type = SectionType::Cdm;
    std::string name; // "DEFAULT" for [type]
    Location where;   // its header, if it was written
    std::vector<Value> values; // in order: own keys first as written, then inherited ones

    const Value* find(std::string_view key) const;
    // The value of `key`, or `fallback` when unset.
    std::string get(std::string_view key, std::string_view fallback = {}) const;
    bool isDefault() const { return name == "DEFAULT"; }
};

// Built-in defaults: a type's, and a handler's (which win over the type's).
struct Defaults {
    std::vector<std::pair<std::string, std::string>> type;
    std::map<std::string, std::vector<std::pair<std::string, std::string>>> handler;
    std::string defaultHandler; // the handler when none is configured ("" = none)
    bool handlerFromName = false; // [service:postfix]: the handler is the section name
};
const Defaults& builtinDefaults(SectionType type);

// Merge layers into one section; the first layer that sets a key wins. Exposed for tests.
struct Layer {
    std::string origin;
    const ini::Section* section = nullptr;                          // a written section, or
    const std::vector<std::pair<std::string, std::string>>* builtin = nullptr; // built-ins
    // Where %(key)s references of this layer's values are looked up; `section` when null.
    // configparser reads a [DEFAULT] value in the section that inherits it.
    const ini::Section* context = nullptr;
};
Section resolve(const ini::Ini& ini, SectionType type, const std::string& name,
                const std::vector<Layer>& layers);

struct Config {
    std::vector<std::string> sources;
    std::map<SectionType, std::vector<Section>> sections; // [type] first, then named ones in order

    // Named sections of a type (without DEFAULT), in order of appearance.
    std::vector<const Section*> named(SectionType type) const;
    const Section* find(SectionType type, std::string_view name) const;
    // The [cdm] section, resolved (always present, as in the original).
    const Section& cdm() const;
};

// Type and resolve every section of `ini`. Throws Error(Exit::Config) with the header's
// location for an unknown section type, a section without a type (old-style `[a.test]`),
// an empty or reserved name, or an unknown handler.
Config load(const ini::Ini& ini);

// The items of a comma-separated value such as `cert = main, mail`, each stripped of blanks;
// empty items are dropped ("" and " , " give none).
std::vector<std::string> listItems(std::string_view value);

} // namespace cdm::config
