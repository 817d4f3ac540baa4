#pragma once

#include <string>
#include <string_view>
#include <vector>

// Domain names in presentation form (RFC 1035 §5.1): labels separated by dots, `\.` and
// `\DDD` escapes, at most 63 octets a label and 255 octets on the wire.
// Every function compares decoded octets, so "\065.test" and "A.test." are the same name.
// Output escapes `.`, `\`, `"`, `(`, `)` and `;` with a backslash and every octet outside
// printable ASCII as `\DDD` ("a\ b" -> "a\032b."), so it can be pasted into a zone file.

namespace cdm::name {

// The absolute, lower-case form of `text`: "WWW.Example.test" -> "www.example.test.".
// A relative name (no trailing dot) is taken relative to `origin` when one is given
// ("www" + "example.test." -> "www.example.test."), otherwise relative to the root.
// "@" means the origin itself (the root when there is no origin). "." is the root. A leading
// "*" label is kept. An origin without a trailing dot is still taken as absolute.
// Unescaped characters must be printable ASCII other than space (0x21-0x7e).
// Throws Error(Exit::DataErr) naming the problem: an empty label, a label over 63 octets,
// a name over 255 octets, a bad escape, or a character outside printable ASCII.
std::string normalize(std::string_view text, std::string_view origin = {});

// True when `text` is a valid name as normalize() would accept it.
bool isValid(std::string_view text);

// Case-insensitive comparison of two names; trailing dots are ignored.
// Never throws: text that is not a valid name is compared as text, ignoring ASCII case and
// one trailing dot.
bool equal(std::string_view a, std::string_view b);

// True when `name` equals `ancestor` or lies below it ("a.b.test." is below "b.test.").
// Whole labels only: "ab.test." is not below "b.test.". Relative names are taken from the root.
// Throws Error(Exit::DataErr) like normalize() when either is not a valid name.
bool isSubdomain(std::string_view name, std::string_view ancestor);

// True when every label of `pattern` equals the label of `name` at the same position, where
// a `*` label in the pattern matches any one label (a literal `*` too), and both have the
// same number of labels. Used by record scopes: "*._tcp.a.test." matches "_443._tcp.a.test.".
// Throws Error(Exit::DataErr) like normalize() when either is not a valid name.
bool matchesPattern(std::string_view name, std::string_view pattern);

// The name's labels in presentation form, leftmost first, without the root:
// "www.Example.test." -> {"www", "example", "test"}; "." -> {}. Lower-cased and escaped as
// normalize() prints them. Throws Error(Exit::DataErr) like normalize().
std::vector<std::string> labels(std::string_view name);

// The wire form (RFC 1035 §3.1) of an absolute name, uncompressed and lower-cased, ending in
// the root's zero octet. A relative name is taken from the root. Throws like normalize().
std::string toWire(std::string_view name);

// The presentation-format escape of one octet, `\DDD` (RFC 1035 §5.1): 10 -> "\010".
std::string decimalEscape(unsigned char c);

} // namespace cdm::name
