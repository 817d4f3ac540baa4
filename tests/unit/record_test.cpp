#include <cstddef>
#include <cstdint>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <memory>
#include <string>
#include <vector>

#include <ldns/ldns.h>

#include "libcommon/error.hpp"
#include "libcommon/record.hpp"

namespace {

using cdm::Error;
using cdm::Exit;
using cdm::record::Record;
using cdm::record::Type;
using testing::HasSubstr;
namespace record = cdm::record;

// ldns handles, freed by their own deleters (STYLE §10 rule 10).
struct RrDeleter {
    void operator()(ldns_rr* rr) const { ldns_rr_free(rr); }
};
struct RdfDeleter {
    void operator()(ldns_rdf* rdf) const { ldns_rdf_deep_free(rdf); }
};
struct BufferDeleter {
    void operator()(ldns_buffer* buffer) const { ldns_buffer_free(buffer); }
};
using RrPtr = std::unique_ptr<ldns_rr, RrDeleter>;
using RdfPtr = std::unique_ptr<ldns_rdf, RdfDeleter>;
using BufferPtr = std::unique_ptr<ldns_buffer, BufferDeleter>;

std::string toHex(const std::uint8_t* data, std::size_t size) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < size; ++i) {
        out += digits[data[i] >> 4];
        out += digits[data[i] & 0x0f];
    }
    return out;
}

std::string toHex(const std::vector<std::uint8_t>& bytes) {
    return toHex(bytes.data(), bytes.size());
}

std::string repeat(const std::string& piece, std::size_t count) {
    std::string out;
    for (std::size_t i = 0; i < count; ++i) {
        out += piece;
    }
    return out;
}

// The independent oracle: ldns reads "x.test. 300 IN TYPE data" and gives the RDATA wire,
// with names lower-cased as RFC 4034 §6.2 canonical form does (ldns_rr2canonical).
std::string ldnsRdataHex(Type type, const std::string& data, const std::string& origin) {
    const std::string line = "x.test. 300 IN " + std::string(record::toString(type)) + " " + data;
    RdfPtr originRdf(ldns_dname_new_frm_str(origin.empty() ? "." : origin.c_str()));
    ldns_rr* raw = nullptr;
    const ldns_status status =
        ldns_rr_new_frm_str(&raw, line.c_str(), 300, originRdf.get(), nullptr);
    RrPtr rr(raw);
    if (status != LDNS_STATUS_OK) {
        return std::string("ldns error: ") + ldns_get_errorstr_by_id(status);
    }
    ldns_rr2canonical(rr.get());
    BufferPtr buffer(ldns_buffer_new(1024));
    if (ldns_rr_rdata2buffer_wire(buffer.get(), rr.get()) != LDNS_STATUS_OK) {
        return "ldns error: cannot write wire";
    }
    return toHex(ldns_buffer_begin(buffer.get()), ldns_buffer_position(buffer.get()));
}

// canonical() and toWire() as strings, so that an exception prints the row and the message.
std::string canonicalOf(Type type, const std::string& data, const std::string& origin = {}) {
    try {
        return record::canonical(type, data, origin);
    } catch (const Error& e) {
        return std::string("error: ") + e.what();
    }
}

std::string wireOf(Type type, const std::string& data, const std::string& origin = {}) {
    try {
        return toHex(record::toWire(type, data, origin));
    } catch (const Error& e) {
        return std::string("error: ") + e.what();
    }
}

const std::string sha256Upper = repeat("0123456789ABCDEF", 4);
const std::string sha256Lower = repeat("0123456789abcdef", 4);
const std::string sha512 = repeat("00112233445566778899aabbccddeeff", 4);
const std::string a255(255, 'a');
const std::string a256(256, 'a');

// Input spelling -> canonical presentation -> wire (PowerDNS CASE_L style).
struct ValidRow {
    std::string desc;
    Type type;
    std::string origin;
    std::string input;
    std::string canonical;
    std::string wire;
    // False where the input uses a spelling cdm accepts beyond what ldns 1.8.3 reads: brackets
    // around IPv6, strings over 255 octets, an unquoted CAA value. The canonical form is
    // still checked against ldns on every row.
    bool ldnsReadsInput;
};

