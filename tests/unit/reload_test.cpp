// Tests of libcommon/reload: which sections a service waits for, when it is reloaded, held
// or skipped, and how its commands run (real programs, no shell).

#include <csignal>
#include <filesystem>
#include <fstream>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "libcommon/configdoc.hpp"
#include "libcommon/reload.hpp"
#include "test_util.hpp"

namespace json = boost::json;
using cdm::Error;
using cdm::Exit;
using cdm::reload::Decision;
using cdm::reload::Handler;
using cdm::reload::Restart;
using cdm::reload::Service;
using testing::ElementsAre;
using testing::HasSubstr;

namespace {

// A document as cdm-config makes it; `  ` (two spaces) separates lines as in
// --config-content.
json::object documentOf(const std::string& config) {
    return cdm::configdoc::run({{}, config}).document;
}

const char* const baseConfig =
    "[domain:a.test]  cert = main  dkim = auto:mail  "
    "[domain:b.test]  cert = other  dkim = auto:other  "
    "[domain:c.test]  ip4 = 192.0.2.1  "
    "[cert:main]  [cert:other]  [dkim:mail]  [dkim:other]  [dhparam:dh]  ";

std::vector<Service> servicesOf(const std::string& services,
                                const std::vector<std::string>& only = {}) {
    return cdm::reload::services(documentOf(baseConfig + services), only);
}

json::object entry(const char* program, const char* event, json::object fields) {
    fields["program"] = program;
    fields["event"] = event;
    return fields;
}

template <typename F>
void expectError(F f, Exit code, const std::string& message, const std::string& where = {}) {
    try {
        f();
        ADD_FAILURE() << "expected an error with '" << message << "'";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), code) << e.what();
        EXPECT_THAT(e.what(), HasSubstr(message));
        if (!where.empty()) {
            EXPECT_EQ(e.where().toString(), where) << e.what();
        }
    }
}

std::string tempDir(const std::string& name) {
    const std::string dir = testing::TempDir() + "/reload-" + name;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

} // namespace

TEST(ReloadWaits, HandlersWaitForTheKindsTheyUseThroughTheirDomains) {
    const auto list = servicesOf("[service:nginx]  [service:rspamd]  [service:hook]  handler = "
                                 "command  reloadcommand = true");
    ASSERT_EQ(list.size(), 3U);
    EXPECT_EQ(list[0].handler, Handler::Nginx);
    EXPECT_THAT(list[0].waits.cert, ElementsAre("main", "other"));
    EXPECT_TRUE(list[0].waits.dkim.empty());
    EXPECT_THAT(list[0].waits.dhparam, ElementsAre("dh"));
    EXPECT_EQ(list[1].handler, Handler::Rspamd);
    EXPECT_TRUE(list[1].waits.cert.empty());
    EXPECT_THAT(list[1].waits.dkim, ElementsAre("mail", "other"));
    EXPECT_EQ(list[2].handler, Handler::Command);
    EXPECT_THAT(list[2].waits.cert, ElementsAre("main", "other"));
    EXPECT_THAT(list[2].waits.dkim, ElementsAre("mail", "other"));
    EXPECT_THAT(list[2].waits.dhparam, ElementsAre("dh"));
}

TEST(ReloadWaits, DomainListNarrowsAuto) {
    const auto list =
        servicesOf("[service:nginx]  domain = b.test.  [service:postfix]  domain = c.test, a.test");
    EXPECT_THAT(list[0].waits.cert, ElementsAre("other"));
    EXPECT_THAT(list[1].waits.cert, ElementsAre("main"));
    EXPECT_THAT(list[1].waits.dhparam, ElementsAre("dh"));
}

TEST(ReloadWaits, NamedSectionsAndNone) {
    const auto list = servicesOf("[service:nginx]  cert = other, auto  dhparam = none  "
                                 "[service:dovecot]  cert = none  dkim = mail");
    EXPECT_THAT(list[0].waits.cert, ElementsAre("other", "main"));
    EXPECT_TRUE(list[0].waits.dhparam.empty());
    // A written key counts even for a kind outside the handler's default `depends`.
    EXPECT_TRUE(list[1].waits.cert.empty());
    EXPECT_THAT(list[1].waits.dkim, ElementsAre("mail"));
    EXPECT_THAT(list[1].waits.dhparam, ElementsAre("dh"));
}

