#include "libcommon/resolve.hpp"

#include <arpa/inet.h>
#include <sys/time.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <span>
#include <string>

#include "libcommon/error.hpp"
#include "libcommon/ldns_ptr.hpp"
#include "libcommon/name.hpp"

namespace cdm::resolve {

namespace {

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

bool isAddress(const std::string& text, int family) {
    unsigned char buf[16];
    return inet_pton(family, text.c_str(), buf) == 1;
}

ldnsp::Resolver makeResolver(const Options& options) {
    ldns_resolver* raw = nullptr;
    if (options.servers.empty()) {
        if (ldns_resolver_new_frm_file(&raw, nullptr) != LDNS_STATUS_OK) {
            throw Error(Exit::Unavailable, "unable to read the system's resolver configuration");
        }
    } else {
        raw = ldns_resolver_new();
        if (raw == nullptr) {
            throw Error(Exit::Software, "unable to create a resolver");
        }
    }
    ldnsp::Resolver res(raw);
    for (const auto& s : options.servers) {
        const bool v6 = isAddress(s.address, AF_INET6);
        ldnsp::Rdf addr(ldns_rdf_new_frm_str(v6 ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, s.address.c_str()));
        if (!addr || ldns_resolver_push_nameserver(res.get(), addr.get()) != LDNS_STATUS_OK) {
            throw Error(Exit::Usage, "resolver address " + quoted(s.address) + " is not an IP address");
        }
        if (s.port != options.servers.front().port) {
            throw Error(Exit::Usage, "every resolver must use the same port");
        }
    }
    if (!options.servers.empty()) {
        ldns_resolver_set_port(res.get(), options.servers.front().port);
    }
    ldns_resolver_set_dnssec(res.get(), true);
    ldns_resolver_set_recursive(res.get(), options.recursive);
    ldns_resolver_set_retry(res.get(), 2);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(options.timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((options.timeout.count() % 1000) * 1000);
    ldns_resolver_set_timeout(res.get(), tv);
    if (!options.trustAnchorFile.empty()) {
        // Keys are fetched with CD so that cdm, not the resolver, decides what is valid.
        ldns_resolver_set_dnssec_cd(res.get(), true);
        FILE* fp = std::fopen(options.trustAnchorFile.c_str(), "r");
        if (fp == nullptr) {
            throw Error(Exit::NoInput, "unable to open the trust anchor file", Location{options.trustAnchorFile, 0, {}});
        }
        std::size_t anchors = 0;
        std::uint32_t ttl = 0;
        ldns_rdf* origin = nullptr;
        ldns_rdf* prev = nullptr;
        int line = 0;
        while (std::feof(fp) == 0) {
            ldns_rr* rr = nullptr;
            if (ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &origin, &prev, &line) == LDNS_STATUS_OK) {
                ldnsp::Rr owned(rr);
                const ldns_rr_type t = ldns_rr_get_type(rr);
                if (t == LDNS_RR_TYPE_DNSKEY || t == LDNS_RR_TYPE_DS) {
                    ldns_resolver_push_dnssec_anchor(res.get(), rr);
                    ++anchors;
                }
            }
        }
        std::fclose(fp);
        ldnsp::Rdf originOwned(origin);
        ldnsp::Rdf prevOwned(prev);
        if (anchors == 0) {
            throw Error(Exit::DataErr, "no DS or DNSKEY record in the trust anchor file",
                        Location{options.trustAnchorFile, 0, {}});
        }
    }
    return res;
}

std::string rrText(const ldns_rr* rr) {
    char* text = ldns_rr2str(rr);
    std::string out = text != nullptr ? text : "";
    LDNS_FREE(text);
    return out;
}

ldnsp::Pkt send(ldns_resolver* res, const ldns_rdf* name, ldns_rr_type type, bool recursive) {
    ldns_pkt* pkt = nullptr;
    const ldns_status st = ldns_resolver_send(&pkt, res, name, type, LDNS_RR_CLASS_IN,
                                              static_cast<std::uint16_t>(recursive ? LDNS_RD : 0));
    if (st != LDNS_STATUS_OK || pkt == nullptr) {
        throw Error(Exit::Unavailable, std::string("no answer from the DNS: ") + ldns_get_errorstr_by_id(st));
    }
    return ldnsp::Pkt(pkt);
}

record::Record readRecord(const ldns_rr* rr) {
    try {
        return record::Record::parseLine(rrText(rr));
    } catch (const Error& e) {
        throw Error(Exit::DataErr, "the DNS answered a record cdm cannot read: " + e.message());
    }
}

// What query() reads from an answer packet, before any validation.
Answer fromPacket(const ldns_pkt* pkt, const ldns_rdf* qname, record::Type type) {
    const auto qtype = static_cast<ldns_rr_type>(static_cast<std::uint16_t>(type));
    Answer answer;
    answer.rcode = static_cast<int>(ldns_pkt_get_rcode(pkt));
    answer.authenticated = ldns_pkt_ad(pkt);
    answer.authoritative = ldns_pkt_aa(pkt);
    ldnsp::RrList rrset(ldns_pkt_rr_list_by_name_and_type(pkt, qname, qtype, LDNS_SECTION_ANSWER));
    if (rrset) {
        for (std::size_t i = 0; i < ldns_rr_list_rr_count(rrset.get()); ++i) {
            answer.records.push_back(readRecord(ldns_rr_list_rr(rrset.get(), i)));
        }
    }
    if (type != record::Type::CNAME) {
        ldnsp::RrList cnames(
            ldns_pkt_rr_list_by_name_and_type(pkt, qname, LDNS_RR_TYPE_CNAME, LDNS_SECTION_ANSWER));
        if (cnames && ldns_rr_list_rr_count(cnames.get()) > 0) {
            const ldns_rdf* target = ldns_rr_rdf(ldns_rr_list_rr(cnames.get(), 0), 0);
            char* text = target != nullptr ? ldns_rdf2str(target) : nullptr;
            answer.cname = text != nullptr ? text : ".";
            LDNS_FREE(text);
            if (name::isValid(answer.cname)) {
                answer.cname = name::normalize(answer.cname);
            }
        }
    }
    const ldns_rr_list* authority = ldns_pkt_authority(pkt);
    for (std::size_t i = 0; authority != nullptr && i < ldns_rr_list_rr_count(authority); ++i) {
        const ldns_rr* rr = ldns_rr_list_rr(authority, i);
        const auto rrType = static_cast<unsigned>(ldns_rr_get_type(rr));
        if (!record::typeFromString("TYPE" + std::to_string(rrType))) {
            continue;
        }
        try {
            answer.authority.push_back(readRecord(rr));
        } catch (const Error&) {
            continue; // the authority section is extra information: never fail a query on it
        }
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && !answer.authoritySoa && ldns_rr_rd_count(rr) == 7) {
            Soa soa;
            soa.owner = answer.authority.back().name;
            soa.ttl = ldns_rr_ttl(rr);
            soa.serial = ldns_rdf2native_int32(ldns_rr_rdf(rr, 2));
            soa.minimum = ldns_rdf2native_int32(ldns_rr_rdf(rr, 6));
            answer.authoritySoa = soa;
        }
    }
    return answer;
}

// The name one label up: "www.example.test." -> "example.test."; "test." -> ".".
std::string parentOf(const std::string& absolute) {
    const auto labels = name::labels(absolute);
    std::string out;
    for (std::size_t i = 1; i < labels.size(); ++i) {
        out += labels[i] + ".";
    }
    return out.empty() ? "." : out;
}

} // namespace

