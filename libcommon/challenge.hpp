#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "libcommon/acme.hpp"
#include "libcommon/dnsapply.hpp"

// The two ways cdm answers ACME challenges.
// - dns-01 (RFC 8555 §8.4): the `_acme-challenge` TXT records of every pending challenge go
//   into the zones through the same code as cdm-dns-apply (libcommon/dnsapply: zone finding,
//   the domain section's provider and access keys, one change per zone), with `op add` so
//   that other TXT records at that name (another host's challenge, a manual one) stay. Then
//   it waits until every authoritative server of each zone serves them (libcommon/dnsverify),
//   instead of sleeping. remove() deletes exactly those TXT values again.
// - http-01 (§8.3): `<webroot>/.well-known/acme-challenge/<token>` holding the key
//   authorization (0644, directories 0755 as a web server must read them); remove() deletes
//   the files it wrote and the directories it created, nothing else.

namespace cdm::challenge {

struct DnsOptions {
    // The pipeline document's `config` member (access keys of [domain:NAME] sections); may be
    // empty when every key comes from `base.settings` (--set) as for a standalone issue.
    boost::json::object config;
    // The [domain:NAME] section whose access keys serve each domain, keyed as
    // acme::Challenge::domain spells it (lower-case, no final dot); a domain not in the map
    // uses `base` alone.
    std::map<std::string, std::string> sectionOf;
    // How to reach and verify the DNS: resolver, trust anchor, verify servers, ns port,
    // verify timeout, --set settings, handler, zone, progress. input/dryRun/verify are set
    // by the solver.
    dnsapply::Request base;
    std::uint32_t ttl = 60;
    // A file where publish() notes the records it adds until remove() has taken them away;
    // empty: no note. Records that a crash left in the DNS are removed, from the note, before
    // the next publication: challenge records are added (not replaced) so that hosts sharing a
    // zone can issue for one name at once, and only this note says which ones are ours.
    std::string journal;
};

// The cdm document DnsSolver hands to dnsapply::run: one TXT record per challenge at
// challenge.dnsName() with data challenge.dnsValue(), op "add" (add = true) or "remove",
// scope {name, TXT}, label "ACME", ttl options.ttl, section options.sectionOf[domain] (when
// mapped), and options.config as the document's "config" (when not empty). Challenges of
// another type than dns-01 are an Error(Exit::Software).
boost::json::object dnsDocument(const std::vector<acme::Challenge>& challenges,
                                const DnsOptions& options, bool add);

// True when `token` may be a file name under .well-known/acme-challenge/: one or more
// base64url characters (RFC 8555 §8.3: the token is base64url), so never "/", "." or "..".
bool safeToken(std::string_view token);

class DnsSolver : public acme::Solver {
public:
    explicit DnsSolver(DnsOptions options);
    acme::ChallengeType type() const override { return acme::ChallengeType::Dns01; }
    // Throws cdm::Error as dnsapply::run does (75 when the servers do not serve the records
    // within the verify timeout, naming them).
    void publish(const std::vector<acme::Challenge>& challenges) override;
    void remove(const std::vector<acme::Challenge>& challenges) noexcept override;

private:
    boost::json::object document(const std::vector<acme::Challenge>& challenges, bool add) const;
    // Remove the records noted in options_.journal (an interrupted run's); only warns.
    void removeLeftovers() const;
    DnsOptions options_;
};

class HttpSolver : public acme::Solver {
public:
    // Throws Error(Exit::Config) for an empty webroot.
    explicit HttpSolver(std::string webroot);
    acme::ChallengeType type() const override { return acme::ChallengeType::Http01; }
    // Throws Error(Exit::CantCreat/NoPerm) when a file cannot be written.
    void publish(const std::vector<acme::Challenge>& challenges) override;
    void remove(const std::vector<acme::Challenge>& challenges) noexcept override;

private:
    std::string webroot_;
    std::vector<std::string> createdDirs_;
    std::vector<std::string> written_; // the files publish() wrote, to be removed
};

} // namespace cdm::challenge
