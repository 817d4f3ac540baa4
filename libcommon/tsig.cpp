#include "libcommon/tsig.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "libcommon/fsutil.hpp"
#include "libcommon/name.hpp"

namespace cdm::tsig {

namespace {

struct AlgorithmInfo {
    Algorithm algorithm;
    std::string_view text;
    std::string_view wire;
    std::size_t size;
};

constexpr std::array<AlgorithmInfo, 6> algorithms{{
    {Algorithm::HmacMd5, "hmac-md5", "hmac-md5.sig-alg.reg.int.", 16},
    {Algorithm::HmacSha1, "hmac-sha1", "hmac-sha1.", 20},
    {Algorithm::HmacSha224, "hmac-sha224", "hmac-sha224.", 28},
    {Algorithm::HmacSha256, "hmac-sha256", "hmac-sha256.", 32},
    {Algorithm::HmacSha384, "hmac-sha384", "hmac-sha384.", 48},
    {Algorithm::HmacSha512, "hmac-sha512", "hmac-sha512.", 64},
}};

const AlgorithmInfo& info(Algorithm a) {
    for (const auto& i : algorithms) {
        if (i.algorithm == a) {
            return i;
        }
    }
    return algorithms[3];
}

const EVP_MD* digestOf(Algorithm a) {
    switch (a) {
    case Algorithm::HmacMd5:
        return EVP_md5();
    case Algorithm::HmacSha1:
        return EVP_sha1();
    case Algorithm::HmacSha224:
        return EVP_sha224();
    case Algorithm::HmacSha256:
        return EVP_sha256();
    case Algorithm::HmacSha384:
        return EVP_sha384();
    case Algorithm::HmacSha512:
        return EVP_sha512();
    }
    return EVP_sha256();
}

std::string knownAlgorithms() {
    std::string out;
    for (const auto& i : algorithms) {
        out += (out.empty() ? "" : ", ") + std::string(i.text);
    }
    return out;
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// ---------------------------------------------------------------- base64

int base64Value(char c) {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

bool isBlank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// The decoded length of RFC 4648 base64 (blanks ignored, padding required to a multiple of
// four), or nullopt when it is not base64.
std::optional<std::size_t> base64Length(std::string_view text) {
    std::size_t digits = 0;
    std::size_t pad = 0;
    for (const char c : text) {
        if (isBlank(c)) {
            continue;
        }
        if (c == '=') {
            ++pad;
            continue;
        }
        if (pad != 0 || base64Value(c) < 0) {
            return std::nullopt;
        }
        ++digits;
    }
    if ((digits + pad) % 4 != 0 || pad > 2 || digits == 0) {
        return std::nullopt;
    }
    return (digits + pad) / 4 * 3 - pad;
}

keys::SecretBuffer decodeBase64(std::string_view text, std::size_t length) {
    keys::SecretBuffer out(length);
    std::size_t n = 0;
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : text) {
        const int v = base64Value(c);
        if (v < 0) {
            continue; // blanks and padding
        }
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n < length) {
                out.data()[n++] = static_cast<char>((acc >> bits) & 0xff);
            }
        }
    }
    acc = 0;
    return out;
}

// ---------------------------------------------------------------- key files

// named.conf syntax, as much of it as key files use: words, quoted strings, `{`, `}`, `;`,
// and the three comment styles (#, //, /* */).
struct Token {
    enum class Kind { Word, String, Open, Close, Semicolon, End };
    Kind kind = Kind::End;
    std::string_view text; // a view into the (wiped) file buffer; never copied for secrets
    unsigned line = 0;
};

class Lexer {
public:
    Lexer(std::string_view text, const std::string& source) : text_(text), source_(source) {}

