// cdm-reload: test each service's configuration, then reload the services whose material
// was deployed in this run (cdm-reload(1)).

#include <iostream>
#include <map>

#include "libcommon/cli.hpp"
#include "libcommon/document.hpp"
#include "libcommon/fsutil.hpp"
#include "libcommon/reload.hpp"

namespace po = boost::program_options;

namespace {

constexpr std::size_t inputCap = 256U << 20U;

} // namespace

int main(int argc, char** argv) {
    const cdm::cli::Program program{
        "cdm-reload",
        "[options] [file]",
        "Read a cdm document from FILE or standard input and, for each [service:NAME] whose\n"
        "certificates, DKIM keys or DH parameters were deployed in this run, test its\n"
        "configuration and then reload it (or start it when it is not running). Write the\n"
        "document with one report entry per service. With --handler, test and reload one\n"
        "service from the flags instead, without a document."};
    po::options_description options("Options");
    options.add_options()
        ("dry-run,n", "decide, but run nothing; list the commands")
        ("all", "reload every service, also when nothing it uses was deployed")
        ("service", po::value<std::vector<std::string>>()->composing(),
         "NAME: only this [service:NAME] (repeatable)")
        ("handler", po::value<std::string>(),
         "apache2 | nginx | postfix | dovecot | rspamd | command: standalone, no document")
        ("test-command", po::value<std::string>(), "standalone: the configuration test, or none")
        ("reload-command", po::value<std::string>(), "standalone: the reload command")
        ("pidfile", po::value<std::string>(), "standalone: reload by a signal to this process")
        ("signal", po::value<std::string>(), "standalone: the signal for --pidfile (default HUP)")
        ("unit", po::value<std::string>(), "standalone: the systemd unit (default: the handler)")
        ("status-command", po::value<std::string>(), "standalone: exits 0 when the service runs")
        ("start-command", po::value<std::string>(), "standalone: starts the service")
        ("restart-command", po::value<std::string>(), "standalone: restarts the service")
        ("restart", po::value<std::string>(), "standalone: yes | no | auto (restart when reload fails)")
        ("timeout", po::value<std::string>(), "standalone: seconds each command may take (default 60)");
    po::options_description operands;
    operands.add_options()("file", po::value<std::string>(), "");
    po::positional_options_description positional;
    positional.add("file", 1);

    return cdm::cli::run(program, argc, argv, options, positional,
                         [](const po::variables_map& vm, const cdm::cli::Common&) {
        if (vm.count("handler") != 0U) {
            if (vm.count("file") != 0U || vm.count("service") != 0U || vm.count("all") != 0U) {
                throw cdm::Error(cdm::Exit::Usage, "--handler runs one service from flags: no file, --service or --all");
            }
            std::map<std::string, std::string> flags;
            for (const auto& flag : cdm::reload::standaloneFlags()) {
                if (const std::string option(flag.option); vm.count(option) != 0U) {
                    flags[option] = vm[option].as<std::string>();
                }
            }
            cdm::reload::runStandalone(flags, vm.count("dry-run") != 0U);
            return 0;
        }
        for (const auto& flag : cdm::reload::standaloneFlags()) {
            if (vm.count(std::string(flag.option)) != 0U) {
                throw cdm::Error(cdm::Exit::Usage,
                                 "--" + std::string(flag.option) + " needs --handler");
            }
        }
        const std::string file = vm.count("file") != 0U ? vm["file"].as<std::string>() : "-";
        const std::string sourceName = file == "-" ? "<stdin>" : file;
        const std::string text = file == "-" ? cdm::cli::readAll(std::cin, inputCap, sourceName)
                                             : cdm::fsutil::readFile(file, inputCap);
        cdm::reload::Request request;
        request.document = cdm::document::parse(text, sourceName);
        if (vm.count("service") != 0U) {
            request.only = vm["service"].as<std::vector<std::string>>();
        }
        request.all = vm.count("all") != 0U;
        request.dryRun = vm.count("dry-run") != 0U;
        const auto result = cdm::reload::run(std::move(request));
        cdm::cli::writeOut(cdm::document::serialize(result.document));
        if (result.failure) {
            throw *result.failure;
        }
        return 0;
    }, operands);
}
