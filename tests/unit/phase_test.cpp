// Tests of libcommon/phase: the rollover state machine driven through every transition with
// injected times, on documents made by cdm-config's own code (configdoc), with report entries
// as cdm-dns-apply, cdm-cert, cdm-dkim and cdm-reload write them, and the state file on disk.

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
#include "libcommon/phase.hpp"

#include "test_util.hpp"

using cdm::Exit;
using cdm::test::codeOf;
using testing::HasSubstr;
namespace json = boost::json;
namespace phase = cdm::phase;
using phase::Phase;

namespace {

constexpr std::time_t t0 = 1'800'000'000; // 2027-01-15T08:00:00Z

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

unsigned modeOf(const std::string& path) {
    struct stat st {};
    ::stat(path.c_str(), &st);
    return st.st_mode & 07777U;
}

class PhaseMachine : public testing::Test {
protected:
    void SetUp() override {
        dir_ = testing::TempDir() + "/phase-" + std::to_string(::getpid()) + "-" +
               testing::UnitTest::GetInstance()->current_test_info()->name();
        std::filesystem::remove_all(dir_);
        config("margin = 60");
        state_ = phase::emptyState();
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // The document cdm-config makes of a [cdm] section with `cdmKeys` (INI lines joined by
    // two spaces, as --config-content takes them) and a domain that publishes DKIM.
    void config(const std::string& cdmKeys,
                const std::string& dkimKeys = "grace = 1h  revoked = 30m") {
        const std::string content = "[cdm]  statedir = " + dir_ + "/state  " + cdmKeys +
                                    "  [dkim:mail]  keybasename = mail  " + dkimKeys +
                                    "  [domain:example.test]  ip4 = 192.0.2.1  dkim = auto:mail";
        config_ = cdm::configdoc::run({{}, content}).document;
        settings_ = phase::settings(config_);
    }

    // One run of `p`: begin on the configured document, then what the pipeline adds.
    json::object run(Phase p, std::time_t now, bool force = false) {
        json::object doc = config_;
        phase::begin(doc, state_, p, now, force);
        return doc;
    }
    static void material(json::object& doc, const char* kind, const char* name, const char* which,
                         json::object value) {
        cdm::document::material(doc, kind, name)[which] = std::move(value);
    }
    static void nextCert(json::object& doc) {
        material(doc, "cert", "web", "next",
                 json::object{{"serial", "0a"}, {"not_after", t0 + 7776000}});
    }
    // A cdm-dns-apply report entry for one zone; `records` puts a record into the document.
    static void applied(json::object& doc, bool ok, std::int64_t maxTtl = 600,
                        std::int64_t negTtl = 300, bool changed = true) {
        auto& records = doc["records"].as_array();
        if (records.empty()) {
            records.push_back(json::object{{"name", "_443._tcp.example.test."},
                                           {"type", "TLSA"},
                                           {"ttl", 600},
                                           {"data", "3 1 1 00"},
                                           {"op", "add"}});
        }
        json::object verify{
            {"ok", ok},
            {"max_ttl", maxTtl},
            {"negative_ttl", negTtl},
            {"problems", ok ? json::array{}
                            : json::array{"ns2.example.test. (127.0.0.2) serves serial 4, not 5"}}};
        cdm::document::report(
            doc, "cdm-dns-apply", "apply",
            {{"zone", "example.test."}, {"changed", changed}, {"verify", std::move(verify)}});
    }
    phase::CommitResult commit(json::object& doc, std::time_t now,
                               std::optional<phase::Failed> failed = std::nullopt) {
        return phase::commit(state_, doc, settings_, now, failed);
    }
    json::object cycle() const { return state_.at("cycle").as_object(); }
    std::string nextPhase() const { return std::string(cycle().at("next").as_string()); }
    std::int64_t due() const { return cycle().at("due").as_int64(); }

    // A complete prepare with a next certificate at `now`, records verified.
    void prepared(std::time_t now) {
        auto doc = run(Phase::Prepare, now);
        nextCert(doc);
        applied(doc, true);
        ASSERT_TRUE(commit(doc, now).complete);
    }

    std::string dir_;
    json::object config_;
    json::object state_;
    phase::Settings settings_;
};

TEST_F(PhaseMachine, AFreshStateHasPrepareDueNow) {
    const auto d = phase::next(state_, t0);
    EXPECT_EQ(d.phase, Phase::Prepare);
    EXPECT_EQ(d.wait, 0);
    EXPECT_EQ(phase::missingFor(state_, Phase::Prepare, t0), "");
    EXPECT_THAT(phase::missingFor(state_, Phase::Rollover, t0), HasSubstr("not prepared yet"));
    EXPECT_THAT(phase::missingFor(state_, Phase::Cleanup, t0),
                HasSubstr("no rollover since the last cleanup"));
}

TEST_F(PhaseMachine, CompletePrepareMakesRolloverDueAfterTtlAndMargin) {
    auto doc = run(Phase::Prepare, t0);
    nextCert(doc);
    applied(doc, true, 600, 900);
    const auto r = commit(doc, t0 + 5);
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.exit, 0);
    EXPECT_EQ(nextPhase(), "rollover");
    // verified_at + max(max TTL, negative TTL) + margin.
    EXPECT_EQ(due(), t0 + 5 + 900 + 60);
    EXPECT_EQ(state_.at("prepare").as_object().at("verified_at").as_int64(), t0 + 5);
    EXPECT_THAT(std::string(cycle().at("why").as_string()),
                HasSubstr("max TTL 600 s, negative TTL 900 s, margin 60 s, since verified at "
                          "2027-01-15T08:00:05Z"));
    EXPECT_EQ(cycle().at("started").as_int64(), t0 + 5);

