#include "libcommon/spf.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <climits>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "libcommon/error.hpp"
#include "libcommon/name.hpp"

namespace cdm::spf {

namespace {

using record::Type;

std::string quoted(std::string_view s) {
    return "'" + std::string(s) + "'";
}

bool isAlpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool isDigit(char c) {
    return c >= '0' && c <= '9';
}
bool isAlnum(char c) {
    return isAlpha(c) || isDigit(c);
}
char lowerChar(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), lowerChar);
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && lower(a) == lower(b);
}

// Counts add up with saturation: a record including itself through many branches could
// otherwise overflow, and anything near UINT_MAX is over the limit all the same.
unsigned add(unsigned a, unsigned b) {
    return a > UINT_MAX - b ? UINT_MAX : a + b;
}

// name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ), then "=" (§12). True when `term` starts
// so, i.e. it is a modifier and not a mechanism ("ip4:..." and "a/24" stop at ':' or '/').
bool isModifier(std::string_view term) {
    if (term.empty() || !isAlpha(term.front())) {
        return false;
    }
    for (const char c : term) {
        if (c == '=') {
            return true;
        }
        if (!isAlnum(c) && c != '-' && c != '_' && c != '.') {
            return false;
        }
    }
    return false;
}

// toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
// (§12): no all-numeric top label, so that "include:192.0.2.1" is not taken for a domain.
bool isTopLabel(std::string_view label) {
    if (label.empty()) {
        return false;
    }
    bool alpha = false;
    bool hyphen = false;
    for (const char c : label) {
        if (c == '-') {
            hyphen = true;
        } else if (!isAlnum(c)) {
            return false;
        }
        alpha = alpha || isAlpha(c);
    }
    if (hyphen) {
        return isAlnum(label.front()) && isAlnum(label.back());
    }
    return alpha;
}

// Where a dual-cidr-length starts in the argument of a or mx: the first '/' outside a
// macro-expand (a macro delimiter may be '/').
std::size_t cidrStart(std::string_view s) {
    bool inMacro = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (!inMacro && s[i] == '%' && i + 1 < s.size() && s[i + 1] == '{') {
            inMacro = true;
        } else if (inMacro && s[i] == '}') {
            inMacro = false;
        } else if (!inMacro && s[i] == '/') {
            return i;
        }
    }
    return std::string_view::npos;
}

// A macro-string (§7.1, §12): macro-literal characters (%x21-24 / %x26-7E) and macro-expands
// "%{" letter [digits] ["r"] *delimiter "}", "%%", "%_", "%-". Sets `macro` when one occurs
// and `endsInMacro` when the string ends with one. The letters c, r and t belong to the
// explanation text only (§7.2), not to a term. Returns what is wrong, if anything.
std::optional<std::string> scanMacroString(std::string_view s, bool& macro, bool& endsInMacro) {
    endsInMacro = false;
    std::size_t i = 0;
    while (i < s.size()) {
        const char c = s[i];
        if (c == '%') {
            if (i + 1 == s.size()) {
                return std::string("a '%' at the end (a literal '%' is written '%%')");
            }
            const char n = s[i + 1];
            macro = true;
            endsInMacro = true;
            if (n == '%' || n == '_' || n == '-') {
                i += 2;
                continue;
            }
            if (n != '{') {
                return quoted(s.substr(i, 2)) + " is not a macro (a literal '%' is written '%%')";
            }
            const auto close = s.find('}', i + 2);
            if (close == std::string_view::npos) {
                return "the macro " + quoted(s.substr(i)) + " has no '}'";
            }
            const std::string_view body = s.substr(i + 2, close - i - 2);
            const std::string_view whole = s.substr(i, close - i + 1);
            if (body.empty() || std::string_view("slodiphcrtv").find(lowerChar(body[0])) ==
                                    std::string_view::npos) {
                return "the macro " + quoted(whole) +
                       " has no macro letter of s, l, o, d, i, p, h, v";
            }
            if (std::string_view("crt").find(lowerChar(body[0])) != std::string_view::npos) {
                return "the macro " + quoted(whole) +
                       " is allowed in explanation text only (RFC 7208 §7.2)";
            }
            std::size_t j = 1;
            const std::size_t digits = j;
            while (j < body.size() && isDigit(body[j])) {
                ++j;
            }
            if (j > digits && std::all_of(body.begin() + static_cast<std::ptrdiff_t>(digits),
                                          body.begin() + static_cast<std::ptrdiff_t>(j),
                                          [](char d) { return d == '0'; })) {
                return "the macro " + quoted(whole) + " keeps zero parts (RFC 7208 §7.3: nonzero)";
            }
            if (j < body.size() && lowerChar(body[j]) == 'r') {
                ++j;
            }
            while (j < body.size() &&
                   std::string_view(".-+,/_=").find(body[j]) != std::string_view::npos) {
                ++j;
            }
            if (j != body.size()) {
                return "the macro " + quoted(whole) + " is not letter, digits, 'r', delimiters";
            }
            i = close + 1;
            continue;
        }
        if (c < 0x21 || c > 0x7e) {
            return std::string("a character outside printable ASCII");
        }
        endsInMacro = false;
        ++i;
    }
    return std::nullopt;
}

