#include "libcommon/provider/zonefile.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <poll.h>
#include <set>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <tuple>
#include <unistd.h>

#include "libcommon/fsutil.hpp"
#include "libcommon/log.hpp"
#include "libcommon/name.hpp"
#include "libcommon/provider/providers.hpp"

extern char** environ;

namespace cdm::provider {

namespace zonefile {

namespace {

constexpr std::size_t npos = std::string::npos;
// RFC 2181 §8: a TTL over 2^31 - 1 is read as 0, as BIND does (with a warning).
constexpr std::uint32_t maxTtl = 2147483647U;
// $INCLUDE files nest at most this deep (a file including itself stops here).
constexpr int maxIncludeDepth = 16;

std::string quoted(std::string_view text) {
    return "'" + std::string(text) + "'";
}

[[noreturn]] void fail(const std::string& file, unsigned line, std::string message) {
    throw Error(Exit::DataErr, std::move(message), Location{file, line, {}});
}

bool isBlank(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

bool isDigit(char c) {
    return c >= '0' && c <= '9';
}

std::string upper(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'a' && c <= 'z') {
            c = static_cast<char>(c - 'a' + 'A');
        }
    }
    return out;
}

std::vector<std::string> splitSpaces(std::string_view text) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && text[i] == ' ') {
            ++i;
        }
        const std::size_t j = std::min(text.find(' ', i), text.size());
        if (j > i) {
            out.emplace_back(text.substr(i, j - i));
        }
        i = j;
    }
    return out;
}

// Record types a master file may hold that record::Type does not know: read as opaque text,
// kept as written. Anything else that is not TYPEnnn is a typo, and an error.
constexpr std::array<std::string_view, 74> otherTypes = {
    "A6",       "AFSDB",  "AMTRELAY", "APL",   "ATMA",      "AVC",        "CDNSKEY", "CDS",
    "CERT",     "CSYNC",  "DHCID",    "DLV",   "DNAME",     "DNSKEY",     "DOA",     "DS",
    "DSYNC",    "EID",    "EUI48",    "EUI64", "GID",       "GPOS",       "HINFO",   "HIP",
    "HTTPS",    "IPSECKEY", "ISDN",   "KEY",   "KX",        "L32",        "L64",     "LOC",
    "LP",       "MB",     "MD",       "MF",    "MG",        "MINFO",      "MR",      "NAPTR",
    "NID",      "NIMLOC", "NINFO",    "NSAP",  "NSAP-PTR",  "NSEC",       "NSEC3",   "NSEC3PARAM",
    "NULL",     "NXT",    "OPENPGPKEY", "PTR", "PX",        "RESINFO",    "RKEY",    "RP",
    "RRSIG",    "RT",     "SIG",      "SINK",  "SMIMEA",    "SPF",        "SSHFP",   "SVCB",
    "TA",       "TALINK", "UID",      "UINFO", "UNSPEC",    "URI",        "WALLET",  "WKS",
    "X25",      "ZONEMD",
};

bool isOtherType(const std::string& upperText) {
    if (std::find(otherTypes.begin(), otherTypes.end(), upperText) != otherTypes.end()) {
        return true;
    }
    if (upperText.size() > 4 && upperText.compare(0, 4, "TYPE") == 0 && upperText.size() <= 9 &&
        std::all_of(upperText.begin() + 4, upperText.end(), isDigit)) {
        return std::stoul(upperText.substr(4)) <= 65535;
    }
    return false;
}

// ---------------------------------------------------------------- lexer

// One field of a master file. `text` keeps escapes as written; quotes are removed and
// recorded in `quoted`. Offsets are into the file's text.
struct Tok {
    std::string text;
    bool quoted = false;
    std::size_t begin = 0; // the first character, opening quote included
    std::size_t end = 0;   // past the last character, closing quote included
    unsigned line = 0;
};

// One entry of a master file: a record or a directive, or a blank or comment-only line. It
// covers whole lines, [begin, end), the last newline included, so that the file is exactly
// the concatenation of its entries.
struct Logical {
    std::size_t begin = 0;
    std::size_t end = 0;
    unsigned line = 0;       // its first line
    bool blankOwner = false; // the first column is blank
    std::vector<Tok> toks;
};

std::vector<Logical> lex(std::string_view text, const std::string& file) {
    std::vector<Logical> out;
    const std::size_t n = text.size();
    std::size_t pos = 0;
    unsigned line = 1;
    while (pos < n) {
        Logical lg;
        lg.begin = pos;
        lg.line = line;
        lg.blankOwner = text[pos] == ' ' || text[pos] == '\t';
        int depth = 0;
        unsigned openLine = 0;
        while (pos < n) {
            const char c = text[pos];
            if (c == '\n') {
                ++line;
                ++pos;
                if (depth == 0) {
                    break;
                }
                continue;
            }
            if (isBlank(c)) {
                ++pos;
                continue;
            }
            if (c == ';') {
                while (pos < n && text[pos] != '\n') {
                    ++pos;
                }
                continue;
            }
            if (c == '(') {
                if (depth == 0) {
                    openLine = line;
                }
                ++depth;
                ++pos;
                continue;
            }
            if (c == ')') {
                if (depth == 0) {
                    fail(file, line, "')' without '('");
                }
                --depth;
                ++pos;
                continue;
            }
            Tok tok;
            tok.begin = pos;
            tok.line = line;
            if (c == '"') {
                std::size_t j = pos + 1;
                while (j < n && text[j] != '"') {
                    if (text[j] == '\n') {
                        fail(file, line, "unterminated quoted string");
                    }
                    j += text[j] == '\\' && j + 1 < n && text[j + 1] != '\n' ? 2 : 1;
                }
                if (j >= n) {
                    fail(file, line, "unterminated quoted string");
                }
                tok.text = std::string(text.substr(pos + 1, j - pos - 1));
                tok.quoted = true;
                pos = j + 1;
            } else {
                std::size_t j = pos;
                while (j < n && !isBlank(text[j]) && text[j] != '\n' && text[j] != ';' &&
                       text[j] != '(' && text[j] != ')') {
                    if (text[j] == '"') {
                        // A quoted part inside a field, as SVCB/HTTPS values are written
                        // (alpn="h2,h3"): part of the field, blanks and all.
                        ++j;
                        while (j < n && text[j] != '"' && text[j] != '\n') {
                            j += text[j] == '\\' && j + 1 < n && text[j + 1] != '\n' ? 2 : 1;
                        }
                        if (j >= n || text[j] != '"') {
                            fail(file, line, "unterminated quoted string");
                        }
                        ++j;
                        continue;
                    }
                    j += text[j] == '\\' && j + 1 < n && text[j + 1] != '\n' ? 2 : 1;
                }
                tok.text = std::string(text.substr(pos, j - pos));
                pos = j;
            }
            tok.end = pos;
            lg.toks.push_back(std::move(tok));
        }
        if (depth != 0) {
            fail(file, openLine, "'(' without ')'");
        }
        lg.end = pos;
        out.push_back(std::move(lg));
    }
    return out;
}

// A field's text for record::canonical(): quoted strings quoted again, escapes as written.
std::string joinFields(const std::vector<Tok>& toks, std::size_t from) {
    std::string out;
    for (std::size_t i = from; i < toks.size(); ++i) {
        if (!out.empty()) {
            out += ' ';
        }
        out += toks[i].quoted ? "\"" + toks[i].text + "\"" : toks[i].text;
    }
    return out;
}