    const auto wait = phase::next(state_, t0 + 100);
    EXPECT_EQ(wait.wait, 5 + 900 + 60 - 100);
    EXPECT_THAT(phase::waitMessage(wait),
                HasSubstr("rollover is due in 865 s (at 2027-01-15T08:16:05Z): DNS caches"));
    EXPECT_EQ(phase::next(state_, t0 + 965).wait, 0);
}

TEST_F(PhaseMachine, MinwaitHoldsRolloverLongerThanTheDnsWait) {
    config("margin = 1m  minwait = 2h");
    prepared(t0);
    EXPECT_EQ(due(), t0 + 7200);
    EXPECT_THAT(std::string(cycle().at("why").as_string()), HasSubstr("minwait is 7200 s"));
}

TEST_F(PhaseMachine, RolloverIsRefusedWithTheTimeLeftAndForceOverrides) {
    prepared(t0);
    std::string message;
    EXPECT_EQ(codeOf([&] { run(Phase::Rollover, t0 + 10); }, &message), Exit::TempFail);
    EXPECT_THAT(message, HasSubstr("rollover is due in 650 s"));

    cdm::test::LogCapture log;
    auto doc = run(Phase::Rollover, t0 + 10, true);
    EXPECT_THAT(log.all(), HasSubstr("forced: rollover runs although rollover is due in 650 s"));
    const auto& begin = doc.at("report").as_array().back().as_object();
    EXPECT_EQ(begin.at("event"), "begin");
    EXPECT_EQ(begin.at("forced"), true);
    ASSERT_TRUE(commit(doc, t0 + 10).complete);
    EXPECT_EQ(nextPhase(), "cleanup");
    EXPECT_EQ(state_.at("runs").as_array().back().as_object().at("forced"), true);

    // Once due, no force is needed and the run is not marked forced.
    PhaseMachine::SetUp();
    prepared(t0);
    auto due = run(Phase::Rollover, t0 + 660);
    EXPECT_EQ(due.at("report").as_array().back().as_object().at("forced"), false);
}

// A rollover that deployed and then failed to reload runs again with "retry", so that
// cdm-reload reloads what the first run deployed; a complete one clears it.
TEST_F(PhaseMachine, ARolloverAfterAnIncompleteOneIsARetry) {
    prepared(t0);
    const auto retryOf = [](const json::object& doc) {
        return doc.at("report").as_array().back().as_object().at("retry").as_bool();
    };
    auto first = run(Phase::Rollover, t0 + 660);
    EXPECT_FALSE(retryOf(first));
    cdm::document::report(first, "cdm-reload", "failed", {{"service", "nginx"}});
    ASSERT_FALSE(commit(first, t0 + 660).complete);
    EXPECT_EQ(nextPhase(), "rollover");

    auto second = run(Phase::Rollover, t0 + 700);
    EXPECT_TRUE(retryOf(second));
    ASSERT_TRUE(commit(second, t0 + 700).complete);
    EXPECT_EQ(nextPhase(), "cleanup");
    auto cleanup = run(Phase::Cleanup, t0 + 800);
    EXPECT_FALSE(retryOf(cleanup)) << "only a phase's own last run counts";
}

TEST_F(PhaseMachine, BeginTakesMaterialFromTheStateAndClearsStaticRecords) {
    prepared(t0);
    ASSERT_FALSE(config_.at("records").as_array().empty());
    auto doc = run(Phase::Rollover, t0 + 660);
    EXPECT_EQ(doc.at("phase"), "rollover");
    EXPECT_TRUE(doc.at("records").as_array().empty());
    EXPECT_TRUE(doc.at("files").as_array().empty());
    EXPECT_EQ(doc.at("material").at("cert").at("web").at("next").at("serial"), "0a");
    auto update = run(Phase::Update, t0 + 660);
    EXPECT_EQ(update.at("records").as_array().size(), config_.at("records").as_array().size());
}

TEST_F(PhaseMachine, UpdateNeverDisturbsTheCycle) {
    for (int step = 0; step < 3; ++step) {
        if (step == 1) {
            prepared(t0);
        } else if (step == 2) {
            auto doc = run(Phase::Rollover, t0 + 660);
            ASSERT_TRUE(commit(doc, t0 + 660).complete);
        }
        const json::object before = cycle();
        EXPECT_EQ(phase::missingFor(state_, Phase::Update, t0), "");
        auto doc = run(Phase::Update, t0 + 700);
        applied(doc, true);
        EXPECT_TRUE(commit(doc, t0 + 700).complete);
        EXPECT_EQ(cycle(), before) << "step " << step;
        auto failing = run(Phase::Update, t0 + 800);
        applied(failing, false);
        EXPECT_FALSE(commit(failing, t0 + 800).complete);
        EXPECT_EQ(cycle(), before) << "step " << step;
        EXPECT_EQ(state_.at("update").at("ok"), false);
    }
}

TEST_F(PhaseMachine, UnverifiedPrepareStoresMaterialButDoesNotAdvance) {
    auto doc = run(Phase::Prepare, t0);
    nextCert(doc);
    applied(doc, false);
    const auto r = commit(doc, t0);
    EXPECT_FALSE(r.complete);
    EXPECT_EQ(r.exit, 75);
    ASSERT_EQ(r.missing.size(), 1U);
    EXPECT_EQ(
        r.missing[0],
        "zone example.test. not verified: ns2.example.test. (127.0.0.2) serves serial 4, not 5");
    EXPECT_EQ(nextPhase(), "prepare");
    // The staged certificate is kept for the next run.
    EXPECT_EQ(state_.at("material").at("cert").at("web").at("next").at("serial"), "0a");
    EXPECT_EQ(
        run(Phase::Prepare, t0 + 1).at("material").at("cert").at("web").at("next").at("serial"),
        "0a");
    std::string message;
    EXPECT_EQ(codeOf([&] { run(Phase::Rollover, t0 + 9999); }, &message), Exit::TempFail);
    EXPECT_THAT(message, HasSubstr("the last prepare at 2027-01-15T08:00:00Z was incomplete (zone "
                                   "example.test. not verified"));
    const auto& last = state_.at("runs").as_array().back().as_object();
    EXPECT_EQ(last.at("ok"), false);
    EXPECT_EQ(last.at("exit"), 75);
}

TEST_F(PhaseMachine, FailuresDecideTheExitCode) {
    struct Row {
        const char* desc;
        const char* program;
        const char* event;
        std::optional<phase::Failed> failed;
        bool verified;
        int exit;
        const char* missing;
    };
    const Row rows[] = {
        {"a failed certificate", "cdm-cert", "failed", std::nullopt, true, 69,
         "cdm-cert cert web failed: order invalid"},
        {"a held service", "cdm-reload", "held", std::nullopt, true, 69,
         "cdm-reload cert web held"},
        {"a failed configuration test", "cdm-reload", "test-failed", std::nullopt, true, 69,
         "test-failed"},
        {"--failed wins", "cdm-cert", "failed", phase::Failed{"cdm-cert", 78}, true, 78,
         "cdm-cert exited 78"},
        {"a failure beats a DNS wait", "cdm-cert", "failed", std::nullopt, false, 69,
         "not verified"},
        {"--failed alone", nullptr, nullptr, phase::Failed{"cdm-tlsa", 65}, true, 65,
         "cdm-tlsa exited 65"},
    };
    for (const auto& row : rows) {
        PhaseMachine::SetUp();
        auto doc = run(Phase::Prepare, t0);
        nextCert(doc);
        applied(doc, row.verified);
        if (row.program != nullptr) {
            cdm::document::report(doc, row.program, row.event,
                                  {{"cert", "web"}, {"error", "order invalid"}});
        }
        const auto r = commit(doc, t0, row.failed);
        EXPECT_FALSE(r.complete) << row.desc;
        EXPECT_EQ(r.exit, row.exit) << row.desc;
        std::string all;
        for (const auto& m : r.missing) {
            all += m + "\n";
        }
        EXPECT_THAT(all, HasSubstr(row.missing)) << row.desc;
        EXPECT_EQ(nextPhase(), "prepare") << row.desc;
    }
}

TEST_F(PhaseMachine, RecordsWithoutDnsApplyOrVerifyAreIncomplete) {
    auto doc = run(Phase::Prepare, t0);
    nextCert(doc);
    doc["records"].as_array().push_back(
        json::object{{"name", "a.example.test."}, {"type", "A"}, {"data", "192.0.2.1"}});
    auto r = commit(doc, t0);
    EXPECT_EQ(r.exit, 69);
    EXPECT_THAT(r.missing.at(0), HasSubstr("no cdm-dns-apply report"));
    cdm::document::report(doc, "cdm-dns-apply", "apply",
                          {{"zone", "example.test."}, {"changed", true}});
    r = commit(doc, t0);
    EXPECT_THAT(r.missing.at(0),
                HasSubstr("zone example.test. not verified: cdm-dns-apply ran without --verify"));
    EXPECT_EQ(nextPhase(), "prepare");
}

TEST_F(PhaseMachine, PrepareWithNothingStagedStaysAtPrepare) {
    auto doc = run(Phase::Prepare, t0);
    applied(doc, true);
    EXPECT_TRUE(commit(doc, t0).complete);
    EXPECT_EQ(nextPhase(), "prepare");
    EXPECT_THAT(std::string(cycle().at("why").as_string()), HasSubstr("nothing to roll over"));
    EXPECT_THAT(phase::missingFor(state_, Phase::Rollover, t0), HasSubstr("nothing to roll over"));
}

TEST_F(PhaseMachine, PrepareAgainBeforeRolloverIsAllowedAndKeepsTheWaitWhenNothingChanged) {
    prepared(t0);
    const auto firstDue = due();
    EXPECT_EQ(phase::missingFor(state_, Phase::Prepare, t0 + 100), "");
    auto doc = run(Phase::Prepare, t0 + 100);
    nextCert(doc);
    applied(doc, true, 600, 300, false);
    EXPECT_TRUE(commit(doc, t0 + 100).complete);
    EXPECT_EQ(due(), firstDue);
    // A re-run that published something restarts the wait.
    auto changed = run(Phase::Prepare, t0 + 200);
    nextCert(changed);
    applied(changed, true, 600, 300, true);
    EXPECT_TRUE(commit(changed, t0 + 200).complete);
    EXPECT_EQ(due(), t0 + 200 + 600 + 60);
}

TEST_F(PhaseMachine, CleanupWaitsForTheMarginAfterRolloverAndEndsTheCycle) {
    prepared(t0);
    auto roll = run(Phase::Rollover, t0 + 700);
    ASSERT_TRUE(commit(roll, t0 + 700).complete);
    EXPECT_EQ(nextPhase(), "cleanup");
    EXPECT_EQ(due(), t0 + 760);
    EXPECT_THAT(phase::missingFor(state_, Phase::Prepare, t0 + 710),
                HasSubstr("the last cycle's cleanup is due first (at "));
    EXPECT_THAT(phase::missingFor(state_, Phase::Rollover, t0 + 710), HasSubstr("cleanup is next"));
    EXPECT_THAT(phase::missingFor(state_, Phase::Cleanup, t0 + 710),
                HasSubstr("cleanup is due in 50 s"));
    auto clean = run(Phase::Cleanup, t0 + 760);
    applied(clean, true);
    ASSERT_TRUE(commit(clean, t0 + 760).complete);
    EXPECT_EQ(nextPhase(), "prepare");
    EXPECT_EQ(due(), 0);
    EXPECT_EQ(cycle().at("number").as_int64(), 2);
    EXPECT_EQ(cycle().at("started").as_int64(), 0);
}

TEST_F(PhaseMachine, DkimGraceAndRevocationKeepTheCycleInCleanup) {
    prepared(t0);
    auto roll = run(Phase::Rollover, t0 + 700);
    material(roll, "dkim", "mail", "previous",
             json::object{{"selector", "mail_1"}, {"retired", t0 + 700}});
    ASSERT_TRUE(commit(roll, t0 + 700).complete);

    // grace = 1h after retirement, then revoked = 30m.
    auto first = run(Phase::Cleanup, t0 + 760);
    applied(first, true);
    ASSERT_TRUE(commit(first, t0 + 760).complete);
    EXPECT_EQ(nextPhase(), "cleanup");
    EXPECT_EQ(due(), t0 + 700 + 3600);
    EXPECT_THAT(std::string(cycle().at("why").as_string()),
                HasSubstr("DKIM selector mail_1 of [dkim:mail] stays published"));
    EXPECT_THAT(phase::missingFor(state_, Phase::Prepare, t0 + 800),
                HasSubstr("cleanup is due first"));

    auto revoke = run(Phase::Cleanup, t0 + 4300);
    material(revoke, "dkim", "mail", "previous",
             json::object{{"selector", "mail_1"}, {"retired", t0 + 700}, {"revoked", t0 + 4300}});
    applied(revoke, true);
    ASSERT_TRUE(commit(revoke, t0 + 4300).complete);
    EXPECT_EQ(nextPhase(), "cleanup");
    EXPECT_EQ(due(), t0 + 4300 + 1800);
    EXPECT_EQ(cycle().at("number").as_int64(), 1);

    auto remove = run(Phase::Cleanup, t0 + 6100);
    cdm::document::material(remove, "dkim", "mail").erase("previous");
    applied(remove, true);
    ASSERT_TRUE(commit(remove, t0 + 6100).complete);
    EXPECT_EQ(nextPhase(), "prepare");
    EXPECT_EQ(cycle().at("number").as_int64(), 2);
}

TEST_F(PhaseMachine, TheSameCommitAgainGivesTheSameState) {
    // A run killed after the state was written and before the driver saw commit finish is
    // run again: every transition must land on the same state.
    for (Phase p : {Phase::Prepare, Phase::Rollover, Phase::Cleanup, Phase::Update}) {
        auto doc = run(p, t0 + 10000, true);
        if (p == Phase::Prepare) {
            nextCert(doc);
        }
        if (p != Phase::Rollover) {
            applied(doc, true);
        }
        json::object again = doc;
        ASSERT_TRUE(commit(doc, t0 + 10000).complete) << phase::toString(p);
        const json::object once = state_;
        ASSERT_TRUE(commit(again, t0 + 10000).complete) << phase::toString(p);
        EXPECT_EQ(state_, once) << phase::toString(p);
    }
}

TEST_F(PhaseMachine, AWholeCycleThroughTheStateFile) {
    const std::string path = phase::statePath(settings_);
    EXPECT_EQ(path, dir_ + "/state/state.json");
    for (const auto& [p, at] : std::vector<std::pair<Phase, std::time_t>>{
             {Phase::Prepare, t0}, {Phase::Rollover, t0 + 660}, {Phase::Cleanup, t0 + 720}}) {
        auto file = phase::load(path);
        auto doc = config_;
        phase::begin(doc, file.state, p, at, false);
        if (p == Phase::Prepare) {
            nextCert(doc);
        }
        if (p != Phase::Rollover) {
            applied(doc, true);
        }
        ASSERT_TRUE(phase::commit(file.state, doc, settings_, at, std::nullopt).complete);
        phase::save(file);
    }
    const auto file = phase::load(path);
    EXPECT_EQ(file.state.at("cycle").at("next"), "prepare");
    EXPECT_EQ(file.state.at("cycle").at("number"), 2);
    EXPECT_EQ(file.state.at("runs").as_array().size(), 3U);
    EXPECT_EQ(modeOf(path), 0600U);
    EXPECT_EQ(modeOf(dir_ + "/state"), 0700U);
    const std::string status = phase::statusText(file.state, path, t0 + 800);
    EXPECT_THAT(status, HasSubstr("cycle: 2\nnext: prepare, due now"));
    EXPECT_THAT(status,
                HasSubstr("  cert web:\n    next: serial 0a, not after 2027-04-15T08:00:00Z\n"));
    EXPECT_THAT(status, HasSubstr("2027-01-15T08:11:00Z rollover ok (exit 0)"));
}

TEST_F(PhaseMachine, OnlyTheLastTwentyRunsAreKept) {
    for (int i = 0; i < 25; ++i) {
        auto doc = run(Phase::Update, t0 + i);
        applied(doc, true);
        commit(doc, t0 + i);
    }
    const auto& runs = state_.at("runs").as_array();
    ASSERT_EQ(runs.size(), phase::runsKept);
    EXPECT_EQ(runs.front().at("at"), t0 + 5);
}

class StateFile : public testing::Test {
protected:
    void SetUp() override {
        dir_ = testing::TempDir() + "/phase-state-" + std::to_string(::getpid());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        path_ = dir_ + "/state.json";
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    void write(const std::string& text) { std::ofstream(path_) << text; }
    std::string dir_;
    std::string path_;
};

TEST_F(StateFile, AMissingFileIsAFreshState) {
    const auto f = phase::load(path_);
    EXPECT_FALSE(f.exists);
    EXPECT_EQ(f.state, phase::emptyState());
}

TEST_F(StateFile, ADamagedFileIsRefusedAndLeftAlone) {
    struct Row {
        const char* desc;
        const char* text;
        const char* message;
    };
    const Row rows[] = {
        {"truncated JSON", "{\"cdm_state\": 1, \"cyc", "not JSON"},
        {"an array", "[]", "not a JSON object"},
        {"some other JSON", "{\"hello\": 1}", "no \"cdm_state\""},
        {"a newer version",
         "{\"cdm_state\": 2, \"cycle\": {\"next\": \"prepare\", \"due\": 0, \"number\": 1}}",
         "cdm_state: state version 2 is not 1"},
        {"a bad phase",
         "{\"cdm_state\": 1, \"cycle\": {\"next\": \"later\", \"due\": 0, \"number\": 1}}",
         "cycle.next: 'later' is not prepare"},
        {"a due that is text",
         "{\"cdm_state\": 1, \"cycle\": {\"next\": \"prepare\", \"due\": \"soon\", \"number\": 1}}",
         "cycle.due: missing or not an integer"},
        {"material not an object",
         "{\"cdm_state\": 1, \"cycle\": {\"next\": \"prepare\", \"due\": 0, \"number\": 1}, "
         "\"material\": []}",
         "material: not an object"},
    };
    for (const auto& row : rows) {
        write(row.text);
        std::string message;
        EXPECT_EQ(codeOf([&] { phase::load(path_); }, &message), Exit::DataErr) << row.desc;
        EXPECT_THAT(message, HasSubstr(path_)) << row.desc;
        EXPECT_THAT(message, HasSubstr(row.message)) << row.desc;
        EXPECT_EQ(slurp(path_), row.text) << row.desc;
    }
}

TEST_F(StateFile, CryptdomainmgrsOwnStateIsMovedAsideOnTheFirstSave) {
    const std::string original =
        R"({"opstate": "done", "result": {"nextphase": "rollover"}, "config": {}, "substate": {"cert": {}}})";
    write(original);
    cdm::test::LogCapture log;
    auto f = phase::load(path_);
    EXPECT_TRUE(f.foreign);
    EXPECT_EQ(f.state, phase::emptyState());
    EXPECT_THAT(log.all(), HasSubstr("cryptdomainmgr's own state; starting at prepare"));
    EXPECT_EQ(slurp(path_), original); // loading changes nothing
    phase::save(f);
    EXPECT_EQ(slurp(path_ + ".cryptdomainmgr"), original);
    const auto again = phase::load(path_);
    EXPECT_FALSE(again.foreign);
    EXPECT_EQ(again.state, phase::emptyState());
}

TEST_F(StateFile, SaveReplacesTheFileWhole) {
    auto f = phase::load(dir_ + "/sub/dir/state.json");
    f.state["cycle"].as_object()["number"] = 7;
    phase::save(f);
    EXPECT_EQ(modeOf(dir_ + "/sub/dir/state.json"), 0600U);
    EXPECT_EQ(modeOf(dir_ + "/sub/dir"), 0700U);
    EXPECT_EQ(phase::load(dir_ + "/sub/dir/state.json").state.at("cycle").at("number"), 7);
    // No temporary file is left beside it.
    std::size_t entries = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_ + "/sub/dir")) {
        ++entries;
    }
    EXPECT_EQ(entries, 1U);
}

