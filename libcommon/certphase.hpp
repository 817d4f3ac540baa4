#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "libcommon/acme.hpp"
#include "libcommon/dnsapply.hpp"
#include "libcommon/error.hpp"
#include "libcommon/x509.hpp"

// The certificate part of the three phases, on the pipeline document (CERT-SPEC.md,
// cdm-cert(1), cdm-json(5)):
// - prepare: for every [cert:NAME] that a domain links (`cert = NAME`), decide whether it is
//   due (decide()), and if so issue it through acme::Client into a staging directory
//   <statedir>/cert/NAME/<YYYYmmddTHHMMSSZ>-<serial>/ (0700; privkey.pem 0600) with the key
//   chooseKey() picks, and record it as material.cert.NAME.next. With reusekey a standby key
//   is kept under <statedir>/cert/NAME/keys/ (published as 3 1 x TLSA by cdm-tlsa).
// - rollover: deploy next (or, without one, current again) to <destination>/<domain>/ for
//   every SAN domain (deploy()); next becomes current, current becomes previous.
// - cleanup: remove what previous left (cleanupGeneration()) and unused standby keys.
// The pure parts (settings, decision, key choice, material JSON, the filesystem steps) are
// public so that tests reach them with real certificates.

namespace cdm::certphase {

// ---- the settings of one [cert:NAME] ----

enum class KeyType { Rsa, Ecdsa };
std::string_view toString(KeyType type); // "rsa", "ecdsa"

struct Settings {
    std::string name;               // NAME of [cert:NAME]
    std::vector<std::string> names; // SAN list: the domains linking it, config order
    std::string statedir;           // config.cdm.DEFAULT statedir
    std::string ca;                 // directory URL
    std::string cabundle;
    std::string email;
    KeyType keyType = KeyType::Rsa;
    unsigned keySize = 4096;
    bool reuseKey = false;
    std::int64_t keyRollDays = 0;                // 0: never
    std::optional<std::int64_t> renewBeforeDays; // set explicitly
    bool ari = true;
    acme::ChallengeType challenge = acme::ChallengeType::Dns01;
    std::string webroot;
    std::string destination;
    std::string eabKid;
    std::string eabHmacKeyFile; // eab_hmac_key_file; or the key itself (never logged):
    std::string eabHmacKey;
    std::string profile;
    std::string preferredChain;
    std::string caaPin; // caapin, as written
    std::chrono::seconds propagationTimeout{300};
    bool force = false;                    // extraflags -x/--force
    bool mustStaple = false;               // extraflags --ocsp/ocsp
    std::map<std::string, Location> where; // config key -> file:line
    Location source;                       // the section's header

