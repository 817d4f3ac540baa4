// Tests of libcommon/command: splitting a command string without a shell, and running it.

#include <csignal>
#include <filesystem>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <string>
#include <unistd.h>
#include <vector>

#include "libcommon/command.hpp"

using cdm::Error;
using cdm::Exit;
using cdm::command::Options;
using cdm::command::run;
using cdm::command::splitWords;
using cdm::command::toText;
using testing::ElementsAre;
using testing::HasSubstr;

namespace {

using Words = std::vector<std::string>;

struct SplitCase {
    const char* desc;
    const char* text;
    Words words;
};

const SplitCase splitCases[] = {
    {"plain words", "nginx -t -q", {"nginx", "-t", "-q"}},
    {"runs of blanks and tabs", "  a \t b\n c  ", {"a", "b", "c"}},
    {"a semicolon is part of a word", "echo x; touch pwned", {"echo", "x;", "touch", "pwned"}},
    {"operators are plain characters",
     "a|b && c > d < e &",
     {"a|b", "&&", "c", ">", "d", "<", "e", "&"}},
    {"no variable, command or glob expansion",
     "echo $HOME `id` $(id) * ~",
     {"echo", "$HOME", "`id`", "$(id)", "*", "~"}},
    {"single quotes keep everything", "a 'b c' '\\n \"x\"'", {"a", "b c", "\\n \"x\""}},
    {"double quotes keep blanks", "a \"b  c\"", {"a", "b  c"}},
    {"double quotes: backslash before \" \\ $ `", R"(x "a\"b\\c\$d\`e")", {"x", "a\"b\\c$d`e"}},
    {"double quotes: other backslashes stay", R"(x "a\nb")", {"x", "a\\nb"}},
    {"backslash outside quotes", R"(a\ b c\;d \')", {"a b", "c;d", "'"}},
    {"line continuation", "a \\\nb", {"a", "b"}},
    {"quotes join with the word around them", "pre'mid'\"dle\"post", {"premiddlepost"}},
    {"empty quoted words are words", "a '' \"\"", {"a", "", ""}},
};

class SplitWords : public testing::TestWithParam<SplitCase> {};

TEST_P(SplitWords, AsShWouldWithoutExpanding) {
    const SplitCase& row = GetParam();
    EXPECT_EQ(splitWords(row.text), row.words) << row.desc;
    // toText quotes so that the words read back unchanged.
    EXPECT_EQ(splitWords(toText(row.words)), row.words) << row.desc << ": " << toText(row.words);
}

INSTANTIATE_TEST_SUITE_P(Cases, SplitWords, testing::ValuesIn(splitCases));

TEST(SplitWordsErrors, NameTheProblemAndWhere) {
    const struct {
        const char* desc;
        const char* text;
        const char* message;
    } rows[] = {
        {"unterminated single quote", "echo 'a", "unterminated ' quote"},
        {"unterminated double quote", "echo \"a", "unterminated \" quote"},
        {"trailing backslash", "echo a\\", "ends in a backslash"},
        {"nothing", "  \t ", "empty command"},
    };
    for (const auto& row : rows) {
        try {
            splitWords(row.text, cdm::Location{"f.conf", 7, ""});
            ADD_FAILURE() << row.desc << ": no error";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Exit::Config) << row.desc;
            EXPECT_THAT(e.what(), HasSubstr(row.message)) << row.desc;
            EXPECT_EQ(e.where().toString(), "f.conf:7") << row.desc;
        }
    }
}

TEST(ToText, PlainWordsStayPlain) {
    EXPECT_EQ(toText({"nginx", "-t", "-q"}), "nginx -t -q");
    EXPECT_EQ(toText({"echo", "it's", "a;b", ""}), "echo 'it'\\''s' 'a;b' ''");
}

TEST(Run, CapturesStdoutAndStderrApartAndTheExitStatus) {
    const auto r = run({"sh", "-c", "echo out; echo err >&2; exit 3"});
    EXPECT_EQ(r.out, "out\n");
    EXPECT_EQ(r.err, "err\n");
    EXPECT_EQ(r.status, 3);
    EXPECT_EQ(r.signal, 0);
    EXPECT_FALSE(r.timedOut);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.describe(), "exit status 3");
    EXPECT_TRUE(run({"true"}).ok());
}

TEST(Run, ASemicolonNeverReachesAShell) {
    const std::string dir = testing::TempDir() + "/command-semicolon";
    std::filesystem::create_directories(dir);
    const auto r = run(splitWords("echo x; touch " + dir + "/pwned"));
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.out, "x; touch " + dir + "/pwned\n");
    EXPECT_FALSE(std::filesystem::exists(dir + "/pwned"));
}