const std::vector<ValidRow>& validRows() {
    static const std::vector<ValidRow> rows = {
        // A
        {"A dotted quad", Type::A, "", "192.0.2.1", "192.0.2.1", "c0000201", true},
        {"A all zeros", Type::A, "", "0.0.0.0", "0.0.0.0", "00000000", true},
        {"A all ones", Type::A, "", "255.255.255.255", "255.255.255.255", "ffffffff", true},
        {"A surrounding blanks", Type::A, "", "  192.0.2.1\t", "192.0.2.1", "c0000201", true},
        // AAAA
        {"AAAA upper case is lowered", Type::AAAA, "", "2001:DB8::1", "2001:db8::1",
         "20010db8000000000000000000000001", true},
        {"AAAA full form is compressed", Type::AAAA, "", "2001:0db8:0000:0000:0000:0000:0000:0001",
         "2001:db8::1", "20010db8000000000000000000000001", true},
        {"AAAA brackets are dropped", Type::AAAA, "", "[2001:db8::1]", "2001:db8::1",
         "20010db8000000000000000000000001", false},
        {"AAAA unspecified", Type::AAAA, "", "::", "::", repeat("00", 16), true},
        {"AAAA IPv4-mapped", Type::AAAA, "", "::FFFF:192.0.2.1", "::ffff:192.0.2.1",
         "00000000000000000000ffffc0000201", true},
        {"AAAA first longest zero run is compressed (RFC 5952 4.2.3)", Type::AAAA, "",
         "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", "20010db8000000000001000000000001", true},
        {"AAAA single zero field is not compressed (RFC 5952 4.2.2)", Type::AAAA, "",
         "2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1", "20010db8000000010001000100010001", true},
        // NS, CNAME
        {"NS case and trailing dot", Type::NS, "", "NS1.Example.TEST", "ns1.example.test.",
         "036e7331076578616d706c65047465737400", true},
        {"NS relative to the origin", Type::NS, "example.test.", "ns1", "ns1.example.test.",
         "036e7331076578616d706c65047465737400", true},
        {"NS @ is the origin", Type::NS, "example.test.", "@", "example.test.",
         "076578616d706c65047465737400", true},
        {"CNAME absolute", Type::CNAME, "", "target.example.test.", "target.example.test.",
         "06746172676574076578616d706c65047465737400", true},
        {"CNAME escaped dot", Type::CNAME, "", "a\\.b.test.", "a\\.b.test.", "03612e62047465737400",
         true},
        // SOA
        {"SOA one line", Type::SOA, "",
         "ns1.example.test. hostmaster.example.test. 2024010101 7200 3600 1209600 300",
         "ns1.example.test. hostmaster.example.test. 2024010101 7200 3600 1209600 300",
         "036e7331076578616d706c650474657374000a686f73746d6173746572076578616d706c650474657374"
         "0078a3f17500001c2000000e10001275000000012c",
         true},
        {"SOA relative names, leading zeros", Type::SOA, "example.test.",
         "NS1 hostmaster 0002024010101 07200 3600 1209600 300",
         "ns1.example.test. hostmaster.example.test. 2024010101 7200 3600 1209600 300",
         "036e7331076578616d706c650474657374000a686f73746d6173746572076578616d706c650474657374"
         "0078a3f17500001c2000000e10001275000000012c",
         true},
        {"SOA parentheses over several lines, with comments", Type::SOA, "",
         "ns1.example.test. hostmaster.example.test. (\n  2024010101 ; serial\n  7200 3600\n"
         "  1209600 ; expire\n  300 )",
         "ns1.example.test. hostmaster.example.test. 2024010101 7200 3600 1209600 300",
         "036e7331076578616d706c650474657374000a686f73746d6173746572076578616d706c650474657374"
         "0078a3f17500001c2000000e10001275000000012c",
         true},
        {"SOA largest numbers", Type::SOA, "", ". . 4294967295 0 0 0 0", ". . 4294967295 0 0 0 0",
         "0000ffffffff00000000000000000000000000000000", true},
        // MX
        {"MX case", Type::MX, "", "10 Mail.Example.test.", "10 mail.example.test.",
         "000a046d61696c076578616d706c65047465737400", true},
        {"MX null MX (RFC 7505)", Type::MX, "", "0 .", "0 .", "000000", true},
        {"MX largest preference, relative exchange", Type::MX, "example.test.", "65535 mx",
         "65535 mx.example.test.", "ffff026d78076578616d706c65047465737400", true},
        {"MX leading zero dropped", Type::MX, "", "010 mail.example.test.", "10 mail.example.test.",
         "000a046d61696c076578616d706c65047465737400", true},
        // TXT
        {"TXT quoted", Type::TXT, "", "\"v=spf1 -all\"", "\"v=spf1 -all\"",
         "0b763d73706631202d616c6c", true},
        {"TXT semicolon inside quotes is text", Type::TXT, "", "\"v=DKIM1; k=rsa\"",
         "\"v=DKIM1; k=rsa\"", "0e763d444b494d313b206b3d727361", true},
        {"TXT unquoted word", Type::TXT, "", "hello", "\"hello\"", "0568656c6c6f", true},
        {"TXT several strings, mixed quoting", Type::TXT, "", "\"a\"   b \"c\"",
         "\"a\" \"b\" \"c\"", "016101620163", true},
        {"TXT empty string", Type::TXT, "", "\"\"", "\"\"", "00", true},
        {"TXT trailing comments and line breaks", Type::TXT, "", "\"a\" ; one\n; two\n", "\"a\"",
         "0161", true},
        {"TXT escaped quote", Type::TXT, "", "\"say \\\"hi\\\"\"", "\"say \\\"hi\\\"\"",
         "087361792022686922", true},
        {"TXT escaped backslash", Type::TXT, "", "\"back\\\\slash\"", "\"back\\\\slash\"",
         "0a6261636b5c736c617368", true},
        {"TXT decimal escapes of letters print plain", Type::TXT, "", "\"\\065\\066\"", "\"AB\"",
         "024142", true},
        {"TXT control octet prints as \\DDD", Type::TXT, "", "\"tab\\009\"", "\"tab\\009\"",
         "0474616209", true},
        {"TXT octets over 127 print as \\DDD", Type::TXT, "", "\"caf\\195\\169\"",
         "\"caf\\195\\169\"", "05636166c3a9", true},
        {"TXT escaped blank in an unquoted word", Type::TXT, "", "a\\ b", "\"a b\"", "03612062",
         true},
        {"TXT string of exactly 255 octets", Type::TXT, "", "\"" + a255 + "\"", "\"" + a255 + "\"",
         "ff" + repeat("61", 255), true},
        {"TXT string of 256 octets is split at 255", Type::TXT, "", "\"" + a256 + "\"",
         "\"" + a255 + "\" \"a\"", "ff" + repeat("61", 255) + "0161", false},
        {"TXT unquoted word of 256 octets is split at 255", Type::TXT, "", a256,
         "\"" + a255 + "\" \"a\"", "ff" + repeat("61", 255) + "0161", false},
        {"TXT 510 octets make two full strings", Type::TXT, "", "\"" + a255 + a255 + "\"",
         "\"" + a255 + "\" \"" + a255 + "\"", "ff" + repeat("61", 255) + "ff" + repeat("61", 255),
         false},
        // SRV
        {"SRV case", Type::SRV, "", "10 60 5060 SIP.example.test.", "10 60 5060 sip.example.test.",
         "000a003c13c403736970076578616d706c65047465737400", true},
        {"SRV no service (target root)", Type::SRV, "", "0 0 0 .", "0 0 0 .", "00000000000000",
         true},
        {"SRV largest numbers", Type::SRV, "", "65535 65535 65535 t.test.",
         "65535 65535 65535 t.test.", "ffffffffffff0174047465737400", true},
        // TLSA
        {"TLSA upper-case hex is lowered", Type::TLSA, "", "3 1 1 " + sha256Upper,
         "3 1 1 " + sha256Lower, "030101" + sha256Lower, true},
        {"TLSA hex split by blanks is joined", Type::TLSA, "",
         "3 1 1 " + sha256Lower.substr(0, 32) + " " + sha256Lower.substr(32),
         "3 1 1 " + sha256Lower, "030101" + sha256Lower, true},
        {"TLSA SHA2-512", Type::TLSA, "", "2 0 2 " + sha512, "2 0 2 " + sha512, "020002" + sha512,
         true},
        {"TLSA full data, any even length", Type::TLSA, "", "0 0 0 0102AB", "0 0 0 0102ab",
         "0000000102ab", true},
        {"TLSA multi-line with parentheses", Type::TLSA, "", "3 1 1 (\n  " + sha256Upper + " )",
         "3 1 1 " + sha256Lower, "030101" + sha256Lower, true},
        // CAA
        {"CAA quoted value", Type::CAA, "", "0 issue \"letsencrypt.org\"",
         "0 issue \"letsencrypt.org\"", "000569737375656c657473656e63727970742e6f7267", true},
        {"CAA unquoted value is quoted on output", Type::CAA, "", "0 issue letsencrypt.org",
         "0 issue \"letsencrypt.org\"", "000569737375656c657473656e63727970742e6f7267", false},
        {"CAA critical flag, iodef", Type::CAA, "", "128 iodef \"mailto:security@example.test\"",
         "128 iodef \"mailto:security@example.test\"",
         "8005696f6465666d61696c746f3a7365637572697479406578616d706c652e74657374", true},
        {"CAA semicolon value forbids issuance", Type::CAA, "", "0 issue \";\"", "0 issue \";\"",
         "000569737375653b", true},
        {"CAA empty value", Type::CAA, "", "0 issuewild \"\"", "0 issuewild \"\"",
         "0009697373756577696c64", true},
        {"CAA value with parameters", Type::CAA, "", "0 issue \"ca.test; account=123\"",
         "0 issue \"ca.test; account=123\"",
         "0005697373756563612e746573743b206163636f756e743d313233", true},
        {"CAA tag case is kept", Type::CAA, "", "0 ISSUE \"ca.test\"", "0 ISSUE \"ca.test\"",
         "0005495353554563612e74657374", true},
        {"CAA escaped quote in the value", Type::CAA, "", "0 tbs \"quote \\\" inside\"",
         "0 tbs \"quote \\\" inside\"", "000374627371756f7465202220696e73696465", true},
    };
    return rows;
}