std::string rcodeName(int rcode) {
    switch (rcode) {
    case 0:
        return "NOERROR";
    case 1:
        return "FORMERR";
    case 2:
        return "SERVFAIL";
    case 3:
        return "NXDOMAIN";
    case 4:
        return "NOTIMP";
    case 5:
        return "REFUSED";
    case 6:
        return "YXDOMAIN";
    case 7:
        return "YXRRSET";
    case 8:
        return "NXRRSET";
    case 9:
        return "NOTAUTH";
    case 10:
        return "NOTZONE";
    default:
        return "RCODE " + std::to_string(rcode);
    }
}

Server parseServer(std::string_view text) {
    Server s;
    std::string t(text);
    if (!t.empty() && t.front() == '[') {
        const auto close = t.find(']');
        if (close == std::string::npos) {
            throw Error(Exit::Usage, "resolver " + quoted(text) + ": missing ']'");
        }
        s.address = t.substr(1, close - 1);
        if (close + 1 < t.size()) {
            if (t[close + 1] != ':') {
                throw Error(Exit::Usage, "resolver " + quoted(text) + ": expected ':PORT' after ']'");
            }
            t = t.substr(close + 2);
        } else {
            t.clear();
        }
    } else if (std::count(t.begin(), t.end(), ':') == 1) {
        s.address = t.substr(0, t.find(':'));
        t = t.substr(t.find(':') + 1);
    } else {
        s.address = t;
        t.clear();
    }
    if (!t.empty()) {
        if (t.size() > 5 || t.find_first_not_of("0123456789") != std::string::npos || std::stoul(t) == 0 ||
            std::stoul(t) > 65535) {
            throw Error(Exit::Usage, "resolver " + quoted(text) + ": port is not from 1 to 65535");
        }
        s.port = static_cast<std::uint16_t>(std::stoul(t));
    }
    if (!isAddress(s.address, AF_INET) && !isAddress(s.address, AF_INET6)) {
        throw Error(Exit::Usage, "resolver " + quoted(text) + " is not an IP address");
    }
    return s;
}