    Token next() {
        skipBlanksAndComments();
        Token t;
        t.line = line_;
        if (pos_ >= text_.size()) {
            return t;
        }
        const char c = text_[pos_];
        if (c == '{' || c == '}' || c == ';') {
            t.kind = c == '{'   ? Token::Kind::Open
                     : c == '}' ? Token::Kind::Close
                                : Token::Kind::Semicolon;
            t.text = text_.substr(pos_, 1);
            ++pos_;
            return t;
        }
        if (c == '"') {
            const std::size_t start = ++pos_;
            while (pos_ < text_.size() && text_[pos_] != '"') {
                if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) {
                    ++pos_;
                }
                if (text_[pos_] == '\n') {
                    ++line_;
                }
                ++pos_;
            }
            if (pos_ >= text_.size()) {
                fail(t.line, "unterminated quoted string");
            }
            t.kind = Token::Kind::String;
            t.text = text_.substr(start, pos_ - start);
            ++pos_;
            return t;
        }
        const std::size_t start = pos_;
        while (pos_ < text_.size() && !isBlank(text_[pos_]) && text_[pos_] != '{' &&
               text_[pos_] != '}' && text_[pos_] != ';' && text_[pos_] != '"' &&
               text_[pos_] != '#' &&
               !(text_[pos_] == '/' && pos_ + 1 < text_.size() &&
                 (text_[pos_ + 1] == '/' || text_[pos_ + 1] == '*'))) {
            ++pos_;
        }
        t.kind = Token::Kind::Word;
        t.text = text_.substr(start, pos_ - start);
        return t;
    }

    [[noreturn]] void fail(unsigned line, const std::string& message) const {
        throw Error(Exit::Config, message, Location{source_, line, {}});
    }

private:
    void skipBlanksAndComments() {
        while (pos_ < text_.size()) {
            const char c = text_[pos_];
            if (c == '\n') {
                ++line_;
                ++pos_;
            } else if (isBlank(c)) {
                ++pos_;
            } else if (c == '#' ||
                       (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '/')) {
                while (pos_ < text_.size() && text_[pos_] != '\n') {
                    ++pos_;
                }
            } else if (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '*') {
                const unsigned startLine = line_;
                pos_ += 2;
                while (pos_ + 1 < text_.size() && !(text_[pos_] == '*' && text_[pos_ + 1] == '/')) {
                    if (text_[pos_] == '\n') {
                        ++line_;
                    }
                    ++pos_;
                }
                if (pos_ + 1 >= text_.size()) {
                    fail(startLine, "unterminated comment");
                }
                pos_ += 2;
            } else {
                return;
            }
        }
    }

    std::string_view text_;
    const std::string& source_;
    std::size_t pos_ = 0;
    unsigned line_ = 1;
};

std::string describe(const Token& t) {
    switch (t.kind) {
    case Token::Kind::End:
        return "the end of the file";
    case Token::Kind::String:
        return "a quoted string";
    default:
        return "'" + std::string(t.text) + "'";
    }
}

struct ParsedKey {
    std::string name;
    unsigned line = 0;
    std::optional<Algorithm> algorithm;
    std::string_view secret;
    unsigned secretLine = 0;
};

std::string checkedName(std::string_view text, Lexer& lex, unsigned line) {
    try {
        return name::normalize(text);
    } catch (const Error& e) {
        lex.fail(line, e.message());
    }
}

// One `key NAME { ... };` statement, after the word `key`.
ParsedKey parseKeyStatement(Lexer& lex, unsigned line) {
    ParsedKey k;
    k.line = line;
    const Token nameTok = lex.next();
    if (nameTok.kind != Token::Kind::Word && nameTok.kind != Token::Kind::String) {
        lex.fail(nameTok.line, "expected a key name after 'key', found " + describe(nameTok));
    }
    k.name = checkedName(nameTok.text, lex, nameTok.line);
    if (const Token open = lex.next(); open.kind != Token::Kind::Open) {
        lex.fail(open.line, "expected '{' after the key name, found " + describe(open));
    }
    bool haveSecret = false;
    for (;;) {
        const Token clause = lex.next();
        if (clause.kind == Token::Kind::Close) {
            break;
        }
        if (clause.kind != Token::Kind::Word) {
            lex.fail(clause.line, "expected 'algorithm', 'secret' or '}' in key '" + k.name +
                                      "', found " + describe(clause));
        }
        const std::string word = lower(clause.text);
        const Token value = lex.next();
        if (value.kind != Token::Kind::Word && value.kind != Token::Kind::String) {
            lex.fail(value.line, "expected a value after '" + word + "', found " + describe(value));
        }
        if (word == "algorithm") {
            if (k.algorithm) {
                lex.fail(clause.line, "key '" + k.name + "' has a second 'algorithm'");
            }
            k.algorithm = algorithmFromString(value.text);
            if (!k.algorithm) {
                lex.fail(value.line, "unknown TSIG algorithm '" + std::string(value.text) +
                                         "' (one of " + knownAlgorithms() + ")");
            }
        } else if (word == "secret") {
            if (haveSecret) {
                lex.fail(clause.line, "key '" + k.name + "' has a second 'secret'");
            }
            haveSecret = true;
            k.secret = value.text;
            k.secretLine = value.line;
            if (!base64Length(k.secret)) {
                lex.fail(value.line, "the secret of key '" + k.name + "' is not base64");
            }
        } else {
            lex.fail(clause.line, "unknown clause '" + std::string(clause.text) + "' in key '" +
                                      k.name + "' (expected 'algorithm' or 'secret')");
        }
        if (const Token semi = lex.next(); semi.kind != Token::Kind::Semicolon) {
            lex.fail(semi.line, "expected ';' after the " + word + ", found " + describe(semi));
        }
    }
    if (const Token semi = lex.next(); semi.kind != Token::Kind::Semicolon) {
        lex.fail(semi.line,
                 "expected ';' after the '}' of key '" + k.name + "', found " + describe(semi));
    }
    if (!k.algorithm) {
        lex.fail(line, "key '" + k.name + "' has no 'algorithm'");
    }
    if (!haveSecret) {
        lex.fail(line, "key '" + k.name + "' has no 'secret'");
    }
    return k;
}

