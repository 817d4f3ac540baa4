// Tests of libcommon/config: section types and default inheritance (reference §2.2-§2.8).
// The inheritance cases are the original's test/modules/test/test_confighandlertest.py and
// the per-module default tests (test_confighandler{cdm,cert,dkim,dhparam,service}.py).

#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libcommon/config.hpp"

using cdm::Error;
using cdm::Exit;
using cdm::config::Config;
using cdm::config::Section;
using cdm::config::SectionType;
using testing::HasSubstr;

namespace {

using Map = std::map<std::string, std::string>;

Map toMap(const Section& s) {
    Map out;
    for (const auto& v : s.values) {
        out[v.key] = v.value;
    }
    return out;
}

Config load(const std::vector<std::string>& contents) {
    cdm::ini::Ini ini;
    int n = 0;
    for (const auto& c : contents) {
        ini.readString(c, "c" + std::to_string(++n));
    }
    return cdm::config::load(ini);
}

Map section(const Config& c, SectionType type, const std::string& name) {
    const Section* s = c.find(type, name);
    return s == nullptr ? Map{{"<missing>", name}} : toMap(*s);
}

// The original's [test] module had the built-in defaults defaultx=23, defaulty=42. It is not
// a section type of cdm, so its cases run through resolve() with the same layers load() uses.
Map resolveTest(const std::vector<std::string>& contents, const std::string& name) {
    cdm::ini::Ini ini;
    int n = 0;
    for (const auto& c : contents) {
        ini.readString(c, "c" + std::to_string(++n));
    }
    static const std::vector<std::pair<std::string, std::string>> builtin = {
        {"defaultx", "23"}, {"defaulty", "42"}};
    std::vector<cdm::config::Layer> layers;
    if (name != "DEFAULT") {
        layers.push_back({"[test:" + name + "]", ini.find("test:" + name), nullptr});
    }
    layers.push_back({"[test]", ini.find("test"), nullptr});
    layers.push_back({"[DEFAULT]", &ini.defaults(), nullptr});
    layers.push_back({"built-in", nullptr, &builtin});
    std::vector<cdm::config::Layer> present;
    for (const auto& l : layers) {
        if (l.section != nullptr || l.builtin != nullptr) {
            present.push_back(l);
        }
    }
    return toMap(cdm::config::resolve(ini, SectionType::Cdm, name, present));
}

} // namespace

// test_confighandlertest.py
TEST(ConfigInheritance, OriginalTestModuleCases) {
    struct Case {
        const char* desc;
        std::vector<std::string> contents;
        const char* name;
        Map expected;
    };
    const Case cases[] = {
        {"testTestDefaultSection", {"[test]"}, "DEFAULT", {{"defaultx", "23"}, {"defaulty", "42"}}},
        {"testTestDefaultSectionSimpleVal",
         {"[test]\nx=3\n"},
         "DEFAULT",
         {{"defaultx", "23"}, {"defaulty", "42"}, {"x", "3"}}},
        {"testTestDefaultSectionSimpleOverwrite",
         {"[test]\nx=3\n", "[test]\nx=4\n"},
         "DEFAULT",
         {{"defaultx", "23"}, {"defaulty", "42"}, {"x", "4"}}},
        {"testTestDefaultSectionDefaultOverwrite",
         {"[test]\ndefaultx=3\n", "[test]\ndefaulty=4\n"},
         "DEFAULT",
         {{"defaultx", "3"}, {"defaulty", "4"}}},
        {"testTestSection",
         {"[test]\nx=3\n[test:testsection]\ny=4\n"},
         "testsection",
         {{"defaultx", "23"}, {"defaulty", "42"}, {"x", "3"}, {"y", "4"}}},
        {"testTestSectionDefaults",
         {"[test]\ndefaultx=3\n[test:testsection]\ndefaulty=4\n"},
         "testsection",
         {{"defaultx", "3"}, {"defaulty", "4"}}},
        {"testTestSectionDefaultsOverwrite",
         {"[test]\ndefaultx=3\n[test:testsection]\ndefaultx=4\n"},
         "testsection",
         {{"defaultx", "4"}, {"defaulty", "42"}}},
        {"[test] of testTestSectionDefaultsOverwrite keeps its own value",
         {"[test]\ndefaultx=3\n[test:testsection]\ndefaultx=4\n"},
         "DEFAULT",
         {{"defaultx", "3"}, {"defaulty", "42"}}},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(resolveTest(c.contents, c.name), c.expected) << c.desc;
    }
}

