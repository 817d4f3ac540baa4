// Tests of libcommon/mtasts: the policy parser (RFC 8461 §3.2), MX retention while senders may
// hold a cached older policy (peers.md §8.3), and the step on a document from cdm-config's own
// code, with the policy file on disk.

#include <filesystem>
#include <fstream>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "libcommon/configdoc.hpp"
#include "libcommon/document.hpp"
#include "libcommon/domain.hpp"
#include "libcommon/mtasts.hpp"

#include "test_util.hpp"

using cdm::Exit;
using cdm::test::codeOf;
using testing::HasSubstr;
namespace json = boost::json;
namespace mtasts = cdm::mtasts;

namespace {

constexpr std::time_t t0 = 1'800'000'000;
constexpr std::int64_t week = 604800;

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::string> hosts(const std::vector<mtasts::Retained>& retained) {
    std::vector<std::string> out;
    for (const auto& r : retained) {
        out.push_back(r.mx);
    }
    return out;
}

TEST(MtastsParse, ReadsTheFieldsWithCrlfOrLf) {
    struct Row {
        const char* desc;
        const char* text;
    };
    const Row rows[] = {
        {"CRLF, as cdm writes it",
         "version: STSv1\r\nmode: enforce\r\nmx: a.test\r\nmx: *.b.test\r\nmax_age: 86400\r\n"},
        {"LF (RFC erratum 6253)",
         "version: STSv1\nmode: enforce\nmx: a.test\nmx: *.b.test\nmax_age: 86400\n"},
        {"spaces and an unknown key",
         "version:STSv1\nmode:   enforce  \nfuture: x\nmx: a.test\nmx: *.b.test\nmax_age: 86400"},
    };
    for (const auto& row : rows) {
        const auto p = mtasts::parse(row.text, "files[0].content");
        EXPECT_EQ(p.mode, "enforce") << row.desc;
        EXPECT_EQ(p.mx, (std::vector<std::string>{"a.test", "*.b.test"})) << row.desc;
        EXPECT_EQ(p.maxAge, 86400U) << row.desc;
    }
}

TEST(MtastsParse, RefusesWhatIsNotAPolicy) {
    struct Row {
        const char* desc;
        const char* text;
        const char* message;
    };
    const Row rows[] = {
        {"wrong version", "version: STSv2\nmode: enforce\nmax_age: 1\n",
         "version 'STSv2' is not STSv1"},
        {"wrong mode", "version: STSv1\nmode: strict\nmax_age: 1\n",
         "mode 'strict' is not enforce, testing or none"},
        {"max_age too large", "version: STSv1\nmode: none\nmax_age: 31557601\n",
         "max_age '31557601'"},
        {"max_age not a number", "version: STSv1\nmode: none\nmax_age: 1w\n", "max_age '1w'"},
        {"no max_age", "version: STSv1\nmode: none\n", "lacks version, mode or max_age"},
        {"no colon", "version: STSv1\nmode none\nmax_age: 1\n", "line 2 has no ':'"},
        {"empty mx", "version: STSv1\nmode: none\nmx:\nmax_age: 1\n", "empty mx line"},
    };
    for (const auto& row : rows) {
        std::string message;
        EXPECT_EQ(codeOf([&] { mtasts::parse(row.text, "files[2].content"); }, &message),
                  Exit::DataErr)
            << row.desc;
        EXPECT_THAT(message, HasSubstr(row.message)) << row.desc;
        EXPECT_THAT(message, HasSubstr("files[2].content")) << row.desc;
    }
}

TEST(MtastsMerge, AFirstPolicyRetainsNothing) {
    const mtasts::Policy wanted{"enforce", {"mx1.a.test"}, week};
    const auto m = mtasts::merge(wanted, std::nullopt, t0);
    EXPECT_EQ(m.content, cdm::domain::mtaStsPolicy("enforce", {"mx1.a.test"}, week));
    EXPECT_EQ(m.id, cdm::domain::mtaStsId(m.content));
    EXPECT_EQ(m.state.since, t0);
    EXPECT_TRUE(m.state.retained.empty());
    // Unchanged the next day: same id, same since.
    const auto again = mtasts::merge(wanted, m.state, t0 + 86400);
    EXPECT_EQ(again.id, m.id);
    EXPECT_EQ(again.state.since, t0);
}

TEST(MtastsMerge, ADroppedMxStaysUntilTheOldPolicyExpiresInCaches) {
    const auto old =
        mtasts::merge({"enforce", {"mx1.a.test", "old.a.test"}, week}, std::nullopt, t0);
    // The configuration drops old.a.test and lowers max_age: senders still hold the old policy
    // for the OLD max_age, counted from when it was replaced.
    const mtasts::Policy wanted{"enforce", {"mx1.a.test"}, 86400};
    const std::time_t replaced = t0 + 1000;
    const auto m = mtasts::merge(wanted, old.state, replaced);
    ASSERT_EQ(m.state.retained.size(), 1U);
    EXPECT_EQ(m.state.retained[0].mx, "old.a.test");
    EXPECT_EQ(m.state.retained[0].until, replaced + week);
    EXPECT_EQ(m.content, cdm::domain::mtaStsPolicy("enforce", {"mx1.a.test", "old.a.test"}, 86400));
    EXPECT_EQ(m.state.mx, (std::vector<std::string>{"mx1.a.test"}));
    EXPECT_EQ(m.state.since, replaced);
    EXPECT_NE(m.id, old.id) << "max_age changed, so the policy did";

    // Still kept a second before it expires, with the same id; gone at the time.
    const auto before = mtasts::merge(wanted, m.state, replaced + week - 1);
    EXPECT_EQ(hosts(before.state.retained), (std::vector<std::string>{"old.a.test"}));
    EXPECT_EQ(before.id, m.id);
    EXPECT_EQ(before.state.since, replaced);
    const auto after = mtasts::merge(wanted, before.state, replaced + week);
    EXPECT_TRUE(after.state.retained.empty());
    EXPECT_EQ(after.content, cdm::domain::mtaStsPolicy("enforce", {"mx1.a.test"}, 86400));
    EXPECT_NE(after.id, m.id);
}

TEST(MtastsMerge, AnMxNamedAgainIsNoLongerRetainedAndSuccessiveDropsKeepTheirOwnTimes) {
    const auto a = mtasts::merge({"enforce", {"mx1.a.test", "mx2.a.test"}, week}, std::nullopt, t0);
    const auto b = mtasts::merge({"enforce", {"mx2.a.test"}, week}, a.state, t0 + 10);
    const auto c = mtasts::merge({"enforce", {"mx3.a.test"}, week}, b.state, t0 + 20);
    ASSERT_EQ(c.state.retained.size(), 2U);
    EXPECT_EQ(c.state.retained[0].mx, "mx1.a.test");
    EXPECT_EQ(c.state.retained[0].until, t0 + 10 + week);
    EXPECT_EQ(c.state.retained[1].mx, "mx2.a.test");
    EXPECT_EQ(c.state.retained[1].until, t0 + 20 + week);
    const auto d = mtasts::merge({"enforce", {"mx3.a.test", "MX1.a.test"}, week}, c.state, t0 + 30);
    EXPECT_EQ(hosts(d.state.retained), (std::vector<std::string>{"mx2.a.test"}));
}

TEST(MtastsState, RoundTripsAndRefusesBadEntries) {
    const auto m = mtasts::merge(
        {"testing", {"mx2.a.test"}, week},
        mtasts::merge({"testing", {"mx1.a.test"}, week}, std::nullopt, t0).state, t0 + 5);
    const auto back = mtasts::stateFromJson(mtasts::toJson(m.state), "state.mtasts");
    EXPECT_EQ(mtasts::toJson(back), mtasts::toJson(m.state));
    std::string message;
    EXPECT_EQ(codeOf(
                  [&] {
                      mtasts::stateFromJson(
                          json::parse(R"({"id":"x","mx":"a","max_age":1,"since":0})"),
                          "state.mtasts[\"a.test.\"]");
                  },
                  &message),
              Exit::DataErr);
    EXPECT_THAT(message, HasSubstr("state.mtasts[\"a.test.\"].mx"));
}

class MtastsRun : public testing::Test {
protected:
    void SetUp() override {
        dir_ = testing::TempDir() + "/mtasts-" + std::to_string(::getpid());
        std::filesystem::remove_all(dir_);
        policy_ = dir_ + "/www/.well-known/mta-sts.txt";
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    json::object doc(const std::string& mx) const {
        return cdm::configdoc::run({{},
                                    "[domain:a.test]  mx = " + mx +
                                        "  mtasts.mode = enforce  mtasts.policyfile = " + policy_})
            .document;
    }
    static std::string id(const json::object& d) {
        for (const auto& r : d.at("records").as_array()) {
            if (r.at("name") == "_mta-sts.a.test.") {
                return std::string(r.at("data").as_string());
            }
        }
        return {};
    }
    std::string dir_;
    std::string policy_;
};

TEST_F(MtastsRun, WritesThePolicyAndSetsTheRecordsId) {
    auto d = doc("mx1.a.test:10");
    const auto out = mtasts::run(d, nullptr, t0);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_TRUE(out[0].written);
    const std::string content = cdm::domain::mtaStsPolicy("enforce", {"mx1.a.test"}, week);
    EXPECT_EQ(slurp(policy_), content);
    struct stat st {};
    ASSERT_EQ(::stat(policy_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777U, 0644U);
    EXPECT_EQ(id(d), "\"v=STSv1; id=" + cdm::domain::mtaStsId(content) + "\"");
    const auto& state = d.at("state").at("mtasts").at("a.test.").as_object();
    EXPECT_EQ(state.at("since"), t0);
    const auto& report = d.at("report").as_array().back().as_object();
    EXPECT_EQ(report.at("event"), "mtasts");
    EXPECT_EQ(report.at("written"), true);

    // The same again changes nothing on disk.
    auto again = doc("mx1.a.test:10");
    const json::value previous = d.at("state").at("mtasts");
    EXPECT_FALSE(mtasts::run(again, &previous, t0 + 60).at(0).written);
    EXPECT_EQ(id(again), id(d));
}

TEST_F(MtastsRun, AnMxChangeKeepsTheOldMxInThePolicyFileAndChangesTheId) {
    auto first = doc("old.a.test:10");
    mtasts::run(first, nullptr, t0);
    const json::value previous = first.at("state").at("mtasts");
    auto second = doc("new.a.test:10");
    cdm::test::LogCapture log;
    const auto out = mtasts::run(second, &previous, t0 + 100);
    // t0 + 100 + a week, in UTC (libcommon/timefmt.hpp).
    EXPECT_THAT(log.all(), HasSubstr("keep mx old.a.test in the policy until "
                                     "2027-01-22T08:01:40Z"));
    EXPECT_TRUE(out.at(0).written);
    EXPECT_EQ(hosts(out.at(0).retained), (std::vector<std::string>{"old.a.test"}));
    EXPECT_EQ(slurp(policy_), "version: STSv1\r\nmode: enforce\r\nmx: new.a.test\r\nmx: "
                              "old.a.test\r\nmax_age: 604800\r\n");
    EXPECT_NE(id(second), id(first));
    const auto& entry = second.at("report").as_array().back().as_object();
    EXPECT_EQ(entry.at("retained").at(0).at("until"), t0 + 100 + week);
}

TEST_F(MtastsRun, ABadPolicyWritesNothing) {
    auto d = doc("mx1.a.test:10");
    d["files"].as_array().push_back(
        json::object{{"kind", "mta-sts-policy"}, {"domain", "b.test."}, {"content", "mode: x\n"}});
    EXPECT_EQ(codeOf([&] { mtasts::run(d, nullptr, t0); }), Exit::DataErr);
    EXPECT_FALSE(std::filesystem::exists(policy_));
}

TEST_F(MtastsRun, WithoutPolicyFilesTheStateIsEmpty) {
    auto d = cdm::configdoc::run({{}, "[domain:a.test]  ip4 = 192.0.2.1"}).document;
    EXPECT_TRUE(mtasts::run(d, nullptr, t0).empty());
    EXPECT_TRUE(d.at("state").at("mtasts").as_object().empty());
}

} // namespace
