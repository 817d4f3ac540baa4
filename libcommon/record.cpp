#include "libcommon/record.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cstddef>
#include <netinet/in.h>
#include <utility>

#include "libcommon/error.hpp"
#include "libcommon/name.hpp"

namespace cdm::record {

namespace {

// RFC 1035 §3.3: a <character-string> is one length octet and up to 255 octets.
constexpr std::size_t maxString = 255;
// RFC 1035 §3.2.1: RDLENGTH is 16 bits.
constexpr std::size_t maxRdata = 65535;

[[noreturn]] void fail(std::string message) {
    throw Error(Exit::DataErr, std::move(message));
}

// Control characters as \DDD: an error message stays one line, whatever the data held.
std::string quoted(std::string_view text) {
    std::string out = "'";
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            out += name::decimalEscape(u);
        } else {
            out += c;
        }
    }
    return out + "'";
}

bool isDigit(char c) {
    return c >= '0' && c <= '9';
}

bool isSpace(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

// One word of presentation data. `text` keeps escapes as written (names are decoded by
// name::normalize, strings by decodeString); quotes are removed and recorded in `quoted`.
struct Token {
    std::string text;
    bool quoted = false;
    std::size_t begin = 0; // offset of the first character, opening quote included
    std::size_t end = 0;   // offset past the last character, closing quote included
};

// Splits presentation text into words as a zone file does (RFC 1035 §5.1): blanks separate,
// `"..."` is one word, `\X` and `\DDD` escapes are kept for the field parser, `;` starts a
// comment, and parentheses group several lines into one. `context` begins error messages.
std::vector<Token> tokenize(std::string_view text, const std::string& context) {
    std::vector<Token> tokens;
    int depth = 0;
    bool lineBreak = false;
    std::size_t i = 0;
    const std::size_t n = text.size();
    while (i < n) {
        const char c = text[i];
        if (c == '\n') {
            lineBreak = lineBreak || depth == 0;
            ++i;
            continue;
        }
        if (isSpace(c)) {
            ++i;
            continue;
        }
        if (c == ';') {
            while (i < n && text[i] != '\n') {
                ++i;
            }
            continue;
        }
        if (lineBreak) {
            // More after a line break outside parentheses would be a second record.
            fail(context + ": line break outside parentheses");
        }
        if (c == '(') {
            ++depth;
            ++i;
            continue;
        }
        if (c == ')') {
            if (depth == 0) {
                fail(context + ": ')' without '('");
            }
            --depth;
            ++i;
            continue;
        }
        Token token;
        token.begin = i;
        if (c == '"') {
            std::size_t j = i + 1;
            while (j < n && text[j] != '"') {
                j += text[j] == '\\' ? 2 : 1;
            }
            if (j >= n) {
                fail(context + ": unterminated quoted string");
            }
            token.text = std::string(text.substr(i + 1, j - i - 1));
            token.quoted = true;
            i = j + 1;
        } else {
            std::size_t j = i;
            while (j < n && !isSpace(text[j]) && text[j] != ';' && text[j] != '(' &&
                   text[j] != ')') {
                if (text[j] == '"') {
                    fail(context + ": quote inside the word " + quoted(text.substr(i, j - i + 1)));
                }
                j += text[j] == '\\' ? 2 : 1;
            }
            j = std::min(j, n);
            token.text = std::string(text.substr(i, j - i));
            i = j;
        }
        token.end = i;
        tokens.push_back(std::move(token));
    }
    if (depth != 0) {
        fail(context + ": '(' without ')'");
    }
    return tokens;
}

// Resolves `\X` and `\DDD` in a <character-string> (RFC 1035 §5.1).
std::string decodeString(std::string_view raw, const std::string& field) {
    std::string out;
    out.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] != '\\') {
            out += raw[i];
            continue;
        }
        if (i + 1 >= raw.size()) {
            fail(field + " " + quoted(raw) + " ends with a lone '\\'");
        }
        if (!isDigit(raw[i + 1])) {
            out += raw[i + 1];
            ++i;
            continue;
        }
        if (i + 3 >= raw.size() || !isDigit(raw[i + 2]) || !isDigit(raw[i + 3])) {
            fail(field + " " + quoted(raw) + " has a bad escape " + quoted(raw.substr(i, 4)) +
                 ", expected \\DDD with three digits");
        }
        const int value = (raw[i + 1] - '0') * 100 + (raw[i + 2] - '0') * 10 + (raw[i + 3] - '0');
        if (value > 255) {
            fail(field + " " + quoted(raw) + " has the escape " + quoted(raw.substr(i, 4)) +
                 ", which is over 255");
        }
        out += static_cast<char>(value);
        i += 3;
    }
    return out;
}

