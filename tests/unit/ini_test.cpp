// Tests of libcommon/ini: the configparser rules of reference §2.1.

#include <fstream>
#include <sys/stat.h>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/test_util.hpp"

#include "libcommon/ini.hpp"
#include "libcommon/log.hpp"

using cdm::Error;
using cdm::Exit;
using cdm::ini::Ini;
using testing::HasSubstr;

namespace {

std::string value(const Ini& ini, const std::string& section, const std::string& key) {
    const auto* s = ini.find(section);
    if (s == nullptr) {
        return "<no section>";
    }
    const auto* e = s->find(key);
    if (e == nullptr) {
        e = ini.defaults().find(key);
    }
    return e == nullptr ? "<no key>" : ini.interpolate(*s, *e);
}

Ini read(const std::string& text) {
    Ini ini;
    ini.readString(text, "t.conf");
    return ini;
}

using cdm::test::LogCapture;

struct SyntaxCase {
    const char* desc;
    const char* text;
    const char* section;
    const char* key;
    const char* expected;
};

} // namespace

TEST(IniSyntax, ReadsValuesAsConfigparserDoes) {
    const SyntaxCase cases[] = {
        {"equals sign", "[s]\na = 1\n", "s", "a", "1"},
        {"colon", "[s]\na : 1\n", "s", "a", "1"},
        {"first of = and : splits", "[s]\ntlsa = auto:3:1:1\n", "s", "tlsa", "auto:3:1:1"},
        {"colon before equals", "[s]\nurl: http://x/?a=b\n", "s", "url", "http://x/?a=b"},
        {"key lower-cased", "[s]\nSigningConfDestinationFile = /x\n", "s",
         "signingconfdestinationfile", "/x"},
        {"whitespace stripped", "[s]\n   a   =   v w   \n", "s", "a", "v w"},
        {"empty value", "[s]\nacme =\n", "s", "acme", ""},
        {"no inline comments", "[s]\na = 1 # not a comment\n", "s", "a", "1 # not a comment"},
        {"continuation line", "[s]\na = one\n  two\n", "s", "a", "one\ntwo"},
        {"empty line inside a value", "[s]\na = one\n\n  two\n", "s", "a", "one\n\ntwo"},
        {"trailing empty lines dropped", "[s]\na = one\n  two\n\n\n", "s", "a", "one\ntwo"},
        {"comment inside a value skipped", "[s]\na = one\n  # c\n  two\n", "s", "a", "one\ntwo"},
        {"semicolon comment", "[s]\n; a = 2\na = 1\n", "s", "a", "1"},
        {"indented comment", "[s]\n   # a = 2\na = 1\n", "s", "a", "1"},
        {"indented section header", " [s] \n statedir = /blub \n ", "s", "statedir", "/blub"},
        {"section name keeps case", "[Domain:Ex.Test]\na = 1\n", "Domain:Ex.Test", "a", "1"},
        {"[DEFAULT] feeds sections", "[DEFAULT]\nx = 5\n[s]\n", "s", "x", "5"},
        {"section wins over [DEFAULT]", "[DEFAULT]\nx = 5\n[s]\nx = 6\n", "s", "x", "6"},
        {"double percent", "[s]\np = 50%%\n", "s", "p", "50%"},
        {"interpolation", "[s]\nbase = /etc\nfile = %(base)s/x\n", "s", "file", "/etc/x"},
        {"interpolation key lower-cased", "[s]\nbase = /etc\nfile = %(BASE)s/x\n", "s", "file",
         "/etc/x"},
        {"interpolation from [DEFAULT]", "[DEFAULT]\nd = /d\n[s]\nf = %(d)s/f\n", "s", "f", "/d/f"},
        {"nested interpolation", "[s]\na = 1\nb = %(a)s2\nc = %(b)s3\n", "s", "c", "123"},
        {"CRLF line ends", "[s]\r\na = 1\r\n", "s", "a", "1"},
        {"header with text after it", "[s] trailing\na = 1\n", "s", "a", "1"},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(value(read(c.text), c.section, c.key), c.expected) << c.desc;
    }
}

TEST(IniSyntax, LonePercentIsLiteralWithAWarning) {
    LogCapture log;
    const Ini ini = read("[domain]\npasswd = ab%cd\n");
    EXPECT_EQ(value(ini, "domain", "passwd"), "ab%cd");
    EXPECT_EQ(value(ini, "domain", "passwd"), "ab%cd");
    ASSERT_EQ(log.lines.size(), 1U) << "one warning per location, however often it is read";
    EXPECT_THAT(log.lines[0], HasSubstr("t.conf:2: '%' in the value of 'passwd' taken literally"));
    EXPECT_THAT(log.lines[0], testing::Not(HasSubstr("ab%cd"))) << "a secret is never logged";
}