TEST(RecordParse, ValidRowsMatchCanonicalWireAndLdns) {
    for (const auto& row : validRows()) {
        EXPECT_EQ(canonicalOf(row.type, row.input, row.origin), row.canonical) << row.desc;
        EXPECT_EQ(wireOf(row.type, row.input, row.origin), row.wire) << row.desc;
        // The canonical form reads back to itself and to the same wire.
        EXPECT_EQ(canonicalOf(row.type, row.canonical), row.canonical) << row.desc;
        EXPECT_EQ(wireOf(row.type, row.canonical), row.wire) << row.desc;
        // ldns agrees with the wire, reading our canonical output and the original input.
        EXPECT_EQ(ldnsRdataHex(row.type, row.canonical, ""), row.wire) << row.desc << " (ldns)";
        if (row.ldnsReadsInput) {
            EXPECT_EQ(ldnsRdataHex(row.type, row.input, row.origin), row.wire)
                << row.desc << " (ldns, input spelling)";
        }
    }
}

struct ErrorRow {
    std::string desc;
    Type type;
    std::string input;
    std::string message;
};

TEST(RecordParse, InvalidRowsThrowDataErr) {
    const std::vector<ErrorRow> rows = {
        // A
        {"A three parts", Type::A, "1.2.3",
         "A address '1.2.3' is not an IPv4 address: expected 4 parts, got 3"},
        {"A part over 255", Type::A, "256.1.1.1", "part '256' is not a number from 0 to 255"},
        {"A leading zero", Type::A, "01.2.3.4", "part '01' has a leading zero"},
        {"A five parts", Type::A, "1.2.3.4.5", "more than 4 parts"},
        {"A empty part", Type::A, "1..2.3", "empty part"},
        {"A trailing dot", Type::A, "1.2.3.4.", "more than 4 parts"},
        {"A negative part", Type::A, "-1.2.3.4", "part '-1' is not a number"},
        {"A prefix length", Type::A, "192.0.2.0/24", "part '0/24' is not a number"},
        {"A name instead of address", Type::A, "a.b.c.d", "part 'a' is not a number"},
        {"A empty data", Type::A, "", "A data '' has 0 fields, expected 1 (address)"},
        {"A two addresses", Type::A, "1.2.3.4 5.6.7.8", "has 2 fields, expected 1 (address)"},
        {"A quoted", Type::A, "\"1.2.3.4\"", "A address \"1.2.3.4\" must not be quoted"},
        // AAAA
        {"AAAA bad hex digit", Type::AAAA, "::g", "AAAA address '::g' is not an IPv6 address"},
        {"AAAA IPv4 address", Type::AAAA, "192.0.2.1", "is not an IPv6 address"},
        {"AAAA two compressions", Type::AAAA, "2001:db8::1::2", "is not an IPv6 address"},
        {"AAAA field over 16 bits", Type::AAAA, "12345::", "is not an IPv6 address"},
        {"AAAA unclosed bracket", Type::AAAA, "[2001:db8::1", "is not an IPv6 address"},
        {"AAAA zone index", Type::AAAA, "fe80::1%eth0", "is not an IPv6 address"},
        // NS, CNAME
        {"NS empty label", Type::NS, "a..b", "NS nsdname: invalid name 'a..b': empty label"},
        {"NS two names", Type::NS, "a.test. b.test.", "has 2 fields, expected 1 (nsdname)"},
        {"CNAME label over 63", Type::CNAME, std::string(64, 'x') + ".test.",
         "CNAME cname: invalid name"},
        {"CNAME empty", Type::CNAME, "", "CNAME data '' has 0 fields, expected 1 (cname)"},
        // SOA
        {"SOA six fields", Type::SOA, "ns. host. 1 2 3 4",
         "SOA data 'ns. host. 1 2 3 4' has 6 fields, expected 7 (mname rname serial refresh "
         "retry expire minimum)"},
        {"SOA serial over 32 bits", Type::SOA, "ns. host. 4294967296 2 3 4 5",
         "SOA serial '4294967296' is not a number from 0 to 4294967295"},
        {"SOA unit suffix", Type::SOA, "ns. host. 1 1h 3 4 5",
         "SOA refresh '1h' is not a number from 0 to 4294967295"},
        {"SOA negative minimum", Type::SOA, "ns. host. 1 2 3 4 -5", "SOA minimum '-5'"},
        {"SOA unclosed parenthesis", Type::SOA, "ns. host. ( 1 2 3 4 5", "'(' without ')'"},
        {"SOA stray parenthesis", Type::SOA, "ns. host. 1 2 3 4 5 )", "')' without '('"},
        {"SOA bad rname", Type::SOA, "ns. a..b. 1 2 3 4 5", "SOA rname: invalid name 'a..b.'"},
        // MX
        {"MX preference over 16 bits", Type::MX, "70000 mx.test.",
         "MX preference '70000' is not a number from 0 to 65535"},
        {"MX negative preference", Type::MX, "-1 mx.test.",
         "MX preference '-1' is not a number from 0 to 65535"},
        {"MX missing exchange", Type::MX, "10",
         "MX data '10' has 1 field, expected 2 (preference exchange)"},
        {"MX fields swapped", Type::MX, "mx.test. 10", "MX preference 'mx.test.' is not a number"},
        {"MX bad exchange", Type::MX, "10 a..b", "MX exchange: invalid name 'a..b': empty label"},
        // TXT
        {"TXT no string", Type::TXT, "", "TXT data '' has 0 fields, expected at least 1"},
        {"TXT only a comment", Type::TXT, "; nothing", "has 0 fields"},
        {"TXT unterminated quote", Type::TXT, "\"abc", "unterminated quoted string"},
        {"TXT escape over 255", Type::TXT, "\"a\\256\"",
         "has the escape '\\256', which is over 255"},
        {"TXT two-digit escape", Type::TXT, "\"a\\12\"", "bad escape '\\12'"},
        {"TXT backslash at the end of a word", Type::TXT, "abc\\", "ends with a lone '\\'"},
        {"TXT quote inside a word", Type::TXT, "ab\"c\"", "quote inside the word 'ab\"'"},
        {"TXT second line outside parentheses", Type::TXT, "\"a\"\n\"b\"",
         "line break outside parentheses"},
        {"TXT line break before a parenthesis", Type::TXT, "\"a\"\n( \"b\" )",
         "line break outside parentheses"},
        {"TXT over 65535 octets", Type::TXT, repeat("\"" + a255 + "\" ", 300),
         "TXT data is 76800 octets on the wire, more than 65535"},
        // SRV
        {"SRV port over 16 bits", Type::SRV, "0 5 70000 sip.test.",
         "SRV port '70000' is not a number from 0 to 65535"},
        {"SRV negative port", Type::SRV, "0 5 -1 sip.test.",
         "SRV port '-1' is not a number from 0 to 65535"},
        {"SRV priority over 16 bits", Type::SRV, "65536 5 5060 sip.test.",
         "SRV priority '65536' is not a number from 0 to 65535"},
        {"SRV weight not a number", Type::SRV, "0 x 5060 sip.test.", "SRV weight 'x'"},
        {"SRV three fields", Type::SRV, "0 5 5060",
         "has 3 fields, expected 4 (priority weight port target)"},
        {"SRV bad target", Type::SRV, "0 5 5060 .a", "SRV target: invalid name '.a'"},
        // TLSA
        {"TLSA usage 7", Type::TLSA, "7 1 1 " + sha256Lower,
         "TLSA usage '7' is not one of 0 (PKIX-TA), 1 (PKIX-EE), 2 (DANE-TA), 3 (DANE-EE)"},
        {"TLSA usage 4", Type::TLSA, "4 1 1 " + sha256Lower, "TLSA usage '4' is not one of"},
        {"TLSA usage over 8 bits", Type::TLSA, "256 1 1 " + sha256Lower,
         "TLSA usage '256' is not one of"},
        {"TLSA usage mnemonic", Type::TLSA, "DANE-EE 1 1 " + sha256Lower,
         "TLSA usage 'DANE-EE' is not one of"},
        {"TLSA selector 2", Type::TLSA, "3 2 1 " + sha256Lower,
         "TLSA selector '2' is not one of 0 (Cert), 1 (SPKI)"},
        {"TLSA matching type 3", Type::TLSA, "3 1 3 " + sha256Lower,
         "TLSA matching type '3' is not one of 0 (Full), 1 (SHA2-256), 2 (SHA2-512)"},
        {"TLSA SHA2-256 too short", Type::TLSA, "3 1 1 " + sha256Lower.substr(2),
         "TLSA data has 62 hex digits, matching type 1 (SHA2-256) needs 64"},
        {"TLSA SHA2-512 given a SHA2-256", Type::TLSA, "3 1 2 " + sha256Lower,
         "TLSA data has 64 hex digits, matching type 2 (SHA2-512) needs 128"},
        {"TLSA odd length", Type::TLSA, "3 1 0 abc", "TLSA data has 3 hex digits, an odd number"},
        {"TLSA not hex", Type::TLSA, "3 1 0 abcg", "TLSA data has 'g', which is not a hex digit"},
        {"TLSA no data", Type::TLSA, "3 1 1",
         "TLSA data '3 1 1' has 3 fields, expected at least 4"},
        // CAA
        {"CAA flags over 8 bits", Type::CAA, "256 issue \"ca.test\"",
         "CAA flags '256' is not a number from 0 to 255"},
        {"CAA negative flags", Type::CAA, "-1 issue \"ca.test\"", "CAA flags '-1'"},
        {"CAA tag with a hyphen", Type::CAA, "0 is-sue \"ca.test\"",
         "CAA tag 'is-sue' is not 1 to 255 ASCII letters and digits"},
        {"CAA empty tag", Type::CAA, "0 \"\" \"ca.test\"", "CAA tag '' is not"},
        {"CAA tag over 255", Type::CAA, "0 " + std::string(256, 't') + " \"ca.test\"",
         "is not 1 to 255 ASCII letters and digits"},
        {"CAA missing value", Type::CAA, "0 issue",
         "CAA data '0 issue' has 2 fields, expected 3 (flags tag value)"},
        {"CAA unquoted value with a blank", Type::CAA, "0 issue ca.test account",
         "has 4 fields, expected 3"},
    };
    for (const auto& row : rows) {
        try {
            const std::string out = record::canonical(row.type, row.input);
            ADD_FAILURE() << row.desc << ": accepted as '" << out << "'";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Exit::DataErr) << row.desc;
            EXPECT_THAT(e.message(), HasSubstr(row.message)) << row.desc;
        }
        EXPECT_EQ(wireOf(row.type, row.input).rfind("error: ", 0), 0U) << row.desc;
        // Data that does not parse compares as text.
        EXPECT_TRUE(record::equalData(row.type, row.input, row.input)) << row.desc;
    }
}