TEST(ConfigInheritance, TypeSectionBeatsHandlerDefaults) {
    // Reference §2.2: the original gave main keysize 4096 and extraflags '' here.
    const Config c = load({"[cert]\nkeysize=2048\nextraflags=ocsp\n[cert:main]\nemail=a@b.test\n"});
    const Map main = section(c, SectionType::Cert, "main");
    EXPECT_EQ(main.at("keysize"), "2048");
    EXPECT_EQ(main.at("extraflags"), "ocsp");
    EXPECT_EQ(main.at("email"), "a@b.test");
}

TEST(ConfigInheritance, OrderIsNamedTypeDefaultHandlerType) {
    const Config c = load({"[DEFAULT]\nkeysize = 1024\nfilename = /d\n"
                           "[dhparam]\nhandler = openssl\nfilename = /t\n"
                           "[dhparam:a]\n[dhparam:b]\nfilename = /b\n"});
    EXPECT_EQ(section(c, SectionType::Dhparam, "a"),
              (Map{{"handler", "openssl"}, {"filename", "/t"}, {"keysize", "1024"}}));
    EXPECT_EQ(section(c, SectionType::Dhparam, "b").at("filename"), "/b");
    const Section* a = c.find(SectionType::Dhparam, "a");
    EXPECT_EQ(a->find("filename")->origin, "[dhparam]");
    EXPECT_EQ(a->find("keysize")->origin, "[DEFAULT]");
    EXPECT_EQ(a->find("filename")->where.toString(), "c1:6");
}

TEST(ConfigInheritance, DomainDefaultsFeedEveryDomain) {
    const Config c = load({"[domain]\nhandler = dnsuptools/inwx\nuser = u\npasswd = p\nip4 = auto\n"
                           "[domain:a.test]\n[domain:b.test]\nip4 = 192.0.2.1\nuser = v\n"});
    const Map a = section(c, SectionType::Domain, "a.test");
    EXPECT_EQ(a.at("ip4"), "auto");
    EXPECT_EQ(a.at("user"), "u");
    const Map b = section(c, SectionType::Domain, "b.test");
    EXPECT_EQ(b.at("ip4"), "192.0.2.1");
    EXPECT_EQ(b.at("user"), "v");
    EXPECT_EQ(b.at("passwd"), "p");
    EXPECT_TRUE(c.find(SectionType::Domain, "b.test")->find("passwd")->secret());
}

// test_confighandlercdm.py
TEST(ConfigDefaults, CdmSection) {
    const Map expected = {{"statedir", "/var/lib/cdm"},
                          {"depends", "cert, domain, dkim, dhparam, service"},
                          {"cert", "auto"},
                          {"domain", "auto"},
                          {"dkim", "auto"},
                          {"dhparam", "auto"},
                          {"service", "auto"}};
    EXPECT_EQ(section(load({"[cdm]"}), SectionType::Cdm, "DEFAULT"), expected);
    Map withX = expected;
    withX["x"] = "3";
    EXPECT_EQ(section(load({"[cdm]\nx=3\n"}), SectionType::Cdm, "DEFAULT"), withX)
        << "testCDMDefaultSectionSimpleVal";
    EXPECT_EQ(section(load({"[cdm] \n x = 3 \n "}), SectionType::Cdm, "DEFAULT"), withX)
        << "testCDMDefaultSectionSimpleVal2";
    Map blub = expected;
    blub["statedir"] = "/blub";
    EXPECT_EQ(section(load({" [cdm] \n statedir = /blub \n "}), SectionType::Cdm, "DEFAULT"), blub)
        << "testCDMDefaultSectionDefaultOverwrite";
}

TEST(ConfigDefaults, CdmSectionAlwaysExists) {
    const Config c = load({""});
    EXPECT_EQ(c.cdm().get("statedir"), "/var/lib/cdm");
    EXPECT_TRUE(c.named(SectionType::Domain).empty());
    EXPECT_EQ(c.sections.count(SectionType::Cert), 0U) << "testNoSection: nothing else appears";
}

// test_confighandlercert.py
TEST(ConfigDefaults, CertSection) {
    EXPECT_EQ(section(load({"[cert]"}), SectionType::Cert, "DEFAULT"),
              (Map{{"handler", "dehydrated/letsencrypt"}, {"extraflags", ""}, {"keysize", "4096"}}));
    const Config c = load({"[cert]\nhandler = dehydrated/letsencrypt \nemail = cdm@cdm.example \n"
                           "keysize = 4096 \ndestination = /etc/ssl2 \nextraflags = -x , --hsts \n"
                           "certname = full.crt "});
    EXPECT_EQ(section(c, SectionType::Cert, "DEFAULT"),
              (Map{{"handler", "dehydrated/letsencrypt"},
                   {"email", "cdm@cdm.example"},
                   {"keysize", "4096"},
                   {"destination", "/etc/ssl2"},
                   {"extraflags", "-x , --hsts"},
                   {"certname", "full.crt"}}));
}