TEST(PhaseSettings, DurationsAndTheirErrors) {
    auto doc = cdm::configdoc::run(
                   {{}, "[cdm]  statedir = /srv/cdm/  margin = 2m  minwait = 1h  postwait = 5"})
                   .document;
    const auto s = phase::settings(doc);
    EXPECT_EQ(s.margin, 120);
    EXPECT_EQ(s.minwait, 3600);
    EXPECT_EQ(s.postwait, 5);
    EXPECT_EQ(phase::statePath(s), "/srv/cdm/state.json");
    const auto defaults =
        phase::settings(cdm::configdoc::run({{}, "[domain:a.test]  ip4 = 192.0.2.1"}).document);
    EXPECT_EQ(defaults.margin, 60);
    EXPECT_EQ(defaults.minwait, 0);
    EXPECT_EQ(phase::statePath(defaults), "/var/lib/cdm/state.json");

    auto bad = cdm::configdoc::run({{}, "[cdm]  margin = soon"}).document;
    std::string message;
    EXPECT_EQ(codeOf([&] { phase::settings(bad); }, &message), Exit::Config);
    EXPECT_THAT(message, HasSubstr("[cdm] margin 'soon' is not a duration"));
    EXPECT_THAT(message, HasSubstr("<config-content>:2: ")) << "names the key's line";
}

