#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include "libcommon/cli.hpp"
#include "libcommon/error.hpp"
#include "libcommon/keys.hpp"
#include "libcommon/resolve.hpp"

// DKIM public-key records (RFC 6376 §3.6.1; Ed25519 keys RFC 8463; key sizes RFC 8301):
// the TXT record `<selector>._domainkey.<domain>.` holding `v=DKIM1; k=rsa; p=<base64>`,
// made from a key file (generated here through libcommon/keys, or existing), printed as zone
// lines, a cdm document fragment, or the signing-side configuration of rspamd, OpenDKIM or
// amavisd; read back from the files other tools write, and compared with a key; looked up in
// the DNS and tested against a key, as `amavisd testkeys` and opendkim-testkey do. cdm-dkim(1).
//
// This module sees public keys only: every private key is read and written by keys.cpp.

namespace cdm::dkim {

// The k= tag: the key type of the record.
enum class KeyType { Rsa, Ed25519 };
// "rsa", "ed25519".
std::string_view toString(KeyType type);
// "rsa" / "ed25519" (any case) -> KeyType; nullopt for anything else.
std::optional<KeyType> keyTypeFromString(std::string_view text);

// The optional tags of a key record, in the order they are printed.
struct Tags {
    std::vector<std::string> hashes;   // h=, e.g. {"sha256"}
    std::vector<std::string> services; // s=, "email" or "*"
    std::vector<std::string> flags;    // t=, "y" (testing) and/or "s" (strict)
    std::string notes;                 // n=, plain text; printed DKIM-quoted-printable
};

// Parse --flags text: comma-separated `tag=value` items, e.g. "h=sha256,t=s,t=y,s=email,n=x".
// Repeating h=, s= or t= adds a value; n= is text without ',' (spaces are allowed).
// h= takes sha256 only (RFC 8301 retired sha1 for signing); t= takes y and s; s= takes email
// and *. Throws Error(Exit::Usage) naming the item for anything else.
Tags parseFlags(std::string_view text);

// One key record: what a TXT record at `<selector>._domainkey.<domain>.` says.
struct KeyRecord {
    KeyType type = KeyType::Rsa;
    bool explicitType = true; // print k=; a revocation without --algorithm leaves it out
    std::string publicKey;    // the p= value in base64; empty for a revoked key
    Tags tags;