TEST(IniSyntax, MissingInterpolationReferenceIsAnError) {
    const Ini ini = read("[s]\na = %(nothere)s\n");
    try {
        value(ini, "s", "a");
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Exit::Config);
        EXPECT_THAT(e.what(), HasSubstr("t.conf:2"));
        EXPECT_THAT(e.what(), HasSubstr("nothere"));
    }
}

TEST(IniSyntax, InterpolationLoopIsAnError) {
    const Ini ini = read("[s]\na = %(b)s\nb = %(a)s\n");
    EXPECT_THROW(value(ini, "s", "a"), Error);
}

struct ErrorCase {
    const char* desc;
    std::string text;
    Exit code;
    const char* where;
    const char* message;
};

TEST(IniErrors, NameFileLineAndProblem) {
    const ErrorCase cases[] = {
        {"key before any section", "a = 1\n", Exit::Config, "t.conf:1", "before the first [section]"},
        {"line without delimiter", "[s]\njust words\n", Exit::Config, "t.conf:2",
         "expected 'key = value'"},
        {"value without key", "[s]\n= 5\n", Exit::Config, "t.conf:2", "without a key"},
        {"duplicate section in one source", "[s]\na = 1\n[s]\nb = 2\n", Exit::Config, "t.conf:3",
         "section 's' appears twice"},
        {"conflicting duplicate key", "[s]\na = 1\na = 2\n", Exit::Config, "t.conf:3",
         "first at line 2"},
        {"unclosed header", "[s\n", Exit::Config, "t.conf:1", "malformed section header"},
        {"binary data", std::string("[s]\na = 1\n\0\x01\x02", 13), Exit::DataErr, "t.conf:3",
         "binary data"},
    };
    for (const auto& c : cases) {
        Ini ini;
        try {
            ini.readString(c.text, "t.conf");
            ADD_FAILURE() << c.desc << ": no error";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), c.code) << c.desc;
            EXPECT_THAT(e.what(), HasSubstr(c.where)) << c.desc;
            EXPECT_THAT(e.what(), HasSubstr(c.message)) << c.desc;
        }
    }
}

TEST(IniErrors, AnErrorLeavesEarlierSourcesUntouched) {
    Ini ini;
    ini.readString("[s]\na = 1\n", "first.conf");
    EXPECT_THROW(ini.readString("[s]\na = 2\nbroken\n", "second.conf"), Error);
    EXPECT_EQ(value(ini, "s", "a"), "1");
    EXPECT_EQ(ini.sources().size(), 1U);
}

TEST(IniErrors, TooLargeSourceIsRefused) {
    Ini ini;
    const std::string big(cdm::ini::maxSourceBytes + 1, '#');
    try {
        ini.readString(big, "big.conf");
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Exit::DataErr);
        EXPECT_THAT(e.what(), HasSubstr("big.conf"));
    }
}

TEST(IniErrors, MissingFileIsNoInput) {
    Ini ini;
    try {
        ini.readFile("/nonexistent/cdm.conf");
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Exit::NoInput);
        EXPECT_THAT(e.what(), HasSubstr("/nonexistent/cdm.conf"));
    }
}

TEST(IniDuplicates, SameValueRepeatedIsAWarning) {
    // The original's own example.conf repeats `cert = maincert` in one section.
    LogCapture log;
    const Ini ini = read("[domain:a.test]\ncert = main\nip4 = auto\ncert = main\n");
    EXPECT_EQ(value(ini, "domain:a.test", "cert"), "main");
    ASSERT_EQ(log.lines.size(), 1U);
    EXPECT_THAT(log.lines[0], HasSubstr("t.conf:4: key 'cert'"));
}

TEST(IniMerge, LaterSourceWinsKeyByKey) {
    // testTestDefaultSectionSimpleOverwrite of the original.
    Ini ini;
    ini.readString("[test]\nx=3\ny=1\n", "a.conf");
    ini.readString("[test]\nx=4\n", "b.conf");
    EXPECT_EQ(value(ini, "test", "x"), "4");
    EXPECT_EQ(value(ini, "test", "y"), "1");
    EXPECT_EQ(ini.find("test")->find("x")->where.toString(), "b.conf:2");
    // A section repeated across sources is merged, not an error.
    EXPECT_EQ(ini.sections().size(), 1U);
}