// test_confighandlerdkim.py
TEST(ConfigDefaults, DkimSection) {
    EXPECT_EQ(section(load({"[dkim]"}), SectionType::Dkim, "DEFAULT"), (Map{{"keysize", "2048"}}));
    EXPECT_EQ(section(load({"[dkim:maindkim]\nhandler = rspamd \nkeysize = 4096  "}),
                      SectionType::Dkim, "maindkim"),
              (Map{{"keysize", "4096"},
                   {"handler", "rspamd"},
                   {"keybasename", "key"},
                   {"keylocation", "/var/lib/rspamd/dkim"},
                   {"keyname", "dkim.key"},
                   {"signingconfdestinationfile", "/etc/rspamd/local.d/dkim_signing.conf"}}));
}

// test_confighandlerdhparam.py
TEST(ConfigDefaults, DhparamSection) {
    EXPECT_EQ(section(load({"[dhparam]"}), SectionType::Dhparam, "DEFAULT"),
              (Map{{"filename", "/etc/myssl/dhparam.pem"}, {"keysize", "2048"}}));
    EXPECT_EQ(section(load({"[dhparam]\nhandler = openssl \nfilename = /etc/myssl2/dhp.dh \n"
                            "keysize = 4096  "}),
                      SectionType::Dhparam, "DEFAULT"),
              (Map{{"keysize", "4096"}, {"handler", "openssl"}, {"filename", "/etc/myssl2/dhp.dh"}}));
    EXPECT_EQ(section(load({"[dhparam:name]\nhandler = openssl \nkeysize = 4096  "}),
                      SectionType::Dhparam, "name"),
              (Map{{"keysize", "4096"}, {"handler", "openssl"}, {"filename", "/etc/myssl/dh2048.pem"}}));
}

// test_confighandlerservice.py: the handler is the section name.
TEST(ConfigDefaults, ServiceSection) {
    EXPECT_EQ(section(load({"[service]"}), SectionType::Service, "DEFAULT"),
              (Map{{"container", "false"}}));
    for (const char* name : {"apache2", "postfix"}) {
        EXPECT_EQ(section(load({std::string("[service:") + name + "]"}), SectionType::Service, name),
                  (Map{{"cert", "auto"},
                       {"dhparam", "auto"},
                       {"depends", "cert, dhparam"},
                       {"container", "false"},
                       {"handler", name}}))
            << name;
    }
    EXPECT_EQ(section(load({"[service:nginx]\nhandler = auto\n"}), SectionType::Service, "nginx")
                  .at("handler"),
              "nginx")
        << "auto means the section name";
    EXPECT_EQ(section(load({"[service:mail]\nhandler = postfix\n"}), SectionType::Service, "mail")
                  .at("handler"),
              "postfix");
}

TEST(ConfigErrors, SectionsAndHandlers) {
    struct Case {
        const char* desc;
        const char* text;
        const char* where;
        const char* message;
    };
    const Case cases[] = {
        {"unknown section type", "[cdm]\n[foo]\n", "c1:2", "unknown section type 'foo'"},
        {"old-style domain section", "[example.de]\nip4 = auto\n", "c1:1",
         "write [domain:example.de]"},
        {"empty name", "[domain:]\n", "c1:1", "needs a name"},
        {"reserved name", "[cert:DEFAULT]\n", "c1:1", "needs a name"},
        {"unknown service", "[service:exim]\n", "c1:1", "handler 'exim' is not one of"},
        {"unknown domain handler", "[domain:a.test]\nhandler = route53\n", "c1:2",
         "handler 'route53'"},
        {"unknown cert handler", "[cert:x]\nhandler = certbot\n", "c1:2", "handler 'certbot'"},
    };
    for (const auto& c : cases) {
        try {
            load({c.text});
            ADD_FAILURE() << c.desc << ": no error";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Exit::Config) << c.desc;
            EXPECT_THAT(e.what(), HasSubstr(c.where)) << c.desc;
            EXPECT_THAT(e.what(), HasSubstr(c.message)) << c.desc;
        }
    }
}