TEST(RecordParse, TxtSplitsAt255Bytes) {
    struct Row {
        std::string desc;
        std::size_t length;
        std::vector<std::size_t> pieces;
    };
    const std::vector<Row> rows = {
        {"one octet", 1, {1}},
        {"254 octets", 254, {254}},
        {"255 octets stay one string", 255, {255}},
        {"256 octets make 255 + 1", 256, {255, 1}},
        {"510 octets make 255 + 255", 510, {255, 255}},
        {"511 octets make 255 + 255 + 1", 511, {255, 255, 1}},
    };
    for (const auto& row : rows) {
        const std::string text(row.length, 'x');
        std::vector<std::size_t> sizes;
        for (const auto& piece : record::txtStrings("\"" + text + "\"")) {
            sizes.push_back(piece.size());
        }
        EXPECT_EQ(sizes, row.pieces) << row.desc;
        EXPECT_EQ(record::txtText("\"" + text + "\""), text) << row.desc;
        // txtFromText cuts at the same places, and its output reads back to the text.
        const std::string data = record::txtFromText(text);
        EXPECT_EQ(record::canonical(Type::TXT, data), data) << row.desc;
        EXPECT_EQ(record::txtText(data), text) << row.desc;
        EXPECT_EQ(record::txtStrings(data).size(), row.pieces.size()) << row.desc;
    }
}