TEST(ReloadWaits, DependsChoosesTheKinds) {
    const auto list = servicesOf("[service:nginx]  depends = cert");
    EXPECT_THAT(list[0].waits.cert, ElementsAre("main", "other"));
    EXPECT_TRUE(list[0].waits.dhparam.empty());
}

TEST(ReloadWaits, UnknownNamesAreConfigurationErrorsAtTheirLine) {
    expectError([] { servicesOf("[service:nginx]  cert = missing"); }, Exit::Config,
                "[service:nginx] cert 'missing': no [cert:missing] section", "<config-content>:15");
    expectError([] { servicesOf("[service:nginx]  domain = d.test"); }, Exit::Config,
                "no [domain:d.test] section", "<config-content>:15");
    expectError([] { servicesOf("[service:nginx]  depends = cert, ip"); }, Exit::Config,
                "depends 'ip' is not one of cert, dkim, dhparam", "<config-content>:15");
    expectError([] { servicesOf("[service:proxy]  handler = traefik"); }, Exit::Config,
                "handler 'traefik' is not supported, use handler = command", "<config-content>:15");
    expectError([] { servicesOf("[service:nginx]", {"apache2"}); }, Exit::Usage,
                "--service 'apache2': no [service:apache2] section");
}

TEST(ReloadWaits, OnlyTheNamedServices) {
    const auto list =
        servicesOf("[service:nginx]  [service:rspamd]  [service:postfix]", {"postfix", "nginx"});
    ASSERT_EQ(list.size(), 2U);
    EXPECT_EQ(list[0].name, "nginx"); // config order, not the order of --service
    EXPECT_EQ(list[1].name, "postfix");
}

TEST(ReloadService, HandlerDefaults) {
    const struct {
        const char* handler;
        std::vector<std::string> test;
        const char* unit;
        Restart restart;
    } rows[] = {
        {"apache2", {"apache2ctl", "-t"}, "apache2", Restart::No},
        {"nginx", {"nginx", "-t", "-q"}, "nginx", Restart::No},
        {"postfix", {"postfix", "check"}, "postfix", Restart::No},
        {"dovecot", {"doveconf", "-n"}, "dovecot", Restart::No},
        {"rspamd", {"rspamadm", "configtest"}, "rspamd", Restart::Auto},
    };
    for (const auto& row : rows) {
        const Service s = cdm::reload::serviceFromSettings(row.handler, {});
        ASSERT_TRUE(s.test) << row.handler;
        EXPECT_EQ(*s.test, row.test) << row.handler;
        EXPECT_EQ(s.unit, row.unit) << row.handler;
        EXPECT_EQ(s.restart, row.restart) << row.handler;
        EXPECT_EQ(s.signal, SIGHUP) << row.handler;
        EXPECT_EQ(s.timeout, std::chrono::seconds(60)) << row.handler;
        ASSERT_TRUE(s.statusCommand) << row.handler;
        EXPECT_THAT(*s.statusCommand, ElementsAre("systemctl", "is-active", "--quiet", row.unit));
        EXPECT_THAT(s.startCommand, ElementsAre("systemctl", "start", row.unit));
        EXPECT_THAT(s.restartCommand, ElementsAre("systemctl", "restart", row.unit));
        EXPECT_TRUE(s.reloadCommand.empty()) << row.handler;
    }
}

TEST(ReloadService, KeysOverrideTheDefaults) {
    const cdm::reload::Settings settings = {
        {"handler", {"auto", {}}},   {"testcommand", {"none", {}}}, {"pidfile", {"/run/x.pid", {}}},
        {"signal", {"SIGUSR1", {}}}, {"unit", {"web.service", {}}}, {"restart", {"yes", {}}},
        {"timeout", {"2m", {}}},
    };
    const Service s = cdm::reload::serviceFromSettings("nginx", settings);
    EXPECT_EQ(s.handler, Handler::Nginx);
    EXPECT_FALSE(s.test);
    EXPECT_EQ(s.pidfile, "/run/x.pid");
    EXPECT_EQ(s.signal, SIGUSR1);
    EXPECT_FALSE(s.statusCommand); // the pid file says whether it runs
    EXPECT_THAT(s.startCommand, ElementsAre("systemctl", "start", "web.service"));
    EXPECT_EQ(s.restart, Restart::Yes);
    EXPECT_EQ(s.timeout, std::chrono::seconds(120));
    EXPECT_EQ(cdm::reload::serviceFromSettings("nginx", {{"signal", {"10", {}}}}).signal, SIGUSR1);
    EXPECT_EQ(cdm::reload::serviceFromSettings("nginx", {{"signal", {"hup", {}}}}).signal, SIGHUP);
}