TEST(PhaseFailed, ParsesProgramAndCode) {
    const auto f = phase::parseFailed("cdm-cert:69");
    EXPECT_EQ(f.program, "cdm-cert");
    EXPECT_EQ(f.exit, 69);
    for (const char* bad :
         {"cdm-cert", "cdm-cert:", ":69", "cdm-cert:0", "cdm-cert:256", "cdm-cert:x"}) {
        EXPECT_EQ(codeOf([&] { phase::parseFailed(bad); }), Exit::Usage) << bad;
    }
}

TEST(PhaseCommit, ADocumentWithoutAPhaseIsRefused) {
    json::object state = phase::emptyState();
    json::object doc = cdm::document::empty();
    std::string message;
    EXPECT_EQ(codeOf([&] { phase::commit(state, doc, {}, t0, std::nullopt); }, &message),
              Exit::DataErr);
    EXPECT_THAT(message, HasSubstr("run cdm-phase begin first"));
    EXPECT_EQ(state, phase::emptyState());
}

TEST(PhaseVerbs, EveryVerbReachesItsHandler) {
    const auto& table = phase::verbs();
    std::vector<std::string> names;
    for (const auto& v : table) {
        names.emplace_back(v.name);
        EXPECT_TRUE(static_cast<bool>(v.handler)) << v.name;
        EXPECT_TRUE(static_cast<bool>(v.options)) << v.name;
        // `VERB --badoption` is refused by that verb's own parser (64), not as an unknown verb.
        const std::string verb(v.name);
        const char* argv[] = {"cdm-phase", verb.c_str(), "--no-such-option"};
        testing::internal::CaptureStderr();
        EXPECT_EQ(phase::dispatch(table, 3, argv), 64) << v.name;
        EXPECT_THAT(testing::internal::GetCapturedStderr(), HasSubstr("usage: cdm-phase " + verb))
            << v.name;
    }
    EXPECT_EQ(names,
              (std::vector<std::string>{"path", "next", "begin", "mtasts", "commit", "status"}));
}

} // namespace