// domain-spec = macro-string domain-end; domain-end = ( "." toplabel [ "." ] ) / macro-expand.
// Without macros the spec must also be a DNS name cdm can look up.
std::optional<std::string> checkDomainSpec(std::string_view spec, bool& macro) {
    if (spec.empty()) {
        return std::string("no domain after ':' or '='");
    }
    bool endsInMacro = false;
    if (auto bad = scanMacroString(spec, macro, endsInMacro)) {
        return bad;
    }
    if (!endsInMacro) {
        std::string_view s = spec;
        if (s.back() == '.') {
            s.remove_suffix(1);
        }
        const auto dot = s.rfind('.');
        if (dot == std::string_view::npos) {
            return quoted(spec) + " is not a domain with at least two labels";
        }
        if (!isTopLabel(s.substr(dot + 1))) {
            return quoted(spec) +
                   " does not end in a top label of letters, digits and '-' with a letter";
        }
    }
    if (!macro && !name::isValid(spec)) {
        return quoted(spec) + " is not a valid domain name";
    }
    return std::nullopt;
}

// One CIDR length: "0", or digits without a leading zero, up to `max`.
std::optional<std::string> checkLength(std::string_view digits, unsigned max,
                                       std::string_view family) {
    const std::string what = family == "IPv4" ? "IPv4 CIDR length" : "IPv6 CIDR length";
    if (digits.empty() || digits.size() > 3 ||
        !std::all_of(digits.begin(), digits.end(), isDigit) ||
        (digits.size() > 1 && digits.front() == '0')) {
        return what + " " + quoted(digits) + " is not a number from 0 to " + std::to_string(max) +
               " without leading zeros";
    }
    if (std::stoul(std::string(digits)) > max) {
        return what + " " + quoted(digits) + " is not from 0 to " + std::to_string(max);
    }
    return std::nullopt;
}

// dual-cidr-length = [ "/" ip4-cidr ] [ "//" ip6-cidr ], as after a and mx.
std::optional<std::string> checkDualCidr(std::string_view c) {
    if (c.empty()) {
        return std::nullopt;
    }
    if (c.substr(0, 2) == "//") {
        return checkLength(c.substr(2), 128, "IPv6");
    }
    c.remove_prefix(1);
    const auto slash = c.find('/');
    if (auto bad = checkLength(c.substr(0, slash), 32, "IPv4")) {
        return bad;
    }
    if (slash == std::string_view::npos) {
        return std::nullopt;
    }
    const std::string_view tail = c.substr(slash);
    if (tail.substr(0, 2) != "//") {
        return "an IPv6 CIDR length follows '//', not '/'";
    }
    return checkLength(tail.substr(2), 128, "IPv6");
}

// ip4-network = qnum "." qnum "." qnum "." qnum, qnum 0-255 without leading zeros.
bool isIp4Network(std::string_view s) {
    int parts = 0;
    while (true) {
        const auto dot = s.find('.');
        const std::string_view q = s.substr(0, dot);
        if (q.empty() || q.size() > 3 || !std::all_of(q.begin(), q.end(), isDigit) ||
            (q.size() > 1 && q.front() == '0') || std::stoul(std::string(q)) > 255) {
            return false;
        }
        ++parts;
        if (dot == std::string_view::npos) {
            break;
        }
        s.remove_prefix(dot + 1);
    }
    return parts == 4;
}

bool isIp6Network(std::string_view s) {
    unsigned char buf[16];
    return inet_pton(AF_INET6, std::string(s).c_str(), buf) == 1;
}