// ---------------------------------------------------------------- reader state

// What a record line inherits from the lines before it (BIND's lib/dns/master.c).
struct State {
    std::string origin;
    std::optional<std::uint32_t> defaultTtl; // $TTL, or the minimum of a SOA without a TTL
    std::optional<std::uint32_t> lastTtl;    // the previous record's TTL (RFC 1035)
    std::optional<std::string> prevOwner;
};

// The TTL a record line without one gets: $TTL, else the previous record's, else, for the SOA
// (whose minimum then serves as $TTL), `soaMinimum`. nullopt: "no TTL specified", an error.
std::optional<std::uint32_t> inheritedTtl(const State& st, std::optional<std::uint32_t> soaMinimum) {
    if (st.defaultTtl) {
        return st.defaultTtl;
    }
    if (st.lastTtl) {
        return st.lastTtl;
    }
    return soaMinimum;
}

void noteRecord(State& st, const std::string& owner, std::uint32_t ttl, bool explicitTtl,
                bool isSoa) {
    if (!explicitTtl && !st.defaultTtl && !st.lastTtl && isSoa) {
        st.defaultTtl = ttl;
    }
    st.lastTtl = ttl;
    st.prevOwner = owner;
}

std::uint32_t clampTtl(std::uint32_t ttl, const std::string& file, unsigned line) {
    if (ttl > maxTtl) {
        log::warn(file + ":" + std::to_string(line) + ": TTL " + std::to_string(ttl) +
                  " is over 2147483647 and reads as 0 (RFC 2181), as BIND reads it");
        return 0;
    }
    return ttl;
}

std::uint32_t soaMinimumOf(const std::string& canonicalSoa) {
    const auto fields = splitSpaces(canonicalSoa);
    return fields.size() == 7 ? static_cast<std::uint32_t>(std::stoul(fields[6])) : 0;
}

// ---------------------------------------------------------------- reader

// One entry of the master file itself, as the editor needs it.
struct Seg {
    enum class Kind { Blank, Record, Origin, Ttl, Include };
    Kind kind = Kind::Blank;
    Logical lg;
    // Record:
    std::size_t entry = npos;   // in Zone::entries
    std::size_t ownerTok = npos; // the owner's field (npos: blank first column)
    std::size_t ttlTok = npos;
    std::size_t classTok = npos;
    std::size_t typeTok = 0;
    // $ORIGIN: the new origin; $TTL: the value; $INCLUDE: the resolved file and its origin.
    std::string value;
    std::uint32_t ttl = 0;
    std::optional<std::string> includeOrigin;
};

std::string directoryOf(const std::string& file) {
    const auto slash = file.rfind('/');
    if (slash == npos) {
        return ".";
    }
    return slash == 0 ? "/" : file.substr(0, slash);
}

class Reader {
public:
    explicit Reader(const Options& options) : options_(options) {}

    Zone zone;
    std::vector<Seg> segs; // the master file's entries

    void readMain(std::string_view text) {
        State st;
        st.origin = name::normalize(options_.origin.empty() ? "." : options_.origin);
        read(text, options_.file, st, true, 0, &zone.entries);
        finish();
    }

    // The State after the $INCLUDE of `seg`, from the state before it: what the editor needs
    // to know of an included file's effect on the lines after it.
    void simulateInclude(const Seg& seg, State& st) {
        include(seg, st, 0, nullptr);
    }

    std::string resolveInclude(const std::string& path) const {
        if (!path.empty() && path.front() == '/') {
            return path;
        }
        const std::string dir = options_.directory.empty() ? directoryOf(options_.file) : options_.directory;
        return dir + "/" + path;
    }

private:
    const Options& options_;
    std::map<std::string, std::string> includeText_;

    const std::string& loadInclude(const std::string& path) {
        auto it = includeText_.find(path);
        if (it == includeText_.end()) {
            std::string text = options_.load ? options_.load(path) : fsutil::readFile(path, 256U << 20U);
            it = includeText_.emplace(path, std::move(text)).first;
        }
        return it->second;
    }

    void include(const Seg& seg, State& st, int depth, std::vector<Entry>* out) {
        const std::string& text = loadInclude(seg.value);
        State inner = st;
        if (seg.includeOrigin) {
            inner.origin = *seg.includeOrigin;
        }
        read(text, seg.value, inner, false, depth + 1, out);
        // The origin and the previous owner are the including file's again (RFC 1035 §5.1;
        // BIND); $TTL and the last TTL carry on.
        st.defaultTtl = inner.defaultTtl;
        st.lastTtl = inner.lastTtl;
    }

    void read(std::string_view text, const std::string& file, State& st, bool main, int depth,
              std::vector<Entry>* out) {
        if (depth > maxIncludeDepth) {
            fail(file, 1, "$INCLUDE nested more than " + std::to_string(maxIncludeDepth) +
                              " deep (does a file include itself?)");
        }
        for (Logical& lg : lex(text, file)) {
            Seg seg;
            seg.lg = std::move(lg);
            const auto& toks = seg.lg.toks;
            if (!toks.empty() && !seg.lg.blankOwner && !toks[0].quoted && toks[0].text.front() == '$') {
                directive(seg, file, st, depth, out);
            } else if (!toks.empty()) {
                seg.kind = Seg::Kind::Record;
                Entry entry = recordOf(seg, file, st);
                entry.included = !main;
                if (out != nullptr) {
                    seg.entry = out->size();
                    out->push_back(std::move(entry));
                }
            }
            if (main) {
                segs.push_back(std::move(seg));
            }
        }
    }

    void directive(Seg& seg, const std::string& file, State& st, int depth, std::vector<Entry>* out) {
        const auto& toks = seg.lg.toks;
        const std::string word = upper(toks[0].text);
        const unsigned line = seg.lg.line;
        const auto args = [&](std::size_t most) {
            const std::size_t n = toks.size() - 1;
            if (n < 1 || n > most) {
                fail(file, line, word + " takes " + (most == 1 ? "one field" : "one or two fields") + ", not " +
                                     std::to_string(n));
            }
        };
        if (word == "$ORIGIN") {
            args(1);
            seg.kind = Seg::Kind::Origin;
            seg.value = normalizeName(toks[1], st.origin, file, "$ORIGIN");
            st.origin = seg.value;
        } else if (word == "$TTL") {
            args(1);
            seg.kind = Seg::Kind::Ttl;
            const auto ttl = parseTtl(toks[1].text);
            if (!ttl || toks[1].quoted) {
                fail(file, toks[1].line, "$TTL " + quoted(toks[1].text) +
                                             " is not a TTL (seconds, or BIND units such as 1h or 1d2h)");
            }
            seg.ttl = clampTtl(*ttl, file, line);
            st.defaultTtl = seg.ttl;
        } else if (word == "$INCLUDE") {
            args(2);
            seg.kind = Seg::Kind::Include;
            seg.value = resolveInclude(toks[1].text);
            if (toks.size() == 3) {
                seg.includeOrigin = normalizeName(toks[2], st.origin, file, "$INCLUDE origin");
            }
            try {
                include(seg, st, depth, out);
            } catch (const Error& e) {
                // The file itself cannot be read: say which $INCLUDE names it. (Errors inside
                // it name their own file and line.)
                if (e.where().line == 0) {
                    throw Error(e.code(), "$INCLUDE " + quoted(seg.value) + ": " + e.message(), Location{file, line, {}});
                }
                throw;
            }
        } else if (word == "$GENERATE") {
            fail(file, line, "$GENERATE is not supported: write the records out, or keep them in a zone this provider does not edit");
        } else {
            fail(file, line, "unknown directive " + quoted(toks[0].text) + " (known: $ORIGIN, $TTL, $INCLUDE)");
        }
    }