// Review R1: a prepare between prepare and rollover that publishes or stages something and is
// not verified must not leave the earlier rollover due: that rollover would deploy material
// whose records no server was seen to serve.
TEST_F(PhaseMachine, AnUnverifiedRePrepareTakesTheRolloverBack) {
    prepared(t0);
    auto doc = run(Phase::Prepare, t0 + 100);
    material(doc, "cert", "web", "next", json::object{{"serial", "0b"}, {"not_after", t0 + 7776000}});
    applied(doc, false, 900, 300, true);
    const auto r = commit(doc, t0 + 100);
    EXPECT_FALSE(r.complete);
    EXPECT_EQ(nextPhase(), "prepare") << "rollover no longer due";
    EXPECT_THAT(phase::missingFor(state_, Phase::Rollover, t0 + 700), HasSubstr("not prepared"));
    EXPECT_EQ(state_.at("material").at("cert").at("web").at("next").at("serial"), "0b")
        << "the staged certificate is kept";
    // The next complete prepare waits for the largest TTL any of them saw (900 s), even though
    // its own zones now say 60.
    auto again = run(Phase::Prepare, t0 + 200);
    material(again, "cert", "web", "next", json::object{{"serial", "0b"}, {"not_after", t0 + 7776000}});
    applied(again, true, 60, 30, false);
    ASSERT_TRUE(commit(again, t0 + 200).complete);
    EXPECT_EQ(nextPhase(), "rollover");
    EXPECT_EQ(due(), t0 + 200 + 900 + 60);
}