TEST(ReloadService, BadValuesNameTheKey) {
    const cdm::Location at{"s.conf", 4, ""};
    expectError(
        [&] {
            cdm::reload::serviceFromSettings("nginx", {{"signal", {"BOGUS", at}}});
        },
        Exit::Config, "signal 'BOGUS' is not a signal name or number", "s.conf:4");
    expectError(
        [&] {
            cdm::reload::serviceFromSettings("nginx", {{"restart", {"maybe", at}}});
        },
        Exit::Config, "restart 'maybe' is not yes, no or auto", "s.conf:4");
    expectError(
        [&] {
            cdm::reload::serviceFromSettings("nginx",
                                             {{"reloadcommand", {"nginx -s 'reload", at}}});
        },
        Exit::Config, "unterminated ' quote", "s.conf:4");
    expectError(
        [&] {
            cdm::reload::serviceFromSettings("hook", {{"handler", {"command", at}}});
        },
        Exit::Config, "handler command needs reloadcommand, pidfile, unit or restartcommand");
    expectError(
        [&] {
            cdm::reload::serviceFromSettings("x", {{"handler", {"lighttpd", at}}});
        },
        Exit::Config, "handler 'lighttpd' is not one of", "s.conf:4");
}

TEST(ReloadService, ACommandFromASecretIsRefused) {
    expectError(
        [] {
            servicesOf(
                "[service:hook]  handler = command  passwd = x  reloadcommand = run %(passwd)s");
        },
        Exit::Config, "reloadcommand is made from a secret");
}

TEST(ReloadDecide, FromTheReportOfThisRun) {
    const Service nginx =
        servicesOf("[service:nginx]  domain = a.test")[0];    // cert main, dhparam dh
    const Service rspamd = servicesOf("[service:rspamd]")[0]; // dkim mail, other
    const json::object certMain = entry("cdm-cert", "deployed", {{"cert", "main"}});
    const json::object certOther = entry("cdm-cert", "deployed", {{"cert", "other"}});
    const json::object certKept = entry("cdm-cert", "kept", {{"cert", "main"}});
    const json::object dhDeployed =
        entry("cdm-cert", "dhparam", {{"name", "dh"}, {"action", "deployed"}});
    const json::object dhKept = entry("cdm-cert", "dhparam", {{"name", "dh"}, {"action", "kept"}});
    const json::object certFailed = entry("cdm-cert", "failed", {{"cert", "main"}, {"exit", 69}});
    const json::object otherFailed = entry("cdm-cert", "failed", {{"cert", "other"}, {"exit", 69}});
    const json::object dkimDeployed =
        entry("cdm-dkim", "deployed", {{"dkim", "other"}, {"selector", "s1"}});
    const json::object dkimFailed = entry("cdm-dkim", "failed", {{"dkim", "mail"}});
    const struct {
        const char* desc;
        const Service* service;
        json::array report;
        bool all;
        Decision::Action action;
        const char* reason;
    } rows[] = {
        {"its cert deployed",
         &nginx,
         {certMain},
         false,
         Decision::Action::Reload,
         "cert:main deployed"},
        {"its dhparam deployed",
         &nginx,
         {dhDeployed},
         false,
         Decision::Action::Reload,
         "dhparam:dh deployed"},
        {"both, in report order",
         &nginx,
         {dhDeployed, certMain},
         false,
         Decision::Action::Reload,
         "dhparam:dh, cert:main deployed"},
        {"another domain's cert",
         &nginx,
         {certOther},
         false,
         Decision::Action::Skip,
         "nothing it uses changed"},
        {"kept is no change",
         &nginx,
         {certKept, dhKept},
         false,
         Decision::Action::Skip,
         "nothing it uses changed"},
        {"--all reloads without a change", &nginx, {}, true, Decision::Action::Reload, "--all"},
        {"a failed one holds it",
         &nginx,
         {dhDeployed, certFailed},
         false,
         Decision::Action::Hold,
         "cert:main failed in this run"},
        {"even with --all",
         &nginx,
         {certFailed},
         true,
         Decision::Action::Hold,
         "cert:main failed in this run"},
        {"a failure it does not wait for",
         &nginx,
         {certMain, otherFailed},
         false,
         Decision::Action::Reload,
         "cert:main deployed"},
        {"dkim deployed",
         &rspamd,
         {certMain, dkimDeployed},
         false,
         Decision::Action::Reload,
         "dkim:other deployed"},
        {"dkim failed",
         &rspamd,
         {dkimDeployed, dkimFailed},
         false,
         Decision::Action::Hold,
         "dkim:mail failed"},
        {"a cert does not touch rspamd",
         &rspamd,
         {certMain},
         false,
         Decision::Action::Skip,
         "nothing it uses changed"},
        {"a certificate checked in place is no change",
         &nginx,
         {entry("cdm-cert", "checked", {{"cert", "main"}})},
         false,
         Decision::Action::Skip,
         "nothing it uses changed"},
        {"a retried phase reloads what was deployed before",
         &nginx,
         {entry("cdm-phase", "begin", {{"phase", "rollover"}, {"retry", true}}), certKept},
         false,
         Decision::Action::Reload,
         "did not complete"},
        {"a retry still holds a failed one",
         &nginx,
         {entry("cdm-phase", "begin", {{"phase", "rollover"}, {"retry", true}}), certFailed},
         false,
         Decision::Action::Hold,
         "cert:main failed"},
        {"no retry, no reload",
         &nginx,
         {entry("cdm-phase", "begin", {{"phase", "rollover"}, {"retry", false}})},
         false,
         Decision::Action::Skip,
         "nothing it uses changed"},
    };
    for (const auto& row : rows) {
        const Decision d = cdm::reload::decide(*row.service, row.report, row.all);
        EXPECT_EQ(d.action, row.action) << row.desc;
        EXPECT_THAT(d.reason, HasSubstr(row.reason)) << row.desc;
    }
}