// A decoded string in quotes, escaping `"` and `\`, and every octet outside printable ASCII
// as \DDD so the output survives any terminal and any zone file.
std::string quoteString(std::string_view raw) {
    std::string out = "\"";
    for (const char c : raw) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20 || u > 0x7e) {
            out += name::decimalEscape(u);
        } else {
            out += c;
        }
    }
    out += '"';
    return out;
}

// Decimal digits only: no sign, no spaces, no unit suffixes. Leading zeros are read ("010" is
// 10) and dropped on output.
std::optional<std::uint64_t> parseDecimal(std::string_view text, std::uint64_t max) {
    if (text.empty()) {
        return std::nullopt;
    }
    std::uint64_t value = 0;
    for (const char c : text) {
        if (!isDigit(c)) {
            return std::nullopt;
        }
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
        if (value > max) {
            return std::nullopt;
        }
    }
    return value;
}

// The RDATA in both forms, built field by field.
struct Rdata {
    std::string text;
    std::vector<std::uint8_t> wire;

    void separate() {
        if (!text.empty()) {
            text += ' ';
        }
    }
    void number(std::uint64_t value, int octets) {
        separate();
        text += std::to_string(value);
        for (int shift = (octets - 1) * 8; shift >= 0; shift -= 8) {
            wire.push_back(static_cast<std::uint8_t>((value >> shift) & 0xff));
        }
    }
    void bytes(std::string_view raw) { wire.insert(wire.end(), raw.begin(), raw.end()); }
    void name(const std::string& normalized) {
        separate();
        text += normalized;
        bytes(name::toWire(normalized));
    }
    void string(std::string_view raw) {
        separate();
        text += quoteString(raw);
        wire.push_back(static_cast<std::uint8_t>(raw.size()));
        bytes(raw);
    }
};

// The parser of one type's RDATA: the type, its tokens and the data text for messages.
class Fields {
public:
    Fields(Type type, std::vector<Token> tokens, std::string_view data, std::string_view origin)
        : type_(type), tokens_(std::move(tokens)), data_(data), origin_(origin) {}

    std::string typeName() const { return std::string(toString(type_)); }

    // Exactly `count` fields, or at least `count` when `orMore`.
    void expect(std::size_t count, std::string_view names, bool orMore = false) const {
        const std::size_t got = tokens_.size();
        if (got == count || (orMore && got > count)) {
            return;
        }
        fail(typeName() + " data " + quoted(data_) + " has " + std::to_string(got) +
             (got == 1 ? " field" : " fields") + ", expected " + (orMore ? "at least " : "") +
             std::to_string(count) + " (" + std::string(names) + ")");
    }

    const std::vector<Token>& tokens() const { return tokens_; }

    // An unquoted field: numbers, names and addresses are never quoted.
    const std::string& plain(std::size_t index, std::string_view field) const {
        const Token& token = tokens_.at(index);
        if (token.quoted) {
            fail(typeName() + " " + std::string(field) + " \"" + token.text +
                 "\" must not be quoted");
        }
        return token.text;
    }

    std::uint64_t number(std::size_t index, std::string_view field, std::uint64_t max) const {
        const std::string& text = plain(index, field);
        const auto value = parseDecimal(text, max);
        if (!value) {
            fail(typeName() + " " + std::string(field) + " " + quoted(text) +
                 " is not a number from 0 to " + std::to_string(max));
        }
        return *value;
    }