void putU16(std::vector<std::uint8_t>& out, std::uint32_t v) {
    out.push_back(static_cast<std::uint8_t>((v >> 8) & 0xff));
    out.push_back(static_cast<std::uint8_t>(v & 0xff));
}

void putU32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    putU16(out, v >> 16);
    putU16(out, v & 0xffff);
}

void putU48(std::vector<std::uint8_t>& out, std::uint64_t v) {
    putU16(out, static_cast<std::uint32_t>((v >> 32) & 0xffff));
    putU32(out, static_cast<std::uint32_t>(v & 0xffffffff));
}

void putBytes(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> bytes) {
    out.insert(out.end(), bytes.begin(), bytes.end());
}

void putName(std::vector<std::uint8_t>& out, std::string_view absolute) {
    const std::string wire = name::toWire(absolute);
    out.insert(out.end(), wire.begin(), wire.end());
}

std::uint16_t getU16(std::span<const std::uint8_t> m, std::size_t at) {
    return static_cast<std::uint16_t>((m[at] << 8) | m[at + 1]);
}

// The name at `at`, in lower-case wire form, following compression pointers; sets `end` to
// the octet after it in place. nullopt when the message is cut short or loops.
std::optional<std::string> readName(std::span<const std::uint8_t> m, std::size_t at,
                                    std::size_t& end) {
    std::string out;
    std::size_t pos = at;
    bool jumped = false;
    for (int hops = 0; hops < 128; ++hops) {
        if (pos >= m.size()) {
            return std::nullopt;
        }
        const std::uint8_t len = m[pos];
        if ((len & 0xc0) == 0xc0) {
            if (pos + 1 >= m.size()) {
                return std::nullopt;
            }
            if (!jumped) {
                end = pos + 2;
                jumped = true;
            }
            pos = static_cast<std::size_t>(((len & 0x3f) << 8) | m[pos + 1]);
            continue;
        }
        if ((len & 0xc0) != 0 || pos + 1 + len > m.size()) {
            return std::nullopt;
        }
        out.push_back(static_cast<char>(len));
        for (std::size_t i = 0; i < len; ++i) {
            out.push_back(static_cast<char>(std::tolower(m[pos + 1 + i])));
        }
        pos += 1 + len;
        if (len == 0) {
            if (!jumped) {
                end = pos;
            }
            return out;
        }
    }
    return std::nullopt;
}

// The offset of the last additional record when it is a TSIG record, else the message size;
// nullopt when the message is malformed.
std::optional<std::size_t> findTsig(std::span<const std::uint8_t> m) {
    if (m.size() < 12) {
        return std::nullopt;
    }
    const std::size_t qd = getU16(m, 4);
    const std::size_t rrs = std::size_t{getU16(m, 6)} + getU16(m, 8) + getU16(m, 10);
    if (getU16(m, 10) == 0) {
        return m.size();
    }
    std::size_t pos = 12;
    for (std::size_t i = 0; i < qd; ++i) {
        std::size_t end = 0;
        if (!readName(m, pos, end) || end + 4 > m.size()) {
            return std::nullopt;
        }
        pos = end + 4;
    }
    std::size_t last = pos;
    for (std::size_t i = 0; i < rrs; ++i) {
        last = pos;
        std::size_t end = 0;
        if (!readName(m, pos, end) || end + 10 > m.size()) {
            return std::nullopt;
        }
        const std::size_t rdlen = getU16(m, end + 8);
        pos = end + 10 + rdlen;
        if (pos > m.size()) {
            return std::nullopt;
        }
    }
    std::size_t end = 0;
    readName(m, last, end);
    if (getU16(m, end) != typeTsig) {
        return m.size();
    }
    return last;
}

