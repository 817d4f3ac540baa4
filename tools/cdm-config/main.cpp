// cdm-config: cryptdomainmgr configuration files -> the cdm JSON document (cdm-config(1)).

#include <iostream>

#include "libcommon/cli.hpp"
#include "libcommon/configdoc.hpp"

namespace po = boost::program_options;

int main(int argc, char** argv) {
    const cdm::cli::Program program{
        "cdm-config",
        "[options] [file ...]",
        "Read cryptdomainmgr configuration files (merged in order, later wins) and\n"
        "--config-content, and print one JSON document: every section with its defaults\n"
        "resolved, and the static DNS records of the update phase. A file '-' is standard\n"
        "input. Nothing is changed."};
    po::options_description options("Options");
    options.add_options()("config-content", po::value<std::string>(),
                          "configuration text read after the files; runs of two or more "
                          "spaces are newlines")(
        "format", po::value<std::string>()->default_value("json"), "json | zone");
    po::options_description operands;
    operands.add_options()("file", po::value<std::vector<std::string>>()->composing(), "");
    po::positional_options_description positional;
    positional.add("file", -1);

    return cdm::cli::run(program, argc, argv, options, positional,
                         [](const po::variables_map& vm, const cdm::cli::Common& common) {
        cdm::configdoc::Request request;
        if (vm.count("file") != 0U) {
            request.files = vm["file"].as<std::vector<std::string>>();
        }
        if (vm.count("config-content") != 0U) {
            request.content = vm["config-content"].as<std::string>();
        }
        cdm::cli::requireOneOf("format", common.format, {"json", "zone"});
        const auto result = cdm::configdoc::run(request);
        cdm::cli::writeOut(common.format == "zone" ? cdm::document::toZoneText(result.records)
                                                   : cdm::document::serialize(result.document));
        return 0;
    }, operands);
}