    // "v=DKIM1; [h=..; ]k=..; [s=..; ][t=..; ][n=..; ]p=..." (tags joined by "; ").
    std::string toText() const;
};

// The record of a public key (SPKI DER, as keys::publicKeyDer() gives): for RSA p= is the
// base64 of the SPKI; for Ed25519 it is the base64 of the raw 32-byte key (RFC 8463 §4).
// Throws Error(Exit::DataErr) for an ECDSA or other key, and for RSA keys under 1024 bits
// (RFC 8301 §3.2: verifiers must not accept them).
KeyRecord fromPublicKey(const std::vector<std::uint8_t>& spki, const Tags& tags = {});

// The owner name `<selector>._domainkey.<domain>.`, lower-case. Throws Error(Exit::Usage) for
// a selector or domain that is not a valid name (the command line is their only source).
std::string owner(std::string_view selector, std::string_view domain);

// Check a selector: one or more dot-separated labels of letters, digits, '-' and '_', each
// 1-63 characters. Throws Error(Exit::Usage) naming it.
void checkSelector(std::string_view selector);

// How selectors are chosen.
struct SelectorRule {
    std::vector<std::string> fixed; // --selector, in order
    std::string datePattern;        // --selector-date, e.g. "YYYYMMDD"
    std::string keyBaseName = "key";
    std::time_t now = 0;
};

// The `count` selectors (1, or 2 for dual signing: RSA first, then Ed25519):
// - `count` fixed selectors: those;
// - one fixed selector and count 2: that selector as a base, "<base>-rsa" and "<base>-ed25519";
// - a date pattern: the pattern with YYYY, MM, DD, hh, mm, ss replaced by the UTC time `now`
//   (other characters are kept), with "-rsa"/"-ed25519" added for count 2;
// - otherwise the original's "<keyBaseName>_<10-digit unix time>", with "-rsa"/"-ed25519"
//   added for count 2.
// Throws Error(Exit::Usage) for more fixed selectors than `count`, fixed and date together, or
// an invalid resulting selector.
std::vector<std::string> selectors(const SelectorRule& rule, std::size_t count);

// One key's record, with what is known about the key.
struct Entry {
    std::string domain;   // absolute, lower-case
    std::string selector; // as given
    KeyRecord record;
    std::string keyPath;  // the key file, absolute; empty for a revocation
    unsigned bits = 0;    // RSA modulus size; 0 when not known
    std::string seedPath; // the Ed25519 seed file written for rspamd, if any
};

// Output forms of the records.
enum class Format { Json, Zone, Rspamd, OpenDkim, Amavisd };
// "json", "zone", "rspamd", "opendkim", "amavisd" -> Format; throws Error(Exit::Usage).
Format formatFromString(std::string_view text);

// The text of `entries` in `format`, each TXT record with `ttl`; `event` names the verb in
// the JSON report ("generate", "record", "revoke").
// - Zone: one line per record, "owner ttl IN TXT "..." "..."", the text cut into 255-octet strings.
// - Json: a cdm document (document::empty()) whose "records" hold one document::DesiredRecord
//   per entry (op replace, scope the owner's TXT records, label "DKIM"), and one "report" entry
//   per key with domain, selector, algorithm, bits and key file.
// - Rspamd: dkim_signing.conf as the original's template writes it for one key (path,
//   selector, use_esld = false, allow_username_mismatch = true); for two keys a per-domain
//   "selectors" list. An Ed25519 key's path is its seed file (rspamd reads no PEM Ed25519).
// - OpenDkim: KeyTable lines, then SigningTable lines, each group after a `#` comment.
// - Amavisd: one `dkim_key('domain', 'selector', 'file');` line per key.
// Throws Error(Exit::Usage) for a signing format with a revocation or an Ed25519 key for
// rspamd without a seed file.
std::string render(const std::vector<Entry>& entries, Format format, std::uint32_t ttl,
                   std::string_view event);

// generate: new keys and their records.
struct GenerateRequest {
    std::string domain;
    std::vector<KeyType> algorithms;    // {Rsa}, {Ed25519}, or {Rsa, Ed25519}
    unsigned bits = 2048;               // for RSA
    std::vector<std::string> keyPaths;  // one per algorithm, in the same order
    std::vector<std::string> seedPaths; // optional: Ed25519 seed file for rspamd (one at most)
    SelectorRule selector;
    Tags tags;
    Format format = Format::Json; // checked up front, so that render() cannot fail afterwards
};
// Check the whole request, then write each key (PKCS#8 PEM, 0600, missing directories 0700,
// never overwriting) and return its entry. When the second key of a dual request fails, the
// first is removed again, so that a failure leaves no file behind.
// Throws Error(Exit::Usage) for a bad request (key size, counts, names, the same file twice),
// Error(Exit::CantCreat) when a file exists or cannot be made, Error(Exit::IoErr).
std::vector<Entry> generate(const GenerateRequest& request);

// record: the records of existing key files (private or public, PEM or DER).
struct RecordRequest {
    std::string domain;
    std::vector<std::string> keyPaths;  // one or two
    std::vector<std::string> seedPaths; // optional, as for generate
    SelectorRule selector; // a default selector is not allowed: a fixed one or a date pattern
    Tags tags;
    Format format = Format::Json; // checked before the seed file is written
};
// Throws Error(Exit::Usage) for a bad request, Error(Exit::NoInput) for a missing key file,
// Error(Exit::DataErr) for a file that is not a usable key (naming file and line).
std::vector<Entry> fromKeys(const RecordRequest& request);

// revoke: the record of a revoked key, `v=DKIM1; p=` (k= only when `type` is given).
// Throws Error(Exit::Usage) for a bad domain or selector.
Entry revoke(std::string_view domain, std::string_view selector, std::optional<KeyType> type);

// One DKIM record found in a file that another tool wrote.
struct FoundRecord {
    std::string selector; // from the owner name before "._domainkey"; empty when none
    std::string domain;   // the rest of the owner, when it has one (amavisd); else empty
    std::string text;     // the TXT text, strings joined
    Location where;       // file and line where the record starts
};

// Read the DKIM records in `text`: zone-file style records as rspamadm dkim_keygen,
// opendkim-genkey and amavisd showkeys print them (owner, optional TTL and class, TXT, quoted
// strings, in parentheses over several lines, `;` comments), or a bare tag list such as
// dknewkey's .dns file. Records without a p= tag are skipped.
// Throws Error(Exit::DataErr) naming `sourceName` and the line for an unterminated string or
// parenthesis, or when no record is found.
std::vector<FoundRecord> findRecords(std::string_view text, const std::string& sourceName);

// Parse a tag list (RFC 6376 §3.2): `name=value` pairs separated by ';', whitespace around
// names and values ignored, a value may contain '=' (base64 padding). Returns the pairs in
// order. Throws Error(Exit::DataErr) at `where` for a pair without '=', an empty or invalid
// tag name, or a repeated tag.
std::vector<std::pair<std::string, std::string>> parseTagList(std::string_view text,
                                                              const Location& where = {});

// A key record's text -> KeyRecord: v= must be DKIM1 when present, k= rsa (the default) or
// ed25519, p= present (whitespace inside it is dropped). Throws Error(Exit::DataErr) at
// `where` otherwise.
KeyRecord parseKeyRecord(std::string_view text, const Location& where = {});

// The outcome of comparing a record with a key; a mismatch is a normal result.
struct Comparison {
    bool match = false;
    std::string reason; // why not, or "" on a match
};
// Does `record` publish the public key `spki`? Compares k= with the key type and p= with the
// key (RSA: p= read as SPKI or RSAPublicKey; Ed25519: the raw 32 bytes). Never throws.
Comparison compare(const KeyRecord& record, const std::vector<std::uint8_t>& spki);

// compare: the records of a file against a key file.
struct CompareRequest {
    std::string recordPath; // "-" for standard input
    std::string keyPath;
    std::string selector; // when the file holds several records: pick this one
    std::string domain;   // when given, a record naming another domain is not taken
};
struct CompareResult {
    FoundRecord record;
    Comparison comparison;
    std::string line; // "<owner or file>: match (RSA 2048 bits)" / "...: mismatch: <reason>"
};
// Throws Error(Exit::NoInput / Exit::DataErr) as findRecords() and keys::publicKeyDer() do,
// and Error(Exit::DataErr) when no record or several records fit the selector and domain.
CompareResult compareFiles(const CompareRequest& request);

// test: what a verifier finds at `<selector>._domainkey.<domain>.`, judged against a key.
enum class Verdict {
    Pass,      // the record publishes the key
    Mismatch,  // a usable record, but of another key (or key type)
    Revoked,   // p= is empty (RFC 6376 §3.6.1)
    Malformed, // a DKIM record no verifier can use: bad tags, v=, k=, h=, s= or p=
    NotFound,  // NXDOMAIN, no TXT record, or no DKIM record among the TXT records
};
// "pass", "key mismatch", "revoked", "malformed", "not found" (the text and JSON spelling).
std::string_view toString(Verdict verdict);

// True when a TXT record's text is meant as a DKIM key record: its first tag is v= with a
// value that starts with "DKIM" (any case), or it does not start with v= and has a p= tag.
// Such a record is then judged, and a broken one is malformed; any other TXT record (SPF,
// DMARC's "v=DMARC1; p=none", site verification) is not DKIM and is passed over. Never throws.
bool looksLikeKeyRecord(std::string_view text);

// One DKIM record and what it says about the key.
struct RecordVerdict {
    std::string text; // the TXT text, strings joined
    Verdict verdict = Verdict::NotFound;
    std::string reason; // the detail: what matched, or what is wrong
};

// Judge one record's text against the public key `spki` (SPKI DER of an RSA or Ed25519 key),
// in this order: the tag list and v=, k=, p= (parseKeyRecord) -> malformed; an empty p= ->
// revoked; p= that is not base64 of a key of the k= type, an RSA key under 1024 bits
// (RFC 8301 §3.2), h= without sha256, s= without email or * -> malformed; then compare():
// the key -> pass, else key mismatch. `keyName` names the key file in the reason of a pass.
// Never throws.
RecordVerdict judgeRecord(std::string_view text, const std::vector<std::uint8_t>& spki,
                          std::string_view keyName = {});

struct TestRequest {
    std::string domain;
    std::string selector;
    std::string keyPath;  // private or public key, as keys::publicKeyDer() reads them
    resolve::Options dns; // servers (empty: /etc/resolv.conf), trust anchor, timeout
};

struct TestReport {
    std::string owner;    // "<selector>._domainkey.<domain>.", lower-case
    std::string keyPath;  // as given
    std::string keyType;  // "RSA 2048 bits", "Ed25519"
    std::string expected; // the record cdm would publish for the key (fromPublicKey)
    int rcode = 0;        // 0 NOERROR or 3 NXDOMAIN; other codes are thrown
    resolve::Security security = resolve::Security::Insecure;
    std::string securityWhy;            // for insecure or bogus
    std::vector<std::string> txt;       // every TXT record at the owner, strings joined
    std::vector<RecordVerdict> records; // the DKIM records among them, judged
    Verdict verdict = Verdict::NotFound;
    std::string reason;
    bool ok = false; // verdict Pass and security not Bogus
};

// Judge a DNS answer for `owner` against the key `spki`, without the network (test() calls it;
// exposed for tests). The verdict: NXDOMAIN, no TXT or no DKIM record -> not found; one DKIM
// record -> its verdict; several -> their common verdict, or malformed when they disagree,
// since a verifier may take any one of them (RFC 6376 §3.6.2.2). Throws
// Error(Exit::Unavailable) for an rcode other than NOERROR and NXDOMAIN (SERVFAIL: the
// resolver found the zone broken or bogus), and Error(Exit::DataErr) for a TXT record whose
// data cannot be read or a key that fromPublicKey() refuses.
TestReport judgeAnswer(const std::string& owner, const resolve::Answer& answer,
                       const std::vector<std::uint8_t>& spki, const std::string& keyPath);

// Look up the TXT records of `<selector>._domainkey.<domain>.` (resolve::query, DNSSEC by the
// AD bit or the trust anchor) and judge them. The key is read and checked first.
// Throws Error(Exit::Usage) for a bad domain, selector or resolver, Error(Exit::NoInput) for
// a missing key or trust-anchor file, Error(Exit::DataErr) for a file that is not an RSA
// (1024 bits or more) or Ed25519 key or not a trust anchor, Error(Exit::Unavailable) when no
// server answers or the answer is neither NOERROR nor NXDOMAIN.
TestReport test(const TestRequest& request);

// The report for people, three or more lines:
//   "s1._domainkey.example.test. TXT: 1 record(s), secure"  (or "NXDOMAIN, insecure (why)")
//   "pass: the record publishes the key in 'k.pem' (RSA 2048 bits)"  ("<verdict>: <reason>")
//   one "  record N: <verdict>: <reason>" line per DKIM record when there are several
//   for a pass in a bogus answer, a line saying that validating verifiers get no record
//   "OK" or "FAILED"
std::string toText(const TestReport& report);
// {"ok", "verdict", "reason", "owner", "key": {"file", "type", "expected"},
//  "dns": {"rcode", "security", "why", "txt": [...]}, "records": [{"text", "verdict", "reason"}]}
boost::json::object toJson(const TestReport& report);

// The verbs of cdm-dkim (the verb type is shared by every multi-verb program).
using Verb = cli::Verb;
// The verb table of cdm-dkim: generate, record, compare, revoke, test, phase.
const std::vector<Verb>& verbs();

// Run the program through cli::dispatch() as "cdm-dkim": argv[1] names the verb (after any
// -v/-q flags). `cdm-dkim --help` lists the verbs with their synopses, `cdm-dkim VERB --help`
// the verb's options, `--version` works without a verb. No verb or an unknown one exits 64
// with a usage line. Returns the exit code.
int dispatch(const std::vector<Verb>& table, int argc, const char* const* argv);

} // namespace cdm::dkim