    static std::string normalizeName(const Tok& tok, const std::string& origin, const std::string& file,
                                     const std::string& field) {
        if (tok.quoted) {
            fail(file, tok.line, field + " " + quoted(tok.text) + " must not be quoted");
        }
        try {
            return name::normalize(tok.text, origin);
        } catch (const Error& e) {
            fail(file, tok.line, field + " " + quoted(tok.text) + ": " + e.message());
        }
    }

    Entry recordOf(Seg& seg, const std::string& file, State& st) {
        const auto& toks = seg.lg.toks;
        Entry e;
        e.file = file;
        e.line = seg.lg.line;
        std::size_t k = 0;
        if (!seg.lg.blankOwner) {
            e.owner = normalizeName(toks[0], st.origin, file, "owner name");
            seg.ownerTok = 0;
            k = 1;
        } else if (st.prevOwner) {
            e.owner = *st.prevOwner;
        } else {
            fail(file, e.line, "no owner name, and no record before this one to take it from");
        }
        // [TTL] [CLASS] TYPE in either order (RFC 1035 §5.1; BIND). A TTL starts with a digit,
        // which no type or class does.
        std::optional<std::uint32_t> ttl;
        for (; k < toks.size() && !toks[k].quoted; ++k) {
            const std::string& word = toks[k].text;
            const std::string up = upper(word);
            if (isDigit(word.front())) {
                if (ttl) {
                    fail(file, toks[k].line, "TTL given twice");
                }
                ttl = parseTtl(word);
                if (!ttl) {
                    fail(file, toks[k].line, "TTL " + quoted(word) +
                                                 " is not a TTL (seconds, or BIND units such as 1h or 1d2h)");
                }
                ttl = clampTtl(*ttl, file, toks[k].line);
                seg.ttlTok = k;
            } else if (up == "IN" || up == "CLASS1") {
                if (seg.classTok != npos) {
                    fail(file, toks[k].line, "class given twice");
                }
                seg.classTok = k;
            } else if (up == "CH" || up == "HS" || up == "CS" || up == "ANY" || up == "NONE" ||
                       (up.size() > 5 && up.compare(0, 5, "CLASS") == 0)) {
                fail(file, toks[k].line, "class " + quoted(word) + " is not supported, only IN");
            } else {
                break;
            }
        }
        if (k >= toks.size()) {
            fail(file, e.line, "no record type");
        }
        seg.typeTok = k;
        const Tok& typeTok = toks[k];
        e.type = typeTok.quoted ? std::nullopt : record::typeFromString(typeTok.text);
        if (e.type) {
            e.typeText = std::string(record::toString(*e.type));
        } else {
            e.typeText = upper(typeTok.text);
            if (typeTok.quoted || !isOtherType(e.typeText)) {
                fail(file, typeTok.line, "unknown record type " + quoted(typeTok.text));
            }
        }
        if (k + 1 >= toks.size()) {
            fail(file, typeTok.line, e.typeText + " record of " + quoted(e.owner) + " has no data");
        }
        if (e.type) {
            std::vector<Tok> fields(toks.begin() + static_cast<std::ptrdiff_t>(k + 1), toks.end());
            if (*e.type == record::Type::SOA && fields.size() == 7) {
                // BIND reads units in the SOA timers too ("1h", "1d"); record.cpp reads digits.
                for (std::size_t f = 3; f < 7; ++f) {
                    if (!fields[f].quoted && !fields[f].text.empty() && isDigit(fields[f].text.front())) {
                        if (const auto v = parseTtl(fields[f].text)) {
                            fields[f].text = std::to_string(*v);
                        }
                    }
                }
            }
            try {
                e.data = record::canonical(*e.type, joinFields(fields, 0), st.origin);
            } catch (const Error& err) {
                fail(file, e.line, err.message());
            }
        } else {
            e.data = joinFields(toks, k + 1);
        }
        const bool isSoa = e.type == record::Type::SOA;
        if (ttl) {
            e.ttl = *ttl;
        } else {
            const auto inherited = inheritedTtl(st, isSoa ? std::optional(soaMinimumOf(e.data)) : std::nullopt);
            if (!inherited) {
                fail(file, e.line, "no TTL, and no $TTL or earlier record to take it from");
            }
            e.ttl = *inherited;
        }
        noteRecord(st, e.owner, e.ttl, ttl.has_value(), isSoa);
        return e;
    }

    void finish() {
        std::optional<std::size_t> soa;
        const std::string origin = name::normalize(
            !options_.zone.empty() ? options_.zone : options_.origin.empty() ? "." : options_.origin);
        for (std::size_t i = 0; i < zone.entries.size(); ++i) {
            const Entry& e = zone.entries[i];
            if (e.type != record::Type::SOA) {
                continue;
            }
            if (soa) {
                fail(e.file, e.line, "a second SOA record (the first is at " + zone.entries[*soa].file + ":" +
                                         std::to_string(zone.entries[*soa].line) + ")");
            }
            if (!name::equal(e.owner, origin)) {
                fail(e.file, e.line, "the SOA record is for " + quoted(e.owner) + ", not for the zone " +
                                         quoted(origin));
            }
            soa = i;
        }
        if (!soa) {
            fail(options_.file, 0, "no SOA record for " + quoted(origin));
        }
        zone.soa = *soa;
        const auto fields = splitSpaces(zone.entries[*soa].data);
        zone.serial = static_cast<std::uint32_t>(std::stoul(fields.at(2)));
        zone.negativeTtl = static_cast<std::uint32_t>(std::stoul(fields.at(6)));
    }
};

// ---------------------------------------------------------------- editor

// The owner as the file would write it at `origin`: "@", relative, or absolute.
std::string ownerText(const std::string& owner, const std::string& origin) {
    if (origin == ".") {
        return owner;
    }
    if (name::equal(owner, origin)) {
        return "@";
    }
    const auto own = name::labels(owner);
    const auto org = name::labels(origin);
    if (own.size() > org.size() && std::equal(org.begin(), org.end(), own.end() - static_cast<std::ptrdiff_t>(org.size()))) {
        std::string out;
        for (std::size_t i = 0; i + org.size() < own.size(); ++i) {
            out += (i == 0 ? "" : ".") + own[i];
        }
        return out;
    }
    return owner;
}

// The width of `text` on screen, tabs stopping every 8 columns.
std::size_t visualWidth(std::string_view text) {
    std::size_t col = 0;
    for (const char c : text) {
        col = c == '\t' ? (col / 8 + 1) * 8 : col + 1;
    }
    return col;
}

// The column layout of a record line, copied for the lines the editor adds.
struct Layout {
    enum Role { Owner, Ttl, Class, Type, Data, Roles };
    std::array<std::size_t, Roles> column{npos, npos, npos, npos, npos}; // on screen
    std::string leading; // a blank first column, as written
    bool tabs = false;   // fields separated by tabs
    bool blankOwner = false;
    bool hasTtl = false;
    bool hasClass = false;
    std::string classText = "IN";

