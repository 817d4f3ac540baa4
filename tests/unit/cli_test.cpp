// Tests of libcommon/cli: the command-line layer every program shares.

#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libcommon/cli.hpp"
#include "libcommon/error.hpp"

using cdm::Error;
using cdm::Exit;
using testing::HasSubstr;
namespace po = boost::program_options;

namespace {

int runWith(std::vector<const char*> args, const cdm::cli::Body& body) {
    args.insert(args.begin(), "cdm-test");
    po::options_description options("Options");
    options.add_options()("format", po::value<std::string>()->default_value("json"), "format");
    po::positional_options_description positional;
    return cdm::cli::run({"cdm-test", "[options]", "a test program"}, static_cast<int>(args.size()),
                         args.data(), options, positional, body);
}

} // namespace

TEST(CliVerbosity, RepeatedFlagsAreCounted) {
    struct Case {
        const char* desc;
        std::vector<const char*> argv;
        int verbosity;
        std::vector<std::string> rest;
    };
    const Case cases[] = {
        {"none", {"p", "a.conf"}, 0, {"a.conf"}},
        {"-v -v", {"p", "-v", "-v"}, 2, {}},
        {"-vvv", {"p", "-vvv", "x"}, 3, {"x"}},
        {"--verbose --quiet", {"p", "--verbose", "--quiet"}, 0, {}},
        {"-qq", {"p", "-qq"}, -2, {}},
        {"-vq is not a verbosity cluster", {"p", "-vq"}, 0, {"-vq"}},
        {"after --", {"p", "--", "-v"}, 0, {"--", "-v"}},
    };
    for (const auto& c : cases) {
        int verbosity = 0;
        const auto rest = cdm::cli::takeVerbosity(static_cast<int>(c.argv.size()), c.argv.data(), verbosity);
        EXPECT_EQ(verbosity, c.verbosity) << c.desc;
        EXPECT_EQ(rest, c.rest) << c.desc;
    }
}

TEST(CliReadAll, CapsTheInput) {
    std::istringstream small("hello");
    EXPECT_EQ(cdm::cli::readAll(small, 10, "<stdin>"), "hello");
    std::istringstream big(std::string(100000, 'x'));
    try {
        cdm::cli::readAll(big, 1000, "<stdin>");
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Exit::DataErr);
        EXPECT_THAT(e.what(), HasSubstr("<stdin>: input larger than 1000 bytes"));
    }
}

TEST(CliRun, MapsErrorsToExitCodes) {
    testing::internal::CaptureStderr();
    EXPECT_EQ(runWith({}, [](const po::variables_map&, const cdm::cli::Common&) {
                  throw Error(Exit::Config, "bad thing", cdm::Location{"a.conf", 3, {}});
                  return 0;
              }),
              78);
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "cdm-test: a.conf:3: bad thing\n");

    testing::internal::CaptureStderr();
    EXPECT_EQ(runWith({"--bogus"}, [](const po::variables_map&, const cdm::cli::Common&) { return 0; }), 64);
    const std::string usage = testing::internal::GetCapturedStderr();
    EXPECT_THAT(usage, HasSubstr("cdm-test: unrecognised option '--bogus'"));
    EXPECT_THAT(usage, HasSubstr("usage: cdm-test [options]"));

    testing::internal::CaptureStderr();
    EXPECT_EQ(runWith({}, [](const po::variables_map&, const cdm::cli::Common&) -> int {
                  throw std::logic_error("oops");
              }),
              70);
    EXPECT_THAT(testing::internal::GetCapturedStderr(), HasSubstr("internal error: oops"));
}

TEST(CliRun, PassesOptionsAndVerbosityToTheBody) {
    int seen = -100;
    std::string format;
    EXPECT_EQ(runWith({"-vv", "--format", "zone"},
                      [&](const po::variables_map&, const cdm::cli::Common& common) {
                          seen = common.verbosity;
                          format = common.format;
                          return 3;
                      }),
              3);
    EXPECT_EQ(seen, 2);
    EXPECT_EQ(format, "zone");
}

TEST(CliVersion, NamesProgramAndLibraries) {
    EXPECT_THAT(cdm::cli::versionText("cdm-x", false), testing::MatchesRegex("cdm-x \\(cdm\\) [0-9.]+\n"));
    const std::string verbose = cdm::cli::versionText("cdm-x", true);
    EXPECT_THAT(verbose, HasSubstr("OpenSSL: "));
    EXPECT_THAT(verbose, HasSubstr("ldns: "));
    EXPECT_THAT(verbose, HasSubstr("libcurl: "));
    EXPECT_THAT(verbose, HasSubstr("Boost: 1."));
}

