#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/record.hpp"
#include "libcommon/resolve.hpp"

// What an SPF record (RFC 7208) costs the receivers that evaluate it, counted before it is
// published. A receiver evaluates the terms left to right and MUST answer permerror once more
// than 10 of them cause DNS lookups (§4.6.4): include, a, mx, ptr, exists and redirect, the
// terms of included and redirected-to records counted too. It SHOULD answer permerror after
// 2 "void lookups", lookups that found nothing (NXDOMAIN, or NOERROR with no answer; §4.6.4,
// §11.1). The count is the worst case, a message that matches no term before `all`.

namespace cdm::spf {

inline constexpr unsigned maxLookups = 10;    // RFC 7208 §4.6.4
inline constexpr unsigned maxVoidLookups = 2; // RFC 7208 §4.6.4, §11.1 (a SHOULD)
inline constexpr unsigned maxMxNames = 10;    // RFC 7208 §4.6.4: MX records one mx looks at
inline constexpr unsigned maxDepth = 10;      // includes/redirects followed this deep at most
inline constexpr unsigned maxRecords = 100;   // include/redirect targets read at most

// True when `text` is an SPF record: "v=spf1" (in any case) alone or followed by a space, as
// receivers select it among a name's TXT records (§4.5). "v=spf10" is not.
bool isSpf(std::string_view text);

enum class Kind { All, Include, A, Mx, Ptr, Ip4, Ip6, Exists, Redirect, Exp, Unknown };

// One well-formed term of a record.
struct Term {
    std::string text; // as written: "-include:_spf.example.test"
    Kind kind = Kind::Unknown;
    char qualifier = '+'; // mechanisms: + - ~ ?; modifiers: '+'
    std::string target;   // the domain-spec as written; empty when none was given (a, mx
                          // and ptr then mean the record's own domain); the value of an
                          // unknown modifier
    bool macro = false;   // the domain-spec has a macro (%{...}, %%, %_ or %-)
};

struct Parsed {
    std::vector<Term> terms;           // the well-formed terms in order, without "v=spf1"
    std::vector<std::string> problems; // one per malformed term, the term quoted first
};

// Read SPF text by the ABNF of RFC 7208 §12: "v=spf1", then terms separated by spaces.
// Mechanisms all, include, a, mx, ptr, ip4, ip6, exists with their qualifier, domain-spec
// (macros checked, not expanded; a domain-spec without macros must end in a top label with a
// letter and be a valid DNS name) and CIDR lengths (ip4 0-32, ip6 0-128, no leading zeros);
// modifiers redirect=, exp= and unknown ones (name=macro-string). Problems: a missing or
// repeated "v=spf1", an unknown mechanism (`aaaa`, the original's example), a missing or
// superfluous argument, a bad address or CIDR length, a qualifier on a modifier (the original
// wrote "+redirect="), redirect= or exp= twice, the macros c, r and t outside exp= (§7.2),
// and characters outside printable ASCII. Never throws.
Parsed parse(std::string_view text);

struct Count {
    unsigned lookups = 0;     // terms that cause a DNS lookup, includes and redirects followed
    unsigned voidLookups = 0; // of those, the ones that found nothing
    // What makes receivers answer permerror besides the limits: malformed terms (also in
    // included records), an include or redirect target with no SPF record or several, an
    // include loop, includes nested deeper than maxDepth, an mx name with more than
    // maxMxNames MX records. Each names the term, and the record it is in when that is not
    // the counted one ("in the SPF record at '_spf.b.test.': 'aaaa' is not a mechanism ...").
    std::vector<std::string> problems;
    // Worth knowing, not an error: macros counted but not followed, ptr (§5.5 says do not
    // use it), terms after `all` (never evaluated), redirect= beside `all` (ignored, §6.1),
    // "+all", lookups that failed.
    std::vector<std::string> notes;
    // False when an include or redirect was not followed for a reason other than a problem
    // above (a macro, a TXT lookup that failed, more than maxRecords targets): `lookups` and
    // `voidLookups` are then lower bounds. (A failed a, mx or exists lookup is only noted.)
    bool complete = true;

    bool overLimit() const { return lookups > maxLookups || voidLookups > maxVoidLookups; }
    // What a receiver would answer permerror for, in the worst case.
    bool permerror() const { return overLimit() || !problems.empty(); }
};

// What the DNS holds at an absolute, lower-case `name`: the data of its records of `type`,
// TXT as each record's strings joined (as SPF reads them, §3.3), MX as "preference exchange",
// A and AAAA as addresses; empty for NXDOMAIN or NOERROR without records. Asked for TXT
// (include, redirect), A and AAAA (a), MX (mx), A (exists). Throws cdm::Error when the DNS
// gives no answer (timeout, SERVFAIL): the count notes that and goes on.
using Lookup = std::function<std::vector<std::string>(const std::string& name, record::Type type)>;

// Count the lookups of SPF text `text` to be published at `domain` (a name, with or without
// the trailing dot). Each DNS-querying term counts once, even when it is not looked up
// (macros; ptr, which depends on the sender's address). An include or redirect target is
// looked up (TXT), its one SPF record chosen and counted in turn, each time it is reached
// (a target reached twice costs twice); redirect= counts only when the record has no `all`.
// Terms after `all` count nothing. Void lookups: an include or redirect target with no TXT
// record, an a target with neither A nor AAAA, an mx target with no MX, an exists target with
// no A. Each name and type is asked once. Throws Error(Exit::DataErr) when `domain` is not a
// valid name; everything else is in the result.
Count count(std::string_view text, std::string_view domain, const Lookup& lookup);

// The same through the DNS: ldns queries to `options`'s servers (recursive; any trust anchor
// is ignored, since publishers' records need not be signed), CNAMEs followed up to 8 deep.
// `pending` are records about to be published: where one of them has the name and type asked,
// they answer instead of the DNS (as after a replace), so that an include target published in
// the same run is seen. Throws like the other count().
Count count(std::string_view text, std::string_view domain, const resolve::Options& options,
            const std::vector<record::Record>& pending = {});

// The lines to warn with, none when the record is within the limits and has no problem:
//   SPF record at 'example.test.' needs 11 DNS lookups, over the limit of 10 (RFC 7208 §4.6.4)
//   SPF record at 'example.test.' makes 3 void lookups, over the limit of 2 (RFC 7208 §4.6.4)
//   SPF record at 'example.test.': <problem>
// ("at least 11" when the count is not complete). `domain` as given to count().
std::vector<std::string> warnings(const Count& count, std::string_view domain);

} // namespace cdm::spf