    // Where a field of `role` starts: its column in the style line, else the next field's.
    std::size_t target(Role role) const {
        for (int r = role; r < Roles; ++r) {
            if (column[static_cast<std::size_t>(r)] != npos) {
                return column[static_cast<std::size_t>(r)];
            }
        }
        return npos;
    }
};

Layout layoutOf(const Seg* seg, std::string_view text) {
    Layout l;
    if (seg == nullptr) {
        l.hasTtl = true;
        l.hasClass = true;
        return l;
    }
    const auto& toks = seg->lg.toks;
    const std::size_t lineStart = seg->lg.begin;
    l.blankOwner = seg->ownerTok == npos;
    l.hasTtl = seg->ttlTok != npos;
    l.hasClass = seg->classTok != npos;
    if (l.hasClass) {
        l.classText = toks[seg->classTok].text;
    }
    const auto note = [&](Layout::Role role, std::size_t tok) {
        if (tok == npos || tok >= toks.size() || toks[tok].line != seg->lg.line) {
            return;
        }
        const std::size_t prevEnd = tok == 0 ? lineStart : toks[tok - 1].end;
        l.column[role] = visualWidth(text.substr(lineStart, toks[tok].begin - lineStart));
        if (text.substr(prevEnd, toks[tok].begin - prevEnd).find('\t') != npos) {
            l.tabs = true;
        }
    };
    if (l.blankOwner && !toks.empty() && toks[0].line == seg->lg.line) {
        l.leading = std::string(text.substr(lineStart, toks[0].begin - lineStart));
    }
    note(Layout::Owner, seg->ownerTok);
    note(Layout::Ttl, seg->ttlTok);
    note(Layout::Class, seg->classTok);
    note(Layout::Type, seg->typeTok);
    note(Layout::Data, seg->typeTok + 1);
    return l;
}

// A record line in `layout`'s style: owner (empty: blank first column), TTL and class when
// given, type and data, each field at its column in the style line when the line is not
// already past it (a field the style line lacks goes where its next field is).
std::string renderLine(const Layout& layout, const std::string& owner, std::optional<std::uint32_t> ttl,
                       bool withClass, const record::Record& rr, const std::string& eol) {
    std::vector<std::pair<Layout::Role, std::string>> fields;
    if (ttl) {
        fields.emplace_back(Layout::Ttl, std::to_string(*ttl));
    }
    if (withClass) {
        fields.emplace_back(Layout::Class, layout.classText);
    }
    fields.emplace_back(Layout::Type, std::string(record::toString(rr.type)));
    fields.emplace_back(Layout::Data, rr.data);
    std::string line = owner;
    bool first = true;
    for (const auto& [role, text] : fields) {
        const std::size_t target = layout.target(role);
        if (first && owner.empty()) {
            line = !layout.leading.empty() ? layout.leading : layout.tabs ? "\t" : "        ";
        } else if (layout.tabs) {
            do {
                line += '\t';
            } while (target != npos && visualWidth(line) < target);
        } else if (target != npos && target > line.size()) {
            line.append(target - line.size(), ' ');
        } else {
            line += ' ';
        }
        first = false;
        line += text;
    }
    return line + eol;
}

struct Addition {
    record::Record rr;
    const Seg* style = nullptr;
};

struct Action {
    bool deleted = false;
    std::optional<std::uint32_t> ttl; // a new TTL for this line
};

using Key = std::tuple<std::string, std::string, std::uint32_t, std::string, bool>;

Key keyOf(const Entry& e) {
    return {e.owner, e.typeText, e.ttl, e.data, e.included};
}

std::string describe(const Key& k) {
    return std::get<0>(k) + " " + std::to_string(std::get<2>(k)) + " " + std::get<1>(k) + " " + std::get<3>(k);
}

} // namespace

// ---------------------------------------------------------------- public functions

SerialRule serialRuleFromString(std::string_view text, const Location& where) {
    const std::string up = upper(text);
    if (up == "DATE") {
        return SerialRule::Date;
    }
    if (up == "INCREMENT") {
        return SerialRule::Increment;
    }
    if (up == "UNIXTIME") {
        return SerialRule::UnixTime;
    }
    throw Error(Exit::Config, "serial " + quoted(text) + " is not one of date, increment, unixtime", where);
}

bool serialGreater(std::uint32_t a, std::uint32_t b) {
    return a != b && static_cast<std::uint32_t>(a - b) < 0x80000000U;
}

std::uint32_t nextSerial(SerialRule rule, std::uint32_t current, std::time_t now) {
    std::uint32_t plusOne = current + 1;
    if (plusOne == 0) {
        plusOne = 1; // BIND never writes serial 0 either: some tools take it for "none"
    }
    std::uint32_t candidate = plusOne;
    if (rule == SerialRule::Date) {
        std::tm local{};
        localtime_r(&now, &local);
        const auto today = static_cast<std::uint64_t>(local.tm_year + 1900) * 1000000U +
                           static_cast<std::uint64_t>(local.tm_mon + 1) * 10000U +
                           static_cast<std::uint64_t>(local.tm_mday) * 100U;
        if (today <= UINT32_MAX) {
            candidate = static_cast<std::uint32_t>(today);
        }
    } else if (rule == SerialRule::UnixTime) {
        candidate = static_cast<std::uint32_t>(static_cast<std::uint64_t>(now) & 0xffffffffU);
    }
    return serialGreater(candidate, current) ? candidate : plusOne;
}

std::optional<std::uint32_t> parseTtl(std::string_view text) {
    if (text.empty()) {
        return std::nullopt;
    }
    std::uint64_t total = 0;
    if (std::all_of(text.begin(), text.end(), isDigit)) {
        if (text.size() > 10) {
            return std::nullopt;
        }
        total = std::stoull(std::string(text));
        return total > UINT32_MAX ? std::nullopt : std::optional(static_cast<std::uint32_t>(total));
    }
    // BIND units: each number followed by its unit, "1h30m"; "1h30" is an error.
    std::size_t i = 0;
    while (i < text.size()) {
        std::uint64_t n = 0;
        const std::size_t start = i;
        while (i < text.size() && isDigit(text[i])) {
            n = n * 10 + static_cast<std::uint64_t>(text[i] - '0');
            if (n > UINT32_MAX) {
                return std::nullopt;
            }
            ++i;
        }
        if (i == start || i == text.size()) {
            return std::nullopt;
        }
        std::uint64_t unit = 0;
        switch (text[i]) {
        case 'w': case 'W': unit = 7 * 86400; break;
        case 'd': case 'D': unit = 86400; break;
        case 'h': case 'H': unit = 3600; break;
        case 'm': case 'M': unit = 60; break;
        case 's': case 'S': unit = 1; break;
        default: return std::nullopt;
        }
        ++i;
        total += n * unit;
        if (total > UINT32_MAX) {
            return std::nullopt;
        }
    }
    return static_cast<std::uint32_t>(total);
}