// The mechanism of a directive (without its qualifier), into `t`. Returns what is wrong.
std::optional<std::string> parseMechanism(std::string_view rest, Term& t) {
    const auto end = rest.find_first_of(":/");
    const std::string mech = lower(rest.substr(0, end));
    const std::string_view arg =
        end == std::string_view::npos ? std::string_view() : rest.substr(end);
    static const std::map<std::string, Kind> kinds = {
        {"all", Kind::All}, {"include", Kind::Include}, {"a", Kind::A},
        {"mx", Kind::Mx},   {"ptr", Kind::Ptr},         {"ip4", Kind::Ip4},
        {"ip6", Kind::Ip6}, {"exists", Kind::Exists}};
    const auto kind = kinds.find(mech);
    if (kind == kinds.end()) {
        std::string why = quoted(mech) + " is not a mechanism of RFC 7208";
        if (mech == "aaaa") {
            why += " (the a mechanism matches AAAA records too)";
        }
        return why;
    }
    t.kind = kind->second;
    switch (t.kind) {
    case Kind::All:
        if (!arg.empty()) {
            return std::string("'all' takes no argument");
        }
        return std::nullopt;
    case Kind::Include:
    case Kind::Exists:
        if (arg.empty() || arg.front() != ':') {
            return quoted(mech) + " needs ':' and a domain";
        }
        t.target = std::string(arg.substr(1));
        if (cidrStart(t.target) != std::string::npos) {
            return quoted(mech) + " takes no CIDR length";
        }
        return checkDomainSpec(t.target, t.macro);
    case Kind::A:
    case Kind::Mx:
    case Kind::Ptr: {
        std::string_view spec;
        std::string_view cidr = arg;
        if (!arg.empty() && arg.front() == ':') {
            const auto slash = cidrStart(arg.substr(1));
            spec = arg.substr(1, slash);
            cidr = slash == std::string_view::npos ? std::string_view() : arg.substr(1 + slash);
            t.target = std::string(spec);
            if (auto bad = checkDomainSpec(spec, t.macro)) {
                return bad;
            }
        }
        if (t.kind == Kind::Ptr && !cidr.empty()) {
            return std::string("'ptr' takes no CIDR length");
        }
        return checkDualCidr(cidr);
    }
    case Kind::Ip4:
    case Kind::Ip6: {
        if (arg.empty() || arg.front() != ':') {
            return quoted(mech) + " needs ':' and an address";
        }
        const std::string_view value = arg.substr(1);
        const auto slash = value.find('/');
        const std::string_view address = value.substr(0, slash);
        t.target = std::string(address);
        const bool v4 = t.kind == Kind::Ip4;
        if (!(v4 ? isIp4Network(address) : isIp6Network(address))) {
            return quoted(address) + " is not an " + (v4 ? "IPv4" : "IPv6") + " address";
        }
        if (slash == std::string_view::npos) {
            return std::nullopt;
        }
        return checkLength(value.substr(slash + 1), v4 ? 32 : 128, v4 ? "IPv4" : "IPv6");
    }
    default:
        return std::nullopt;
    }
}

std::vector<std::string_view> splitTerms(std::string_view text) {
    std::vector<std::string_view> out;
    while (!text.empty()) {
        const auto space = text.find(' ');
        if (space != 0) {
            out.push_back(text.substr(0, space));
        }
        if (space == std::string_view::npos) {
            break;
        }
        text.remove_prefix(space + 1);
    }
    return out;
}

struct Sub {
    unsigned lookups = 0;
    unsigned voids = 0;
};

// The recursive count. Each record reached is evaluated once and remembered by its domain, so
// a target included from many places costs its lookups each time without being read again.
class Counter {
public:
    Counter(const Lookup& lookup, Count& out) : lookup_(lookup), out_(out) {}

    Sub record(std::string_view text, const std::string& domain, unsigned depth) {
        stack_.push_back(domain);
        const Sub sub = evaluate(text, domain, depth);
        stack_.pop_back();
        return sub;
    }

private:
    // The prefix that says which record a finding is in: none for the record being counted.
    std::string where(const std::string& domain, unsigned depth) const {
        return depth == 0 ? std::string() : "in the SPF record at " + quoted(domain) + ": ";
    }
    void problem(const std::string& text) {
        if (std::find(out_.problems.begin(), out_.problems.end(), text) == out_.problems.end()) {
            out_.problems.push_back(text);
        }
    }
    void note(const std::string& text) {
        if (std::find(out_.notes.begin(), out_.notes.end(), text) == out_.notes.end()) {
            out_.notes.push_back(text);
        }
    }