TEST(RecordTxt, StringsAndText) {
    struct Row {
        std::string desc;
        std::string data;
        std::vector<std::string> strings;
    };
    const std::vector<Row> rows = {
        {"two quoted strings", "\"v=DKIM1; k=rsa; \" \"p=MIIB\"", {"v=DKIM1; k=rsa; ", "p=MIIB"}},
        {"unquoted words are strings", "a b", {"a", "b"}},
        {"empty string", "\"\"", {""}},
        {"escapes decoded", "\"\\\"\\\\\\000\"", {std::string("\"\\\0", 3)}},
    };
    for (const auto& row : rows) {
        EXPECT_EQ(record::txtStrings(row.data), row.strings) << row.desc;
        std::string joined;
        for (const auto& s : row.strings) {
            joined += s;
        }
        EXPECT_EQ(record::txtText(row.data), joined) << row.desc;
    }
}

TEST(RecordTxt, FromTextQuotesAndEscapes) {
    struct Row {
        std::string desc;
        std::string text;
        std::string data;
    };
    const std::vector<Row> rows = {
        {"empty text is one empty string", "", "\"\""},
        {"plain text", "v=spf1 -all", "\"v=spf1 -all\""},
        {"quote and backslash", "say \"hi\" \\o/", "\"say \\\"hi\\\" \\\\o/\""},
        {"control and high octets", std::string("a\0\n\xff", 4), "\"a\\000\\010\\255\""},
        {"300 octets make two strings", std::string(300, 'k'),
         "\"" + std::string(255, 'k') + "\" \"" + std::string(45, 'k') + "\""},
    };
    for (const auto& row : rows) {
        EXPECT_EQ(record::txtFromText(row.text), row.data) << row.desc;
        EXPECT_EQ(record::txtText(row.data), row.text) << row.desc;
    }
}