ZoneContents Zone::contents(const std::string& zoneName) const {
    ZoneContents out;
    out.complete = true;
    out.serial = serial;
    out.negativeTtl = negativeTtl;
    const std::string apex = name::normalize(zoneName);
    std::map<RRsetKey, std::uint32_t> rrsetTtl;
    std::set<std::tuple<std::string, record::Type, std::string>> seen;
    for (const Entry& e : entries) {
        if (!e.type || !name::isSubdomain(e.owner, apex)) {
            continue;
        }
        const RRsetKey key{e.owner, *e.type};
        const std::uint32_t ttl = rrsetTtl.try_emplace(key, e.ttl).first->second;
        if (seen.emplace(e.owner, *e.type, e.data).second) {
            out.records.push_back(record::Record{e.owner, *e.type, ttl, e.data});
        }
    }
    return out;
}

Zone parse(std::string_view text, const Options& options) {
    Reader reader(options);
    reader.readMain(text);
    return std::move(reader.zone);
}

Edited edit(std::string_view text, const Options& options, const Change& change, SerialRule rule,
            std::time_t now) {
    Reader reader(options);
    reader.readMain(text);
    const Zone& zone = reader.zone;
    const std::vector<Seg>& segs = reader.segs;
    const std::string& file = options.file;

    Edited result;
    result.text = std::string(text);
    result.serial = zone.serial;

    std::vector<std::size_t> segOfEntry(zone.entries.size(), npos);
    std::map<RRsetKey, std::vector<std::size_t>> byKey;  // entries of each known RRset
    std::map<std::string, std::size_t> lastOfOwner;       // the last record line of each owner
    const Seg* lastRecord = nullptr;
    for (std::size_t i = 0; i < segs.size(); ++i) {
        if (segs[i].kind == Seg::Kind::Record) {
            segOfEntry[segs[i].entry] = i;
            lastOfOwner[zone.entries[segs[i].entry].owner] = i;
            lastRecord = &segs[i];
        }
    }
    for (std::size_t i = 0; i < zone.entries.size(); ++i) {
        if (zone.entries[i].type) {
            byKey[RRsetKey{zone.entries[i].owner, *zone.entries[i].type}].push_back(i);
        }
    }
    const std::string apex = name::normalize(!change.zone.empty() ? change.zone
                                             : !options.zone.empty() ? options.zone
                                                                     : options.origin);

    std::vector<Action> actions(segs.size());
    std::map<std::size_t, std::vector<Addition>> additions; // by the line they follow; npos: the end
    const Entry& soa = zone.entries[zone.soa];
    std::optional<std::string> soaData;  // the SOA's fields a change of the SOA RRset asks for
    std::uint32_t soaTtl = 0;
    bool soaTtlChanges = false;

    for (const RRsetChange& rc : change.rrsets) {
        const std::string owner = name::normalize(rc.key.name);
        const RRsetKey key{owner, rc.key.type};
        const std::string what = quoted(owner + " " + std::string(record::toString(rc.key.type)));
        if (!name::isSubdomain(owner, apex)) {
            throw Error(Exit::DataErr, what + " is not in the zone " + quoted(apex), Location{file, 0, {}});
        }
        const auto refuseIncluded = [&](const Entry& e) {
            throw Error(Exit::DataErr,
                        "cannot change " + what + ": its records are in the included file " + quoted(e.file) +
                            "; change that file by hand, or move the records into " + quoted(file),
                        Location{e.file, e.line, {}});
        };
        if (rc.key.type == record::Type::SOA) {
            if (rc.after.size() != 1) {
                throw Error(Exit::DataErr,
                            rc.after.empty() ? "refusing to delete the SOA record" : "a zone has one SOA record, not " + std::to_string(rc.after.size()),
                            Location{soa.file, soa.line, {}});
            }
            soaData = record::canonical(record::Type::SOA, rc.after.front().data);
            soaTtl = rc.after.front().ttl;
            soaTtlChanges = soaTtl != soa.ttl;
            continue;
        }
        const auto found = byKey.find(key);
        const std::vector<std::size_t> none;
        const std::vector<std::size_t>& lines = found == byKey.end() ? none : found->second;

        // The change was planned from what read() returned; the file must still hold it.
        std::vector<record::Record> held;
        for (const std::size_t i : lines) {
            const Entry& e = zone.entries[i];
            const record::Record rr{e.owner, *e.type, e.ttl, e.data};
            if (std::none_of(held.begin(), held.end(), [&](const record::Record& h) { return h.sameRecord(rr); })) {
                held.push_back(rr);
            }
        }
        const auto covers = [](const std::vector<record::Record>& a, const std::vector<record::Record>& b) {
            return std::all_of(b.begin(), b.end(), [&](const record::Record& x) {
                return std::any_of(a.begin(), a.end(), [&](const record::Record& y) { return y.sameRecord(x); });
            });
        };
        if (!covers(held, rc.before) || !covers(rc.before, held)) {
            throw RaceLost("zone file " + quoted(file) + " no longer holds what was read for " + what);
        }

        const std::uint32_t ttl = rc.after.empty() ? 0 : rc.after.front().ttl;
        std::vector<bool> present(rc.after.size(), false);
        bool touched = false;
        for (const std::size_t i : lines) {
            const Entry& e = zone.entries[i];
            const record::Record rr{e.owner, *e.type, e.ttl, e.data};
            std::size_t match = npos;
            for (std::size_t a = 0; a < rc.after.size() && match == npos; ++a) {
                if (rc.after[a].sameRecord(rr)) {
                    match = a;
                }
            }
            if (match != npos && e.ttl == ttl) {
                present[match] = true;
                continue;
            }
            if (e.included) {
                refuseIncluded(e);
            }
            touched = true;
            if (match != npos) {
                present[match] = true;
                actions[segOfEntry[i]].ttl = ttl;
            } else {
                actions[segOfEntry[i]].deleted = true;
            }
        }
        // New records follow the RRset's last line (taking a deleted line's place), else the
        // owner's last record, else they go at the end.
        std::size_t anchor = npos;
        for (const std::size_t i : lines) {
            if (segOfEntry[i] != npos) {
                anchor = segOfEntry[i];
            }
        }
        if (anchor == npos) {
            if (const auto it = lastOfOwner.find(owner); it != lastOfOwner.end()) {
                anchor = it->second;
            }
        }
        for (std::size_t a = 0; a < rc.after.size(); ++a) {
            if (present[a]) {
                continue;
            }
            for (const std::size_t i : lines) {
                if (zone.entries[i].included) {
                    refuseIncluded(zone.entries[i]);
                }
            }
            touched = true;
            record::Record rr = rc.after[a];
            rr.name = owner;
            rr.type = rc.key.type;
            rr.ttl = ttl;
            rr.data = record::canonical(rr.type, rr.data);
            additions[anchor].push_back(Addition{rr, anchor == npos ? lastRecord : &segs[anchor]});
        }
        if (touched) {
            ++result.rrsets;
        }
    }

    // The SOA: its serial moves with every write; a change of the SOA RRset may set its other
    // fields and TTL. A change of the serial alone is no change: the serial is this provider's.
    const auto soaFields = splitSpaces(soa.data);
    std::vector<std::string> newSoa = soaFields;
    bool soaTouched = false;
    std::optional<std::uint32_t> askedSerial;
    if (soaData) {
        const auto asked = splitSpaces(*soaData);
        for (std::size_t f = 0; f < 7; ++f) {
            if (f != 2 && asked[f] != soaFields[f]) {
                newSoa[f] = asked[f];
                soaTouched = true;
            }
        }
        soaTouched = soaTouched || soaTtlChanges;
        const auto s = static_cast<std::uint32_t>(std::stoul(asked[2]));
        if (s != zone.serial) {
            if (!serialGreater(s, zone.serial)) {
                throw Error(Exit::DataErr,
                            "the change sets the SOA serial to " + std::to_string(s) +
                                ", which is not greater than the zone file's " + std::to_string(zone.serial) +
                                " (RFC 1982); refusing to write",
                            Location{soa.file, soa.line, {}});
            }
            askedSerial = s;
        }
        if (soaTouched) {
            ++result.rrsets;
        }
    }
    if (result.rrsets == 0) {
        return result;
    }
    if (soa.included) {
        throw Error(Exit::DataErr,
                    "the SOA record is in the included file " + quoted(soa.file) +
                        ", so its serial cannot be raised; move it into " + quoted(file),
                    Location{soa.file, soa.line, {}});
    }
    std::uint32_t serial = nextSerial(rule, zone.serial, now);
    if (askedSerial && serialGreater(*askedSerial, serial)) {
        serial = *askedSerial;
    }
    if (!serialGreater(serial, zone.serial)) {
        throw Error(Exit::DataErr,
                    "the SOA serial would not increase past " + std::to_string(zone.serial) + "; refusing to write",
                    Location{soa.file, soa.line, {}});
    }
    newSoa[2] = std::to_string(serial);
    const Seg& soaSeg = segs[segOfEntry[zone.soa]];
    if (soaSeg.ttlTok == npos && soaTouched && newSoa[6] != soaFields[6]) {
        // Only a SOA without a TTL that nothing before it gives one takes its minimum as the
        // zone's default TTL: changing the minimum would change every TTL after it.
        bool inherits = false;
        for (const Seg& s : segs) {
            if (&s == &soaSeg) {
                inherits = true;
                break;
            }
            if (s.kind == Seg::Kind::Ttl || s.kind == Seg::Kind::Record || s.kind == Seg::Kind::Include) {
                break;
            }
        }
        if (inherits) {
            throw Error(Exit::DataErr,
                        "the SOA has no TTL and no $TTL comes before it, so its minimum is the zone's default TTL: "
                        "add a $TTL line before changing the minimum",
                        Location{soa.file, soa.line, {}});
        }
    }
    if (soaTtlChanges) {
        actions[segOfEntry[zone.soa]].ttl = soaTtl;
    }
    std::string soaText;
    for (const auto& f : newSoa) {
        soaText += (soaText.empty() ? "" : " ") + f;
    }
    soaText = record::canonical(record::Type::SOA, soaText);

    // Write the file out: each line as it was, except the deleted ones, the SOA's fields, new
    // TTLs, and owners or TTLs that a line took from one now gone.
    std::string out;
    out.reserve(text.size() + 256);
    // New lines end as the file's first line does (CRLF files stay CRLF).
    const std::size_t firstNewline = text.find('\n');
    const std::string eol = firstNewline != npos && firstNewline > 0 && text[firstNewline - 1] == '\r' ? "\r\n" : "\n";
    State st;
    st.origin = name::normalize(options.origin.empty() ? "." : options.origin);
    const auto emitAdditions = [&](std::size_t anchor) {
        const auto it = additions.find(anchor);
        if (it == additions.end()) {
            return;
        }
        if (!out.empty() && out.back() != '\n') {
            out += eol;
        }
        for (const Addition& add : it->second) {
            const Layout layout = layoutOf(add.style, text);
            const bool blank = layout.blankOwner && add.style != nullptr && st.prevOwner == add.rr.name;
            const auto inherited = inheritedTtl(st, std::nullopt);
            const bool showTtl = layout.hasTtl || !inherited || *inherited != add.rr.ttl;
            out += renderLine(layout, blank ? "" : ownerText(add.rr.name, st.origin),
                              showTtl ? std::optional(add.rr.ttl) : std::nullopt, layout.hasClass, add.rr, eol);
            noteRecord(st, add.rr.name, add.rr.ttl, showTtl, false);
        }
    };
    for (std::size_t i = 0; i < segs.size(); ++i) {
        const Seg& seg = segs[i];
        const std::string_view segText = text.substr(seg.lg.begin, seg.lg.end - seg.lg.begin);
        switch (seg.kind) {
        case Seg::Kind::Blank:
            out += segText;
            break;
        case Seg::Kind::Origin:
            st.origin = seg.value;
            out += segText;
            break;
        case Seg::Kind::Ttl:
            st.defaultTtl = seg.ttl;
            out += segText;
            break;
        case Seg::Kind::Include:
            reader.simulateInclude(seg, st);
            out += segText;
            break;
        case Seg::Kind::Record: {
            if (actions[i].deleted) {
                break;
            }
            const Entry& e = zone.entries[seg.entry];
            const bool isSoa = seg.entry == zone.soa;
            const std::uint32_t ttl = actions[i].ttl.value_or(e.ttl);
            // (offset in segText, length replaced, new text), applied from the last.
            std::vector<std::tuple<std::size_t, std::size_t, std::string>> edits;
            const auto& toks = seg.lg.toks;
            const auto at = [&](std::size_t tok) { return toks[tok].begin - seg.lg.begin; };
            if (seg.ownerTok == npos && st.prevOwner != e.owner) {
                edits.emplace_back(0, 0, ownerText(e.owner, st.origin));
            }
            bool explicitTtl = seg.ttlTok != npos;
            if (seg.ttlTok != npos) {
                if (actions[i].ttl) {
                    edits.emplace_back(at(seg.ttlTok), toks[seg.ttlTok].end - toks[seg.ttlTok].begin, std::to_string(ttl));
                }
            } else {
                const auto inherited = inheritedTtl(st, isSoa ? std::optional(soaMinimumOf(soaText)) : std::nullopt);
                if (!inherited || *inherited != ttl) {
                    const std::size_t first = seg.ownerTok == npos ? 0 : 1;
                    const std::string_view firstLine = segText.substr(0, segText.find('\n'));
                    edits.emplace_back(at(first), 0, std::to_string(ttl) + (firstLine.find('\t') != npos ? "\t" : " "));
                    explicitTtl = true;
                }
            }
            if (isSoa) {
                for (std::size_t f = 0; f < 7; ++f) {
                    if (newSoa[f] != soaFields[f]) {
                        const std::size_t tok = seg.typeTok + 1 + f;
                        edits.emplace_back(at(tok), toks[tok].end - toks[tok].begin, newSoa[f]);
                    }
                }
            }
            std::sort(edits.begin(), edits.end(), [](const auto& a, const auto& b) { return std::get<0>(a) > std::get<0>(b); });
            std::string line(segText);
            for (const auto& [offset, length, replacement] : edits) {
                line.replace(offset, length, replacement);
            }
            out += line;
            noteRecord(st, e.owner, ttl, explicitTtl, isSoa);
            break;
        }
        }
        emitAdditions(i);
    }
    emitAdditions(npos);

    // Read the result back: it must hold exactly the records expected, the included files' too.
    std::vector<Key> expected;
    for (std::size_t i = 0; i < zone.entries.size(); ++i) {
        Entry e = zone.entries[i];
        const std::size_t s = segOfEntry[i];
        if (s != npos && actions[s].deleted) {
            continue;
        }
        if (s != npos && actions[s].ttl) {
            e.ttl = *actions[s].ttl;
        }
        if (i == zone.soa) {
            e.data = soaText;
        }
        expected.push_back(keyOf(e));
    }
    for (const auto& [anchor, list] : additions) {
        for (const Addition& add : list) {
            expected.push_back(Key{add.rr.name, std::string(record::toString(add.rr.type)), add.rr.ttl, add.rr.data, false});
        }
    }
    Zone back;
    try {
        back = parse(out, options);
    } catch (const Error& e) {
        throw Error(Exit::Software, "internal error: the edited zone file would not read back (" + std::string(e.what()) +
                                        "); nothing was written", Location{file, 0, {}});
    }
    std::vector<Key> actual;
    for (const Entry& e : back.entries) {
        actual.push_back(keyOf(e));
    }
    std::sort(expected.begin(), expected.end());
    std::sort(actual.begin(), actual.end());
    if (expected != actual) {
        const auto diff = std::mismatch(expected.begin(), expected.end(), actual.begin(), actual.end());
        const std::string want = diff.first == expected.end() ? "nothing more" : quoted(describe(*diff.first));
        const std::string got = diff.second == actual.end() ? "nothing more" : quoted(describe(*diff.second));
        throw Error(Exit::Software, "internal error: the edited zone file would read back as " + got + " where " + want +
                                        " was expected; nothing was written", Location{file, 0, {}});
    }
    if (std::any_of(zone.entries.begin(), zone.entries.end(), [](const Entry& e) { return e.typeText == "RRSIG"; })) {
        log::warn("zonefile: " + quoted(file) +
                  " holds RRSIG records: the changed RRsets are unsigned until the zone is signed again");
    }
    result.text = std::move(out);
    result.changed = true;
    result.serial = serial;
    return result;
}

} // namespace zonefile