// The TSIG variables of RFC 8945 §4.3.3 after the name: class ANY, TTL 0, algorithm, time,
// fudge, error, other data.
void putVariables(std::vector<std::uint8_t>& out, const Key& key, std::uint64_t timeSigned,
                  std::uint16_t fudge, std::uint16_t error, std::span<const std::uint8_t> other) {
    putName(out, key.name);
    putU16(out, 255); // class ANY
    putU32(out, 0);   // TTL
    putName(out, wireName(key.algorithm));
    putU48(out, timeSigned);
    putU16(out, fudge);
    putU16(out, error);
    putU16(out, static_cast<std::uint32_t>(other.size()));
    putBytes(out, other);
}

void putMac(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> mac) {
    putU16(out, static_cast<std::uint32_t>(mac.size()));
    putBytes(out, mac);
}

} // namespace

std::optional<Algorithm> algorithmFromString(std::string_view text) {
    std::string t = lower(text);
    if (!t.empty() && t.back() == '.') {
        t.pop_back();
    }
    if (t == "hmac-md5.sig-alg.reg.int") {
        return Algorithm::HmacMd5;
    }
    for (const auto& i : algorithms) {
        if (t == i.text) {
            return i.algorithm;
        }
    }
    return std::nullopt;
}

std::string_view toString(Algorithm algorithm) {
    return info(algorithm).text;
}
std::string_view wireName(Algorithm algorithm) {
    return info(algorithm).wire;
}
std::size_t macSize(Algorithm algorithm) {
    return info(algorithm).size;
}

Key parseKeyFile(std::string_view text, const std::string& source, std::string_view wanted) {
    Lexer lex(text, source);
    std::vector<ParsedKey> found;
    for (;;) {
        const Token t = lex.next();
        if (t.kind == Token::Kind::End) {
            break;
        }
        if (t.kind != Token::Kind::Word || lower(t.text) != "key") {
            lex.fail(t.line, "expected 'key', found " + describe(t));
        }
        ParsedKey k = parseKeyStatement(lex, t.line);
        for (const auto& other : found) {
            if (other.name == k.name) {
                lex.fail(k.line, "key '" + k.name + "' is defined twice (first on line " +
                                     std::to_string(other.line) + ")");
            }
        }
        found.push_back(std::move(k));
    }
    const Location file{source, 0, {}};
    if (found.empty()) {
        throw Error(
            Exit::Config,
            "no key in the file (expected: key \"NAME\" { algorithm ALG; secret \"BASE64\"; };)",
            file);
    }
    std::string names;
    for (const auto& k : found) {
        names += (names.empty() ? "'" : ", '") + k.name + "'";
    }
    const ParsedKey* pick = nullptr;
    if (wanted.empty()) {
        if (found.size() > 1) {
            throw Error(Exit::Config,
                        "the file holds " + std::to_string(found.size()) + " keys (" + names +
                            "); choose one with 'key'",
                        file);
        }
        pick = &found.front();
    } else {
        for (const auto& k : found) {
            if (name::equal(k.name, wanted)) {
                pick = &k;
            }
        }
        if (pick == nullptr) {
            throw Error(Exit::Config,
                        "no key '" + std::string(wanted) + "' in the file (it holds " + names + ")",
                        file);
        }
    }
    const std::size_t length = *base64Length(pick->secret);
    return Key{pick->name, *pick->algorithm, decodeBase64(pick->secret, length)};
}

Key readKeyFile(const std::string& path, std::string_view wanted) {
    keys::SecretBuffer buffer(64 * 1024);
    const std::size_t size = fsutil::readFileInto(path, buffer.span());
    return parseKeyFile(std::string_view(buffer.data(), size), path, wanted);
}

Key makeKey(std::string_view keyName, std::string_view algorithm, std::string_view secretBase64,
            const Location& where) {
    std::string normalized;
    try {
        normalized = name::normalize(keyName);
    } catch (const Error& e) {
        throw Error(Exit::Config, e.message(), where);
    }
    const auto a = algorithmFromString(algorithm);
    if (!a) {
        throw Error(Exit::Config,
                    "unknown TSIG algorithm '" + std::string(algorithm) + "' (one of " +
                        knownAlgorithms() + ")",
                    where);
    }
    const auto length = base64Length(secretBase64);
    if (!length) {
        throw Error(Exit::Config, "the secret of key '" + normalized + "' is not base64", where);
    }
    return Key{normalized, *a, decodeBase64(secretBase64, *length)};
}

