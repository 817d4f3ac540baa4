#include <cstddef>
#include <functional>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <memory>
#include <string>
#include <vector>

#include <ldns/ldns.h>

#include "libcommon/error.hpp"
#include "libcommon/name.hpp"

namespace {

using cdm::Error;
using cdm::Exit;
using testing::HasSubstr;
namespace name = cdm::name;

struct RdfDeleter {
    void operator()(ldns_rdf* rdf) const { ldns_rdf_deep_free(rdf); }
};
using RdfPtr = std::unique_ptr<ldns_rdf, RdfDeleter>;

std::string toHex(const unsigned char* data, std::size_t size) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < size; ++i) {
        out += digits[data[i] >> 4];
        out += digits[data[i] & 0x0f];
    }
    return out;
}

std::string toHex(const std::string& bytes) {
    return toHex(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

// The oracle: ldns's own reading of the name, lower-cased, as wire hex.
std::string ldnsWireHex(const std::string& text) {
    RdfPtr rdf(ldns_dname_new_frm_str(text.c_str()));
    if (!rdf) {
        return "ldns rejects '" + text + "'";
    }
    ldns_dname2canonical(rdf.get());
    return toHex(ldns_rdf_data(rdf.get()), ldns_rdf_size(rdf.get()));
}

// The outcome of normalize() as a string, so a failure prints the row instead of aborting.
std::string normalized(const std::string& text, const std::string& origin) {
    try {
        return name::normalize(text, origin);
    } catch (const Error& e) {
        return std::string("error: ") + e.what();
    }
}

const std::string label63(63, 'a');
const std::string label64(64, 'a');
// 3 labels of 63 octets and one of 61: 3 * 64 + 62 + 1 (root) = 255 octets on the wire.
const std::string name255 = label63 + '.' + label63 + '.' + label63 + '.' + std::string(61, 'b');
const std::string name256 = label63 + '.' + label63 + '.' + label63 + '.' + std::string(62, 'b');

struct NormalizeRow {
    std::string desc;
    std::string input;
    std::string origin;
    std::string expected;
};

TEST(NameNormalize, ValidNames) {
    const std::vector<NormalizeRow> rows = {
        {"mixed case is lowered, trailing dot added", "WWW.Example.test", "", "www.example.test."},
        {"absolute name stays", "www.example.test.", "", "www.example.test."},
        {"relative name takes the origin", "www", "example.test.", "www.example.test."},
        {"origin without dot is absolute", "www", "Example.TEST", "www.example.test."},
        {"absolute name ignores the origin", "other.test.", "example.test.", "other.test."},
        {"@ is the origin", "@", "Example.test.", "example.test."},
        {"@ without origin is the root", "@", "", "."},
        {"root", ".", "", "."},
        {"root ignores the origin", ".", "example.test.", "."},
        {"leading wildcard label is kept", "*.Example.test", "", "*.example.test."},
        {"underscore labels", "_443._tcp.www.example.test", "", "_443._tcp.www.example.test."},
        {"escaped dot stays inside its label", "a\\.b.test.", "", "a\\.b.test."},
        {"decimal escape of a letter is decoded and lowered", "\\065bc.test.", "", "abc.test."},
        {"decimal escape of a dot prints as \\.", "\\046.test", "", "\\..test."},
        {"escaped space prints as \\032", "a\\ b.test.", "", "a\\032b.test."},
        {"decimal space stays \\032", "a\\032b.test.", "", "a\\032b.test."},
        {"escaped backslash", "a\\\\b.test", "", "a\\\\b.test."},
        {"semicolon is escaped on output", "a;b.test", "", "a\\;b.test."},
        {"octet over 127 prints as \\DDD", "caf\\195\\169.test", "", "caf\\195\\169.test."},
        {"label of 63 octets", label63 + ".test", "", label63 + ".test."},
        {"name of 255 wire octets", name255 + ".", "", name255 + "."},
        {"punycode label", "xn--bcher-kva.test", "", "xn--bcher-kva.test."},
        {"digits only", "123.4", "", "123.4."},
    };
    for (const auto& row : rows) {
        EXPECT_EQ(normalized(row.input, row.origin), row.expected) << row.desc;
        EXPECT_TRUE(name::isValid(row.origin.empty() ? row.input : row.expected)) << row.desc;
        // Normalising the output again changes nothing.
        EXPECT_EQ(normalized(row.expected, ""), row.expected) << row.desc;
    }
}

struct ErrorRow {
    std::string desc;
    std::string input;
    std::string origin;
    std::string message;
};

TEST(NameNormalize, InvalidNamesThrowDataErr) {
    const std::vector<ErrorRow> rows = {
        {"empty text", "", "", "invalid name '': name is empty"},
        {"two dots in a row", "a..b", "", "invalid name 'a..b': empty label"},
        {"leading dot", ".a", "", "invalid name '.a': empty label"},
        {"two trailing dots", "a.b..", "", "empty label"},
        {"label of 64 octets", label64 + ".test", "", "label longer than 63 octets"},
        {"name of 256 wire octets", name256 + ".", "", "256 octets on the wire, more than 255"},
        {"origin makes it too long", std::string(62, 'c') + ".d", name255.substr(64) + ".",
         "256 octets on the wire, more than 255"},
        {"invalid origin", "www", "a..b", "invalid name 'a..b': empty label"},
        {"backslash at the end", "a\\", "", "escape at end of name"},
        {"two-digit escape at the end", "a\\25", "", "bad escape '\\25'"},
        {"escape with a letter among digits", "a\\2x5", "", "bad escape '\\2x5'"},
        {"escape over 255", "a\\256", "", "escape '\\256' is over 255"},
        {"unescaped space", "a b", "",
         "character 0x20 is not printable ASCII; write it as '\\032'"},
        {"control character",
         "a\x07"
         "b",
         "", "character 0x07 is not printable ASCII"},
        {"raw UTF-8", "caf\xc3\xa9", "", "character 0xc3 is not printable ASCII"},
    };
    for (const auto& row : rows) {
        if (row.origin.empty()) {
            EXPECT_FALSE(name::isValid(row.input)) << row.desc;
        }
        try {
            const std::string out = name::normalize(row.input, row.origin);
            ADD_FAILURE() << row.desc << ": accepted as '" << out << "'";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Exit::DataErr) << row.desc;
            EXPECT_THAT(e.message(), HasSubstr(row.message)) << row.desc;
        }
    }
}

TEST(NameEqual, IgnoresCaseAndTrailingDot) {
    struct Row {
        std::string desc;
        std::string a;
        std::string b;
        bool equal;
    };
    const std::vector<Row> rows = {
        {"case differs", "Example.TEST", "example.test.", true},
        {"trailing dot differs", "a.test", "a.test.", true},
        {"escape of a letter", "\\065.test", "a.test.", true},
        {"different labels", "a.test", "b.test", false},
        {"escaped dot is not a label separator", "a\\.b.test", "a.b.test", false},
        {"root", ".", ".", true},
        {"subdomain is not equal", "a.b.test", "b.test", false},
        {"invalid names compare as text, case-insensitive", "a..b", "A..B.", true},
        {"invalid names that differ", "a..b", "a..c", false},
    };
    for (const auto& row : rows) {
        EXPECT_EQ(name::equal(row.a, row.b), row.equal) << row.desc;
        EXPECT_EQ(name::equal(row.b, row.a), row.equal) << row.desc << " (swapped)";
    }
}

TEST(NameIsSubdomain, ComparesWholeLabels) {
    struct Row {
        std::string desc;
        std::string name;
        std::string ancestor;
        bool below;
    };
    const std::vector<Row> rows = {
        {"one label below", "a.b.test.", "b.test.", true},
        {"same name", "b.test.", "b.test", true},
        {"case differs", "A.B.TEST", "b.test.", true},
        {"suffix that is not a label", "ab.test.", "b.test.", false},
        {"ancestor is longer", "b.test.", "a.b.test.", false},
        {"everything is below the root", "anything.test.", ".", true},
        {"sibling", "a.test.", "b.test.", false},
    };
    for (const auto& row : rows) {
        EXPECT_EQ(name::isSubdomain(row.name, row.ancestor), row.below) << row.desc;
    }
}

TEST(NameMatchesPattern, WildcardMatchesOneLabel) {
    struct Row {
        std::string desc;
        std::string name;
        std::string pattern;
        bool matches;
    };
    const std::vector<Row> rows = {
        {"port label", "_443._tcp.a.test.", "*._tcp.a.test.", true},
        {"literal star", "*._tcp.a.test.", "*._tcp.a.test.", true},
        {"two labels for one star", "x._443._tcp.a.test.", "*._tcp.a.test.", false},
        {"too few labels", "_tcp.a.test.", "*._tcp.a.test.", false},
        {"different fixed label", "_443._udp.a.test.", "*._tcp.a.test.", false},
        {"no wildcard, case differs", "WWW.A.test", "www.a.test.", true},
        {"two stars", "a.test.", "*.*", true},
        {"star only on the right side counts", "*.a.test.", "www.a.test.", false},
    };
    for (const auto& row : rows) {
        EXPECT_EQ(name::matchesPattern(row.name, row.pattern), row.matches) << row.desc;
    }
}

TEST(NameLabels, PresentationLabelsWithoutRoot) {
    struct Row {
        std::string desc;
        std::string input;
        std::vector<std::string> labels;
    };
    const std::vector<Row> rows = {
        {"three labels, lowered", "www.Example.test.", {"www", "example", "test"}},
        {"relative name", "www.example", {"www", "example"}},
        {"root has none", ".", {}},
        {"escaped dot stays escaped", "a\\.b.test", {"a\\.b", "test"}},
        {"decimal escape decoded", "\\065", {"a"}},
        {"wildcard", "*.test", {"*", "test"}},
    };
    for (const auto& row : rows) {
        EXPECT_EQ(name::labels(row.input), row.labels) << row.desc;
    }
}

TEST(NameToWire, MatchesLdns) {
    struct Row {
        std::string desc;
        std::string input;
        std::string wire;
    };
    const std::vector<Row> rows = {
        {"three labels", "www.example.test.", "03777777076578616d706c65047465737400"},
        {"upper case is lowered", "WWW.Example.TEST.", "03777777076578616d706c65047465737400"},
        {"relative name is taken from the root", "a.test", "0161047465737400"},
        {"root", ".", "00"},
        {"escaped dot inside a label", "A\\.b.test.", "03612e62047465737400"},
        {"decimal escapes", "\\000\\255.test.", "0200ff047465737400"},
        {"wildcard", "*.test.", "012a047465737400"},
    };
    for (const auto& row : rows) {
        EXPECT_EQ(toHex(name::toWire(row.input)), row.wire) << row.desc;
        std::string absolute = row.input;
        if (absolute.back() != '.') {
            absolute += '.';
        }
        EXPECT_EQ(ldnsWireHex(absolute), row.wire) << row.desc << " (ldns)";
    }
    // Longest names, checked against ldns only.
    EXPECT_EQ(toHex(name::toWire(name255 + ".")), ldnsWireHex(name255 + ".")) << "255 octets";
    EXPECT_EQ(name::toWire(name255 + ".").size(), 255U) << "255 octets";
}

TEST(NameQueries, InvalidNamesThrowDataErr) {
    struct Row {
        std::string desc;
        std::function<void()> call;
    };
    const std::vector<Row> rows = {
        {"isSubdomain, bad name", [] { name::isSubdomain("a..b", "b."); }},
        {"isSubdomain, bad ancestor", [] { name::isSubdomain("a.b.", "b..c"); }},
        {"matchesPattern, bad name", [] { name::matchesPattern("a..b", "*.b."); }},
        {"matchesPattern, bad pattern", [] { name::matchesPattern("a.b.", "*..b."); }},
        {"labels", [] { name::labels("a..b"); }},
        {"toWire", [] { name::toWire("a..b"); }},
    };
    for (const auto& row : rows) {
        try {
            row.call();
            ADD_FAILURE() << row.desc << ": no exception";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Exit::DataErr) << row.desc;
            EXPECT_THAT(e.message(), HasSubstr("empty label")) << row.desc;
        }
    }
}

} // namespace