// ---------------------------------------------------------------- the provider

namespace {

using zonefile::quoted;
using zonefile::SerialRule;

// A descriptor closed on every path.
class Fd {
public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    ~Fd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    int get() const { return fd_; }

private:
    int fd_;
};

std::string systemError(const std::string& what, int err) {
    return "unable to " + what + ": " + std::strerror(err);
}

// Posix spawn attributes and file actions, destroyed on every path.
class SpawnSetup {
public:
    SpawnSetup() {
        ::posix_spawnattr_init(&attr);
        ::posix_spawn_file_actions_init(&actions);
    }
    SpawnSetup(const SpawnSetup&) = delete;
    SpawnSetup& operator=(const SpawnSetup&) = delete;
    ~SpawnSetup() {
        ::posix_spawn_file_actions_destroy(&actions);
        ::posix_spawnattr_destroy(&attr);
    }
    posix_spawnattr_t attr{};
    posix_spawn_file_actions_t actions{};
};

struct CommandResult {
    bool started = false;
    bool timedOut = false;
    int status = 0; // waitpid() status
    std::string output;
    std::string error; // why it did not start
};

// Run `command` through /bin/sh -c with `env` added to ours; its standard output and error
// are captured (stdout carries the document, so nothing may reach it), its stdin is /dev/null.
// A command still running after `timeout` is killed with its process group.
CommandResult runCommand(const std::string& command, const std::map<std::string, std::string>& env,
                         std::chrono::seconds timeout) {
    CommandResult result;
    std::array<int, 2> pipeFds{-1, -1};
    if (::pipe2(pipeFds.data(), O_CLOEXEC) != 0) {
        result.error = systemError("create a pipe", errno);
        return result;
    }
    Fd readEnd(pipeFds[0]);
    Fd writeEnd(pipeFds[1]);

    std::vector<std::string> envStrings;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        const std::string_view entry(*e);
        const auto eq = entry.find('=');
        if (eq != std::string_view::npos && env.count(std::string(entry.substr(0, eq))) != 0) {
            continue;
        }
        envStrings.emplace_back(entry);
    }
    for (const auto& [k, v] : env) {
        envStrings.push_back(k + "=" + v);
    }
    std::vector<char*> envp;
    for (auto& s : envStrings) {
        envp.push_back(s.data());
    }
    envp.push_back(nullptr);
    std::string sh = "/bin/sh";
    std::string dashC = "-c";
    std::string cmd = command;
    std::array<char*, 4> argv{sh.data(), dashC.data(), cmd.data(), nullptr};