TEST(RecordTxt, StringsThrowOnBadData) {
    try {
        record::txtStrings("\"abc");
        ADD_FAILURE() << "unterminated quote accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Exit::DataErr);
        EXPECT_THAT(e.message(), HasSubstr("TXT data '\"abc': unterminated quoted string"));
    }
}

TEST(RecordEqualData, KnowsSpellingsOfTheSameData) {
    struct Row {
        std::string desc;
        Type type;
        std::string a;
        std::string b;
        bool equal;
    };
    const std::vector<Row> rows = {
        {"CAA quoted and unquoted value", Type::CAA, "0 issue letsencrypt.org",
         "0 issue \"letsencrypt.org\"", true},
        {"CAA different value", Type::CAA, "0 issue a.test", "0 issue b.test", false},
        {"CAA tag case is not significant (RFC 8659 4.1)", Type::CAA, "0 ISSUE a.test",
         "0 issue a.test", true},
        {"CAA value case is significant", Type::CAA, "0 iodef \"mailto:A@a.test\"",
         "0 iodef \"mailto:a@a.test\"", false},
        {"TLSA hex case", Type::TLSA, "3 1 1 " + sha256Upper, "3 1 1 " + sha256Lower, true},
        {"TLSA different selector", Type::TLSA, "3 0 1 " + sha256Lower, "3 1 1 " + sha256Lower,
         false},
        {"MX name case and trailing dot", Type::MX, "10 MX.Example.test", "10 mx.example.test.",
         true},
        {"MX different preference", Type::MX, "10 mx.test.", "20 mx.test.", false},
        {"TXT long string given whole or cut at 255", Type::TXT, "\"" + a256 + "\"",
         "\"" + a255 + "\" \"a\"", true},
        {"TXT split anywhere reads the same", Type::TXT, "\"ab\"", "\"a\" \"b\"", true},
        {"TXT different text", Type::TXT, "\"ab\"", "\"a\" \"c\"", false},
        {"TXT DKIM split as rspamd writes it", Type::TXT, "\"v=DKIM1; k=rsa; \" \"p=MIIB\"",
         "\"v=DKIM1; k=rsa; p=MIIB\"", true},
        {"TXT quoted and unquoted word", Type::TXT, "word", "\"word\"", true},
        {"AAAA spellings", Type::AAAA, "2001:db8:0::1", "[2001:DB8::0:1]", true},
        {"A leading blanks", Type::A, " 192.0.2.1", "192.0.2.1", true},
        {"SOA serial differs", Type::SOA, ". . 1 2 3 4 5", ". . 2 2 3 4 5", false},
        {"unparsable data equal as text", Type::A, "bogus", "bogus", true},
        {"unparsable data compared case-sensitively", Type::A, "bogus", "Bogus", false},
        {"valid and invalid data", Type::A, "192.0.2.1", "192.0.2.1.", false},
    };
    for (const auto& row : rows) {
        EXPECT_EQ(record::equalData(row.type, row.a, row.b), row.equal) << row.desc;
        EXPECT_EQ(record::equalData(row.type, row.b, row.a), row.equal) << row.desc << " (swapped)";
    }
}