TEST(ReloadApply, TestFailureStopsBeforeTheReload) {
    const std::string dir = tempDir("testfail");
    const Service s = cdm::reload::serviceFromSettings(
        "hook", {{"handler", {"command", {}}},
                 {"testcommand", {"sh -c 'echo broken config >&2; exit 1'", {}}},
                 {"reloadcommand", {"touch " + dir + "/reloaded", {}}}});
    const auto o = cdm::reload::apply(s, false);
    EXPECT_EQ(o.event, "test-failed");
    EXPECT_THAT(o.reason, HasSubstr("exit status 1"));
    EXPECT_EQ(o.output, "broken config\n");
    EXPECT_FALSE(std::filesystem::exists(dir + "/reloaded"));
}

// A program that cannot be started tested nothing: a failure to run (69), not a rejected
// configuration (78). Under cron, PATH lacks /usr/sbin, where nginx and postfix live.
TEST(ReloadApply, ATestProgramThatCannotRunIsAFailureNotATestFailure) {
    const std::string dir = tempDir("notfound");
    const Service s = cdm::reload::serviceFromSettings(
        "hook", {{"handler", {"command", {}}},
                 {"testcommand", {"cdm-no-such-program -t", {}}},
                 {"reloadcommand", {"touch " + dir + "/reloaded", {}}}});
    const auto o = cdm::reload::apply(s, false);
    EXPECT_EQ(o.event, "failed");
    EXPECT_THAT(o.reason, HasSubstr("configuration test could not run: unable to run "
                                    "'cdm-no-such-program': No such file or directory"));
    EXPECT_THAT(o.reason, HasSubstr("program 'cdm-no-such-program' not found on PATH"));
    EXPECT_THAT(o.reason, HasSubstr("cron's PATH may lack /usr/sbin"));
    EXPECT_THAT(o.reason, HasSubstr("; not reloaded"));
    EXPECT_FALSE(std::filesystem::exists(dir + "/reloaded"));

    // A reload program that is missing: failed as well, with the same hint; a full path names
    // the file without the PATH hint.
    const Service r = cdm::reload::serviceFromSettings(
        "hook", {{"handler", {"command", {}}},
                 {"testcommand", {"none", {}}},
                 {"reloadcommand", {dir + "/no-such-reload", {}}}});
    const auto ro = cdm::reload::apply(r, false);
    EXPECT_EQ(ro.event, "failed");
    EXPECT_THAT(ro.reason, HasSubstr("reload failed: unable to run '" + dir + "/no-such-reload'"));
    EXPECT_THAT(ro.reason, HasSubstr("(program '" + dir + "/no-such-reload' not found)"));
}