    std::string domain(std::size_t index, std::string_view field) const {
        const std::string& text = plain(index, field);
        try {
            return name::normalize(text, origin_);
        } catch (const Error& e) {
            fail(typeName() + " " + std::string(field) + ": " + e.message());
        }
    }

    // A <character-string> field, quoted or not.
    std::string string(std::size_t index, std::string_view field) const {
        return decodeString(tokens_.at(index).text, typeName() + " " + std::string(field));
    }

private:
    Type type_;
    std::vector<Token> tokens_;
    std::string data_;
    std::string origin_;
};

// RFC 1035 §3.4.1. Strict dotted quad: four decimal parts of 0-255 without leading zeros.
// "01.2.3.4" is rejected rather than read, because inet_aton() reads "010" as octal 8 and
// a reader of the zone cannot tell which was meant.
void parseA(const Fields& f, Rdata& out) {
    f.expect(1, "address");
    const std::string& text = f.plain(0, "address");
    const auto bad = [&](const std::string& why) {
        fail("A address " + quoted(text) + " is not an IPv4 address: " + why);
    };
    std::array<std::uint8_t, 4> octets{};
    std::size_t part = 0;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= text.size(); ++i) {
        if (i < text.size() && text[i] != '.') {
            continue;
        }
        if (part == 4) {
            bad("more than 4 parts");
        }
        const std::string_view piece = std::string_view(text).substr(start, i - start);
        if (piece.empty()) {
            bad("empty part");
        }
        const auto value = parseDecimal(piece, 255);
        if (!value) {
            bad("part " + quoted(piece) + " is not a number from 0 to 255");
        }
        if (piece.size() > 1 && piece[0] == '0') {
            bad("part " + quoted(piece) + " has a leading zero");
        }
        octets[part++] = static_cast<std::uint8_t>(*value);
        start = i + 1;
    }
    if (part != 4) {
        bad("expected 4 parts, got " + std::to_string(part));
    }
    out.text = std::to_string(octets[0]) + '.' + std::to_string(octets[1]) + '.' +
               std::to_string(octets[2]) + '.' + std::to_string(octets[3]);
    out.wire.assign(octets.begin(), octets.end());
}

// RFC 3596. inet_pton() reads every RFC 4291 spelling; inet_ntop() prints the RFC 5952 one.
// "[2001:db8::1]" as in URLs is accepted too.
void parseAaaa(const Fields& f, Rdata& out) {
    f.expect(1, "address");
    std::string text = f.plain(0, "address");
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
        text = text.substr(1, text.size() - 2);
    }
    in6_addr address{};
    if (inet_pton(AF_INET6, text.c_str(), &address) != 1) {
        fail("AAAA address " + quoted(f.plain(0, "address")) + " is not an IPv6 address");
    }
    std::array<char, INET6_ADDRSTRLEN> buffer{};
    if (inet_ntop(AF_INET6, &address, buffer.data(), buffer.size()) == nullptr) {
        fail("AAAA address " + quoted(text) + " cannot be printed");
    }
    out.text = buffer.data();
    const auto* raw = reinterpret_cast<const std::uint8_t*>(&address);
    out.wire.assign(raw, raw + sizeof address);
}

void parseSoa(const Fields& f, Rdata& out) {
    f.expect(7, "mname rname serial refresh retry expire minimum");
    out.name(f.domain(0, "mname"));
    out.name(f.domain(1, "rname"));
    static constexpr std::array<std::string_view, 5> numbers = {"serial", "refresh", "retry",
                                                                "expire", "minimum"};
    for (std::size_t i = 0; i < numbers.size(); ++i) {
        out.number(f.number(2 + i, numbers[i], 0xffffffffu), 4);
    }
}

void parseTxt(const Fields& f, Rdata& out) {
    f.expect(1, "one or more strings", true);
    for (std::size_t i = 0; i < f.tokens().size(); ++i) {
        const std::string text = f.string(i, "string");
        if (text.empty()) {
            out.string(text);
        }
        // Longer strings are cut into 255-octet pieces, which is what a DKIM key or a long
        // SPF record needs; RFC 7208 §3.3 and RFC 6376 §3.6.2.2 join the pieces again.
        for (std::size_t at = 0; at < text.size(); at += maxString) {
            out.string(std::string_view(text).substr(at, maxString));
        }
    }
}