std::vector<std::uint8_t> hmac(const Key& key, std::span<const std::uint8_t> data) {
    std::vector<std::uint8_t> out(EVP_MAX_MD_SIZE);
    unsigned int len = 0;
    // One-shot HMAC() is not deprecated in OpenSSL 3 (only the HMAC_CTX functions are).
    if (HMAC(digestOf(key.algorithm), key.secret.data(), static_cast<int>(key.secret.size()),
             data.data(), data.size(), out.data(), &len) == nullptr) {
        throw Error(Exit::Software, "unable to compute " + std::string(toString(key.algorithm)));
    }
    out.resize(len);
    return out;
}

std::size_t recordSize(const Key& key) {
    return name::toWire(key.name).size() + 10 + name::toWire(wireName(key.algorithm)).size() + 6 +
           2 + 2 + macSize(key.algorithm) + 2 + 2 + 2;
}

std::string errorName(std::uint16_t error) {
    switch (error) {
    case badSig:
        return "BADSIG";
    case badKey:
        return "BADKEY";
    case badTime:
        return "BADTIME";
    case badTrunc:
        return "BADTRUNC";
    default:
        return "TSIG error " + std::to_string(error);
    }
}

std::vector<std::uint8_t> sign(const Key& key, std::vector<std::uint8_t>& message,
                               std::uint64_t timeSigned, std::uint16_t fudge) {
    if (message.size() < 12) {
        throw Error(Exit::Software, "a DNS message to sign is shorter than its header");
    }
    if (message.size() + recordSize(key) > 65535) {
        throw Error(Exit::Software, "a DNS message with its TSIG record would exceed 65535 octets");
    }
    std::vector<std::uint8_t> input;
    input.reserve(message.size() + 128);
    putBytes(input, message);
    putVariables(input, key, timeSigned, fudge, 0, {});
    const auto mac = hmac(key, input);

    const std::uint16_t id = getU16(message, 0);
    putName(message, key.name);
    putU16(message, typeTsig);
    putU16(message, 255);
    putU32(message, 0);
    const std::size_t rdlenAt = message.size();
    putU16(message, 0);
    putName(message, wireName(key.algorithm));
    putU48(message, timeSigned);
    putU16(message, fudge);
    putMac(message, mac);
    putU16(message, id);
    putU16(message, 0); // error
    putU16(message, 0); // other len
    const std::size_t rdlen = message.size() - rdlenAt - 2;
    message[rdlenAt] = static_cast<std::uint8_t>(rdlen >> 8);
    message[rdlenAt + 1] = static_cast<std::uint8_t>(rdlen & 0xff);
    const std::uint32_t arcount = getU16(message, 10) + 1U;
    message[10] = static_cast<std::uint8_t>(arcount >> 8);
    message[11] = static_cast<std::uint8_t>(arcount & 0xff);
    return mac;
}

std::string_view toString(Check::Status status) {
    switch (status) {
    case Check::Status::Ok:
        return "verified";
    case Check::Status::Unsigned:
        return "not signed";
    case Check::Status::Rejected:
        return "rejected by the server";
    case Check::Status::WrongKey:
        return "signed with another key";
    case Check::Status::BadMac:
        return "signed with a MAC that does not verify";
    case Check::Status::BadTime:
        return "signed at a time outside the allowed fudge";
    case Check::Status::Malformed:
        return "malformed";
    }
    return "malformed";
}

Verifier::Verifier(const Key& key, std::vector<std::uint8_t> requestMac)
    : key_(key), priorMac_(std::move(requestMac)) {}