    SpawnSetup setup;
    ::posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_adddup2(&setup.actions, writeEnd.get(), 1);
    ::posix_spawn_file_actions_adddup2(&setup.actions, writeEnd.get(), 2);
    ::posix_spawnattr_setflags(&setup.attr, POSIX_SPAWN_SETPGROUP);
    ::posix_spawnattr_setpgroup(&setup.attr, 0);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, sh.c_str(), &setup.actions, &setup.attr, argv.data(), envp.data());
    if (rc != 0) {
        result.error = systemError("run /bin/sh", rc);
        return result;
    }
    result.started = true;
    { Fd closeWrite(std::move(writeEnd)); }

    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool exited = false;
    bool eof = false;
    std::array<char, 4096> buf{};
    constexpr std::size_t cap = 16384;
    for (;;) {
        if (!exited && ::waitpid(pid, &result.status, WNOHANG) == pid) {
            exited = true;
        }
        bool drained = eof;
        if (!eof) {
            pollfd p{readEnd.get(), POLLIN, 0};
            // Once the shell is gone, read only what is there: a daemon it started may keep
            // the pipe open.
            const int ready = ::poll(&p, 1, exited ? 0 : 50);
            if (ready > 0) {
                const ssize_t n = ::read(readEnd.get(), buf.data(), buf.size());
                if (n > 0) {
                    const auto got = static_cast<std::size_t>(n);
                    if (result.output.size() < cap) {
                        result.output.append(buf.data(), std::min(got, cap - result.output.size()));
                    }
                } else if (n == 0 || errno != EINTR) {
                    eof = true;
                }
                continue;
            }
            drained = ready == 0;
        } else if (!exited) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        if (exited && drained) {
            break;
        }
        if (!exited && std::chrono::steady_clock::now() > deadline) {
            ::kill(-pid, SIGTERM);
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            ::kill(-pid, SIGKILL);
            ::waitpid(pid, &result.status, 0);
            result.timedOut = true;
            return result;
        }
    }
    return result;
}

// The command's last three lines, on one line: the error is at the end, and a long
// transcript helps no one in a message.
std::string lastLines(const std::string& output) {
    std::vector<std::string> lines;
    std::size_t at = 0;
    while (at < output.size()) {
        const std::size_t end = std::min(output.find('\n', at), output.size());
        std::string line = output.substr(at, end - at);
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
            line.pop_back();
        }
        if (!line.empty()) {
            lines.push_back(std::move(line));
        }
        at = end + 1;
    }
    std::string text;
    for (std::size_t i = lines.size() > 3 ? lines.size() - 3 : 0; i < lines.size(); ++i) {
        text += (text.empty() ? "" : "; ") + lines[i];
    }
    return text.size() > 600 ? "..." + text.substr(text.size() - 600) : text;
}

// What read() saw, to tell in apply() whether anyone changed the files since.
struct Snapshot {
    std::string text;
    std::map<std::string, std::string> includes;
};