// RFC 6698 §2.2 and the registries of RFC 7218.
void parseTlsa(const Fields& f, Rdata& out) {
    f.expect(4, "usage selector matching-type data", true);
    const auto choice = [&](std::size_t index, std::string_view field, std::uint64_t last,
                            std::string_view names) {
        const std::string& text = f.plain(index, field);
        const auto value = parseDecimal(text, last);
        if (!value) {
            fail("TLSA " + std::string(field) + " " + quoted(text) + " is not one of " +
                 std::string(names));
        }
        return *value;
    };
    out.number(choice(0, "usage", 3, "0 (PKIX-TA), 1 (PKIX-EE), 2 (DANE-TA), 3 (DANE-EE)"), 1);
    out.number(choice(1, "selector", 1, "0 (Cert), 1 (SPKI)"), 1);
    const std::uint64_t matching =
        choice(2, "matching type", 2, "0 (Full), 1 (SHA2-256), 2 (SHA2-512)");
    out.number(matching, 1);

    // The data may be split by blanks (RFC 6698 §2.2); it is printed as one word.
    std::string hex;
    for (std::size_t i = 3; i < f.tokens().size(); ++i) {
        hex += f.plain(i, "data");
    }
    for (const char c : hex) {
        const bool ok = isDigit(c) || (lower(c) >= 'a' && lower(c) <= 'f');
        if (!ok) {
            fail("TLSA data has " + quoted(std::string(1, c)) + ", which is not a hex digit");
        }
    }
    static constexpr std::array<std::string_view, 3> matchingNames = {"Full", "SHA2-256",
                                                                      "SHA2-512"};
    const std::size_t want = matching == 1 ? 64 : matching == 2 ? 128 : 0;
    if (want != 0 && hex.size() != want) {
        fail("TLSA data has " + std::to_string(hex.size()) + " hex digits, matching type " +
             std::to_string(matching) + " (" + std::string(matchingNames[matching]) + ") needs " +
             std::to_string(want));
    }
    if (hex.size() % 2 != 0) {
        fail("TLSA data has " + std::to_string(hex.size()) + " hex digits, an odd number");
    }
    out.separate();
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        const auto nibble = [](char c) { return isDigit(c) ? c - '0' : lower(c) - 'a' + 10; };
        out.text += lower(hex[i]);
        out.text += lower(hex[i + 1]);
        out.wire.push_back(static_cast<std::uint8_t>(nibble(hex[i]) * 16 + nibble(hex[i + 1])));
    }
}

// RFC 8659 §4.1. The tag keeps its case: matching is case-insensitive there, but the record
// should be published as it was written.
void parseCaa(const Fields& f, Rdata& out) {
    f.expect(3, "flags tag value");
    out.number(f.number(0, "flags", 255), 1);
    const std::string tag = f.string(1, "tag");
    bool alphanumeric = !tag.empty() && tag.size() <= 255;
    for (const char c : tag) {
        alphanumeric = alphanumeric && (isDigit(c) || (lower(c) >= 'a' && lower(c) <= 'z'));
    }
    if (!alphanumeric) {
        fail("CAA tag " + quoted(tag) + " is not 1 to 255 ASCII letters and digits");
    }
    out.separate();
    out.text += tag;
    out.wire.push_back(static_cast<std::uint8_t>(tag.size()));
    out.bytes(tag);
    // The value fills the rest of the RDATA: no length octet, no 255-octet limit.
    const std::string value = f.string(2, "value");
    out.separate();
    out.text += quoteString(value);
    out.bytes(value);
}