// ---- cli::dispatch: the verb table of multi-verb programs (cdm-dkim, cdm-cert)

namespace {

struct Dispatched {
    int code = 0;
    std::string out, err;
};

Dispatched dispatchWith(const std::vector<cdm::cli::Verb>& table, std::vector<const char*> args) {
    args.insert(args.begin(), "cdm-multi");
    testing::internal::CaptureStdout();
    testing::internal::CaptureStderr();
    Dispatched d;
    d.code = cdm::cli::dispatch({"cdm-multi", "", "A program with verbs."}, table,
                                static_cast<int>(args.size()), args.data());
    d.out = testing::internal::GetCapturedStdout();
    d.err = testing::internal::GetCapturedStderr();
    return d;
}

std::vector<cdm::cli::Verb> testTable(std::string& reached, int& verbosity) {
    const auto handler = [&](const char* name) {
        return [&reached, &verbosity, name](const po::variables_map& vm, const cdm::cli::Common& common) {
            reached = name;
            verbosity = common.verbosity;
            return vm.count("count") != 0U ? vm["count"].as<int>() : 0;
        };
    };
    return {
        {"alpha", handler("alpha"), "alpha --count N", "The first verb.\nIts second line.",
         [](po::options_description& o) { o.add_options()("count", po::value<int>()->required(), "a number"); }},
        {"beta", handler("beta"), "beta [--count N]", "The second verb.",
         [](po::options_description& o) { o.add_options()("count", po::value<int>(), "a number"); }},
    };
}

} // namespace

TEST(CliDispatch, EachVerbReachesItsHandlerWithItsOptions) {
    std::string reached;
    int verbosity = 0;
    const auto table = testTable(reached, verbosity);
    EXPECT_EQ(dispatchWith(table, {"alpha", "--count", "7"}).code, 7);
    EXPECT_EQ(reached, "alpha");
    EXPECT_EQ(dispatchWith(table, {"-v", "-v", "beta", "-q", "--count", "5"}).code, 5);
    EXPECT_EQ(reached, "beta");
    EXPECT_EQ(verbosity, 1) << "-v before the verb counts as after it";
}

TEST(CliDispatch, HelpVersionAndUsageErrors) {
    std::string reached;
    int verbosity = 0;
    const auto table = testTable(reached, verbosity);
    struct Case {
        const char* desc;
        std::vector<const char*> args;
        int code;
        const char* out;
        const char* err;
    } cases[] = {
        {"overall help: usage, description, every synopsis and help line",
         {"--help"},
         0,
         "usage: cdm-multi alpha|beta [options]\n\nA program with verbs. Commands:\n\n  cdm-multi alpha --count N\n"
         "      The first verb.\n      Its second line.\n\n  cdm-multi beta [--count N]\n",
         ""},
        {"verb help", {"beta", "--help"}, 0, "usage: cdm-multi beta [--count N]\n\nThe second verb.", ""},
        {"version without a verb", {"--version"}, 0, "cdm-multi (cdm) ", ""},
        {"no verb", {}, 64, "", "cdm-multi: no command given\nusage: cdm-multi alpha|beta [options]\n"},
        {"unknown verb, quoted and cut short",
         {"gamma-gamma-gamma-gamma-gamma-gamma-gamma-gamma"},
         64,
         "",
         "cdm-multi: unknown command 'gamma-gamma-gamma-gamma-gamma-gamma-gamm...'\n"},
        {"missing required option", {"alpha"}, 64, "",
         "cdm-multi: the option '--count' is required but missing\nusage: cdm-multi alpha --count N\n"},
        {"unknown option", {"beta", "--colour"}, 64, "", "unrecognised option '--colour'"},
    };
    for (const auto& c : cases) {
        reached.clear();
        const auto d = dispatchWith(table, c.args);
        EXPECT_EQ(d.code, c.code) << c.desc;
        EXPECT_THAT(d.out, HasSubstr(c.out)) << c.desc;
        EXPECT_THAT(d.err, HasSubstr(c.err)) << c.desc;
        EXPECT_EQ(reached, "") << c.desc << ": no handler runs";
    }
}