TEST(ReloadRun, ATestProgramThatCannotRunExits69) {
    const std::string dir = tempDir("notfoundrun");
    json::object doc = documentOf(std::string(baseConfig) +
                                  "[service:web]  handler = nginx  domain = a.test  "
                                  "testcommand = cdm-no-such-program -t  reloadcommand = touch " +
                                  dir + "/web  ");
    doc["report"] = json::array{entry("cdm-cert", "deployed", {{"cert", "main"}})};
    const auto result = cdm::reload::run({doc, {}, false, false});
    const auto& report = result.document.at("report").as_array();
    ASSERT_EQ(report.size(), 2U);
    EXPECT_EQ(report[1].at("event").as_string(), "failed");
    EXPECT_THAT(std::string(report[1].at("reason").as_string()),
                HasSubstr("configuration test could not run"));
    ASSERT_TRUE(result.failure);
    EXPECT_EQ(result.failure->code(), Exit::Unavailable);
    EXPECT_THAT(result.failure->what(), HasSubstr("not reloaded: web"));
    EXPECT_FALSE(std::filesystem::exists(dir + "/web"));
}

TEST(ReloadApply, ReloadRunsWithoutAShell) {
    const std::string dir = tempDir("noshell");
    const Service s = cdm::reload::serviceFromSettings(
        "hook",
        {{"handler", {"command", {}}}, {"reloadcommand", {"echo x; touch " + dir + "/pwned", {}}}});
    const auto o = cdm::reload::apply(s, false);
    EXPECT_EQ(o.event, "reloaded") << o.reason;
    EXPECT_FALSE(std::filesystem::exists(dir + "/pwned"));
}

TEST(ReloadApply, NotRunningIsStarted) {
    const std::string dir = tempDir("start");
    const Service s = cdm::reload::serviceFromSettings(
        "hook", {{"handler", {"command", {}}},
                 {"statuscommand", {"test -e " + dir + "/running", {}}},
                 {"startcommand", {"touch " + dir + "/running", {}}},
                 {"reloadcommand", {"touch " + dir + "/reloaded", {}}}});
    auto o = cdm::reload::apply(s, false);
    EXPECT_EQ(o.event, "started") << o.reason;
    EXPECT_FALSE(std::filesystem::exists(dir + "/reloaded"));
    o = cdm::reload::apply(s, false);
    EXPECT_EQ(o.event, "reloaded") << o.reason;
    EXPECT_TRUE(std::filesystem::exists(dir + "/reloaded"));
}

TEST(ReloadApply, AStalePidFileMeansNotRunning) {
    const std::string dir = tempDir("pidfile");
    std::ofstream(dir + "/stale.pid") << "999999999\n";
    const Service s = cdm::reload::serviceFromSettings(
        "hook", {{"handler", {"command", {}}},
                 {"pidfile", {dir + "/stale.pid", {}}},
                 {"startcommand", {"touch " + dir + "/started", {}}}});
    const auto o = cdm::reload::apply(s, false);
    EXPECT_EQ(o.event, "started") << o.reason;
    EXPECT_THAT(o.reason, HasSubstr("process 999999999 of pid file"));
    EXPECT_TRUE(std::filesystem::exists(dir + "/started"));
}

TEST(ReloadApply, RestartWhenTheReloadFails) {
    const std::string dir = tempDir("restart");
    cdm::reload::Settings settings = {{"handler", {"command", {}}},
                                      {"reloadcommand", {"false", {}}},
                                      {"restartcommand", {"touch " + dir + "/restarted", {}}}};
    auto o = cdm::reload::apply(cdm::reload::serviceFromSettings("hook", settings), false);
    EXPECT_EQ(o.event, "failed");
    EXPECT_THAT(o.reason, HasSubstr("reload failed: false: exit status 1"));
    EXPECT_FALSE(std::filesystem::exists(dir + "/restarted"));
    settings["restart"] = {"auto", {}};
    o = cdm::reload::apply(cdm::reload::serviceFromSettings("hook", settings), false);
    EXPECT_EQ(o.event, "restarted") << o.reason;
    EXPECT_TRUE(std::filesystem::exists(dir + "/restarted"));
}

TEST(ReloadApply, TimeoutKillsTheCommand) {
    const Service s = cdm::reload::serviceFromSettings("hook", {{"handler", {"command", {}}},
                                                                {"reloadcommand", {"sleep 60", {}}},
                                                                {"timeout", {"1", {}}}});
    const auto o = cdm::reload::apply(s, false);
    EXPECT_EQ(o.event, "failed");
    EXPECT_THAT(o.reason, HasSubstr("sleep 60: timed out, killed by signal 15 (TERM) after 1 s"));
}