Rdata parseTokens(Type type, std::vector<Token> tokens, std::string_view data,
                  std::string_view origin) {
    const Fields f(type, std::move(tokens), data, origin);
    Rdata out;
    switch (type) {
    case Type::A:
        parseA(f, out);
        break;
    case Type::AAAA:
        parseAaaa(f, out);
        break;
    case Type::NS:
    case Type::CNAME:
        f.expect(1, type == Type::NS ? "nsdname" : "cname");
        out.name(f.domain(0, type == Type::NS ? "nsdname" : "cname"));
        break;
    case Type::SOA:
        parseSoa(f, out);
        break;
    case Type::MX:
        f.expect(2, "preference exchange");
        out.number(f.number(0, "preference", 0xffff), 2);
        out.name(f.domain(1, "exchange"));
        break;
    case Type::TXT:
        parseTxt(f, out);
        break;
    case Type::SRV:
        // RFC 2782.
        f.expect(4, "priority weight port target");
        out.number(f.number(0, "priority", 0xffff), 2);
        out.number(f.number(1, "weight", 0xffff), 2);
        out.number(f.number(2, "port", 0xffff), 2);
        out.name(f.domain(3, "target"));
        break;
    case Type::TLSA:
        parseTlsa(f, out);
        break;
    case Type::CAA:
        parseCaa(f, out);
        break;
    }
    if (out.wire.size() > maxRdata) {
        fail(f.typeName() + " data is " + std::to_string(out.wire.size()) +
             " octets on the wire, more than 65535");
    }
    return out;
}

Rdata parse(Type type, std::string_view data, std::string_view origin) {
    const std::string context = std::string(toString(type)) + " data " + quoted(data);
    return parseTokens(type, tokenize(data, context), data, origin);
}

struct TypeName {
    Type type;
    std::string_view name;
};

constexpr std::array<TypeName, 10> typeNames = {{
    {Type::A, "A"},
    {Type::NS, "NS"},
    {Type::CNAME, "CNAME"},
    {Type::SOA, "SOA"},
    {Type::MX, "MX"},
    {Type::TXT, "TXT"},
    {Type::AAAA, "AAAA"},
    {Type::SRV, "SRV"},
    {Type::TLSA, "TLSA"},
    {Type::CAA, "CAA"},
}};

} // namespace

std::optional<Type> typeFromString(std::string_view text) {
    for (const auto& entry : typeNames) {
        if (equalsIgnoreCase(text, entry.name)) {
            return entry.type;
        }
    }
    // RFC 3597 §5: "TYPE" and the decimal number.
    if (text.size() > 4 && equalsIgnoreCase(text.substr(0, 4), "TYPE")) {
        const auto number = parseDecimal(text.substr(4), 0xffff);
        if (number) {
            for (const auto& entry : typeNames) {
                if (static_cast<std::uint64_t>(entry.type) == *number) {
                    return entry.type;
                }
            }
        }
    }
    return std::nullopt;
}

std::string_view toString(Type type) {
    for (const auto& entry : typeNames) {
        if (entry.type == type) {
            return entry.name;
        }
    }
    return "TYPE?";
}

std::string canonical(Type type, std::string_view data, std::string_view origin) {
    return parse(type, data, origin).text;
}

std::vector<std::uint8_t> toWire(Type type, std::string_view data, std::string_view origin) {
    return parse(type, data, origin).wire;
}

bool equalData(Type type, std::string_view a, std::string_view b) {
    try {
        if (type == Type::TXT) {
            return txtText(a) == txtText(b);
        }
        auto wa = toWire(type, a);
        auto wb = toWire(type, b);
        if (type == Type::CAA && wa.size() >= 2 && wb.size() >= 2) {
            // flags, tag length, tag: the tag alone is case-insensitive.
            const auto lowerTag = [](std::vector<std::uint8_t>& w) {
                const std::size_t end = std::min<std::size_t>(w.size(), 2U + w[1]);
                for (std::size_t i = 2; i < end; ++i) {
                    w[i] = static_cast<std::uint8_t>(std::tolower(w[i]));
                }
            };
            lowerTag(wa);
            lowerTag(wb);
        }
        return wa == wb;
    } catch (const Error&) {
        return a == b;
    }
}