    // The records of `type` at `name`, asked once; nullopt when the lookup failed (noted).
    std::optional<std::vector<std::string>> ask(const std::string& name, Type type,
                                                const std::string& context) {
        const auto key = std::make_pair(name, type);
        const auto hit = cache_.find(key);
        if (hit != cache_.end()) {
            return hit->second;
        }
        std::optional<std::vector<std::string>> answer;
        try {
            answer = lookup_(name, type);
        } catch (const Error& e) {
            note(context + "the " + std::string(record::toString(type)) + " lookup of " +
                 quoted(name) + " failed, not counted as void: " + e.message());
        }
        cache_.emplace(key, answer);
        return answer;
    }

    // The name a term looks up: its domain-spec, or the record's domain. nullopt for a macro
    // (noted) or a name that cannot be looked up (a problem).
    std::optional<std::string> targetOf(const Term& t, const std::string& domain,
                                        const std::string& context) {
        if (t.target.empty()) {
            return domain;
        }
        if (t.macro) {
            note(context + quoted(t.text) +
                 " has a macro: counted as one lookup, not expanded or followed");
            return std::nullopt;
        }
        try {
            return name::normalize(t.target);
        } catch (const Error& e) {
            problem(context + quoted(t.text) + ": " + e.message());
            return std::nullopt;
        }
    }

    // An include or redirect target: its one SPF record, counted in turn.
    Sub follow(const Term& t, const std::string& domain, unsigned depth) {
        const std::string context = where(domain, depth);
        Sub sub;
        const auto target = targetOf(t, domain, context);
        if (!target) {
            out_.complete = out_.complete && !t.macro;
            return sub;
        }
        const std::string what = t.kind == Kind::Include ? "include" : "redirect";
        const auto onStack = std::find(stack_.begin(), stack_.end(), *target);
        if (onStack != stack_.end()) {
            std::string chain;
            for (auto it = onStack; it != stack_.end(); ++it) {
                chain += *it + " -> ";
            }
            problem(context + quoted(t.text) + ": " + what + " loop " + chain + *target +
                    " (receivers stop at the lookup limit with permerror)");
            return sub;
        }
        if (depth + 1 > maxDepth) {
            problem(context + quoted(t.text) + ": includes and redirects nested more than " +
                    std::to_string(maxDepth) + " deep, not followed further");
            return sub;
        }
        const auto memo = memo_.find(*target);
        if (memo != memo_.end()) {
            return memo->second;
        }
        if (read_ >= maxRecords) {
            note("more than " + std::to_string(maxRecords) +
                 " include and redirect targets, the rest not followed");
            out_.complete = false;
            return sub;
        }
        ++read_;
        const auto texts = ask(*target, Type::TXT, context);
        if (!texts) {
            out_.complete = false;
            return sub;
        }
        if (texts->empty()) {
            sub.voids = 1;
            problem(context + quoted(t.text) + ": no TXT record at " + quoted(*target) +
                    " (a void lookup; the " + what + " is a permerror, RFC 7208 §" +
                    (t.kind == Kind::Include ? "5.2" : "6.1") + ")");
            memo_.emplace(*target, sub);
            return sub;
        }
        std::vector<std::string> spf;
        std::copy_if(texts->begin(), texts->end(), std::back_inserter(spf),
                     [](const std::string& s) { return isSpf(s); });
        if (spf.size() != 1) {
            problem(context + quoted(t.text) + ": " +
                    (spf.empty() ? "no" : std::to_string(spf.size())) + " SPF records at " +
                    quoted(*target) + " (the " + what + " is a permerror, RFC 7208 §4.5)");
            memo_.emplace(*target, sub);
            return sub;
        }
        sub = record(spf.front(), *target, depth + 1);
        memo_.emplace(*target, sub);
        return sub;
    }