TEST_F(PhaseMachine, ACompleteRePrepareWithOtherMaterialRestartsTheWait) {
    prepared(t0);
    auto doc = run(Phase::Prepare, t0 + 100);
    material(doc, "cert", "web", "next", json::object{{"serial", "0c"}, {"not_after", t0 + 7776000}});
    applied(doc, true, 600, 300, false); // records already there: "changed" says nothing
    ASSERT_TRUE(commit(doc, t0 + 100).complete);
    EXPECT_EQ(due(), t0 + 100 + 600 + 60) << "another certificate was staged: its wait starts now";
}

// Review R2: after a rollover that deployed and failed (a reload), prepare must wait: a new
// prepare would replace the records of what the unreloaded service still serves.
TEST_F(PhaseMachine, PrepareWaitsForAnIncompleteRollover) {
    prepared(t0);
    auto roll = run(Phase::Rollover, t0 + 660);
    cdm::document::report(roll, "cdm-reload", "failed", {{"service", "nginx"}});
    ASSERT_FALSE(commit(roll, t0 + 660).complete);
    EXPECT_THAT(phase::missingFor(state_, Phase::Prepare, t0 + 700),
                HasSubstr("the rollover at 2027-01-15T08:11:00Z did not complete: run it again first"));
    EXPECT_EQ(codeOf([&] { run(Phase::Prepare, t0 + 700); }), Exit::TempFail);
    auto again = run(Phase::Rollover, t0 + 700);
    ASSERT_TRUE(commit(again, t0 + 700).complete);
    EXPECT_EQ(nextPhase(), "cleanup");
}

// Review A4: the MTA-STS state follows what DNS took, also when something else in the update
// failed (an address not detected), so a dropped MX is not kept for as long as that lasts.
TEST_F(PhaseMachine, MtaStsStateIsStoredWhenDnsTookTheUpdate) {
    auto doc = run(Phase::Update, t0);
    applied(doc, true);
    doc["state"] = json::object{{"mtasts", json::object{{"example.test.", json::object{{"id", "abc"}}}}}};
    cdm::document::report(doc, "cdm-ip", "failed", {{"family", "ip6"}, {"name", "example.test."}});
    EXPECT_FALSE(commit(doc, t0).complete);
    EXPECT_EQ(state_.at("mtasts").at("example.test.").at("id"), "abc");
    auto unverified = run(Phase::Update, t0 + 10);
    applied(unverified, false);
    unverified["state"] = json::object{{"mtasts", json::object{{"example.test.", json::object{{"id", "def"}}}}}};
    EXPECT_FALSE(commit(unverified, t0 + 10).complete);
    EXPECT_EQ(state_.at("mtasts").at("example.test.").at("id"), "abc") << "not served everywhere: not stored";
}