TEST(Run, ReportsTheSignalThatEndedIt) {
    const auto r = run({"sh", "-c", "kill -KILL $$"});
    EXPECT_EQ(r.status, -1);
    EXPECT_EQ(r.signal, SIGKILL);
    EXPECT_FALSE(r.timedOut);
    EXPECT_EQ(r.describe(), "killed by signal 9 (KILL)");
}

// libcommon/reload reports this as "not found; cron's PATH may lack /usr/sbin": the code and the
// strerror text are what it goes by.
TEST(Run, AMissingProgramIsUnavailable) {
    try {
        run({"cdm-no-such-program-here", "x"});
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Exit::Unavailable);
        EXPECT_THAT(e.what(), HasSubstr("unable to run 'cdm-no-such-program-here'"));
        EXPECT_THAT(e.what(), HasSubstr("No such file or directory"));
    }
    EXPECT_THROW(run({}), Error);
}

TEST(Run, TimeoutSendsTerm) {
    Options o;
    o.timeout = std::chrono::milliseconds(200);
    const auto r = run({"sleep", "30"}, o);
    EXPECT_TRUE(r.timedOut);
    EXPECT_EQ(r.signal, SIGTERM);
    EXPECT_EQ(r.describe(), "timed out, killed by signal 15 (TERM)");
}

TEST(Run, TimeoutSendsKillWhenTermIsIgnored) {
    Options o;
    o.timeout = std::chrono::seconds(1);
    o.killAfter = std::chrono::milliseconds(300);
    const auto r = run({"env", "--ignore-signal=TERM", "sleep", "30"}, o);
    EXPECT_TRUE(r.timedOut);
    EXPECT_EQ(r.signal, SIGKILL);
    EXPECT_EQ(r.describe(), "timed out, killed by signal 9 (KILL)");
}

TEST(Run, TheTimeoutSignalsTheWholeProcessGroup) {
    Options o;
    o.timeout = std::chrono::seconds(2);
    o.killAfter = std::chrono::seconds(20);
    // The program survives TERM (a handler that does nothing) and waits for its own child:
    // only a TERM sent to the whole group ends that child, and then the program exits 0.
    const auto r = run({"python3", "-c",
                        "import signal, subprocess\n"
                        "signal.signal(signal.SIGTERM, lambda *a: None)\n"
                        "p = subprocess.Popen(['sleep', '30'])\n"
                        "print('child', p.wait(), flush=True)\n"},
                       o);
    EXPECT_TRUE(r.timedOut);
    EXPECT_EQ(r.status, 0) << r.describe();
    EXPECT_EQ(r.out, "child -15\n");
}

TEST(Run, IgnoredSignalsOfTheCallerAreNotInherited) {
    struct sigaction old {};
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGTERM, &ignore, &old);
    Options o;
    o.timeout = std::chrono::milliseconds(200);
    const auto r = run({"sleep", "30"}, o);
    sigaction(SIGTERM, &old, nullptr);
    EXPECT_EQ(r.signal, SIGTERM);
}

TEST(Run, OutputIsBounded) {
    Options o;
    o.outputLimit = 1000;
    const auto r = run({"head", "-c", "300000", "/dev/zero"}, o);
    EXPECT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.out.size(), 1000U);
    EXPECT_TRUE(r.truncated);
    EXPECT_FALSE(run({"echo", "a"}).truncated);
}

TEST(Run, StdinIsEmptyAndTheEnvironmentCanBeGiven) {
    EXPECT_EQ(run({"cat"}).out, "");
    Options o;
    o.environment = std::vector<std::string>{"CDM_A=1", "PATH=/usr/bin:/bin"};
    EXPECT_EQ(run({"env"}, o).out, "CDM_A=1\nPATH=/usr/bin:/bin\n");
}

TEST(Run, ADaemonLeftHoldingThePipesDoesNotKeepItWaiting) {
    Options o;
    o.timeout = std::chrono::seconds(20);
    const auto r = run({"sh", "-c", "sleep 30 & echo $!"}, o);
    EXPECT_TRUE(r.ok()) << r.describe();
    EXPECT_FALSE(r.timedOut);
    const pid_t daemon = std::stoi(r.out);
    EXPECT_EQ(::kill(daemon, SIGKILL), 0);
}

} // namespace

TEST(Run, OnlyStdinStdoutAndStderrArePassedOn) {
    const int fd = ::dup(STDERR_FILENO); // without close-on-exec
    ASSERT_GE(fd, 3);
    const auto r = run({"ls", "/proc/self/fd"});
    ::close(fd);
    // ls itself opens one descriptor for the directory it lists.
    EXPECT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.out, "0\n1\n2\n3\n");
}
