// Tests of libcommon/document: the pipeline JSON, its records and scopes (man/cdm-json.5).

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libcommon/configdoc.hpp"
#include "libcommon/document.hpp"

using cdm::Error;
using cdm::Exit;
using cdm::document::DesiredRecord;
using cdm::document::Op;
using cdm::document::Scope;
using cdm::record::Record;
using cdm::record::Type;
using testing::HasSubstr;

TEST(DocumentParse, RoundTripKeepsUnknownMembers) {
    const std::string text = R"({"cdm": 1, "phase": "prepare", "x-local": {"a": [1, 2]},
        "records": [], "config": {"domain": {}}})";
    const auto doc = cdm::document::parse(text, "<stdin>");
    const auto again = cdm::document::parse(cdm::document::serialize(doc), "<stdin>");
    EXPECT_EQ(again.at("x-local").at("a").as_array().size(), 2U);
    EXPECT_EQ(again.at("phase").as_string(), "prepare");
    EXPECT_EQ(cdm::document::serialize(doc), cdm::document::serialize(again));
}

TEST(DocumentParse, RejectsWhatIsNotADocument) {
    struct Case {
        const char* desc;
        const char* text;
        const char* message;
    };
    const Case cases[] = {
        {"not JSON", "{", "not a JSON document"},
        {"an array", "[]", "expected a JSON object"},
        {"no version", R"({"records": []})", "no \"cdm\" version"},
        {"newer version", R"({"cdm": 2})", "document version 2 is not supported"},
        {"records not an array", R"({"cdm": 1, "records": {}})", "expected an array"},
    };
    for (const auto& c : cases) {
        try {
            cdm::document::parse(c.text, "in.json");
            ADD_FAILURE() << c.desc;
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Exit::DataErr) << c.desc;
            EXPECT_THAT(e.what(), HasSubstr("in.json")) << c.desc;
            EXPECT_THAT(e.what(), HasSubstr(c.message)) << c.desc;
        }
    }
}

TEST(DocumentRecords, ToJsonAndBack) {
    DesiredRecord r;
    r.name = "_443._tcp.www.example.test.";
    r.type = Type::TLSA;
    r.ttl = 3600;
    r.data = "3 1 1 0210f1d66cf21e1bb8970cd10c32f13b9e2e7fe76b27bee006ffe64b2bce7b81";
    r.op = Op::Replace;
    r.scope = Scope{"_443._tcp.www.example.test.", Type::TLSA, {{"usage", "3"}}, {}, {}};
    r.source = "a.conf:3";
    const auto back = cdm::document::recordFromJson(cdm::document::toJson(r), "records[0]");
    EXPECT_EQ(back.name, r.name);
    EXPECT_EQ(back.type, r.type);
    EXPECT_EQ(back.ttl, 3600U);
    EXPECT_EQ(*back.data, *r.data);
    EXPECT_EQ(back.scope.fields, r.scope.fields);
    EXPECT_EQ(back.source, "a.conf:3");
}

TEST(DocumentRecords, ErrorsNameTheJsonPath) {
    const auto doc = cdm::document::parse(
        R"({"cdm": 1, "records": [{"name": "a.test.", "type": "A", "data": "192.0.2.1"},
                                  {"name": "a.test.", "type": "MX", "data": "70000 m.test."}]})",
        "<stdin>");
    try {
        cdm::document::records(doc, "<stdin>");
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Exit::DataErr);
        EXPECT_THAT(e.what(), HasSubstr("<stdin>:records[1].data"));
    }
    const auto badOp = cdm::document::parse(
        R"({"cdm": 1, "records": [{"name": "a.test.", "type": "A", "data": "192.0.2.1", "op": "upsert"}]})",
        "<stdin>");
    EXPECT_THROW(cdm::document::records(badOp, "<stdin>"), Error);
    const auto noData = cdm::document::parse(
        R"({"cdm": 1, "records": [{"name": "a.test.", "type": "A", "op": "add"}]})", "<stdin>");
    EXPECT_THROW(cdm::document::records(noData, "<stdin>"), Error);
}