TEST(IniMerge, KeyKeepsItsFirstPosition) {
    Ini ini;
    ini.readString("[s]\na=1\nb=2\n", "a.conf");
    ini.readString("[s]\na=3\n", "b.conf");
    const auto& entries = ini.find("s")->entries;
    ASSERT_EQ(entries.size(), 2U);
    EXPECT_EQ(entries[0].key, "a");
    EXPECT_EQ(entries[0].value, "3");
}

TEST(IniFile, ReadsAFileFromDisk) {
    const std::string path = testing::TempDir() + "/ini_test.conf";
    {
        std::ofstream out(path);
        out << "[cdm]\nstatedir = /var/x\n";
    }
    Ini ini;
    ini.readFile(path);
    EXPECT_EQ(value(ini, "cdm", "statedir"), "/var/x");
    EXPECT_EQ(ini.find("cdm")->find("statedir")->where.toString(), path + ":2");
}

TEST(ConfigContent, RunsOfSpacesBecomeNewlines) {
    EXPECT_EQ(cdm::ini::expandConfigContent("[cdm]  statedir=/x  [domain:a.de]  ip4=auto"),
              "[cdm]\nstatedir=/x\n[domain:a.de]\nip4=auto");
    EXPECT_EQ(cdm::ini::expandConfigContent("[cdm]    postwait=5"), "[cdm]\npostwait=5");
    EXPECT_EQ(cdm::ini::expandConfigContent("a = b c"), "a = b c") << "single spaces stay";
    EXPECT_EQ(cdm::ini::expandConfigContent("[cdm]\nstatedir=/x"), "[cdm]\nstatedir=/x");

    Ini ini;
    ini.readString(cdm::ini::expandConfigContent("[cdm]  statedir=/x  [domain:a.de]  ip4=auto"),
                   "<config-content>");
    EXPECT_EQ(value(ini, "domain:a.de", "ip4"), "auto");
    EXPECT_EQ(value(ini, "cdm", "statedir"), "/x");
}

// A configuration other local users can read must not hold a secret unnoticed: the warning
// names the file and the keys, never a value (issue 7).
TEST(IniSecrets, FileReadableByOthersWithASecretIsWarnedAboutByKeyNotValue) {
    const std::string path = testing::TempDir() + "/ini_secret_test.conf";
    {
        std::ofstream out(path);
        out << "[DEFAULT]\ntoken = tok-value-1\n[domain:a.test]\nuser = u\npasswd = pw-value-2\n"
               "apikey_file = /etc/cdm/key\n[cert:x]\neab_hmac_key = hmac-value-3\n";
    }
    Ini ini;
    ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
    {
        cdm::test::LogCapture log;
        ini.readFile(path);
        ASSERT_EQ(log.lines.size(), 1U) << log.all();
        const std::string& line = log.lines.front();
        EXPECT_THAT(line, HasSubstr(path + ": readable by group or others (mode 0644)"));
        EXPECT_THAT(line, HasSubstr("'token' (line 2), 'passwd' (line 5), 'eab_hmac_key' (line 8)"));
        EXPECT_THAT(line, testing::Not(HasSubstr("apikey_file"))) << "a file name is no secret";
        for (const char* secret : {"tok-value-1", "pw-value-2", "hmac-value-3"}) {
            EXPECT_THAT(line, testing::Not(HasSubstr(secret)));
        }
    }
    for (const mode_t mode : {0600, 0640, 0604}) {
        ASSERT_EQ(::chmod(path.c_str(), mode), 0);
        cdm::test::LogCapture log;
        Ini again;
        again.readFile(path);
        EXPECT_EQ(log.lines.size(), mode == 0600 ? 0U : 1U) << std::oct << mode << ": " << log.all();
    }
}

TEST(IniSecrets, FileReadableByOthersWithoutASecretIsNotWarnedAbout) {
    const std::string path = testing::TempDir() + "/ini_nosecret_test.conf";
    {
        std::ofstream out(path);
        out << "[domain:a.test]\npasswd_file = /etc/cdm/pw\npasswd =\ntxt.token = abc\n";
    }
    ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
    cdm::test::LogCapture log;
    Ini ini;
    ini.readFile(path);
    EXPECT_TRUE(log.lines.empty()) << log.all();
    EXPECT_TRUE(ini.secretsFrom(path).empty());
}