class ZonefileProvider : public Provider {
public:
    explicit ZonefileProvider(const Settings& settings) : settings_(settings) {
        path_ = settings.require("zonefile");
        rule_ = zonefile::serialRuleFromString(settings.get("serial").value_or("date"), settings.locate("serial"));
        reload_ = settings.get("reload").value_or("");
        timeout_ = std::chrono::seconds(settings.number("reload_timeout", 60, 1, 3600));
        if (const auto origin = settings.get("origin"); origin && !origin->empty()) {
            try {
                origin_ = name::normalize(*origin);
            } catch (const Error& e) {
                throw Error(Exit::Config, "origin " + quoted(*origin) + ": " + e.message(), settings.locate("origin"));
            }
        }
        directory_ = settings.get("directory").value_or("");
    }

    ZoneContents read(const std::string& zone, const std::vector<RRsetKey>& /*wanted*/) override {
        Snapshot snap;
        snap.text = fsutil::readFile(path_, maxSize);
        const zonefile::Zone z = zonefile::parse(snap.text, options(zone, [&](const std::string& p) {
            std::string t = fsutil::readFile(p, maxSize);
            snap.includes[p] = t;
            return t;
        }));
        snapshots_[name::normalize(zone)] = std::move(snap);
        return z.contents(zone);
    }

    Applied apply(const Change& change) override {
        const std::string zone = name::normalize(change.zone);
        const std::string target = resolvedPath();
        Fd lock = takeLock(target + ".lock");

        const std::string text = fsutil::readFile(target, maxSize);
        auto snap = snapshots_.find(zone);
        if (snap != snapshots_.end() && snap->second.text != text) {
            throw RaceLost("zone file " + quoted(path_) + " was written by someone else in between");
        }
        const auto load = [&](const std::string& p) {
            std::string t = fsutil::readFile(p, maxSize);
            if (snap != snapshots_.end()) {
                const auto it = snap->second.includes.find(p);
                if (it != snap->second.includes.end() && it->second != t) {
                    throw RaceLost("included file " + quoted(p) + " changed since it was read");
                }
            }
            return t;
        };
        const zonefile::Edited edited =
            zonefile::edit(text, options(zone, load), change, rule_, std::time(nullptr));
        Applied applied;
        applied.serial = edited.serial;
        if (!edited.changed) {
            log::debug("zonefile: " + path_ + " already holds the change");
            return applied;
        }
        struct stat st{};
        if (::stat(target.c_str(), &st) != 0) {
            throw Error(Exit::NoInput, systemError("read the mode of " + quoted(path_), errno), Location{path_, 0, {}});
        }
        fsutil::writeFileAtomic(target, edited.text, st.st_mode & 07777);
        keepOwner(target, st);
        applied.messages = 1;
        if (snap != snapshots_.end()) {
            snap->second.text = edited.text;
        }
        log::info("zonefile: wrote " + path_ + " (" + std::to_string(edited.rrsets) + " RRset" +
                  (edited.rrsets == 1 ? "" : "s") + " changed, serial " + std::to_string(edited.serial) + ")");
        reload(zone, edited.serial);
        return applied;
    }

private:
    static constexpr std::size_t maxSize = 256U << 20U;

    Settings settings_;
    std::string path_;
    SerialRule rule_ = SerialRule::Date;
    std::string reload_;
    std::chrono::seconds timeout_{60};
    std::string origin_;
    std::string directory_;
    std::map<std::string, Snapshot> snapshots_;

    zonefile::Options options(const std::string& zone, zonefile::Loader load) const {
        zonefile::Options o;
        o.file = path_;
        o.zone = name::normalize(zone);
        o.origin = origin_.empty() ? o.zone : origin_;
        o.directory = directory_;
        o.load = std::move(load);
        return o;
    }

    // The file itself when the configured name is a symbolic link: the rename replaces it.
    std::string resolvedPath() const {
        std::array<char, PATH_MAX> buf{};
        if (::realpath(path_.c_str(), buf.data()) == nullptr) {
            throw Error(Exit::NoInput, systemError("find " + quoted(path_), errno), Location{path_, 0, {}});
        }
        return std::string(buf.data());
    }

    // An exclusive flock() on FILE.lock, a file that is never removed, so that every cdm
    // locks the same inode (the zone file's own inode changes with each rename).
    Fd takeLock(const std::string& lockPath) const {
        Fd fd(::open(lockPath.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
        if (fd.get() < 0) {
            throw Error(errno == EACCES ? Exit::NoPerm : Exit::CantCreat, systemError("create the lock file", errno),
                        Location{lockPath, 0, {}});
        }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
            if (errno != EWOULDBLOCK && errno != EINTR) {
                throw Error(Exit::IoErr, systemError("lock", errno), Location{lockPath, 0, {}});
            }
            if (std::chrono::steady_clock::now() > deadline) {
                throw Error(Exit::TempFail, "another process has held the lock for 30 s; try again later",
                            Location{lockPath, 0, {}});
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return fd;
    }

    void keepOwner(const std::string& target, const struct stat& before) const {
        struct stat now{};
        if (::stat(target.c_str(), &now) != 0 || (now.st_uid == before.st_uid && now.st_gid == before.st_gid)) {
            return;
        }
        if (::chown(target.c_str(), before.st_uid, before.st_gid) != 0) {
            log::warn("zonefile: " + systemError("give " + quoted(path_) + " back its owner " + std::to_string(before.st_uid) +
                                                     ":" + std::to_string(before.st_gid), errno) +
                      ", keeping " + std::to_string(now.st_uid) + ":" + std::to_string(now.st_gid));
        }
    }

    void reload(const std::string& zone, std::uint32_t serial) const {
        std::string bare = zone;
        if (bare.size() > 1 && bare.back() == '.') {
            bare.pop_back();
        }
        if (reload_.empty()) {
            log::info("zonefile: no 'reload' command set; the name server must load " + path_ + " itself");
            return;
        }
        const CommandResult r = runCommand(reload_, {{"ZONE", bare}, {"ZONEFILE", path_}}, timeout_);
        const std::string written = "zone file " + quoted(path_) + " was written (serial " + std::to_string(serial) + ")";
        const std::string retry = "; the server still has the old zone: once the cause is fixed, run the reload again by hand "
                                  "(ZONE=" + bare + " ZONEFILE=" + path_ + " sh -c " + quoted(reload_) +
                                  "), as a rerun of cdm-dns-apply finds nothing to change";
        std::string why;
        if (!r.started) {
            why = r.error;
        } else if (r.timedOut) {
            why = "it did not finish within " + std::to_string(timeout_.count()) + " s and was killed";
        } else if (WIFSIGNALED(r.status)) {
            why = "it was killed by signal " + std::to_string(WTERMSIG(r.status));
        } else if (WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0) {
            why = "it exited with status " + std::to_string(WEXITSTATUS(r.status));
        }
        const std::string output = lastLines(r.output);
        if (!why.empty()) {
            throw Error(Exit::Unavailable,
                        written + " but the reload command " + quoted(reload_) + " failed: " + why +
                            (output.empty() ? "" : " (" + output + ")") + retry,
                        settings_.locate("reload"));
        }
        log::info("zonefile: reloaded " + bare + (output.empty() ? "" : ": " + output));
    }
};

} // namespace

std::unique_ptr<Provider> makeZonefile(const Settings& settings) {
    return std::make_unique<ZonefileProvider>(settings);
}

} // namespace cdm::provider
