#pragma once

#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "libcommon/config.hpp"
#include "libcommon/document.hpp"

// cdm-config's job: configuration files (and --config-content) -> the pipeline document,
// with every section resolved and the static records of the update phase derived.

namespace cdm::configdoc {

struct Request {
    std::vector<std::string> files;            // read in order; later wins
    std::optional<std::string> content;        // --config-content, read last
};

struct Result {
    boost::json::object document;
    std::vector<document::DesiredRecord> records;
};

// Read and interpret the configuration. Nothing is written anywhere.
// Throws Error: Exit::NoInput (a file cannot be read), Exit::DataErr (binary or too large),
// Exit::Config (syntax, duplicates, unknown sections or handlers, invalid record values).
Result run(const Request& request);

// The JSON form of a resolved section: {"source", "keys", "where"}; secret values are
// replaced by {"secret": "FILE:LINE"} so that the document never carries them.
boost::json::object sectionToJson(const config::Section& section);

// The value of secret `key` of section [TYPE:NAME] as cdm-config resolved it (inheritance and
// %(...)s included), read again from the configuration files the document names in
// "config"."sources", since the document itself holds only {"secret": "FILE:LINE"}.
// Throws Error(Exit::Config) when the value came from --config-content or standard input,
// which cannot be read again (the message says to use KEY_file), or is no longer there;
// Error(Exit::NoInput) when a file cannot be read.
std::string rereadSecret(const boost::json::object& doc, config::SectionType type,
                         const std::string& name, const std::string& key);

} // namespace cdm::configdoc