TEST(ConfigInheritance, DefaultValuesInterpolateInTheReadingSection) {
    // configparser reads a [DEFAULT] value in the section that inherits it.
    const Config c = load({"[DEFAULT]\nfilename = %(dir)s/dh.pem\ndir = /etc/default\n"
                           "[dhparam:a]\ndir = /etc/a\n[dhparam:b]\n"});
    EXPECT_EQ(section(c, SectionType::Dhparam, "a").at("filename"), "/etc/a/dh.pem");
    EXPECT_EQ(section(c, SectionType::Dhparam, "b").at("filename"), "/etc/default/dh.pem");
}

TEST(ConfigHandlers, TwoPartNamesOnlyWhereTheOriginalHadThem) {
    EXPECT_NO_THROW(load({"[cert:a]\nhandler = dehydrated/buypass\n"}));
    EXPECT_THROW(load({"[domain:a.test]\nhandler = rfc2136/x\n"}), Error);
    EXPECT_THROW(load({"[domain:a.test]\nhandler = dnsuptools/route53\n"}), Error);
    EXPECT_THROW(load({"[cert:a]\nhandler = dehydrated/a/b\n"}), Error);
}

TEST(ConfigHandlers, OriginalAndNewNamesAreAccepted) {
    EXPECT_NO_THROW(load({"[domain:a.test]\nhandler = dnsuptools/inwx\n"}));
    EXPECT_NO_THROW(load({"[domain:a.test]\nhandler = dnsuptools\n"}));
    EXPECT_NO_THROW(load({"[domain:a.test]\nhandler = rfc2136\n"}));
    EXPECT_NO_THROW(load({"[cert:a]\nhandler = dehydrated\n"}));
    EXPECT_NO_THROW(load({"[cert:a]\nhandler = acme\n"}));
    EXPECT_NO_THROW(load({"[service:web]\nhandler = nginx\n"}));
}

// Section names become directories (<statedir>/cert/NAME, <destination>/DOMAIN) and keyname a
// file name: nothing may lead outside the configured directory (issue 7). The error names the
// file and line, and comes from loading, before any program changes anything.
TEST(ConfigHostile, SectionNamesThatWouldEscapeADirectoryAreRejected) {
    const struct {
        std::string header;
        std::string why;
    } rows[] = {
        {"[cert:../../etc]", "holds a '/'"},
        {"[cert:..]", "is '..'"},
        {"[dkim:.]", "is '.'"},
        {"[dkim:a/b]", "holds a '/'"},
        {"[domain:www.example.test/..]", "holds a '/'"},
        {"[domain:/etc]", "holds a '/'"},
        {"[service:nginx\x1b]", "holds a control character"},
        {"[domain:a\tb.test]", "holds a control character"},
    };
    for (const auto& row : rows) {
        try {
            load({"[cdm]\n\n" + row.header + "\nhandler = auto\n"});
            ADD_FAILURE() << row.header << " was accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Exit::Config) << row.header;
            EXPECT_THAT(e.what(), HasSubstr("c1:3: section name")) << row.header;
            EXPECT_THAT(e.what(), HasSubstr(row.why)) << row.header;
        }
    }
    EXPECT_NO_THROW(load({"[cert:main-1_x.y]\n[dkim:..a]\n[domain:_443._tcp.a.test]\n"}));
}

TEST(ConfigHostile, DkimKeyNameIsAFileNameAndKeyBaseNameALabel) {
    const struct {
        std::string text;
        std::string message;
    } rows[] = {
        {"[dkim:m]\nkeyname = ../../etc/cron.d/x\n", "c1:2: [dkim:m] keyname '../../etc/cron.d/x' is not a file name: holds a '/'"},
        {"[dkim]\nkeyname = ..\n[dkim:m]\n", "c1:2: [dkim] keyname '..' is not a file name"},
        {"[dkim:m]\nkeybasename = ../x\n", "c1:2: [dkim:m] keybasename '../x' is not"},
        {"[dkim:m]\nkeybasename = a;b\n", "keybasename 'a;b' is not"},
        {"[dkim:m]\nkeybasename = a\"b\n", "keybasename 'a\"b' is not"},
        {"[dkim:m]\nkeybasename = .a\n", "keybasename '.a' is not"},
    };
    for (const auto& row : rows) {
        try {
            load({row.text});
            ADD_FAILURE() << row.text << " was accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Exit::Config) << row.text;
            EXPECT_THAT(e.what(), HasSubstr(row.message)) << row.text;
        }
    }
    EXPECT_NO_THROW(load({"[dkim:m]\nkeyname = mail.key\nkeybasename = mail.2024_a-b\n"}));
}