std::string_view toString(Security s) {
    switch (s) {
    case Security::Secure:
        return "secure";
    case Security::Insecure:
        return "insecure";
    case Security::Bogus:
        return "bogus";
    }
    return "insecure";
}

Answer query(const Options& options, std::string_view name, record::Type type) {
    try {
        (void)name::normalize(name); // a bad name is a usage error before the anchor is read
    } catch (const Error& e) {
        throw Error(Exit::Usage, e.message());
    }
    return Session(options).query(name, type);
}

struct Session::Impl {
    Options options;
    ldnsp::Resolver res;
    // Validated DNSKEY sets by signer name (lower case, absolute).
    std::map<std::string, ldnsp::RrList> keys;

    // What ldns_verify_trusted does (the signer's keys fetched and validated against the
    // anchors, then any RRSIG made by one of them), with the keys kept for the next RRset.
    ldns_status verify(ldns_rr_list* rrset, const ldns_rr_list* sigs) {
        ldns_status result = LDNS_STATUS_ERR;
        for (std::size_t i = 0; i < ldns_rr_list_rr_count(sigs); ++i) {
            ldns_rr* sig = ldns_rr_list_rr(sigs, i);
            const ldns_rdf* signer = ldns_rr_rrsig_signame(sig);
            if (signer == nullptr) {
                continue;
            }
            char* text = ldns_rdf2str(signer);
            std::string key = text != nullptr ? text : "";
            LDNS_FREE(text);
            std::transform(key.begin(), key.end(), key.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            auto it = keys.find(key);
            if (it == keys.end()) {
                ldns_status st = LDNS_STATUS_ERR;
                ldnsp::RrList fetched(ldns_fetch_valid_domain_keys(
                    res.get(), signer, ldns_resolver_dnssec_anchors(res.get()), &st));
                if (!fetched) {
                    result = st;
                    continue;
                }
                it = keys.emplace(key, std::move(fetched)).first;
            }
            for (std::size_t k = 0; k < ldns_rr_list_rr_count(it->second.get()); ++k) {
                result = ldns_verify_rrsig(rrset, sig, ldns_rr_list_rr(it->second.get(), k));
                if (result == LDNS_STATUS_OK) {
                    return result;
                }
            }
        }
        return result;
    }
};

Session::Session(const Options& options)
    : impl_(std::make_unique<Impl>(Impl{options, makeResolver(options), {}})) {}

Session::~Session() = default;

Answer Session::query(std::string_view name, record::Type type) {
    const Options& options = impl_->options;
    std::string owner;
    try {
        owner = name::normalize(name);
    } catch (const Error& e) {
        throw Error(Exit::Usage, e.message());
    }
    ldnsp::Rdf qname(ldns_dname_new_frm_str(owner.c_str()));
    const auto qtype = static_cast<ldns_rr_type>(static_cast<std::uint16_t>(type));
    auto pkt = send(impl_->res.get(), qname.get(), qtype, options.recursive);

    Answer answer = fromPacket(pkt.get(), qname.get(), type);
    ldnsp::RrList rrset(ldns_pkt_rr_list_by_name_and_type(pkt.get(), qname.get(), qtype, LDNS_SECTION_ANSWER));
    if (options.trustAnchorFile.empty()) {
        answer.security = answer.authenticated ? Security::Secure : Security::Insecure;
        if (!answer.authenticated) {
            answer.why = "the resolver did not set the AD bit";
        }
        return answer;
    }
    if (!rrset || ldns_rr_list_rr_count(rrset.get()) == 0) {
        answer.security = Security::Insecure;
        answer.why = "no records to validate (denial of existence is not checked)";
        return answer;
    }
    ldnsp::RrList sigs(ldns_pkt_rr_list_by_name_and_type(pkt.get(), qname.get(), LDNS_RR_TYPE_RRSIG, LDNS_SECTION_ANSWER));
    if (!sigs || ldns_rr_list_rr_count(sigs.get()) == 0) {
        answer.security = Security::Bogus;
        answer.why = "the answer carries no RRSIG";
        return answer;
    }
    const ldns_status st = impl_->verify(rrset.get(), sigs.get());
    answer.security = st == LDNS_STATUS_OK ? Security::Secure : Security::Bogus;
    if (st != LDNS_STATUS_OK) {
        answer.why = ldns_get_errorstr_by_id(st);
    }
    return answer;
}

Answer readAnswer(std::span<const std::uint8_t> wire, std::string_view name, record::Type type) {
    std::string owner;
    try {
        owner = name::normalize(name);
    } catch (const Error& e) {
        throw Error(Exit::Usage, e.message());
    }
    ldns_pkt* raw = nullptr;
    if (ldns_wire2pkt(&raw, wire.data(), wire.size()) != LDNS_STATUS_OK || raw == nullptr) {
        throw Error(Exit::DataErr, "the DNS answered with a message that is not DNS");
    }
    const ldnsp::Pkt pkt(raw);
    const ldnsp::Rdf qname(ldns_dname_new_frm_str(owner.c_str()));
    if (!qname) {
        throw Error(Exit::Usage, "unable to read the name " + quoted(owner));
    }
    return fromPacket(pkt.get(), qname.get(), type);
}

std::vector<std::string> addresses(const Options& options, std::string_view host) {
    Options plain = options;
    plain.trustAnchorFile.clear();
    std::vector<std::string> out;
    for (const auto type : {record::Type::AAAA, record::Type::A}) {
        for (const auto& r : query(plain, host, type).records) {
            out.push_back(r.data);
        }
    }
    return out;
}

std::string zoneOf(const Options& options, std::string_view name) {
    std::string owner;
    try {
        owner = name::normalize(name);
    } catch (const Error& e) {
        throw Error(Exit::Usage, e.message());
    }
    Options plain = options;
    plain.trustAnchorFile.clear();
    const std::string what = "no zone found for " + quoted(owner) + ": ";
    std::string asked = owner;
    for (;;) {
        const Answer answer = query(plain, asked, record::Type::SOA);
        // An apex holds a SOA and so cannot be a CNAME (RFC 1034 §3.6.2): go one label up.
        if (!answer.cname.empty()) {
            if (asked == ".") {
                throw Error(Exit::DataErr, what + "the root answered with a CNAME");
            }
            asked = parentOf(asked);
            continue;
        }
        if (answer.rcode != 0 && answer.rcode != 3) {
            throw Error(Exit::DataErr, what + "the DNS answered " + rcodeName(answer.rcode) +
                                           (asked == owner ? "" : " for " + quoted(asked) + " SOA"));
        }
        for (const auto& r : answer.records) {
            if (answer.rcode == 0 && name::equal(r.name, asked)) {
                return r.name;
            }
        }
        if (answer.authoritySoa) {
            const std::string& apex = answer.authoritySoa->owner;
            if (!name::isSubdomain(asked, apex)) {
                throw Error(Exit::DataErr, what + "the answer's SOA " + quoted(apex) + " is not above it");
            }
            return apex;
        }
        throw Error(Exit::DataErr, what + "the answer (" + rcodeName(answer.rcode) + ") carries no SOA");
    }
}

} // namespace cdm::resolve