Check Verifier::verify(std::span<const std::uint8_t> message, std::uint64_t now) {
    Check c;
    const auto at = findTsig(message);
    if (!at) {
        return c;
    }
    c.tsigOffset = *at;
    if (*at == message.size()) {
        c.status = Check::Status::Unsigned;
        if (!first_) {
            if (++unsignedCount_ >= 100) {
                c.status = Check::Status::BadMac; // RFC 8945 §5.3.1: at most 99 unsigned in a row
            } else {
                putBytes(pending_, message);
            }
        }
        return c;
    }
    // The TSIG record: NAME TYPE CLASS TTL RDLENGTH, then algorithm, time, fudge, MAC, ...
    std::size_t pos = 0;
    const auto owner = readName(message, *at, pos);
    if (!owner || pos + 10 > message.size()) {
        return c;
    }
    const std::size_t rdEnd = pos + 10 + getU16(message, pos + 8);
    // CLASS ANY and TTL 0 (RFC 8945 §4.2): the MAC covers these constants, not the octets.
    const bool constants = getU16(message, pos + 2) == 255 && getU16(message, pos + 4) == 0 &&
                           getU16(message, pos + 6) == 0;
    pos += 10;
    if (rdEnd > message.size() || !constants) {
        return c;
    }
    const auto alg = readName(message, pos, pos);
    if (!alg || pos + 10 > rdEnd) {
        return c;
    }
    const std::uint64_t timeSigned = (std::uint64_t{getU16(message, pos)} << 32) |
                                     (std::uint64_t{getU16(message, pos + 2)} << 16) |
                                     getU16(message, pos + 4);
    const std::uint16_t fudge = getU16(message, pos + 6);
    const std::size_t macLen = getU16(message, pos + 8);
    pos += 10;
    if (pos + macLen + 6 > rdEnd) {
        return c;
    }
    const std::span<const std::uint8_t> mac = message.subspan(pos, macLen);
    pos += macLen;
    const std::uint16_t originalId = getU16(message, pos);
    c.error = getU16(message, pos + 2);
    const std::size_t otherLen = getU16(message, pos + 4);
    pos += 6;
    if (pos + otherLen != rdEnd) {
        return c;
    }
    const std::span<const std::uint8_t> other = message.subspan(pos, otherLen);
    c.timeSigned = timeSigned;

    if (*owner != name::toWire(key_.name) || *alg != name::toWire(wireName(key_.algorithm))) {
        c.status = Check::Status::WrongKey;
        return c;
    }
    if (macLen == 0 && (c.error == badSig || c.error == badKey)) {
        c.status = Check::Status::Rejected;
        return c;
    }
    if (macLen != macSize(key_.algorithm)) {
        c.status = Check::Status::BadMac; // cdm never asks for truncated MACs
        return c;
    }

    std::vector<std::uint8_t> input;
    input.reserve(priorMac_.size() + pending_.size() + *at + 128);
    putMac(input, priorMac_);
    putBytes(input, pending_);
    const std::size_t headerAt = input.size();
    putBytes(input, message.first(*at));
    // The MAC covers the message as it was before the TSIG record was added: the original ID
    // and ARCOUNT one less.
    input[headerAt] = static_cast<std::uint8_t>(originalId >> 8);
    input[headerAt + 1] = static_cast<std::uint8_t>(originalId & 0xff);
    const std::uint32_t arcount = getU16(message, 10) - 1U;
    input[headerAt + 10] = static_cast<std::uint8_t>(arcount >> 8);
    input[headerAt + 11] = static_cast<std::uint8_t>(arcount & 0xff);
    if (first_) {
        putVariables(input, key_, timeSigned, fudge, c.error, other);
    } else {
        putU48(input, timeSigned); // RFC 8945 §4.3.1: later messages cover the timers only
        putU16(input, fudge);
    }
    const auto expected = hmac(key_, input);
    if (CRYPTO_memcmp(expected.data(), mac.data(), expected.size()) != 0) {
        c.status = Check::Status::BadMac;
        return c;
    }
    priorMac_.assign(mac.begin(), mac.end());
    pending_.clear();
    unsignedCount_ = 0;
    first_ = false;
    const std::uint64_t diff = now > timeSigned ? now - timeSigned : timeSigned - now;
    c.status = diff > fudge ? Check::Status::BadTime : Check::Status::Ok;
    return c;
}

std::vector<std::uint8_t> stripped(std::span<const std::uint8_t> message, std::size_t tsigOffset) {
    std::vector<std::uint8_t> out(
        message.begin(),
        message.begin() + static_cast<std::ptrdiff_t>(std::min(tsigOffset, message.size())));
    if (tsigOffset < message.size() && out.size() >= 12) {
        const std::uint32_t arcount = getU16(out, 10) - 1U;
        out[10] = static_cast<std::uint8_t>(arcount >> 8);
        out[11] = static_cast<std::uint8_t>(arcount & 0xff);
    }
    return out;
}

} // namespace cdm::tsig