    Sub evaluate(std::string_view text, const std::string& domain, unsigned depth) {
        const std::string context = where(domain, depth);
        const Parsed parsed = parse(text);
        for (const auto& p : parsed.problems) {
            problem(context + p);
        }
        Sub sub;
        const bool hasAll = std::any_of(parsed.terms.begin(), parsed.terms.end(),
                                        [](const Term& t) { return t.kind == Kind::All; });
        const Term* redirect = nullptr;
        bool afterAll = false;
        std::string unreached;
        for (const auto& t : parsed.terms) {
            if (t.kind == Kind::Redirect) {
                redirect = redirect != nullptr ? redirect : &t;
                continue;
            }
            if (t.kind == Kind::Exp || t.kind == Kind::Unknown) {
                continue; // exp= is read only after a fail, and never counts (§4.6.4, §6.2)
            }
            if (afterAll) {
                unreached += (unreached.empty() ? "" : " ") + t.text;
                continue;
            }
            switch (t.kind) {
            case Kind::All:
                afterAll = true;
                if (t.qualifier == '+') {
                    note(context + quoted(t.text) +
                         " lets every host on the Internet send mail as " + quoted(domain));
                }
                break;
            case Kind::Include:
                sub.lookups = add(sub.lookups, 1);
                {
                    const Sub inner = follow(t, domain, depth);
                    sub.lookups = add(sub.lookups, inner.lookups);
                    sub.voids = add(sub.voids, inner.voids);
                }
                break;
            case Kind::A:
                sub.lookups = add(sub.lookups, 1);
                if (const auto target = targetOf(t, domain, context)) {
                    const auto a = ask(*target, Type::A, context);
                    if (a && a->empty()) {
                        const auto aaaa = ask(*target, Type::AAAA, context);
                        if (aaaa && aaaa->empty()) {
                            sub.voids = add(sub.voids, 1);
                        }
                    }
                }
                break;
            case Kind::Mx:
                sub.lookups = add(sub.lookups, 1);
                if (const auto target = targetOf(t, domain, context)) {
                    const auto mx = ask(*target, Type::MX, context);
                    if (mx && mx->empty()) {
                        sub.voids = add(sub.voids, 1);
                    } else if (mx && mx->size() > maxMxNames) {
                        problem(context + quoted(t.text) + ": " + quoted(*target) + " has " +
                                std::to_string(mx->size()) + " MX records, over the limit of " +
                                std::to_string(maxMxNames) + " (a permerror, RFC 7208 §4.6.4)");
                    }
                }
                break;
            case Kind::Ptr:
                sub.lookups = add(sub.lookups, 1);
                note(context + quoted(t.text) +
                     ": ptr is slow and unreliable, RFC 7208 §5.5 says not to use it");
                break;
            case Kind::Exists:
                sub.lookups = add(sub.lookups, 1);
                if (const auto target = targetOf(t, domain, context)) {
                    const auto a = ask(*target, Type::A, context);
                    if (a && a->empty()) {
                        sub.voids = add(sub.voids, 1);
                    }
                }
                break;
            default: // ip4, ip6: no lookup
                break;
            }
        }
        if (!unreached.empty()) {
            note(context + quoted(unreached) + " after 'all' is never evaluated");
        }
        if (redirect != nullptr) {
            if (hasAll) {
                note(context + quoted(redirect->text) + " is ignored beside 'all' (RFC 7208 §6.1)");
            } else {
                sub.lookups = add(sub.lookups, 1);
                const Sub inner = follow(*redirect, domain, depth);
                sub.lookups = add(sub.lookups, inner.lookups);
                sub.voids = add(sub.voids, inner.voids);
            }
        }
        return sub;
    }

    const Lookup& lookup_;
    Count& out_;
    std::vector<std::string> stack_;
    std::map<std::string, Sub> memo_;
    std::map<std::pair<std::string, Type>, std::optional<std::vector<std::string>>> cache_;
    unsigned read_ = 0;
};

} // namespace

bool isSpf(std::string_view text) {
    return text.size() >= 6 && iequals(text.substr(0, 6), "v=spf1") &&
           (text.size() == 6 || text[6] == ' ');
}