TEST(ReloadApply, DryRunRunsNothing) {
    const std::string dir = tempDir("dryrun");
    const Service s = cdm::reload::serviceFromSettings(
        "nginx", {{"testcommand", {"touch " + dir + "/tested", {}}}});
    const auto o = cdm::reload::apply(s, true);
    EXPECT_EQ(o.event, "dry-run");
    EXPECT_THAT(o.commands, ElementsAre("touch " + dir + "/tested", "systemctl reload nginx"));
    EXPECT_FALSE(std::filesystem::exists(dir + "/tested"));
}

TEST(ReloadRun, ReportsEveryServiceAndExitsByTheWorstOutcome) {
    const std::string dir = tempDir("run");
    json::object doc =
        documentOf(std::string(baseConfig) +
                   "[service:web]  handler = command  domain = a.test  testcommand = false  "
                   "reloadcommand = touch " +
                   dir +
                   "/web  "
                   "[service:mail]  handler = command  domain = b.test  reloadcommand = touch " +
                   dir +
                   "/mail  "
                   "[service:rspamd]  reloadcommand = touch " +
                   dir + "/rspamd  testcommand = none  ");
    doc["report"] = json::array{entry("cdm-cert", "deployed", {{"cert", "main"}}),
                                entry("cdm-cert", "failed", {{"cert", "other"}})};
    auto result = cdm::reload::run({doc, {}, false, false});
    const auto& report = result.document.at("report").as_array();
    ASSERT_EQ(report.size(), 5U);
    EXPECT_EQ(report[2].at("event").as_string(), "test-failed");
    EXPECT_EQ(report[2].at("service").as_string(), "web");
    EXPECT_EQ(report[3].at("event").as_string(), "held");
    EXPECT_EQ(report[3].at("service").as_string(), "mail");
    EXPECT_EQ(report[4].at("event").as_string(), "skipped");
    EXPECT_EQ(report[4].at("waits").at("dkim").as_array().size(), 2U);
    ASSERT_TRUE(result.failure);
    EXPECT_EQ(result.failure->code(), Exit::Config);
    EXPECT_THAT(result.failure->what(),
                HasSubstr("configuration test failed for web; not reloaded: mail"));
    EXPECT_FALSE(std::filesystem::exists(dir + "/web"));
    EXPECT_FALSE(std::filesystem::exists(dir + "/mail"));

    // Only a hold: 69. Nothing to do: no failure.
    result = cdm::reload::run({doc, {"mail"}, false, false});
    ASSERT_TRUE(result.failure);
    EXPECT_EQ(result.failure->code(), Exit::Unavailable);
    result = cdm::reload::run({doc, {"rspamd"}, false, false});
    EXPECT_FALSE(result.failure);
    result = cdm::reload::run({doc, {"rspamd"}, true, false});
    EXPECT_FALSE(result.failure);
    EXPECT_EQ(result.document.at("report").as_array().back().at("event").as_string(), "reloaded");
    EXPECT_TRUE(std::filesystem::exists(dir + "/rspamd"));
}

TEST(ReloadApply, AnEmptyPidFileMeansNotRunning) {
    const std::string dir = tempDir("emptypid");
    std::ofstream(dir + "/empty.pid").flush();
    const Service s = cdm::reload::serviceFromSettings(
        "hook", {{"handler", {"command", {}}}, {"pidfile", {dir + "/empty.pid", {}}}});
    const auto o = cdm::reload::apply(s, false);
    // No startcommand and no unit: nothing can start it.
    EXPECT_EQ(o.event, "failed");
    EXPECT_THAT(o.reason, HasSubstr("pid file '" + dir +
                                    "/empty.pid' is empty; no startcommand or unit to start it"));
}

