#include "libcommon/dnsverify.hpp"

#include <algorithm>
#include <exception>
#include <future>
#include <set>
#include <optional>
#include <thread>
#include <utility>

#include "libcommon/error.hpp"
#include "libcommon/log.hpp"
#include "libcommon/name.hpp"

namespace cdm::dnsverify {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

struct Target {
    std::string ns;
    resolve::Server server;
};

bool isV6(const std::string& address) {
    return address.find(':') != std::string::npos;
}

std::string addressPort(const resolve::Server& s) {
    if (s.port == 53) {
        return s.address;
    }
    return (isV6(s.address) ? "[" + s.address + "]" : s.address) + ":" + std::to_string(s.port);
}

// "ns2.example.test. (127.0.0.2)" for a server of the NS set (they share one port), the
// address and port for a server given by the caller.
std::string label(const Target& t) {
    if (t.ns.empty()) {
        return addressPort(t.server);
    }
    if (t.ns == "resolver") {
        return t.server.address.empty() ? "the resolver" : "the resolver " + addressPort(t.server);
    }
    return t.ns + " (" + t.server.address + ")";
}

std::string what(const provider::RRsetKey& key) {
    return key.name + " " + std::string(record::toString(key.type));
}

std::string shortData(const std::string& data) {
    constexpr std::size_t cap = 40;
    return data.size() <= cap ? data : data.substr(0, cap) + "...";
}

// "192.0.2.1, 192.0.2.2 (TTL 300)"; each record's TTL when they differ; at most four records.
std::string describe(const std::vector<record::Record>& records) {
    if (records.empty()) {
        return "nothing";
    }
    const bool oneTtl = std::all_of(records.begin(), records.end(), [&](const record::Record& r) {
        return r.ttl == records.front().ttl;
    });
    std::string out;
    for (std::size_t i = 0; i < records.size() && i < 4; ++i) {
        out += (i == 0 ? "" : ", ") + shortData(records[i].data);
        if (!oneTtl) {
            out += " (TTL " + std::to_string(records[i].ttl) + ")";
        }
    }
    if (records.size() > 4) {
        out += " and " + std::to_string(records.size() - 4) + " more";
    }
    if (oneTtl) {
        out += " (TTL " + std::to_string(records.front().ttl) + ")";
    }
    return out;
}

enum class TtlRule { Equal, AtMost, Ignore };

// The same records, each served with the TTL the rule asks for: equal (an authoritative
// server), at most the expected one (a resolver counts down), or any.
bool sameSet(const std::vector<record::Record>& served, const std::vector<record::Record>& expected,
             TtlRule rule) {
    if (served.size() != expected.size()) {
        return false;
    }
    std::vector<bool> used(served.size(), false);
    for (const auto& e : expected) {
        bool found = false;
        for (std::size_t i = 0; i < served.size() && !found; ++i) {
            const auto& s = served[i];
            const bool ttlOk = rule == TtlRule::Ignore ||
                               (rule == TtlRule::Equal && s.ttl == e.ttl) ||
                               (rule == TtlRule::AtMost && s.ttl <= e.ttl);
            if (!used[i] && ttlOk && name::equal(s.name, e.name) && s.type == e.type &&
                record::equalData(e.type, s.data, e.data)) {
                used[i] = true;
                found = true;
            }
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

// SOA presentation data: "mname rname serial refresh retry expire minimum".
std::vector<std::uint32_t> soaNumbers(const std::string& data) {
    std::vector<std::uint32_t> out;
    std::size_t pos = 0;
    int field = 0;
    while (pos < data.size()) {
        const auto end = std::min(data.find(' ', pos), data.size());
        if (field >= 2) {
            out.push_back(static_cast<std::uint32_t>(std::stoul(data.substr(pos, end - pos))));
        }
        ++field;
        pos = end + 1;
    }
    if (out.size() != 5) {
        throw Error(Exit::DataErr, "the DNS answered a SOA cdm cannot read: '" + data + "'");
    }
    return out;
}

std::string parentOf(const std::string& zone) {
    const auto labels = name::labels(zone);
    std::string out;
    for (std::size_t i = 1; i < labels.size(); ++i) {
        out += labels[i] + ".";
    }
    return out.empty() ? "." : out;
}

std::vector<std::string> nsNames(const std::vector<record::Record>& records,
                                 const std::string& owner) {
    std::vector<std::string> out;
    for (const auto& r : records) {
        if (r.type == record::Type::NS && name::equal(r.name, owner)) {
            out.push_back(name::normalize(r.data));
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::string joined(const std::vector<std::string>& items, const std::string& sep) {
    std::string out;
    for (const auto& i : items) {
        out += (out.empty() ? "" : sep) + i;
    }
    return out;
}

// The delegation of `zone` as the servers of its parent publish it (asked with RD=0).
// Empty, with a note, when the parent cannot be found or asked.
std::vector<std::string> delegation(const Request& request, const resolve::Options& resolver,
                                    std::vector<std::string>& notes) {
    if (request.zone == ".") {
        return {};
    }
    const std::string parentName = parentOf(request.zone);
    std::string parent;
    std::vector<std::string> parentNs;
    try {
        parent = resolve::zoneOf(resolver, parentName);
        parentNs = nsNames(resolve::query(resolver, parent, record::Type::NS).records, parent);
    } catch (const Error& e) {
        if (e.code() != Exit::Unavailable && e.code() != Exit::DataErr) {
            throw;
        }
        notes.push_back("the parent zone of " + request.zone + " could not be found (" +
                        e.message() + "): the delegation was not checked");
        return {};
    }
    if (parentNs.empty()) {
        notes.push_back("the parent zone " + parent + " has no NS records: the delegation of " +
                        request.zone + " was not checked");
        return {};
    }
    for (const auto& ns : parentNs) {
        std::vector<std::string> addresses;
        try {
            addresses = resolve::addresses(resolver, ns);
        } catch (const Error& e) {
            if (e.code() != Exit::Unavailable && e.code() != Exit::DataErr) {
                throw;
            }
            continue;
        }
        for (const auto& address : addresses) {
            resolve::Options o = resolver;
            o.servers = {resolve::Server{address, request.port}};
            o.recursive = false;
            o.trustAnchorFile.clear();
            try {
                const auto a = resolve::query(o, request.zone, record::Type::NS);
                if (a.rcode != 0) {
                    continue;
                }
                // A parent server that also serves the child answers from the child zone.
                auto names = nsNames(a.records, request.zone);
                if (names.empty()) {
                    names = nsNames(a.authority, request.zone);
                }
                if (!names.empty()) {
                    return names;
                }
            } catch (const Error& e) {
                if (e.code() != Exit::Unavailable && e.code() != Exit::DataErr) {
                    throw;
                }
            }
        }
    }
    notes.push_back("no server of the parent zone " + parent + " answered with the delegation of " +
                    request.zone + ": the delegation was not checked");
    return {};
}

// The zone's servers: the union of the child's and the parent's NS sets, every address.
std::vector<Target> discover(const Request& request, std::vector<std::string>& notes) {
    resolve::Options resolver = request.resolver;
    resolver.trustAnchorFile.clear();
    resolver.recursive = true;
    std::vector<std::string> child;
    std::string childWhy;
    try {
        const auto a = resolve::query(resolver, request.zone, record::Type::NS);
        child = nsNames(a.records, request.zone);
        if (a.rcode != 0) {
            childWhy = "the resolver answers " + resolve::rcodeName(a.rcode) + " for " +
                       request.zone + " NS";
        } else if (child.empty()) {
            childWhy = "the resolver finds no NS records for " + request.zone;
        }
    } catch (const Error& e) {
        if (e.code() != Exit::Unavailable && e.code() != Exit::DataErr) {
            throw;
        }
        childWhy = "the resolver gave no NS set for " + request.zone + " (" + e.message() + ")";
    }
    if (!childWhy.empty()) {
        notes.push_back(childWhy);
    }
    const auto parent = delegation(request, resolver, notes);
    std::set<std::string> all(child.begin(), child.end());
    all.insert(parent.begin(), parent.end());
    if (!parent.empty() && !child.empty()) {
        for (const auto& ns : all) {
            const bool inChild = std::binary_search(child.begin(), child.end(), ns);
            const bool inParent = std::binary_search(parent.begin(), parent.end(), ns);
            if (inChild && !inParent) {
                notes.push_back(
                    ns + " is in the NS set of " + request.zone +
                    " but not in its delegation (the parent does not send resolvers there)");
            } else if (inParent && !inChild) {
                notes.push_back(ns + " is in the delegation of " + request.zone +
                                " but not in the zone's own NS set (a lame delegation if it does "
                                "not serve the zone)");
            }
        }
    }
    std::vector<Target> targets;
    for (const auto& ns : all) {
        std::vector<std::string> addresses;
        try {
            addresses = resolve::addresses(resolver, ns);
        } catch (const Error& e) {
            if (e.code() != Exit::Unavailable && e.code() != Exit::DataErr) {
                throw;
            }
            notes.push_back("no address found for " + ns + " (" + e.message() + ")");
            continue;
        }
        if (addresses.empty()) {
            notes.push_back(ns + " has no A or AAAA record: it cannot be asked");
        }
        for (const auto& address : addresses) {
            targets.push_back(Target{ns, resolve::Server{address, request.port}});
        }
    }
    if (targets.empty()) {
        throw Error(Exit::Unavailable,
                    "no authoritative server of zone '" + request.zone +
                        "' found: " + (notes.empty() ? "no NS records" : joined(notes, "; ")));
    }
    return targets;
}

// What one round found beyond each server's verdict.
struct Round {
    std::vector<ServerResult> servers;
    std::vector<std::string> problems;
    bool dnssecFailed = false;             // an answer that had to validate did not
    std::set<std::string> dnssecUnchecked; // notes: what could not be validated
    std::uint32_t negativeTtl = 0;
    bool ok() const { return problems.empty(); }
};

struct Mode {
    bool direct = true;  // ask the authoritative servers with RD=0 and require AA
    bool anchor = false; // validate with the trust anchor
    bool wantAd = false; // (via the resolver) require the AD bit
};

// soaOnly: only the SOA (its serial and its validation), the cheap question that tells
// whether the full check can pass yet.
ServerResult checkServer(const Request& request, const Target& target, const Mode& mode,
                         milliseconds queryTimeout, Round& round, bool soaOnly = false) {
    ServerResult out;
    out.ns = target.ns;
    out.server = target.server;
    resolve::Options o = request.resolver;
    if (!target.server.address.empty()) { // empty: the system's resolver
        o.servers = {target.server};
    }
    o.recursive = !mode.direct;
    o.timeout = queryTimeout;
    o.trustAnchorFile = mode.anchor ? request.trustAnchorFile : std::string();
    const std::string who = label(target);
    auto fail = [&](const std::string& why) {
        out.ok = false;
        out.problem = who + " " + why;
        return out;
    };
    // One session for the whole check: the zone's keys are validated once, not per RRset.
    // Made in ask(), so that a server that cannot be reached yet is asked again next round.
    std::optional<resolve::Session> session;
    auto ask = [&](const std::string& owner, record::Type type, resolve::Answer& answer) -> bool {
        try {
            if (!session) {
                session.emplace(o);
            }
            answer = session->query(owner, type);
            return true;
        } catch (const Error& e) {
            if (e.code() != Exit::Unavailable) {
                throw;
            }
            return false;
        }
    };

    resolve::Answer soa;
    if (!ask(request.zone, record::Type::SOA, soa)) {
        return fail("does not answer");
    }
    if (soa.rcode != 0) {
        return fail("answers " + resolve::rcodeName(soa.rcode) + " for " + request.zone + " SOA");
    }
    if (mode.direct && !soa.authoritative) {
        return fail("is not authoritative for " + request.zone + " (no AA bit)");
    }
    if (soa.records.empty()) {
        return fail("serves no SOA for " + request.zone);
    }
    const auto numbers = soaNumbers(soa.records.front().data);
    out.serial = numbers[0];
    // RFC 2308 §5; a resolver counts the TTL down, so only MINIMUM is the zone's there.
    const std::uint32_t negative =
        mode.direct ? std::min(numbers[4], soa.records.front().ttl) : numbers[4];
    round.negativeTtl = std::max(round.negativeTtl, negative);
    if (request.minSerial != 0 && !serialAtLeast(out.serial, request.minSerial)) {
        return fail("serves serial " + std::to_string(out.serial) +
                    ", want >= " + std::to_string(request.minSerial));
    }
    if (mode.anchor && soa.security != resolve::Security::Secure) {
        round.dnssecFailed = true;
        return fail("serves a SOA for " + request.zone + " that does not validate (" + soa.why +
                    ")");
    }
    if (mode.wantAd && !soa.authenticated) {
        round.dnssecFailed = true;
        return fail("answers " + request.zone + " SOA without the AD bit");
    }
    if (soaOnly) {
        out.ok = true;
        return out;
    }
    for (const auto& e : request.expect) {
        resolve::Answer a;
        if (!ask(e.key.name, e.key.type, a)) {
            return fail("does not answer");
        }
        if (a.rcode != 0 && a.rcode != 3) {
            return fail("answers " + resolve::rcodeName(a.rcode) + " for " + what(e.key));
        }
        if (mode.direct && !a.authoritative) {
            return fail("is not authoritative for " + e.key.name + " (no AA bit)");
        }
        if (e.records.empty()) {
            if (!a.records.empty()) {
                return fail("still serves " + what(e.key) + " " + describe(a.records));
            }
            if (mode.anchor || mode.wantAd) {
                round.dnssecUnchecked.insert("the absence of deleted RRsets (NXDOMAIN or NODATA) "
                                             "was not validated with DNSSEC, only the "
                                             "SOA and the RRsets served");
            }
            continue;
        }
        if (!sameSet(a.records, e.records, mode.direct ? TtlRule::Equal : TtlRule::AtMost)) {
            std::string served = describe(a.records);
            if (a.records.empty()) {
                served = a.rcode == 3 ? "NXDOMAIN"
                                      : (a.cname.empty() ? "no records" : "a CNAME to " + a.cname);
            }
            return fail("serves " + what(e.key) + " " + served + ", want " + describe(e.records));
        }
        if (mode.anchor && a.security != resolve::Security::Secure) {
            round.dnssecFailed = true;
            return fail("serves " + what(e.key) + " that does not validate (" + a.why + ")");
        }
        if (mode.wantAd && !a.authenticated) {
            round.dnssecFailed = true;
            return fail("answers " + what(e.key) + " without the AD bit");
        }
    }
    out.ok = true;
    return out;
}

// With a validating resolver and no trust anchor: the resolver must set AD on the expected
// RRsets it serves. Data it still serves from its cache is not waited for, only noted.
void checkResolverAd(const Request& request, milliseconds queryTimeout, Round& round) {
    resolve::Options o = request.resolver;
    o.trustAnchorFile.clear();
    o.recursive = true;
    o.timeout = queryTimeout;
    for (const auto& e : request.expect) {
        if (e.records.empty()) {
            round.dnssecUnchecked.insert(
                "the absence of deleted RRsets (NXDOMAIN or NODATA) was not validated with "
                "DNSSEC, only the RRsets served");
            continue;
        }
        resolve::Answer a;
        try {
            a = resolve::query(o, e.key.name, e.key.type);
        } catch (const Error& err) {
            if (err.code() != Exit::Unavailable) {
                throw;
            }
            round.dnssecFailed = true;
            round.problems.push_back("the resolver does not answer " + what(e.key));
            return;
        }
        if (a.rcode == 2) {
            round.dnssecFailed = true;
            round.problems.push_back("the resolver answers SERVFAIL for " + what(e.key) +
                                     " (it does not validate?)");
            return;
        }
        if (!sameSet(a.records, e.records, TtlRule::Ignore)) {
            round.dnssecFailed = true;
            round.dnssecUnchecked.insert(
                "the resolver still answers " + what(e.key) +
                " with other data (from its cache?): its DNSSEC was not checked");
            continue;
        }
        if (!a.authenticated) {
            round.dnssecFailed = true;
            round.problems.push_back("the resolver answers " + what(e.key) + " without the AD bit");
            return;
        }
    }
}

// Every target checked into `round`, the targets at the same time (one thread each, each
// with its own ldns resolver): a round then takes as long as its slowest server, not the sum.
void checkAll(const Request& request, const std::vector<Target>& targets, const Mode& mode,
              milliseconds queryTimeout, Round& round, bool soaOnly) {
    std::vector<Round> own(targets.size());
    std::vector<std::future<ServerResult>> results;
    results.reserve(targets.size());
    for (std::size_t i = 0; i < targets.size(); ++i) {
        results.push_back(std::async(std::launch::async, [&, i] {
            return checkServer(request, targets[i], mode, queryTimeout, own[i], soaOnly);
        }));
    }
    std::exception_ptr thrown;
    for (std::size_t i = 0; i < targets.size(); ++i) {
        try {
            round.servers.push_back(results[i].get());
        } catch (...) {
            if (!thrown) {
                thrown = std::current_exception();
            }
            continue;
        }
        if (!round.servers.back().ok) {
            round.problems.push_back(round.servers.back().problem);
        }
        round.dnssecFailed = round.dnssecFailed || own[i].dnssecFailed;
        round.dnssecUnchecked.insert(own[i].dnssecUnchecked.begin(), own[i].dnssecUnchecked.end());
        round.negativeTtl = std::max(round.negativeTtl, own[i].negativeTtl);
    }
    if (thrown) {
        std::rethrow_exception(thrown);
    }
}

} // namespace

bool serialAtLeast(std::uint32_t a, std::uint32_t b) {
    // RFC 1982 §3.2: a > b when 0 < a - b < 2^31 (mod 2^32).
    const std::uint32_t diff = a - b;
    return diff < 0x80000000U;
}

Result verify(const Request& request) {
    const auto start = Clock::now();
    Result result;
    for (const auto& e : request.expect) {
        result.maxTtl = std::max(result.maxTtl, e.oldTtl);
        for (const auto& r : e.records) {
            result.maxTtl = std::max(result.maxTtl, r.ttl);
        }
    }

    Mode mode;
    mode.direct = !request.viaResolver;
    mode.anchor = !request.trustAnchorFile.empty();
    std::vector<Target> targets;
    if (request.viaResolver) {
        result.weaker = true;
        result.notes.push_back(
            "verified through the resolver only, not at the authoritative servers: a resolver may "
            "answer from its cache, so this proves less");
        if (request.resolver.servers.empty()) {
            targets.push_back(Target{"resolver", resolve::Server{"", 53}}); // the system's
        }
        for (const auto& s : request.resolver.servers) {
            targets.push_back(Target{"resolver", s});
        }
    } else if (!request.servers.empty()) {
        for (const auto& s : request.servers) {
            targets.push_back(Target{"", s});
        }
    } else {
        targets = discover(request, result.notes);
    }

    // Without a trust anchor, DNSSEC is proved by a resolver that sets AD on the zone's SOA.
    bool adMode = false;
    if (!mode.anchor) {
        resolve::Options o = request.resolver;
        o.recursive = true;
        o.trustAnchorFile.clear();
        try {
            adMode = resolve::query(o, request.zone, record::Type::SOA).authenticated;
        } catch (const Error& e) {
            if (e.code() != Exit::Unavailable) {
                throw;
            }
        }
        if (!adMode) {
            result.notes.push_back(
                "DNSSEC was not checked: no trust anchor was given and the resolver does not set "
                "the AD bit on " +
                request.zone + " SOA");
        }
    }
    mode.wantAd = adMode && request.viaResolver;
    result.dnssecChecked = mode.anchor || adMode;

    auto delay = request.firstDelay;
    std::string lastWaitingFor;
    Round round;
    for (;;) {
        const auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
        const milliseconds left =
            request.timeout > elapsed ? request.timeout - elapsed : milliseconds(0);
        // A server that does not answer costs two tries of this: keep the rounds within the wait.
        const milliseconds queryTimeout =
            std::min(request.resolver.timeout, std::max(left / 2, milliseconds(500)));
        round = Round{};
        // While a server is behind the serial of the change, the full check (a question for
        // each RRset, at every server) cannot pass: ask only every SOA first, and the RRsets
        // once all serve the serial.
        const bool gate = request.minSerial != 0 && targets.size() > 1;
        if (gate) {
            checkAll(request, targets, mode, queryTimeout, round, true);
        }
        if (!gate || round.ok()) {
            round = Round{};
            checkAll(request, targets, mode, queryTimeout, round, false);
        }
        if (round.ok() && adMode && mode.direct) {
            checkResolverAd(request, queryTimeout, round);
        }
        const auto now = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
        if (round.ok() || now >= request.timeout) {
            break;
        }
        const milliseconds remaining = request.timeout - now;
        const std::string waitingFor = joined(round.problems, "; ");
        if (waitingFor != lastWaitingFor) {
            log::info("waiting for " + waitingFor);
            lastWaitingFor = waitingFor;
        }
        if (request.progress) {
            request.progress(waitingFor, remaining);
        }
        std::this_thread::sleep_for(std::min(delay, remaining));
        delay = std::min(delay * 2, std::max(request.maxDelay, request.firstDelay));
    }

    result.waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    result.servers = std::move(round.servers);
    result.ok = round.ok();
    result.problems = std::move(round.problems);
    result.negativeTtl = round.negativeTtl;
    bool haveSerial = false;
    for (const auto& s : result.servers) {
        if (s.serial != 0 && (!haveSerial || !serialAtLeast(s.serial, result.serial))) {
            result.serial = s.serial;
            haveSerial = true;
        }
    }
    result.dnssecOk = result.dnssecChecked && result.ok && !round.dnssecFailed;
    for (const auto& n : round.dnssecUnchecked) {
        result.notes.push_back(n);
    }
    return result;
}

json::object toJson(const Result& result) {
    json::array servers;
    for (const auto& s : result.servers) {
        json::object o{{"ns", s.ns},
                       {"address", s.server.address},
                       {"port", s.server.port},
                       {"ok", s.ok},
                       {"serial", s.serial}};
        if (!s.problem.empty()) {
            o["problem"] = s.problem;
        }
        servers.push_back(std::move(o));
    }
    json::array problems;
    for (const auto& p : result.problems) {
        problems.push_back(json::string(p));
    }
    json::array notes;
    for (const auto& n : result.notes) {
        notes.push_back(json::string(n));
    }
    return json::object{
        {"ok", result.ok},
        {"weaker", result.weaker},
        {"dnssec", json::object{{"checked", result.dnssecChecked}, {"ok", result.dnssecOk}}},
        {"servers", std::move(servers)},
        {"problems", std::move(problems)},
        {"max_ttl", result.maxTtl},
        {"negative_ttl", result.negativeTtl},
        {"serial", result.serial},
        {"waited_ms", result.waited.count()},
        {"notes", std::move(notes)},
    };
}

} // namespace cdm::dnsverify