Parsed parse(std::string_view text) {
    Parsed out;
    const auto terms = splitTerms(text);
    std::size_t first = 0;
    if (!terms.empty() && iequals(terms.front(), "v=spf1")) {
        first = 1;
    } else {
        out.problems.push_back(quoted(terms.empty() ? text : terms.front()) +
                               ": the record does not start with 'v=spf1'");
    }
    bool redirect = false;
    bool exp = false;
    for (std::size_t i = first; i < terms.size(); ++i) {
        const std::string_view token = terms[i];
        Term t;
        t.text = std::string(token);
        std::optional<std::string> bad;
        if (isModifier(token)) {
            const auto eq = token.find('=');
            const std::string name = lower(token.substr(0, eq));
            const std::string_view value = token.substr(eq + 1);
            t.target = std::string(value);
            if (name == "redirect" || name == "exp") {
                bool& seen = name == "redirect" ? redirect : exp;
                t.kind = name == "redirect" ? Kind::Redirect : Kind::Exp;
                if (seen) {
                    bad = name + "= given a second time (a permerror, RFC 7208 §6)";
                } else {
                    bad = checkDomainSpec(value, t.macro);
                }
                seen = true;
            } else if (name == "v" && iequals(value, "spf1")) {
                bad = std::string("a second 'v=spf1': two records joined into one?");
            } else {
                t.kind = Kind::Unknown; // ignored by receivers (§6), but must be well formed
                bool endsInMacro = false;
                bad = scanMacroString(value, t.macro, endsInMacro);
            }
        } else {
            std::string_view rest = token;
            if (std::string_view("+-~?").find(rest.front()) != std::string_view::npos) {
                t.qualifier = rest.front();
                rest.remove_prefix(1);
            }
            if (rest.empty()) {
                bad = std::string("a qualifier without a mechanism");
            } else if (isModifier(rest)) {
                bad = std::string("a modifier takes no qualifier");
            } else {
                bad = parseMechanism(rest, t);
            }
        }
        if (bad) {
            out.problems.push_back(quoted(token) + ": " + *bad);
        } else {
            out.terms.push_back(std::move(t));
        }
    }
    return out;
}

Count count(std::string_view text, std::string_view domain, const Lookup& lookup) {
    std::string owner;
    try {
        owner = name::normalize(domain);
    } catch (const Error& e) {
        throw Error(Exit::DataErr, "SPF record at " + quoted(domain) + ": " + e.message());
    }
    Count out;
    Counter counter(lookup, out);
    const Sub sub = counter.record(text, owner, 0);
    out.lookups = sub.lookups;
    out.voidLookups = sub.voids;
    return out;
}

Count count(std::string_view text, std::string_view domain, const resolve::Options& options,
            const std::vector<record::Record>& pending) {
    resolve::Options plain = options;
    plain.trustAnchorFile.clear();
    const Lookup lookup = [&plain, &pending](const std::string& name, Type type) {
        std::vector<std::string> out;
        for (const auto& r : pending) {
            if (r.type == type && name::equal(r.name, name)) {
                out.push_back(type == Type::TXT ? record::txtText(r.data) : r.data);
            }
        }
        if (!out.empty()) {
            return out;
        }
        // resolve::query keeps only the records owned by the name asked: a CNAME at it is
        // followed here (RFC 1034 §3.6.2), as a receiver's resolver would.
        std::string qname = name;
        for (int hop = 0; hop <= 8; ++hop) {
            const auto answer = resolve::query(plain, qname, type);
            if (answer.rcode != 0 && answer.rcode != 3) {
                throw Error(Exit::Unavailable,
                            "the DNS answered " + resolve::rcodeName(answer.rcode));
            }
            for (const auto& r : answer.records) {
                out.push_back(type == Type::TXT ? record::txtText(r.data) : r.data);
            }
            if (!out.empty() || answer.cname.empty()) {
                return out;
            }
            qname = answer.cname;
        }
        throw Error(Exit::Unavailable, "a CNAME chain longer than 8 at " + quoted(name));
    };
    return count(text, domain, lookup);
}

std::vector<std::string> warnings(const Count& count, std::string_view domain) {
    std::string owner;
    try {
        owner = name::normalize(domain);
    } catch (const Error&) {
        owner = std::string(domain);
    }
    const std::string at = "SPF record at " + quoted(owner);
    const std::string least = count.complete ? "" : "at least ";
    std::vector<std::string> out;
    if (count.lookups > maxLookups) {
        out.push_back(at + " needs " + least + std::to_string(count.lookups) +
                      " DNS lookups, over the limit of " + std::to_string(maxLookups) +
                      " (RFC 7208 §4.6.4)");
    }
    if (count.voidLookups > maxVoidLookups) {
        out.push_back(at + " makes " + least + std::to_string(count.voidLookups) +
                      " void lookups, over the limit of " + std::to_string(maxVoidLookups) +
                      " (RFC 7208 §4.6.4)");
    }
    for (const auto& p : count.problems) {
        out.push_back(at + ": " + p);
    }
    return out;
}

} // namespace cdm::spf