TEST(DocumentScope, ContainsRecordsByNameTypeFieldsAndText) {
    struct Case {
        const char* desc;
        Scope scope;
        Record rr;
        bool inside;
    };
    const Case cases[] = {
        {"same name and type", {"a.test.", Type::A, {}, {}, {}}, {"a.test.", Type::A, 600, "192.0.2.1"}, true},
        {"other type", {"a.test.", Type::A, {}, {}, {}}, {"a.test.", Type::AAAA, 600, "::1"}, false},
        {"name case", {"A.Test.", Type::A, {}, {}, {}}, {"a.test.", Type::A, 600, "192.0.2.1"}, true},
        {"wildcard label", {"*._tcp.a.test.", Type::TLSA, {}, {}, {}},
         {"_443._tcp.a.test.", Type::TLSA, 600, "3 1 1 00"}, true},
        {"wildcard covers literal *", {"*._tcp.a.test.", Type::TLSA, {}, {}, {}},
         {"*._tcp.a.test.", Type::TLSA, 600, "3 1 1 00"}, true},
        {"wildcard is one label", {"*._tcp.a.test.", Type::TLSA, {}, {}, {}},
         {"_443._udp.a.test.", Type::TLSA, 600, "3 1 1 00"}, false},
        {"MX preference", {"a.test.", Type::MX, {{"preference", "30"}}, {}, {}},
         {"a.test.", Type::MX, 600, "30 m.a.test."}, true},
        {"MX other preference", {"a.test.", Type::MX, {{"preference", "30"}}, {}, {}},
         {"a.test.", Type::MX, 600, "10 m.a.test."}, false},
        {"TLSA usage", {"_443._tcp.a.test.", Type::TLSA, {{"usage", "2"}}, {}, {}},
         {"_443._tcp.a.test.", Type::TLSA, 600, "3 1 1 00"}, false},
        {"CAA tag without case", {"a.test.", Type::CAA, {{"tag", "issue"}}, {}, {}},
         {"a.test.", Type::CAA, 600, "0 ISSUE \"letsencrypt.org\""}, true},
        {"CAA other tag", {"a.test.", Type::CAA, {{"tag", "issue"}}, {}, {}},
         {"a.test.", Type::CAA, 600, "0 issuewild \"letsencrypt.org\""}, false},
        {"CAA value", {"a.test.", Type::CAA, {{"value", "letsencrypt.org"}}, {}, {}},
         {"a.test.", Type::CAA, 600, "0 issue \"letsencrypt.org\""}, true},
        {"SPF prefix", {"a.test.", Type::TXT, {}, "v=spf1", {}},
         {"a.test.", Type::TXT, 600, "\"v=spf1 -all\""}, true},
        {"not SPF", {"a.test.", Type::TXT, {}, "v=spf1", {}},
         {"a.test.", Type::TXT, 600, "\"google-site-verification=x\""}, false},
        {"prefix across split strings", {"a.test.", Type::TXT, {}, "v=DKIM1", {}},
         {"a.test.", Type::TXT, 600, "\"v=DK\" \"IM1; p=x\""}, true},
        {"excluded prefix", {"a.test.", Type::TXT, {}, {}, {"v=spf1"}},
         {"a.test.", Type::TXT, 600, "\"v=spf1 -all\""}, false},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(c.scope.contains(c.rr), c.inside) << c.desc;
    }
}

TEST(DocumentZone, PrintsRecordsAndCommentsForTheRest) {
    DesiredRecord a;
    a.name = "a.test.";
    a.type = Type::A;
    a.data = "192.0.2.1";
    DesiredRecord none = a;
    none.data.reset();
    none.op = Op::None;
    none.scope = Scope{"a.test.", Type::A, {}, {}, {}};
    DesiredRecord placeholder = none;
    placeholder.op = Op::Replace;
    placeholder.placeholder = "ip4";
    EXPECT_EQ(cdm::document::toZoneText({a, none, placeholder}),
              "a.test. 600 IN A 192.0.2.1\n"
              "; delete every A at a.test.\n"
              "; a.test. A replace: 'ip4', filled in by cdm-ip\n");
}

TEST(DocumentReport, AppendsEntries) {
    auto doc = cdm::document::empty();
    cdm::document::report(doc, "cdm-config", "loaded", {{"records", 3}});
    cdm::document::report(doc, "cdm-ip", "resolved");
    const auto& list = doc.at("report").as_array();
    ASSERT_EQ(list.size(), 2U);
    EXPECT_EQ(list[0].at("program").as_string(), "cdm-config");
    EXPECT_EQ(list[0].at("records").as_int64(), 3);
    EXPECT_EQ(list[1].at("event").as_string(), "resolved");
    EXPECT_EQ(doc.at("cdm").as_int64(), cdm::document::schemaVersion);
}

TEST(DocumentMaterial, MadeWhereMissingKeptWhereThere) {
    boost::json::object doc{{"cdm", 1}, {"material", "not an object"}};
    cdm::document::material(doc, "cert", "main")["current"] = boost::json::object{{"serial", "0a"}};
    cdm::document::material(doc, "dkim")["mail"] = boost::json::object{};
    // A second call finds what the first made.
    EXPECT_EQ(cdm::document::material(doc, "cert", "main").at("current").at("serial").as_string(), "0a");
    EXPECT_EQ(doc.at("material").at("cert").at("main").at("current").at("serial").as_string(), "0a");
    EXPECT_TRUE(doc.at("material").at("dkim").at("mail").is_object());
    EXPECT_EQ(doc.at("material").as_object().size(), 2U);
}

TEST(DocumentConfig, LocationOfWhere) {
    EXPECT_EQ(cdm::document::locationOf("/etc/cdm/a.conf:12").toString(), "/etc/cdm/a.conf:12");
    EXPECT_EQ(cdm::document::locationOf("/etc/cdm/a.conf:12").line, 12U);
    EXPECT_TRUE(cdm::document::locationOf("built-in").empty());
    EXPECT_TRUE(cdm::document::locationOf("").empty());
    EXPECT_EQ(cdm::document::locationOf("c:\\odd:x").file, "c:\\odd:x") << "no line number: all of it is the file";
}

TEST(DocumentConfig, SectionKeysAndWhereTheyWereWritten) {
    const auto doc = cdm::configdoc::run({{}, "[cdm]\nstatedir = /srv/cdm\n[service:web]\nhandler = nginx\n"}).document;
    EXPECT_EQ(cdm::document::sectionKey(doc, "cdm", "DEFAULT", "statedir"), "/srv/cdm");
    EXPECT_EQ(cdm::document::keyLocation(doc, "cdm", "DEFAULT", "statedir").toString(), "<config-content>:2");
    EXPECT_EQ(cdm::document::sectionKey(doc, "service", "web", "handler"), "nginx");
    EXPECT_FALSE(cdm::document::sectionKey(doc, "service", "web", "nosuchkey"));
    EXPECT_FALSE(cdm::document::sectionKey(doc, "service", "mail", "handler"));
    EXPECT_EQ(cdm::document::sectionKeys(doc, "dkim", "x"), nullptr);
}