std::vector<std::string> txtStrings(std::string_view data) {
    const std::vector<std::uint8_t> wire = toWire(Type::TXT, data);
    std::vector<std::string> strings;
    for (std::size_t at = 0; at < wire.size();) {
        const std::size_t length = wire[at];
        const auto* first = reinterpret_cast<const char*>(wire.data() + at + 1);
        strings.emplace_back(first, length);
        at += 1 + length;
    }
    return strings;
}

std::string txtText(std::string_view data) {
    std::string text;
    for (const auto& piece : txtStrings(data)) {
        text += piece;
    }
    return text;
}

std::string txtFromText(std::string_view text) {
    if (text.empty()) {
        return "\"\"";
    }
    std::string out;
    for (std::size_t at = 0; at < text.size(); at += maxString) {
        if (!out.empty()) {
            out += ' ';
        }
        out += quoteString(text.substr(at, maxString));
    }
    return out;
}

Record Record::make(std::string_view name, Type type, std::uint32_t ttl, std::string_view data) {
    return Record{name::normalize(name), type, ttl, canonical(type, data)};
}

Record Record::parseLine(std::string_view line, std::string_view origin, std::uint32_t defaultTtl) {
    const std::string context = "record line " + quoted(line);
    if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
        // In a zone file a blank first column repeats the previous owner; there is none here.
        fail(context + ": no owner name in the first column");
    }
    std::vector<Token> tokens = tokenize(line, context);
    if (tokens.empty()) {
        fail(context + ": no record");
    }
    if (tokens[0].quoted) {
        fail(context + ": owner name must not be quoted");
    }
    if (tokens[0].text.front() == '$') {
        fail(context + ": directive " + quoted(tokens[0].text) + " is not supported");
    }
    Record record;
    record.name = name::normalize(tokens[0].text, origin);
    record.ttl = defaultTtl;

    // "NAME [TTL] [CLASS] TYPE" with TTL and class in either order (RFC 1035 §5.1; BIND reads
    // both orders). A TTL starts with a digit, which no type mnemonic does.
    bool haveTtl = false;
    bool haveClass = false;
    std::size_t k = 1;
    for (; k < tokens.size() && !tokens[k].quoted; ++k) {
        const std::string& word = tokens[k].text;
        if (isDigit(word.front())) {
            if (haveTtl) {
                fail(context + ": TTL given twice");
            }
            const auto ttl = parseDecimal(word, 0xffffffffu);
            if (!ttl) {
                fail(context + ": TTL " + quoted(word) + " is not a number from 0 to 4294967295");
            }
            record.ttl = static_cast<std::uint32_t>(*ttl);
            haveTtl = true;
        } else if (equalsIgnoreCase(word, "IN")) {
            if (haveClass) {
                fail(context + ": class given twice");
            }
            haveClass = true;
        } else if (equalsIgnoreCase(word, "CH") || equalsIgnoreCase(word, "HS") ||
                   equalsIgnoreCase(word, "CS") || equalsIgnoreCase(word, "ANY") ||
                   equalsIgnoreCase(word, "NONE")) {
            fail(context + ": class " + quoted(word) + " is not supported, only IN");
        } else {
            break;
        }
    }
    if (k >= tokens.size()) {
        fail(context + ": no type");
    }
    const auto type = typeFromString(tokens[k].text);
    if (!type || tokens[k].quoted) {
        fail(context + ": unsupported type " + quoted(tokens[k].text) +
             " (supported: A, NS, CNAME, SOA, MX, TXT, AAAA, SRV, TLSA, CAA)");
    }
    record.type = *type;
    std::string_view data;
    if (k + 1 < tokens.size()) {
        data = line.substr(tokens[k + 1].begin, tokens.back().end - tokens[k + 1].begin);
    }
    std::vector<Token> rdata(tokens.begin() + static_cast<std::ptrdiff_t>(k + 1), tokens.end());
    record.data = parseTokens(record.type, std::move(rdata), data, origin).text;
    return record;
}

std::string Record::toZoneLine() const {
    return name + ' ' + std::to_string(ttl) + " IN " + std::string(toString(type)) + ' ' + data;
}

bool Record::sameRecord(const Record& other) const {
    return type == other.type && name::equal(name, other.name) && equalData(type, data, other.data);
}

} // namespace cdm::record
