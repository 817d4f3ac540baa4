// Tests of libcommon/faultpoint: which CDM_FAULT_AT value names which pass of which step, and,
// in a build with fault points, that point() traces and kills as the crash suites rely on.

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sstream>
#include <string>
#include <unistd.h>

#include "libcommon/faultpoint.hpp"

namespace fault = cdm::fault;

namespace {

struct TargetRow {
    const char* desc;
    const char* spec;
    bool valid;
    const char* name;
    std::size_t pass;
};

const TargetRow targetRows[] = {
    {"a bare name is its first pass", "dns.between-updates", true, "dns.between-updates", 1},
    {"NAME:N is the N-th pass", "cert.deployed-one:3", true, "cert.deployed-one", 3},
    {"NAME:1 is the same as NAME", "state.after-write:1", true, "state.after-write", 1},
    {"the last colon separates the count", "a:b:2", true, "a:b", 2},
    {"pass 0 does not exist", "state.before-write:0", false, "", 0},
    {"a count must be digits", "state.before-write:x", false, "", 0},
    {"a signed count is not a count", "state.before-write:+2", false, "", 0},
    {"text after the count", "state.before-write:2x", false, "", 0},
    {"an empty count", "state.before-write:", false, "", 0},
    {"a count of more than six digits", "reload.after-test:1234567", false, "", 0},
    {"an empty name", ":2", false, "", 0},
    {"an empty value", "", false, "", 0},
};

TEST(FaultParseTarget, Table) {
    for (const auto& row : targetRows) {
        const auto t = fault::parseTarget(row.spec);
        ASSERT_EQ(t.has_value(), row.valid) << row.desc;
        if (t) {
            EXPECT_EQ(t->name, row.name) << row.desc;
            EXPECT_EQ(t->pass, row.pass) << row.desc;
        }
    }
}

struct DieRow {
    const char* desc;
    const char* spec;
    const char* name;
    std::size_t reached;
    bool die;
};

const DieRow dieRows[] = {
    {"the named step, first pass", "dkim.deployed", "dkim.deployed", 1, true},
    {"the named step, a later pass", "dkim.deployed", "dkim.deployed", 2, false},
    {"another step", "dkim.deployed", "cert.deployed-one", 1, false},
    {"a name is matched exactly, not as a prefix", "dkim.deployed", "dkim.deployed-x", 1, false},
    {"nor as a suffix", "dkim.deployed", "x-dkim.deployed", 1, false},
    {"case matters", "DKIM.deployed", "dkim.deployed", 1, false},
    {"NAME:N before the N-th pass", "dns.between-updates:3", "dns.between-updates", 2, false},
    {"NAME:N at the N-th pass", "dns.between-updates:3", "dns.between-updates", 3, true},
    {"NAME:N after the N-th pass", "dns.between-updates:3", "dns.between-updates", 4, false},
    {"a malformed value names nothing", "dns.between-updates:0", "dns.between-updates", 1, false},
};

TEST(FaultShouldDie, Table) {
    for (const auto& row : dieRows) {
        EXPECT_EQ(fault::shouldDie(row.spec, row.name, row.reached), row.die) << row.desc;
    }
}

class FaultPointTest : public testing::Test {
protected:
    void SetUp() override {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "cdm-faultpoint-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        ::unsetenv("CDM_FAULT_AT");
        ::unsetenv("CDM_FAULT_TRACE");
    }
    void TearDown() override {
        ::unsetenv("CDM_FAULT_AT");
        ::unsetenv("CDM_FAULT_TRACE");
        std::filesystem::remove_all(dir_);
    }
    static std::string slurp(const std::string& path) {
        std::ifstream in(path);
        std::ostringstream s;
        s << in.rdbuf();
        return s.str();
    }
    std::string dir_;
};

#ifdef CDM_FAULT_POINTS

TEST_F(FaultPointTest, DiesBySigkillAtTheNamedStepAndSaysWhere) {
    ::setenv("CDM_FAULT_AT", "test.die-here", 1);
    EXPECT_EXIT(fault::point("test.die-here"), testing::KilledBySignal(SIGKILL),
                "^cdm: fault point test.die-here reached: killed\n$");
}

TEST_F(FaultPointTest, LivesThroughOtherSteps) {
    ::setenv("CDM_FAULT_AT", "test.other", 1);
    fault::point("test.lives");
    fault::point("test.other-step");
    SUCCEED();
}

TEST_F(FaultPointTest, CountsPassesPerStepAndDiesAtTheNth) {
    ::setenv("CDM_FAULT_AT", "test.counted:3", 1);
    // The child counts afresh; passes of other steps do not count.
    EXPECT_EXIT(
        {
            fault::point("test.counted");
            fault::point("test.uncounted");
            fault::point("test.counted");
            ::write(STDERR_FILENO, "two passes lived\n", 17);
            fault::point("test.counted");
            std::_Exit(0);
        },
        testing::KilledBySignal(SIGKILL),
        "^two passes lived\ncdm: fault point test.counted reached: killed\n$");
}

TEST_F(FaultPointTest, TracesEveryPassWithTheProgramBeforeDying) {
    const std::string file = dir_ + "/trace";
    ::setenv("CDM_FAULT_TRACE", file.c_str(), 1);
    fault::point("test.traced-a");
    fault::point("test.traced-b");
    fault::point("test.traced-a");
    const std::string program = program_invocation_short_name;
    EXPECT_EQ(slurp(file), "test.traced-a " + program + "\ntest.traced-b " + program +
                               "\ntest.traced-a " + program + "\n");
    ::setenv("CDM_FAULT_AT", "test.traced-c", 1);
    EXPECT_EXIT(fault::point("test.traced-c"), testing::KilledBySignal(SIGKILL), "reached: killed");
    EXPECT_THAT(slurp(file), testing::EndsWith("test.traced-c " + program + "\n"));
}

TEST_F(FaultPointTest, AMalformedValueIsReportedAndNothingDies) {
    ::setenv("CDM_FAULT_AT", "test.malformed:0", 1);
    EXPECT_EXIT(
        {
            fault::point("test.malformed");
            std::_Exit(3);
        },
        testing::ExitedWithCode(3), "CDM_FAULT_AT 'test.malformed:0' is not NAME or NAME:N");
}

#else

TEST_F(FaultPointTest, WithoutTheBuildOptionNothingDiesAndNothingIsTraced) {
    const std::string file = dir_ + "/trace";
    ::setenv("CDM_FAULT_AT", "test.die-here", 1);
    ::setenv("CDM_FAULT_TRACE", file.c_str(), 1);
    fault::point("test.die-here");
    EXPECT_FALSE(std::filesystem::exists(file));
}

#endif

} // namespace