    // The file:line of `key`, or the section's when the key was not written.
    Location at(const std::string& key) const;
};

inline constexpr const char* letsEncrypt = "https://acme-v02.api.letsencrypt.org/directory";
inline constexpr const char* letsEncryptStaging =
    "https://acme-staging-v02.api.letsencrypt.org/directory";

// The settings of [cert:NAME] from document.config. Warnings (unknown extraflags, must-staple
// with Let's Encrypt) go to `warnings`. Throws Error(Exit::Config) at the key's file:line for
// a bad handler, keytype, keysize, reusekey, keyroll, renewbefore, ari, challenge (http-01
// without webroot), propagationtimeout; Error(Exit::Config) at the section when it is missing.
Settings settingsOf(const boost::json::object& document, const std::string& name,
                    std::vector<std::string>& warnings);

// The [cert:NAME] sections that some domain links, in config order; a section that no domain
// links is named in `unlinked` (it is skipped with a warning, never an error).
std::vector<std::string> linkedCerts(const boost::json::object& document,
                                     std::vector<std::string>& unlinked);

// ---- material ----

struct Deployed {
    std::string domain;     // "www.example.test"
    std::string dir;        // <destination>/<domain>
    std::string generation; // ".cdm-20261123T101010Z-0a1b..."
};

struct AriWindow {
    std::string certId;
    std::time_t start = 0;
    std::time_t end = 0;
    std::string explanation;
};

struct Generation {
    std::string dir, key, csr, cert, chain, fullchain;
    std::vector<std::string> names;
    KeyType keyType = KeyType::Rsa;
    unsigned keySize = 0;
    std::string spkiSha256;
    std::string serial;
    std::time_t notBefore = 0, notAfter = 0, issued = 0;
    std::string issuer;
    std::string ca;
    std::time_t renewAt = 0;
    std::string renewReason;
    std::time_t keySince = 0; // when this key first became a certificate's key
    std::optional<AriWindow> ari;
    std::vector<Deployed> deployed;
};

struct Standby {
    std::string key;
    std::string spkiSha256;
    KeyType keyType = KeyType::Rsa;
    unsigned keySize = 0;
    std::time_t created = 0;
};

struct Material {
    std::optional<Generation> current, next, previous;
    std::optional<Standby> standby;
};

boost::json::object toJson(const Generation& g);
boost::json::object toJson(const Standby& s);
boost::json::object toJson(const Material& m);
// Throws Error(Exit::DataErr) naming `path` ("material.cert.main.current.serial").
Material materialFromJson(const boost::json::value& v, const std::string& path);

// ---- facts of a certificate (OpenSSL) ----

struct CertFacts {
    std::vector<std::string> names;
    std::string serial; // lower-case hex
    std::time_t notBefore = 0, notAfter = 0;
    std::string issuer;     // issuer CN (or the whole name when it has no CN)
    std::string spkiSha256; // hex SHA-256 of the SubjectPublicKeyInfo
    KeyType keyType = KeyType::Rsa;
    unsigned keySize = 0;
};
// Throws Error(Exit::DataErr) for a key type other than RSA or ECDSA P-256/P-384.
CertFacts factsOf(const x509::Certificate& cert);
// Hex SHA-256 of an SPKI.
std::string spkiSha256(const std::vector<std::uint8_t>& spki);

// ---- renewal decision ----

struct DecisionInput {
    std::vector<std::string> names; // the wanted SAN list
    KeyType keyType = KeyType::Rsa;
    unsigned keySize = 4096;
    std::optional<std::int64_t> renewBeforeDays;
    bool forced = false;                  // --force NAME, extraflags -x
    bool compromised = false;             // --compromised NAME
    bool rollKey = false;                 // --roll-key NAME
    std::optional<acme::RenewalInfo> ari; // the CA's window for current, when asked
    std::string ariCertId;
    std::time_t now = 0;
};

struct Decision {
    bool issue = false;
    std::string reason;           // "forced", "no certificate", "due (renewbefore 30 days)" ...
    std::time_t renewAt = 0;      // when current is due (0 when there is no current)
    std::optional<AriWindow> ari; // the window renewAt came from (to keep in material)
    bool keyChange = false;       // names/key parameters changed, compromised, roll
};

// RFC 9773 §4.2: a time in [start, end), picked by `random` (given a range size, it returns
// a value in [0, size)). Chosen once and then kept in material.
using Random = std::function<std::uint64_t(std::uint64_t size)>;
Random defaultRandom();

// The decision of CERT-SPEC.md, in order: forced; no current and no next; next already
// staged (kept); names or key parameters changed; compromised or key roll; ARI window (the
// renew_at kept in current when the window is the same); renewbefore (explicit) or
// not_after - min(30 days, lifetime / 3).
Decision decide(const DecisionInput& in, const Material& material, const Random& random);

// The renewal time without ARI: not_after - renewbefore days, or, when renewbefore was not
// set, not_after - min(30 days, lifetime/3). Also the reason text.
std::pair<std::time_t, std::string> renewTime(std::time_t notBefore, std::time_t notAfter,
                                              std::optional<std::int64_t> renewBeforeDays);

// ---- key choice ----

enum class KeySource { New, Current, Standby };
struct KeyChoice {
    KeySource source = KeySource::New;
    std::string reason;
    bool makeStandby = false; // generate a new standby key afterwards (reusekey)
};
// reusekey=no: New. reusekey=yes: Current, unless a key roll (keyroll days since the key
// became the certificate's, --roll-key, compromised) or changed key parameters: then the
// standby key when it exists and has the wanted parameters, else New; makeStandby whenever
// the standby is taken or there is none.
KeyChoice chooseKey(bool reuseKey, std::int64_t keyRollDays, KeyType keyType, unsigned keySize,
                    const Material& material, std::time_t now, bool rollKey, bool compromised);

// ---- filesystem steps ----

// "<YYYYmmddTHHMMSSZ>" of a Unix time (UTC).
std::string stamp(std::time_t t);

// Deploy `gen` to <destination>/<domain>/ for every domain in `domains`: a generation
// directory `.cdm-<basename of gen.dir>` (0700) with the four files (privkey 0600), the
// symlink `.cdm-current` replaced atomically, and {cert,chain,fullchain,privkey}.pem made
// symlinks to `.cdm-current/<file>` (a regular file there is replaced). Idempotent; after a
// crash at any step a second call completes the set. Nothing else in the directory is
// touched. Returns the deployed list. Throws Error(Exit::CantCreat/NoPerm/IoErr).
std::vector<Deployed> deploy(const Generation& gen, const std::string& destination,
                             const std::vector<std::string>& domains);

// Remove what `old` left behind: each deployed `.cdm-*` generation directory that is not
// its directory's `.cdm-current` target (and only names of the form .cdm-*), and the staged
// directory when it lies under `stateCertDir` (<statedir>/cert/NAME). Returns the paths
// removed. Never removes any other file.
std::vector<std::string> cleanupGeneration(const Generation& old, const std::string& stateCertDir);

// Remove <stateCertDir>/keys/<stamp>.pem files that are not `keep` (an unused standby key).
std::vector<std::string> cleanupStandbyKeys(const std::string& stateCertDir,
                                            const std::string& keep);

// ---- the phases ----

struct Options {
    std::string phase; // update | prepare | rollover | cleanup
    std::time_t now = 0;
    std::set<std::string> force, rollKey, compromised; // cert section names
    dnsapply::Request dns;                             // DNS options for dns-01
    bool dnsTimeoutSet = false; // --dns-timeout given: overrides propagationtimeout
    std::string ca, cabundle;   // override every section's
    Random random;              // default: defaultRandom()
};

struct Summary {
    std::size_t issued = 0, kept = 0, deployed = 0, cleaned = 0, skipped = 0;
    std::vector<std::string> created; // paths made by this run (for undo())
    std::optional<Error> failure;     // the first section that failed
};

// Run the cert part of `options.phase` on the document. update fills `caa:NAME` placeholders
// (caa::fill with caaLookup()). Appends report entries (program "cdm-cert", events issued,
// kept, deployed, cleaned, skipped, failed).
// Each section stands alone: one that fails (Error(Exit::Config) naming the key's file:line,
// or the section's source for a rollover without destination; the acme and challenge errors
// 69, 75, 65, 77; file errors) keeps its material as it was and leaves nothing it made on
// disk, is reported as "failed" and logged, and the others go on; `failure` holds the first
// such error, for the caller to exit with after writing the document. update's errors, and
// anything that is not a cdm::Error, are thrown (then nothing of this run stays).
Summary run(boost::json::object& document, const Options& options);

// Remove what a successful run() made (when a later step of the same phase fails).
void undo(const Summary& summary) noexcept;

// ---- status ----

struct StatusRequest {
    std::vector<std::string> certs; // files
    std::optional<std::int64_t> renewBeforeDays;
    std::string ca, cabundle; // ask ARI when set
    std::time_t now = 0;
};
struct StatusEntry {
    std::string file;
    CertFacts facts;
    std::int64_t lifetime = 0; // seconds
    std::time_t renewAt = 0;
    std::string reason;
    bool due = false;
    std::optional<AriWindow> ari;
};
// Throws Error(Exit::NoInput/DataErr) for a bad file, the acme errors when --ca is given.
// The renewal time is the ARI window's start when the CA gives one (from then on it wants
// the certificate renewed), else renewTime().
std::vector<StatusEntry> status(const StatusRequest& request);
boost::json::object toJson(const StatusEntry& e);
std::string toText(const StatusEntry& e, std::time_t now);

} // namespace cdm::certphase