TEST(RecordType, FromStringAndBack) {
    struct Row {
        std::string desc;
        std::string text;
        std::optional<Type> type;
    };
    const std::vector<Row> rows = {
        {"upper case", "A", Type::A},
        {"lower case", "aaaa", Type::AAAA},
        {"mixed case", "Tlsa", Type::TLSA},
        {"every type: NS", "NS", Type::NS},
        {"every type: CNAME", "cname", Type::CNAME},
        {"every type: SOA", "SOA", Type::SOA},
        {"every type: MX", "mx", Type::MX},
        {"every type: TXT", "TXT", Type::TXT},
        {"every type: SRV", "srv", Type::SRV},
        {"every type: CAA", "CAA", Type::CAA},
        {"RFC 3597 TYPE52", "TYPE52", Type::TLSA},
        {"RFC 3597 lower case", "type257", Type::CAA},
        {"unsupported mnemonic", "PTR", std::nullopt},
        {"unsupported number", "TYPE12", std::nullopt},
        {"TYPE without number", "TYPE", std::nullopt},
        {"TYPE number over 16 bits", "TYPE65537", std::nullopt},
        {"TYPE with sign", "TYPE+1", std::nullopt},
        {"empty", "", std::nullopt},
    };
    for (const auto& row : rows) {
        EXPECT_EQ(record::typeFromString(row.text), row.type) << row.desc;
    }
    for (const Type type : {Type::A, Type::NS, Type::CNAME, Type::SOA, Type::MX, Type::TXT,
                            Type::AAAA, Type::SRV, Type::TLSA, Type::CAA}) {
        EXPECT_EQ(record::typeFromString(record::toString(type)), type) << record::toString(type);
    }
    EXPECT_EQ(record::toString(Type::TLSA), "TLSA");
}

TEST(RecordLine, ParsesNameTtlClassTypeData) {
    struct Row {
        std::string desc;
        std::string line;
        std::string origin;
        std::string name;
        Type type;
        std::uint32_t ttl;
        std::string data;
    };
    const std::vector<Row> rows = {
        {"all fields", "www.example.test. 600 IN A 192.0.2.1", "", "www.example.test.", Type::A,
         600, "192.0.2.1"},
        {"class before TTL", "www.example.test. IN 600 A 192.0.2.1", "", "www.example.test.",
         Type::A, 600, "192.0.2.1"},
        {"no class", "www.example.test. 600 A 192.0.2.1", "", "www.example.test.", Type::A, 600,
         "192.0.2.1"},
        {"no TTL takes the default", "www.example.test. IN A 192.0.2.1", "", "www.example.test.",
         Type::A, 3600, "192.0.2.1"},
        {"neither TTL nor class", "www.example.test. A 192.0.2.1", "", "www.example.test.", Type::A,
         3600, "192.0.2.1"},
        {"relative names and lower-case keywords", "WWW 300 in mx 10 Mail", "example.test.",
         "www.example.test.", Type::MX, 300, "10 mail.example.test."},
        {"@ owner and trailing comment", "@ 300 IN TXT \"v=spf1 -all\" ; policy", "example.test.",
         "example.test.", Type::TXT, 300, "\"v=spf1 -all\""},
        {"multi-line SOA", "@ IN SOA ns1 hostmaster (\n 1 ; serial\n 7200 3600 1209600 300 )",
         "example.test.", "example.test.", Type::SOA, 3600,
         "ns1.example.test. hostmaster.example.test. 1 7200 3600 1209600 300"},
        {"RFC 3597 type name", "_443._tcp.x.test. 0 IN TYPE52 3 1 1 " + sha256Upper, "",
         "_443._tcp.x.test.", Type::TLSA, 0, "3 1 1 " + sha256Lower},
        {"largest TTL", "x.test. 4294967295 IN AAAA 2001:DB8::1", "", "x.test.", Type::AAAA,
         4294967295U, "2001:db8::1"},
        {"tabs as separators", "x.test.\t300\tIN\tCAA\t0 issue ca.test", "", "x.test.", Type::CAA,
         300, "0 issue \"ca.test\""},
    };
    for (const auto& row : rows) {
        try {
            const Record r = Record::parseLine(row.line, row.origin);
            EXPECT_EQ(r.name, row.name) << row.desc;
            EXPECT_EQ(r.type, row.type) << row.desc;
            EXPECT_EQ(r.ttl, row.ttl) << row.desc;
            EXPECT_EQ(r.data, row.data) << row.desc;
            // The zone line reads back to the same record.
            const Record again = Record::parseLine(r.toZoneLine());
            EXPECT_EQ(again.toZoneLine(), r.toZoneLine()) << row.desc;
            EXPECT_TRUE(again.sameRecord(r)) << row.desc;
        } catch (const Error& e) {
            ADD_FAILURE() << row.desc << ": " << e.what();
        }
    }
    EXPECT_EQ(Record::parseLine("x.test. A 192.0.2.1", "", 60).ttl, 60U) << "given default TTL";
}