// Material deployed that no service waits for is named: the old one stays in some server's
// memory until that server is reloaded, and cleanup is about to remove the old records.
TEST(ReloadRun, DeployedMaterialThatNoServiceWaitsForIsWarnedAbout) {
    const std::string dir = tempDir("unserved");
    const json::object doc = documentOf(std::string(baseConfig) +
                                        "[service:web]  handler = command  domain = a.test  depends = cert  "
                                        "testcommand = none  reloadcommand = touch " + dir + "/web  ");
    json::object withReport = doc;
    withReport["report"] = json::array{entry("cdm-cert", "deployed", {{"cert", "main"}}),
                                       entry("cdm-cert", "deployed", {{"cert", "other"}}),
                                       entry("cdm-dkim", "deployed", {{"dkim", "mail"}, {"selector", "s1"}})};
    cdm::test::LogCapture log;
    const auto result = cdm::reload::run({withReport, {}, false, false});
    EXPECT_FALSE(result.failure);
    std::vector<std::string> unserved;
    for (const auto& e : result.document.at("report").as_array()) {
        if (e.at("event") == "unserved") {
            const auto& o = e.as_object();
            unserved.push_back(o.contains("cert") ? "cert:" + std::string(o.at("cert").as_string())
                                                  : "dkim:" + std::string(o.at("dkim").as_string()));
        }
    }
    EXPECT_THAT(unserved, ElementsAre("cert:other", "dkim:mail")) << "web waits for cert:main only";
    EXPECT_THAT(log.all(), HasSubstr("[cert:other] was deployed, but no [service] section waits for it"));
    EXPECT_TRUE(std::filesystem::exists(dir + "/web"));
}

// cdm-reload --handler: the flags are the keys of one [service] section.
TEST(ReloadStandalone, FlagsAreTheKeysOfOneService) {
    std::vector<std::string> keys;
    for (const auto& f : cdm::reload::standaloneFlags()) {
        keys.emplace_back(f.key);
    }
    EXPECT_THAT(keys, ElementsAre("handler", "testcommand", "reloadcommand", "pidfile", "signal",
                                  "unit", "statuscommand", "startcommand", "restartcommand",
                                  "restart", "timeout"));

    const std::string dir = tempDir("standalone");
    const auto o = cdm::reload::runStandalone({{"handler", "command"},
                                               {"test-command", "touch " + dir + "/tested"},
                                               {"reload-command", "touch " + dir + "/reloaded"}},
                                              false);
    EXPECT_EQ(o.event, "reloaded") << o.reason;
    EXPECT_TRUE(std::filesystem::exists(dir + "/tested"));
    EXPECT_TRUE(std::filesystem::exists(dir + "/reloaded"));

    const auto dry = cdm::reload::runStandalone({{"handler", "nginx"}}, true);
    EXPECT_EQ(dry.event, "dry-run");
    EXPECT_THAT(dry.commands, ElementsAre("nginx -t -q", "systemctl reload nginx"));
}

TEST(ReloadStandalone, OutcomesBecomeExitCodes) {
    const std::string dir = tempDir("standalone-exit");
    const struct {
        const char* desc;
        std::map<std::string, std::string> flags;
        Exit code;
        std::string message;
        std::string where;
    } rows[] = {
        {"a test that ran and failed: 78", {{"handler", "command"}, {"test-command", "false"},
                                            {"reload-command", "touch " + dir + "/x"}},
         Exit::Config, "configuration test failed: false: exit status 1; not reloaded", ""},
        {"a test that could not start: 69", {{"handler", "command"},
                                             {"test-command", "cdm-no-such-program"},
                                             {"reload-command", "touch " + dir + "/x"}},
         Exit::Unavailable, "cron's PATH may lack /usr/sbin", ""},
        {"a failed reload: 69", {{"handler", "command"}, {"test-command", "none"},
                                 {"reload-command", "false"}},
         Exit::Unavailable, "reload failed: false: exit status 1", ""},
        {"a bad value names its flag", {{"handler", "command"}, {"reload-command", "true"},
                                        {"restart", "sometimes"}},
         Exit::Config, "restart 'sometimes' is not yes, no or auto", "--restart"},
        {"an unknown handler", {{"handler", "lighttpd"}}, Exit::Config,
         "handler 'lighttpd' is not one of", "--handler"},
        {"no handler", {{"reload-command", "true"}}, Exit::Usage, "needs --handler", ""},
        {"not a standalone flag", {{"handler", "nginx"}, {"service", "web"}}, Exit::Usage,
         "--service is not a standalone flag", ""},
    };
    for (const auto& row : rows) {
        SCOPED_TRACE(row.desc);
        expectError([&] { cdm::reload::runStandalone(row.flags, false); }, row.code, row.message,
                    row.where);
    }
    EXPECT_FALSE(std::filesystem::exists(dir + "/x"));
}