TEST(RecordLine, InvalidLinesThrowDataErr) {
    struct Row {
        std::string desc;
        std::string line;
        std::string message;
    };
    const std::vector<Row> rows = {
        {"empty line", "", "record line '': no record"},
        {"comment only", "; nothing here", "no record"},
        {"blank first column", " 300 IN A 192.0.2.1", "no owner name in the first column"},
        {"no type", "x.test. 300 IN", "record line 'x.test. 300 IN': no type"},
        {"unsupported type", "x.test. 300 IN PTR host.test.", "unsupported type 'PTR'"},
        {"other class", "x.test. 300 CH A 192.0.2.1", "class 'CH' is not supported, only IN"},
        {"two TTLs", "x.test. 300 400 A 192.0.2.1", "TTL given twice"},
        {"two classes", "x.test. IN IN A 192.0.2.1", "class given twice"},
        {"TTL over 32 bits", "x.test. 4294967296 A 192.0.2.1",
         "TTL '4294967296' is not a number from 0 to 4294967295"},
        {"TTL with unit", "x.test. 1h A 192.0.2.1", "TTL '1h' is not a number"},
        {"directive", "$TTL 300", "directive '$TTL' is not supported"},
        {"bad owner", "a..b 300 IN A 192.0.2.1", "invalid name 'a..b': empty label"},
        {"bad data", "x.test. 300 IN MX 70000 mx.test.",
         "MX preference '70000' is not a number from 0 to 65535"},
        {"missing data", "x.test. 300 IN MX", "MX data '' has 0 fields"},
        {"two records on two lines", "x.test. A 192.0.2.1\ny.test. A 192.0.2.2",
         "line break outside parentheses"},
    };
    for (const auto& row : rows) {
        try {
            const Record r = Record::parseLine(row.line);
            ADD_FAILURE() << row.desc << ": accepted as '" << r.toZoneLine() << "'";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Exit::DataErr) << row.desc;
            EXPECT_THAT(e.message(), HasSubstr(row.message)) << row.desc;
        }
    }
}

TEST(RecordMake, NormalisesAndPrintsZoneLine) {
    const Record r = Record::make("WWW.Example.test", Type::CAA, 600, "0 issue letsencrypt.org");
    EXPECT_EQ(r.name, "www.example.test.");
    EXPECT_EQ(r.data, "0 issue \"letsencrypt.org\"");
    EXPECT_EQ(r.toZoneLine(), "www.example.test. 600 IN CAA 0 issue \"letsencrypt.org\"");
    EXPECT_EQ(Record::make("x.test", Type::A, 0, "192.0.2.1").toZoneLine(),
              "x.test. 0 IN A 192.0.2.1");
    try {
        Record::make("x.test", Type::SRV, 60, "0 0 70000 sip.test.");
        ADD_FAILURE() << "port 70000 accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Exit::DataErr);
        EXPECT_THAT(e.message(), HasSubstr("SRV port '70000'"));
    }
}

TEST(RecordSame, IgnoresTtlAndSpelling) {
    struct Row {
        std::string desc;
        Record a;
        Record b;
        bool same;
    };
    const std::vector<Row> rows = {
        {"name case, TTL and CAA quoting differ",
         {"WWW.example.test.", Type::CAA, 300, "0 issue ca.test"},
         {"www.example.test", Type::CAA, 600, "0 issue \"ca.test\""},
         true},
        {"different type",
         {"x.test.", Type::A, 300, "192.0.2.1"},
         {"x.test.", Type::AAAA, 300, "192.0.2.1"},
         false},
        {"different name",
         {"x.test.", Type::A, 300, "192.0.2.1"},
         {"y.test.", Type::A, 300, "192.0.2.1"},
         false},
        {"different data",
         {"x.test.", Type::A, 300, "192.0.2.1"},
         {"x.test.", Type::A, 300, "192.0.2.2"},
         false},
    };
    for (const auto& row : rows) {
        EXPECT_EQ(row.a.sameRecord(row.b), row.same) << row.desc;
        EXPECT_EQ(row.b.sameRecord(row.a), row.same) << row.desc << " (swapped)";
    }
}

} // namespace

// Data that tries to smuggle a second record after a line break is refused, and the message
// that quotes it stays one line (issue 7): a forged log line cannot follow it.
TEST(RecordParseErrors, SmuggledSecondRecordIsRefusedInOneLine) {
    for (const auto& [type, data] : std::vector<std::pair<Type, std::string>>{
             {Type::TXT, "\"x\"\nevil.example.test. 300 IN A 192.0.2.66"},
             {Type::A, "192.0.2.1\r\nevil 300 IN A 192.0.2.66"},
             {Type::MX, "10 mx.test.\n\x1b[2Jforged"}}) {
        try {
            record::canonical(type, data);
            ADD_FAILURE() << data << " was accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Exit::DataErr) << data;
            const std::string message = e.what();
            EXPECT_EQ(message.find_first_of("\r\n\x1b"), std::string::npos) << message;
            EXPECT_THAT(message, HasSubstr("\\010")) << message;
        }
    }
}
